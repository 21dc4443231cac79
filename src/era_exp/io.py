"""Atomic file writes: a reader never sees a half-written file, an interrupted writer leaves none.

The temporary file is created like any ordinary file (mode 0666 filtered through the umask), so a
cache or results folder shared by a team keeps the permissions its owners chose. Its name records
the writer's host and process id, so a later write of the same file removes what a killed writer on
this host left behind, and never a live writer's file. A full disk or quota is reported naming the
file and what was being written.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from era_exp import faults

TEMP_SUFFIX = ".tmp"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
# Below this many free bytes a failed write is taken for a full disk, whatever the writer raised
# (torch and some C extensions report ENOSPC as a RuntimeError).
_NEARLY_FULL_BYTES = 1 << 20


class StorageFullError(OSError):
    """No space (or quota) left for a file; the message names the file and what it holds."""


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "host"


def temp_path_for(path: Path) -> Path:
    """A fresh temporary name beside ``path``: ``.<name>.<host>.<pid>.<random>.tmp``."""
    return path.parent / f".{path.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def _writer(temp: Path, target_name: str) -> tuple[str, int] | None:
    """``(host, pid)`` of the writer of a temporary file of ``target_name``, or None if not one."""
    prefix = f".{target_name}."
    if not (temp.name.startswith(prefix) and temp.name.endswith(TEMP_SUFFIX)):
        return None
    parts = temp.name[len(prefix) : -len(TEMP_SUFFIX)].split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete temporary files of ``path`` left by dead writers on this host; return what was removed.

    A temporary file of another host is kept: whether its writer lives cannot be told from here
    (folders with a lock clear those under it, see ``era_exp.pipeline.results.clear_outputs``).
    """
    path = Path(path)
    removed = []
    host = _host()
    try:
        candidates = list(path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}"))
    except OSError:
        return removed
    for temp in candidates:
        writer = _writer(temp, path.name)
        if writer is None or writer[0] != host or writer[1] == os.getpid() or _alive(writer[1]):
            continue
        temp.unlink(missing_ok=True)
        removed.append(temp)
    return removed


def _create(path: Path) -> Path:
    """Create an empty temporary file for ``path`` with the umask's permissions (O_EXCL: never shared)."""
    while True:
        temp = temp_path_for(path)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return temp


def _disk_full(err: BaseException, folder: Path) -> bool:
    if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
        return True
    if not isinstance(err, Exception):
        return False  # KeyboardInterrupt and the like
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def _full_error(path: Path, what: str | None, err: BaseException) -> StorageFullError:
    try:
        free = f"{shutil.disk_usage(path.parent).free} bytes free now"
    except OSError:
        free = "free space unknown"
    subject = f"{what} {path}" if what else str(path)
    return StorageFullError(
        errno.ENOSPC,
        f"No space left on device while writing {subject} ({free} in {path.parent}); "
        f"free space there or point the setting that names this folder elsewhere (cause: {err})",
    )


def atomic_write(
    path: str | Path, write: Callable[[Path], None], what: str | None = None, fresh_name: bool = False
) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path`` in one step.

    ``what`` says what the file holds (``"run results"``, ``"embedding cache shard"``) for the error
    raised when the disk is full. ``fresh_name`` says ``path`` has a name never written before (a
    random one), so no dead writer can have left a temporary file of it and the folder is not listed
    to look for one (which, per write into a folder of thousands of files, would cost more than the
    write).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not fresh_name:
            remove_stale_temps(path)
        tmp_path = _create(path)
    except OSError as err:
        if _disk_full(err, path.parent):
            raise _full_error(path, what, err) from err
        raise
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        faults.hit("write")
        os.replace(tmp_path, path)
    except BaseException as err:
        tmp_path.unlink(missing_ok=True)
        if _disk_full(err, path.parent):
            raise _full_error(path, what, err) from err
        raise
    return path


def atomic_write_text(path: str | Path, text: str, what: str | None = None, fresh_name: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8); see :func:`atomic_write` for ``fresh_name``."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), what, fresh_name)


def atomic_write_json(path: str | Path, obj: Any, what: str | None = None, fresh_name: bool = False) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically; see :func:`atomic_write` for ``fresh_name``."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n"
    return atomic_write_text(path, text, what, fresh_name)
