"""Query templates render instruction and query the way each model family expects."""

from __future__ import annotations

import pytest

from era_exp.embed.templates import TEMPLATES, format_query


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("qwen", "Instruct: Find the law.\nQuery: theft penalty"),
        ("plain", "Find the law.\ntheft penalty"),
        ("e5", "query: theft penalty"),
        ("none", "theft penalty"),
    ],
)
def test_each_template_renders(template: str, expected: str) -> None:
    assert format_query(template, "Find the law.", "theft penalty") == expected


def test_plain_without_instruction_is_the_query_alone() -> None:
    assert format_query("plain", "", "theft penalty") == "theft penalty"


def test_braces_in_texts_are_kept() -> None:
    assert format_query("qwen", "Use {x}", "f({y})") == "Instruct: Use {x}\nQuery: f({y})"


def test_unknown_template_lists_known_names() -> None:
    with pytest.raises(ValueError, match="unknown query template 'bge'") as err:
        format_query("bge", "i", "q")
    for name in TEMPLATES:
        assert name in str(err.value)
