"""Atomic writes: umask permissions, temporary files of killed writers, a full disk named as such."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from era_exp.drills.common import audit_cache
from era_exp.embed.cache import EmbeddingCache
from era_exp.io import StorageFullError, atomic_write, atomic_write_text, remove_stale_temps, temp_path_for


@pytest.fixture
def team_umask() -> Iterator[int]:
    """A group-writable umask, as a team sharing a cache on a cluster sets it."""
    previous = os.umask(0o002)
    try:
        yield 0o002
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class _Encoder:
    name = identity = "fixed-vectors"
    dim = 4

    def encode(self, texts):
        return np.arange(len(texts) * self.dim, dtype=np.float32).reshape(len(texts), self.dim)


def test_files_get_the_umask_permissions_not_0600(tmp_path: Path, team_umask: int) -> None:
    written = atomic_write_text(tmp_path / "results.json", "{}\n")
    assert _mode(written) == 0o666 & ~team_umask == 0o664


def test_cache_shards_are_readable_and_writable_by_the_group(tmp_path: Path, team_umask: int) -> None:
    EmbeddingCache(tmp_path).get_or_encode(_Encoder(), ["a", "b", "c"])
    shard_files = sorted((tmp_path / "fixed-vectors").glob("shard-*"))
    assert len(shard_files) == 3, "vectors, keys and record"
    assert {_mode(path) for path in shard_files} == {0o664}


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporary_files_of_dead_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    live = temp_path_for(target)
    dead = tmp_path / live.name.replace(f".{os.getpid()}.", f".{_dead_pid()}.")
    other_file = tmp_path / f".other.json.{live.name.split('.')[3]}.{_dead_pid()}.abcd.tmp"
    for path in (live, dead, other_file):
        path.write_text("partial")
    assert remove_stale_temps(target) == [dead]
    assert live.exists() and other_file.exists() and not dead.exists()
    atomic_write_text(target, "{}\n")
    assert target.read_text() == "{}\n"


def test_a_full_disk_names_the_file_and_what_it_holds(tmp_path: Path) -> None:
    def fill(tmp: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(StorageFullError) as caught:
        atomic_write(tmp_path / "out" / "results.json", fill, "run results")
    message = str(caught.value)
    assert "run results" in message and str(tmp_path / "out" / "results.json") in message
    assert caught.value.errno == errno.ENOSPC
    assert list((tmp_path / "out").iterdir()) == [], "no temporary file is left behind"


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root); skipped with the reason otherwise."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_cache_disk_is_reported_naming_the_cache_folder(small_tmpfs: Path) -> None:
    encoder = _Encoder()
    encoder.dim = 384
    texts = [f"text {i}" for i in range(200)]  # 300 KB of vectors on a 64 KiB file system
    with pytest.raises(StorageFullError) as caught:
        EmbeddingCache(small_tmpfs / "cache").get_or_encode(encoder, texts)
    assert "embedding cache shard" in str(caught.value)
    assert str(small_tmpfs / "cache" / "fixed-vectors") in str(caught.value)
    audit = audit_cache(small_tmpfs / "cache")
    assert not audit.bad, "every shard committed before the disk filled matches its record"
    assert audit.rows < len(texts)
