"""The run config is validated while it is composed: bad values and unknown names fail naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

from era_exp.config import ConfigError, compose, conf_dir, validate
from era_exp.sweep.grid import expand_grid

# Every config group, as it is chosen on the command line (the embedder registry serves both sides).
GROUPS = {
    "adapter": "adapter",
    "data": "data",
    "embedder@query_embedder": "embedder",
    "embedder@doc_embedder": "embedder",
    "eval": "eval",
    "logger": "logger",
    "method": "method",
    "miner": "miner",
    "pair": "pair",
    "paths": "paths",
    "setting": "setting",
    "stage1": "stage1",
    "stage1/loss": "stage1/loss",
    "stage2": "stage2",
    "stage2/objective": "stage2/objective",
    "stage2/trace": "stage2/trace",
    "hydra/launcher": "hydra/launcher",
    "hydra/sweeper": "hydra/sweeper",
    "hparams_search": "hparams_search",
    "+experiment": "experiment",
}


def _entries(folder: str) -> list[str]:
    return sorted(path.stem for path in (conf_dir() / folder).glob("*.yaml"))


def test_every_group_folder_is_listed() -> None:
    folders = {p.parent.relative_to(conf_dir()).as_posix() for p in conf_dir().rglob("*.yaml")}
    folders.add("experiment")  # a link to experiments/, which rglob does not follow
    # encode/ configures era-encode (how the cache is filled), never a run.
    assert folders - {"."} == set(GROUPS.values()) | {"hydra", "encode"}


@pytest.mark.parametrize("choice", sorted(GROUPS))
def test_an_unknown_name_in_any_group_fails_with_the_valid_names(choice: str) -> None:
    """Also the pair: a mistyped pair must not silently compose the default one."""
    with pytest.raises(MissingConfigException) as failure:
        compose([f"{choice}=mpnet_to_mpnt"])
    message = str(failure.value)
    assert "mpnet_to_mpnt" in message and "Available options" in message
    assert all(name in message for name in _entries(GROUPS[choice]) if not name.startswith("_"))


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["stage2.lr=-1"], "stage2.lr"),
        (["stage1.lr=0"], "stage1.lr"),
        (["stage1.epochs=-1"], "stage1.epochs"),
        (["stage2.warmup_fraction=1.0"], "stage2.warmup_fraction"),
        (["miner.n_negatives=0"], "miner.n_negatives"),
        (["method=zero_shot", "train_ratio=1.5"], "train_ratio"),
        (["method=align_only", "train_ratio=0"], "train_ratio"),
        (["method=era", "train_ratio=-0.2"], "train_ratio"),
        (["setting=lodo"], "holdout_domain"),
        (["setting=domain_specific"], "domain"),
        (["eval.optimized_metric=ndcg@5"], "eval.optimized_metric"),
        (["eval.metrics=[map@100]"], "eval.optimized_metric"),
        (["adapter=procrustes"], "adapter.init"),
        (["method=label_only", "adapter=ridge"], "adapter.init"),
        (["~stage1.loss._target_"], "stage1.loss"),
    ],
)
def test_bad_values_fail_at_compose_time_naming_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        compose(overrides)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("miner.strategy=bogus", "miner.strategy"),
        ("eval.split=train", "eval.split"),
        ("eval.backend=gpu", "eval.backend"),
        ("stage2.lr=fast", "stage2.lr"),
        ("stage1.loss=mse", "stage1.loss"),
        ("seed=[1]", "seed"),
        ("stage2.temperature=0.1", "temperature"),
        ("stage2.balance=pairs", "stage2.balance"),
    ],
)
def test_wrong_types_and_choices_fail_while_merging(override: str, key: str) -> None:
    with pytest.raises(ConfigCompositionException) as failure:
        compose([override])
    assert key in str(failure.value.__cause__ or failure.value)


def test_valid_choices_list_themselves() -> None:
    with pytest.raises(ConfigCompositionException) as failure:
        compose(["miner.strategy=bogus"])
    assert "topk_percpos, naive_topk, random" in str(failure.value.__cause__)


def test_the_defaults_are_the_papers_and_written_once() -> None:
    cfg = validate(compose([], return_hydra_config=False))
    assert (cfg.stage1.samples_per_task, cfg.stage1.lr, cfg.stage1.epochs) == (1000, 1e-3, 100)
    assert (cfg.stage2.lr, cfg.stage2.patience, cfg.stage2.nominal_epochs) == (1e-5, 5, 1000)
    assert (cfg.miner.strategy, cfg.miner.n_negatives, cfg.miner.top_k, cfg.miner.margin) == (
        "topk_percpos",
        5,
        2000,
        0.95,
    )
    assert cfg.stage2.objective["temperature"] == 0.05 and cfg.train_ratio == 0.2 and cfg.seed == 42
    for entry in ("stage1/paper.yaml", "stage2/paper.yaml", "miner/topk_percpos.yaml"):
        values = OmegaConf.load(conf_dir() / entry)
        assert set(values) <= {"defaults", "strategy"}, f"{entry} repeats the schema's defaults"


def test_pair_sets_both_sides_and_one_side_can_be_overridden() -> None:
    cfg = compose(["pair=mpnet_to_minilm"], return_hydra_config=False)
    assert (cfg.query_embedder.name, cfg.doc_embedder.name) == ("mpnet", "minilm")
    assert cfg.query_embedder.model == "bundled:mpnet" and cfg.query_embedder.max_length == 384
    assert cfg.doc_embedder.pooling == cfg.query_embedder.pooling == "mean", "both from the _base entry"
    one_side = compose(["pair=mpnet_to_minilm", "embedder@doc_embedder=mpnet"], return_hydra_config=False)
    assert (one_side.query_embedder.name, one_side.doc_embedder.name) == ("mpnet", "mpnet")
    field = compose(["pair=mpnet_to_minilm", "query_embedder.max_length=128"], return_hydra_config=False)
    assert field.query_embedder.max_length == 128 and field.doc_embedder.max_length == 256


def test_sweep_folders_name_the_pair_actually_run() -> None:
    plain = compose(["pair=mpnet_to_minilm", "method=era"]).hydra.sweep.subdir
    assert plain == "method=era,pair=mpnet_to_minilm"
    one_side = compose(["pair=mpnet_to_minilm", "embedder@query_embedder=minilm", "method=era"])
    assert one_side.hydra.sweep.subdir == "method=era,pair=minilm_to_minilm"
    assert compose(["method=era"]).hydra.sweep.subdir == "method=era"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["stage2.lr=-1"], "stage2.lr"),
        (["miner.strategy=bogus"], "miner.strategy"),
        (["setting=lodo"], "holdout_domain"),
    ],
)
def test_era_run_fails_before_loading_anything(tmp_path, overrides: list[str], key: str) -> None:
    """The data folder does not exist and no model is reachable: only the config can be the error."""
    command = [sys.executable, "-m", "era_exp.cli.run", *overrides, f"data.root={tmp_path / 'absent'}"]
    done = subprocess.run(
        [*command, f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert key in done.stderr and "absent" not in done.stderr
    assert not (tmp_path / "run" / "results.json").exists()
    assert "torch" not in done.stderr


def test_a_sweep_may_complete_what_its_fixed_part_leaves_missing() -> None:
    points = expand_grid(["setting=lodo", "holdout_domain=Code,Legal", "data=builtin"])
    assert [compose(point).holdout_domain for point in points] == ["Code", "Legal"]


@pytest.mark.parametrize(
    ("overrides", "shown"),
    [
        (["setting=lodo"], "holdout_domain"),
        (["method=bogus"], "method/bogus"),
        (["stage2.lr=-1"], "stage2.lr"),
    ],
)
def test_era_encode_names_a_bad_config_without_a_traceback(
    tmp_path, overrides: list[str], shown: str
) -> None:
    command = [sys.executable, "-m", "era_exp.cli.encode", "data=builtin", *overrides, "--dry-run"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "era-encode: invalid config:" in done.stderr and shown in done.stderr
    assert "Traceback" not in done.stderr
