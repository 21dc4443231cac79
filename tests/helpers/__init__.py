"""Helpers shared by the test packages: composed configs, MAIR-format files, tiny models, fake sweeps."""
