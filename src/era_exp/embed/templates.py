"""Named query templates: how an instruction and a query become the one text a model embeds."""

from __future__ import annotations

TEMPLATES: dict[str, str] = {
    "qwen": "Instruct: {instruction}\nQuery: {query}",
    "plain": "{instruction}\n{query}",
    "e5": "query: {query}",
    "none": "{query}",
}


def format_query(template: str, instruction: str, query: str) -> str:
    """Render ``query`` with its ``instruction`` through the named template.

    ``plain`` with an empty instruction gives the query alone, so uninstructed queries carry no stray
    newline. Braces inside the instruction or query are kept as they are.
    """
    try:
        pattern = TEMPLATES[template]
    except KeyError:
        raise ValueError(
            f"unknown query template {template!r}; known templates: {', '.join(sorted(TEMPLATES))}"
        ) from None
    if template == "plain" and not instruction:
        return query
    return pattern.format(instruction=instruction, query=query)
