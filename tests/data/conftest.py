"""Fixtures for the data tests: a tiny valid task folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.mair_files import doc, query, write_split


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """A folder with one valid single-split MAIR task (SciFact): three queries, four docs."""
    write_split(
        tmp_path / "SciFact",
        [query("q1", "d1"), query("q2", "d2", "d3"), query("q3", "d4")],
        [doc("d1"), doc("d2"), doc("d3"), doc("d4")],
    )
    return tmp_path
