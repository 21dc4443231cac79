"""Text embedding: query templates, model resolution, the HF encoder and the on-disk embedding cache."""
