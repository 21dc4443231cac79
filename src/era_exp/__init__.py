"""era-exp: experiments with ERA retrieval adapters (align, then train) on MAIR."""

import os

__version__ = "0.1.0"

# The stages train under torch's deterministic mode, in which every cuBLAS matmul on a GPU raises
# unless cuBLAS has a fixed workspace; torch reads the setting at the process's first cuBLAS call,
# which may be an encode before any stage, so it is set when the package is first imported.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
