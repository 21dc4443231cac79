"""A static HTML page for a sweep: description, tables and the report's PNG figures.

Images are the report's own files under ``plots/``, referenced by relative paths rather than
inlined a second time as data URIs (which made a many-setting study page several MiB); styles are
inline. The page opens from its report folder, on disk or unpacked from an archive, with no network
and no external JS/CSS.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from era_exp.io import atomic_write_text
from era_exp.report.tables import Table

_STYLE = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; text-align: left; }
th { background: #f2f4f7; } tbody tr:nth-child(even) { background: #fafafa; }
td:not(:first-child) { font-variant-numeric: tabular-nums; }
p.note { font-size: 0.85rem; color: #555; margin: 0.2rem 0; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
.gallery { display: flex; flex-wrap: wrap; gap: 0 1.5rem; } .gallery figure { flex: 1 1 520px; }
figcaption { font-size: 0.85rem; color: #555; }
.files a { margin-right: 1rem; } .warn { color: #8a4b00; }
"""


@dataclass(frozen=True)
class Plot:
    """A PNG on disk and its caption."""

    path: Path
    caption: str


@dataclass(frozen=True)
class Section:
    """A titled part of the page: tables, then plots (side by side when ``gallery``)."""

    title: str
    tables: list[Table]
    plots: list[Plot]
    gallery: bool = False


def render_dashboard(
    path: Path,
    title: str,
    meta: dict[str, str],
    warnings: list[str],
    sections: list[Section],
    files: list[Path],
) -> Path:
    """Write ``index.html`` at ``path``; image and file links are relative to its folder."""
    root = path.parent
    meta_html = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in meta.items())
    warn_html = "".join(f"<li class='warn'>{html.escape(w)}</li>" for w in warnings)
    names = [html.escape(f.relative_to(root).as_posix()) for f in files]
    links = "".join(f"<a href='{name}'>{name}</a>" for name in names)
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<dl class='meta'>{meta_html}</dl>",
        f"<ul>{warn_html}</ul>" if warnings else "",
        f"<p class='files'>Files: {links}</p>",
    ]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        body += [table.to_html() for table in section.tables]
        plots = "".join(_plot(plot, root) for plot in section.plots)
        body.append(f"<div class='gallery'>{plots}</div>" if section.gallery else plots)
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body></html>\n"
    )
    return atomic_write_text(path, page)


def _plot(plot: Plot, root: Path) -> str:
    href = html.escape(plot.path.relative_to(root).as_posix())
    caption = html.escape(plot.caption)
    return (
        f"<figure><a href='{href}'><img alt='{caption}' src='{href}'></a>"
        f"<figcaption>{caption}</figcaption></figure>"
    )
