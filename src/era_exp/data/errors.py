"""Errors raised on bad task data or bad task selections; messages name the file, line and field."""

from __future__ import annotations


class DataError(ValueError):
    """Task data that cannot be used as given, e.g. ``path/queries.jsonl:17: field 'labels' ...``."""


class UnknownTaskError(DataError):
    """A task or domain name that is not known, with close matches in the message."""
