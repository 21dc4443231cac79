"""Thin command-line entry points: era-run, era-encode, era-report."""
