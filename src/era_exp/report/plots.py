"""PNG figures of a sweep: the metric against train ratio, method × domain bars, the pair heatmap, the
domain-generality matrix.

Figures use matplotlib's object API on the Agg canvas (no pyplot state, no display needed).
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from era_exp.io import atomic_write
from era_exp.report.collect import METHOD_ORDER, Context, method_sort_key
from era_exp.report.domains import DomainMatrix
from era_exp.report.grid import Block, Grid, doc_zero_shot
from era_exp.report.metrics import metric_label

# One colour per method across every figure; methods beyond METHOD_ORDER share the tail of the palette.
_PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


def _colours(methods: list[str]) -> dict[str, str]:
    """Each method's colour; variants of one method (an ablation's ``era [...]`` rows) get a colour each."""
    bases = [m.split(" [", 1)[0] for m in methods]
    if len(set(bases)) == len(bases):
        return {m: _colour(m) for m in methods}
    return {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(methods)}


def _colour(method: str) -> str:
    position, name = method_sort_key(method)
    if position < len(METHOD_ORDER):
        return _PALETTE[position]
    return _PALETTE[len(METHOD_ORDER) + zlib.crc32(name.encode()) % (len(_PALETTE) - len(METHOD_ORDER))]


def _save(fig: Figure, path: Path) -> Path:
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


def ratio_curves(grid: Grid, context: Context, path: Path, metric: str) -> Path:
    """One panel per pair: trained methods as lines over train ratio, the others as horizontal lines."""
    pairs = grid.pairs(context)
    ratios = sorted({b.ratio for b in grid.blocks if b.context == context and b.ratio is not None})
    columns = min(3, len(pairs))
    rows = math.ceil(len(pairs) / columns)
    fig = Figure(figsize=(4.6 * columns, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, pair in zip(axes, pairs, strict=False):
        blocks = grid.of(context, pair)
        points: dict[str, list[tuple[float, float]]] = {}
        fixed: dict[str, float] = {}
        for block in blocks:
            for method, record in block.runs.items():
                value = record.results["overall"][metric]
                if record.train_ratio is None:
                    fixed[method] = value
                else:
                    points.setdefault(method, []).append((record.train_ratio, value))
        colours = _colours(sorted({*points, *fixed}, key=method_sort_key))
        for method in sorted(points, key=method_sort_key):
            xs, ys = zip(*sorted(points[method]), strict=True)
            ax.plot(xs, ys, marker="o", color=colours[method], label=method)
        for method in sorted(fixed, key=method_sort_key):
            ax.axhline(fixed[method], linestyle="--", color=colours[method], label=f"{method} (ratio-free)")
        ax.set_title(pair)
        ax.set_xlabel("train ratio")
        ax.set_ylabel(f"{metric_label(metric)} (mean over tasks)")
        if ratios:
            ax.set_xticks(ratios)
            ax.set_xlim(0, max(ratios) * 1.1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(pairs) :]:
        ax.set_visible(False)
    fig.suptitle(f"{metric_label(metric)} against train ratio\n{context.label()}")
    return _save(fig, path)


def domain_bars(block: Block, path: Path, metric: str) -> Path:
    """``metric`` per domain, one bar per method, for one pair and train ratio."""
    methods = block.methods
    domains = sorted({d for record in block.runs.values() for d in record.results["per_domain"]})
    width = 0.8 / len(methods)
    colours = _colours(methods)
    x = np.arange(len(domains))
    fig = Figure(figsize=(max(5.0, 1.3 * len(domains) * max(1, len(methods) / 3)), 3.8), layout="constrained")
    ax = fig.subplots()
    values = np.array(
        [
            [block.runs[m].results["per_domain"].get(d, {}).get(metric, np.nan) for d in domains]
            for m in methods
        ]
    )
    for i, method in enumerate(methods):
        offset = (i - (len(methods) - 1) / 2) * width
        ax.bar(x + offset, values[i], width, label=method, color=colours[method])
    ax.set_xticks(x, domains)
    ax.set_ylabel(metric_label(metric))
    # Headroom above the tallest bar for the legend.
    ax.set_ylim(0, max(np.nanmax(values, initial=0.0), 0.01) * 1.25)
    ratio = "ratio-free" if block.ratio is None else f"train ratio {block.ratio:g}"
    ax.set_title(f"{block.pair}, {ratio} — {block.context.label()}", fontsize="medium")
    ax.grid(axis="y", alpha=0.3)
    if max(len(m) for m in methods) > 20:  # long variant labels: one per line, beside the axes
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize="small", ncols=len(methods), loc="upper center")
    return _save(fig, path)


def gain_heatmap(grid: Grid, context: Context, path: Path, metric: str) -> Path | None:
    """ERA's ``metric`` gain in points over the document model's zero-shot, query × document embedder.

    One panel per train ratio over every embedder of the context's pairs; cells without an ERA run
    or a zero-shot baseline read ``n/a``.
    ``None`` when the context has no ERA run at all.
    """
    era = {
        (b.query_embedder, b.doc_embedder, b.ratio): b.runs["era"]
        for b in grid.blocks
        if b.context == context and "era" in b.runs
    }
    if not era:
        return None
    pairs = {(b.query_embedder, b.doc_embedder) for b in grid.blocks if b.context == context}
    queries = sorted({q for q, _ in pairs})
    docs = sorted({d for _, d in pairs})
    ratios = sorted({r for _, _, r in era})
    baselines = {d: doc_zero_shot(grid.runs, context, d) for d in docs}
    gains = np.full((len(ratios), len(queries), len(docs)), np.nan)
    for (q, d, r), record in era.items():
        if (baseline := baselines[d]) is not None:
            gain = record.results["overall"][metric] - baseline.results["overall"][metric]
            gains[ratios.index(r), queries.index(q), docs.index(d)] = 100 * gain
    finite = gains[np.isfinite(gains)]
    limit = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    width = max(6.0, 1.5 + 2.2 * len(docs) * len(ratios))
    fig = Figure(figsize=(width, 1.8 + 0.9 * len(queries)), layout="constrained")
    axes = fig.subplots(1, len(ratios), squeeze=False).ravel()
    for ax, ratio, panel in zip(axes, ratios, gains, strict=True):
        image = ax.imshow(np.ma.masked_invalid(panel), cmap="RdBu", norm=norm, aspect="auto")
        ax.set_facecolor("#e0e0e0")
        ax.set_xticks(range(len(docs)), docs)
        ax.set_yticks(range(len(queries)), queries)
        ax.set_xlabel("document embedder")
        ax.set_ylabel("query embedder")
        ax.set_title(f"train ratio {ratio:g}")
        for (i, j), value in np.ndenumerate(panel):
            dark = not np.isnan(value) and abs(value) > 0.6 * limit
            label = "n/a" if np.isnan(value) else f"{value:+.1f}"
            ax.text(j, i, label, ha="center", va="center", color="white" if dark else "black")
    fig.colorbar(image, ax=axes.tolist(), label=f"gain ({metric_label(metric)} points)")
    fig.suptitle(f"ERA gain over the document model's zero-shot\n{context.label()}")
    return _save(fig, path)


def domain_matrix(matrix: DomainMatrix, path: Path, metric: str) -> Path:
    """A training-setting × evaluation-domain heatmap: colour is the gain over the row's zero-shot,
    text the metric (× 100) with the gain beneath; grey where not measured."""
    gains = 100 * np.array(matrix.gains, dtype=float)
    values = 100 * np.array(matrix.values, dtype=float)
    finite = gains[np.isfinite(gains)]
    limit = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    fig = Figure(
        figsize=(max(5.0, 1.6 + 1.1 * len(matrix.domains)), 1.6 + 0.55 * len(matrix.rows)),
        layout="constrained",
    )
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(gains), cmap="RdBu", norm=norm, aspect="auto")
    ax.set_facecolor("#e0e0e0")
    ax.set_xticks(range(len(matrix.domains)), matrix.domains)
    ax.set_yticks(range(len(matrix.rows)), matrix.rows)
    ax.set_xlabel("evaluation domain")
    ax.set_ylabel("trained on")
    for (i, j), value in np.ndenumerate(values):
        if np.isnan(value):
            continue
        gain = gains[i, j]
        held_out = matrix.domains[j] == matrix.held_out[i]
        label = f"{value:.1f}{'*' if held_out else ''}" + ("" if np.isnan(gain) else f"\n{gain:+.1f}")
        dark = not np.isnan(gain) and abs(gain) > 0.6 * limit
        ax.text(j, i, label, ha="center", va="center", fontsize="small", color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label=f"gain over zero-shot ({metric_label(metric)} points)")
    ax.set_title(matrix.title(metric), fontsize="medium")
    return _save(fig, path)
