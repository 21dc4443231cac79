"""Tasks, corpora and the query split: MAIR's registry, loaders (local folder, hub, stdlib) and validation."""
