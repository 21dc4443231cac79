"""The report of a hyper-parameter search folder: trials, best configuration, and the test split once.

Trials are ranked by the objective the search optimised (the validation split's optimised
metric); their test scores are not shown. The test split is read for two runs only, after the
search: the best trial and the baseline trial (the configuration without the search's
parameters, the paper's defaults), side by side.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from era_exp.io import atomic_write, atomic_write_text
from era_exp.pipeline.results import RESULTS_FILE, completed_results
from era_exp.report.tables import Table, fmt
from era_exp.sweep.search import SEARCH_FILE


class SearchReportError(RuntimeError):
    """The folder holds no search to report on."""


@dataclass(frozen=True)
class TrialRecord:
    """One Optuna trial and the run folder it computed."""

    number: int
    state: str
    value: float | None
    params: dict
    seconds: float | None
    run_dir: Path | None

    def results(self) -> dict:
        """The trial's results.json (complete runs only)."""
        if self.run_dir is None:
            raise SearchReportError(f"trial {self.number}: no run folder found")
        results = json.loads((self.run_dir / RESULTS_FILE).read_text(encoding="utf-8"))
        if completed_results(self.run_dir, results.get("run_key", "")) is None:
            raise SearchReportError(f"{self.run_dir}: no complete results")
        return results


@dataclass(frozen=True)
class SearchReport:
    """What a search report read and wrote."""

    out_dir: Path
    record: dict
    trials: list[TrialRecord]
    best: TrialRecord
    baseline: TrialRecord | None
    files: list[Path]


def best_trial(complete: list[TrialRecord], maximise: bool) -> TrialRecord:
    """The trial with the best value; of equal values the earliest, so a tie with the baseline keeps it."""
    sign = 1.0 if maximise else -1.0
    return max(complete, key=lambda t: (sign * t.value, -t.number))


def is_search(folder: str | Path) -> bool:
    """Whether ``folder`` is the sweep folder of a hyper-parameter search."""
    return (Path(folder) / SEARCH_FILE).is_file()


def build_search_report(sweep_dir: str | Path, out_dir: str | Path | None = None) -> SearchReport:
    """Write ``trials.csv`` and ``search.md`` for the search in ``sweep_dir`` (default: its ``report/``)."""
    import optuna

    sweep_dir = Path(sweep_dir)
    if not is_search(sweep_dir):
        raise SearchReportError(f"{sweep_dir}: no {SEARCH_FILE} (not a hyper-parameter search folder)")
    record = json.loads((sweep_dir / SEARCH_FILE).read_text(encoding="utf-8"))
    study = optuna.load_study(study_name=record["study_name"], storage=_storage(sweep_dir, record))
    folders = _trial_folders(sweep_dir)
    trials = [
        TrialRecord(
            number=t.number,
            state=t.state.name,
            value=t.value,
            params=dict(t.params),
            seconds=t.duration.total_seconds() if t.duration else None,
            run_dir=folders.get(t.number),
        )
        for t in study.get_trials(deepcopy=False)
    ]
    complete = [t for t in trials if t.state == "COMPLETE"]
    if not complete:
        raise SearchReportError(f"{sweep_dir}: study {record['study_name']} has no complete trial")
    best = best_trial(complete, maximise=record["directions"][0].lower() == "maximize")
    baseline = next((t for t in complete if t.number == study.user_attrs.get("baseline_trial")), None)
    out = Path(out_dir) if out_dir is not None else sweep_dir / "report"
    metric = record["optimized_metric"]
    frame = _trials_frame(trials, metric, sweep_dir)
    files = [
        atomic_write(out / "trials.csv", lambda tmp: frame.to_csv(tmp, index=False)),
        atomic_write_text(out / "search.md", _page(record, trials, best, baseline, sweep_dir)),
    ]
    return SearchReport(out, record, trials, best, baseline, files)


def _storage(sweep_dir: Path, record: dict) -> str:
    """The study's storage; a sqlite file kept in the sweep folder is found wherever the folder now is."""
    if record.get("storage_file"):
        return f"sqlite:///{sweep_dir / record['storage_file']}"
    return record["storage"]


def _trial_folders(sweep_dir: Path) -> dict[int, Path]:
    """``{hydra.job.num: run folder}``; the search sweeper makes the job number the trial number."""
    folders = {}
    for hydra_file in sorted(sweep_dir.glob("*/.hydra/hydra.yaml")):
        num = OmegaConf.select(OmegaConf.load(hydra_file), "hydra.job.num")
        if num is not None:
            folders[int(num)] = hydra_file.parent.parent
    return folders


def _trials_frame(trials: list[TrialRecord], metric: str, root: Path) -> pd.DataFrame:
    names = sorted({name for t in trials for name in t.params})
    rows = [
        {
            "trial": t.number,
            "state": t.state,
            f"validation_{metric}": t.value,
            **{name: t.params.get(name) for name in names},
            "seconds": None if t.seconds is None else round(t.seconds, 1),
            "run_dir": None if t.run_dir is None else t.run_dir.relative_to(root).as_posix(),
        }
        for t in trials
    ]
    return pd.DataFrame(rows)


