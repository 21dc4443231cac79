"""era-exp: experiments with ERA retrieval adapters (align, then train) on MAIR."""

__version__ = "0.1.0"
