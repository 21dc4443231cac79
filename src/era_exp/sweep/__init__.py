"""Sweeps over the run grid: per-point folders named by overrides, a shared store of finished points,
the embeddings a whole grid needs, and the job wrapper every grid point runs through."""
