"""One method against references over several seeds: per-task differences, and at how many seeds it is above.

A seed draws a run's split (so its test queries), Stage-1 sample, negatives and training order, so
one seed's per-task loss can be that draw's. These tables put each task's difference at every seed
side by side: a task below a reference at every seed is a loss of the method, one below at some
seeds is within what the seed moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

METRIC = "ndcg@10"


@dataclass(frozen=True)
class SeedComparison:
    """``method`` against ``reference`` (results dicts by seed, one per seed, the same tasks each)."""

    label: str
    method: Mapping[int, dict]
    reference: Mapping[int, dict]

    def delta(self, seed: int, task: str) -> float:
        """The method minus the reference on ``task`` at ``seed``."""
        return self.method[seed]["per_task"][task][METRIC] - self.reference[seed]["per_task"][task][METRIC]

    def mean_delta(self, seed: int, mean: str) -> float:
        """The difference of ``overall[mean]`` (a mean over tasks or of domain means) at ``seed``."""
        return self.method[seed]["overall"][mean] - self.reference[seed]["overall"][mean]

    def below_everywhere(self, seeds: Sequence[int], tasks: Sequence[str]) -> list[str]:
        """Tasks where the method is not above the reference at any seed."""
        return [task for task in tasks if all(self.delta(seed, task) <= 0 for seed in seeds)]

    def below_somewhere(self, seeds: Sequence[int], tasks: Sequence[str]) -> list[str]:
        """Tasks where the method is not above the reference at one seed at least, but not all."""
        return [
            task
            for task in tasks
            if any(self.delta(seed, task) <= 0 for seed in seeds)
            and not all(self.delta(seed, task) <= 0 for seed in seeds)
        ]


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def seed_table(
    comparisons: Sequence[SeedComparison], seeds: Sequence[int], domains: Mapping[str, str]
) -> list[str]:
    """Per task (``domains``: task -> domain, in row order): each comparison's difference at every seed
    and the count of seeds where it is above; then the means over tasks and of domain means, and how
    many tasks are above at each seed."""
    header = ["task", "domain"]
    for comparison in comparisons:
        header += [f"− {comparison.label}: seed {seed}" for seed in seeds] + [
            f"seeds above {comparison.label}"
        ]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    tasks = list(domains)
    for task in tasks:
        cells = [task, domains[task]]
        for comparison in comparisons:
            deltas = [comparison.delta(seed, task) for seed in seeds]
            cells += [_points(d) for d in deltas] + [f"{sum(d > 0 for d in deltas)}/{len(seeds)}"]
        lines.append("| " + " | ".join(cells) + " |")
    for mean, name in (("ndcg@10", "mean over tasks"), ("ndcg@10_domain_mean", "mean of domain means")):
        cells = [f"**{name}**", ""]
        for comparison in comparisons:
            deltas = [comparison.mean_delta(seed, mean) for seed in seeds]
            cells += [f"**{_points(d)}**" for d in deltas] + [f"{sum(d > 0 for d in deltas)}/{len(seeds)}"]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**tasks above**", ""]
    for comparison in comparisons:
        cells += [f"{sum(comparison.delta(seed, task) > 0 for task in tasks)}/{len(tasks)}" for seed in seeds]
        cells.append("")
    lines.append("| " + " | ".join(cells) + " |")
    return lines
