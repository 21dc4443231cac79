"""docs/configuration.md's YAML-only examples (an adapter, a miner, a method) compose and run as shown."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from era_exp.config import conf_dir
from era_exp.pipeline.run import run
from helpers.config import TINY_BUILTIN, compose_run

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
EXAMPLE = re.compile(r"```yaml\n# (conf/[\w/.-]+\.yaml)\n(.*?)```", re.DOTALL)


def _examples() -> dict[str, str]:
    return dict(EXAMPLE.findall(DOC.read_text(encoding="utf-8")))


@pytest.fixture
def conf_with_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of conf/ holding the documented entries, used as the config folder."""
    conf = tmp_path / "conf"
    shutil.copytree(conf_dir(), conf)  # the experiment link is copied as the folder it points to
    for name, text in _examples().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("ERA_CONF_DIR", str(conf))
    return conf


def test_the_page_documents_an_adapter_a_miner_and_a_method() -> None:
    assert {Path(name).parent.name for name in _examples()} == {"adapter", "miner", "method"}


def test_the_documented_entries_run(conf_with_examples: Path, embedding_cache: Path, tmp_path: Path) -> None:
    command = re.search(r"era-run (data=builtin method=\S+ adapter=\S+ miner=\S+)", DOC.read_text())
    assert command, "the page shows the command that runs the examples"
    cfg = compose_run(embedding_cache, [*command.group(1).split(), *TINY_BUILTIN])
    assert cfg.adapter.module.hidden == 2048 and cfg.adapter.init.ridge == 10.0
    miner = (cfg.miner.n_negatives, cfg.miner.pool, cfg.miner.top_k)
    assert miner == (8, 20, 2000), "what the entry does not set is the schema's"
    results = run(cfg, tmp_path / "run")
    assert results["run"]["method"] == "era_doc_teacher"
    assert results["stages"]["adaptation"]["teacher"] == "doc_model"
    assert results["stages"]["alignment"]["n_train"] > 0
    meta = (tmp_path / "run" / "adapter" / "adapter.json").read_text()
    assert '"kind": "residual_mlp"' in meta and '"hidden": 2048' in meta
