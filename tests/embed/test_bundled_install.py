"""era-install-models: joins the zip parts, checks the hash, installs atomically and only once."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from era_exp.embed import bundled


def fake_parts(folder: Path, count: int = 5) -> tuple[list[Path], str]:
    """A small model zip (with Windows junk inside) split into ``count`` parts, and its sha256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("all-mpnet-base-v2/config.json", '{"hidden_size": 8}')
        archive.writestr("all-mpnet-base-v2/desktop.ini", "[.ShellClassInfo]")
        archive.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        archive.writestr("all-mpnet-base-v2/1_Pooling/desktop.ini", "")
    data = buffer.getvalue()
    step = -(-len(data) // count)
    parts = []
    for i in range(count):
        part = folder / f"part{i}"
        part.write_bytes(data[i * step : (i + 1) * step])
        parts.append(part)
    return parts, hashlib.sha256(data).hexdigest()


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    source = tmp_path / "parts"
    source.mkdir()
    found, sha = fake_parts(source)
    monkeypatch.setattr(bundled, "mpnet_parts", lambda: found)
    monkeypatch.setattr(bundled, "MPNET_SHA256", sha)
    return found


def test_installed_parts_are_found() -> None:
    found = bundled.mpnet_parts()
    assert [p.name for p in found] == [f"all-mpnet-base-v2.zip.{i:03d}" for i in range(1, 6)]
    assert all(p.is_file() for p in found)


def test_install_unpacks_once(parts: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target_root = tmp_path / "models"
    bundled.main(["--models-dir", str(target_root)])
    model = target_root / "all-mpnet-base-v2"
    assert (model / "config.json").read_text() == '{"hidden_size": 8}'
    assert (model / bundled.COMPLETE).is_file()
    assert not list(model.rglob("desktop.ini"))
    assert sorted(p.name for p in target_root.iterdir()) == [".all-mpnet-base-v2.lock", "all-mpnet-base-v2"]
    assert "installed all-mpnet-base-v2" in capsys.readouterr().out

    (model / "config.json").write_text("kept")
    bundled.main(["--models-dir", str(target_root)])
    assert (model / "config.json").read_text() == "kept"
    assert "already installed" in capsys.readouterr().out


def test_bad_hash_installs_nothing(parts: list[Path], tmp_path: Path) -> None:
    parts[2].write_bytes(b"corrupted" + parts[2].read_bytes())
    target_root = tmp_path / "models"
    with pytest.raises(RuntimeError, match="expected"):
        bundled.install_mpnet(target_root)
    assert [p.name for p in target_root.iterdir()] == [".all-mpnet-base-v2.lock"]


def test_incomplete_folder_is_replaced(parts: list[Path], tmp_path: Path) -> None:
    stale = tmp_path / "models" / "all-mpnet-base-v2"
    stale.mkdir(parents=True)
    (stale / "half-written.bin").write_bytes(b"x")
    folder, done = bundled.install_mpnet(tmp_path / "models")
    assert done and folder == stale
    assert not (stale / "half-written.bin").exists()
    assert (stale / "config.json").is_file()