def _page(
    record: dict, trials: list[TrialRecord], best: TrialRecord, baseline: TrialRecord | None, root: Path
) -> str:
    metric = record["optimized_metric"]
    best_results = best.results()
    config = best_results["config"]
    run = best_results["run"]
    complete = [t for t in trials if t.state == "COMPLETE"]
    seconds = sum(t.seconds or 0.0 for t in trials)
    sampler = record.get("sampler", {})
    lines = [
        f"# Hyper-parameter search: {record['study_name']}",
        "",
        f"- Objective: {record['objective']} (mean over tasks), "
        f"{record['directions'][0]}d; the test split is read once, below.",
        f"- Command: `{' '.join(record.get('command', []))}`",
        f"- Pair: {run['query_embedder']}→{run['doc_embedder']}; method {run['method']}; "
        f"train ratio {run['train_ratio']}; setting {run['setting']}; seed {run['seed']}",
        f"- Tasks ({len(best_results['per_task'])}): {', '.join(best_results['per_task'])}",
        f"- Sampler: {str(sampler.get('_target_', '')).rsplit('.', 1)[-1]} "
        f"(seed {sampler.get('seed')}, {sampler.get('n_startup_trials')} random start-up trials); "
        f"budget {record['n_trials']} trials",
        f"- Trials: {len(complete)} complete, {len(trials) - len(complete)} failed or unfinished; "
        f"{seconds / 60:.1f} min of trial time in all",
        f"- Search space: {', '.join(f'`{k}`: `{v}`' for k, v in record['params'].items())}",
        f"- Report generated: {dt.datetime.now():%Y-%m-%d %H:%M}",
        "",
        _trials_table(trials, metric, best, baseline).to_markdown(),
        "## Best configuration",
        "",
        f"Trial {best.number}, validation {metric} {fmt(best.value)}"
        + (" (the baseline itself)" if baseline is not None and best.number == baseline.number else "")
        + ":",
        "",
        "```",
        " ".join(f"{name}={value}" for name, value in sorted(best.params.items())),
        "```",
        "",
    ]
    if baseline is None:
        lines += [
            "No baseline trial (a composed default lay outside the search space): no test comparison.",
            "",
        ]
    else:
        lines += _test_comparison(metric, best, best_results, baseline, baseline.results(), config)
    return "\n".join(lines).rstrip() + "\n"


def _trials_table(
    trials: list[TrialRecord], metric: str, best: TrialRecord, baseline: TrialRecord | None
) -> Table:
    names = sorted({name for t in trials for name in t.params})
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        marks = [
            m for m, hit in (("best", t is best), ("defaults", baseline is not None and t is baseline)) if hit
        ]
        rows.append(
            [
                str(t.number) + (f" ({', '.join(marks)})" if marks else ""),
                t.state.lower(),
                fmt(t.value),
                *(_value(t.params.get(name)) for name in names),
                "n/a" if t.seconds is None else f"{t.seconds:.0f}",
            ]
        )
    return Table(
        f"Trials (validation {metric})",
        ["trial", "state", f"validation {metric}", *names, "seconds"],
        rows,
        ["Ranked by the validation split only; test scores of the trials are not looked at."],
    )


def _test_comparison(
    metric: str,
    best: TrialRecord,
    best_results: dict,
    baseline: TrialRecord,
    base_results: dict,
    config: dict,
) -> list[str]:
    metrics = list(config["eval"]["metrics"])
    headers = ["configuration", f"validation {metric}", *(f"test {m}" for m in metrics)]
    rows = [
        [
            f"defaults (trial {baseline.number})",
            fmt(baseline.value),
            *(fmt(base_results["overall"][m]) for m in metrics),
        ],
        [f"best (trial {best.number})", fmt(best.value), *(fmt(best_results["overall"][m]) for m in metrics)],
    ]
    delta = best_results["overall"][metric] - base_results["overall"][metric]
    outcome = "wins over" if delta > 0 else "loses to" if delta < 0 else "ties with"
    verdict = (
        "the best trial is the defaults themselves"
        if best.number == baseline.number
        else f"the search {outcome} the defaults on test by {100 * delta:+.2f} points of {metric}"
    )
    per_task = [
        [
            task,
            best_results["per_task"][task].get("domain", ""),
            fmt(base_results["per_task"][task][metric]),
            fmt(best_results["per_task"][task][metric]),
            f"{100 * (best_results['per_task'][task][metric] - base_results['per_task'][task][metric]):+.2f}",
        ]
        for task in best_results["per_task"]
    ]
    return [
        Table(
            "Test split: best trial against the defaults",
            headers,
            rows,
            [f"Read once, after the search: {verdict}. Means over tasks."],
        ).to_markdown(),
        Table(
            f"Test {metric} per task",
            ["task", "domain", "defaults", "best", "Δ (points)"],
            per_task,
        ).to_markdown(),
    ]


def _value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
