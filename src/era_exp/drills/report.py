"""docs/reliability.md from the drills' records: per drill the command, what must hold, what held."""

from __future__ import annotations

import json
from collections.abc import Sequence

from era_exp.drills.common import Drill

HEADER = """# Reliability drills

`make drills` (`python -m era_exp.drills`) runs these drills and rewrites this page. Each drill
drives the real pipeline and states what must hold; the figures below are what this machine
measured on the run that wrote the page. Kill drills run each attempt in a process forked from the
drill runner once the pipeline is imported (so an attempt costs the run, not an interpreter start)
and stop it with SIGKILL; the sweep drill kills the real `era-run -m` process.
"""


def _value(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _cell(value: object) -> str:
    text = "yes" if value is True else "no" if value is False else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: Sequence[dict]) -> list[str]:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return lines


def render(drills: Sequence[Drill], context: dict[str, object]) -> str:
    """The whole page."""
    lines = [HEADER, "## Summary", ""]
    lines += _table(
        [
            {
                "drill": drill.name,
                "result": "skipped" if drill.skipped else ("holds" if drill.passed else "does not hold"),
                "checks held": f"{sum(c.held for c in drill.checks)} of {len(drill.checks)}",
                "seconds": drill.seconds,
            }
            for drill in drills
        ]
    )
    lines += ["", "Run: " + ", ".join(f"{k} {_value(v)}" for k, v in context.items()), ""]
    for drill in drills:
        lines += [f"## {drill.name}", "", "```", drill.command, "```", ""]
        if drill.skipped:
            lines += [f"Skipped: {drill.skipped}", ""]
            continue
        lines += ["| must hold | held | observed |", "|---|---|---|"]
        lines += [f"| {_cell(c.requirement)} | {_cell(c.held)} | {_cell(c.observed)} |" for c in drill.checks]
        if drill.figures:
            lines += ["", "Figures:", ""]
            lines += [f"- {name}: {_value(value)}" for name, value in drill.figures.items()]
        if drill.table:
            lines += ["", *_table(drill.table)]
        if drill.notes:
            lines += ["", *(f"- {note}" for note in drill.notes)]
        lines.append("")
    return "\n".join(lines)


def as_json(drills: Sequence[Drill]) -> str:
    """The same records as JSON, for scripts."""
    return json.dumps([drill.__dict__ for drill in drills], default=lambda o: o.__dict__, indent=1)
