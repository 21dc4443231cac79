"""Run the pipeline in child processes that a drill can watch and kill with SIGKILL at any moment.

A child is forked from the drill process once it has imported the pipeline and compiled the
metric kernels, so each of the many attempts a drill makes costs the run itself, not an
interpreter start. The child is an ordinary process running :func:`era_exp.pipeline.run.run`:
``kill -9`` stops it wherever it is, with no cleanup. Its ``era_exp`` log lines come back
through a pipe, so the drill can wait for a phase to start before choosing when to kill.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PHASE_STARTED = "phase {}: started"
_END = "\x00end "


class _PipeHandler(logging.Handler):
    """Write each log message as one line into the pipe (short writes to a pipe are atomic)."""

    def __init__(self, fd: int) -> None:
        super().__init__(logging.INFO)
        self.fd = fd

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage().replace("\n", " ")[:3000] + "\n"
        with contextlib.suppress(OSError):
            os.write(self.fd, line.encode("utf-8", "replace"))


@dataclass
class Child:
    """One forked attempt: its pid, the log lines seen so far, and how it ended."""

    pid: int
    fd: int
    started: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    returncode: int | None = None
    error: str | None = None
    result: Any = None
    _buffer: bytes = b""

    def _read(self, timeout: float) -> bool:
        """Read what is available within ``timeout``; False once the pipe is closed."""
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not ready:
            return True
        chunk = os.read(self.fd, 65536)
        if not chunk:
            return False
        self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace")
            if line.startswith(_END):
                status, _, payload = line[len(_END) :].partition(" ")
                if status == "error":
                    self.error = payload
                else:
                    self.result = json.loads(payload) if payload else None
            else:
                self.lines.append(line)
        return True

    def wait_for(self, text: str, timeout: float) -> bool:
        """True once a log line containing ``text`` arrived; False if the child ended or time ran out."""
        seen = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines[seen:]):
                return True
            seen = len(self.lines)
            if not self._read(deadline - time.monotonic()):
                return any(text in line for line in self.lines[seen:])
        return False

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def last_phase(self) -> str | None:
        """The phase the child was in when last heard of."""
        phases = [
            line.split(":")[0].removeprefix("phase ") for line in self.lines if line.endswith(": started")
        ]
        return phases[-1] if phases else None

    def kill(self) -> None:
        """SIGKILL the child and collect it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.join()

    def join(self, timeout: float = 1800) -> int:
        """Wait for the child to end; its return code (negative: killed by that signal)."""
        if self.returncode is not None:
            return self.returncode
        deadline = time.monotonic() + timeout
        while self._read(max(deadline - time.monotonic(), 0.0)) and time.monotonic() < deadline:
            pass
        if time.monotonic() >= deadline:
            os.kill(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        while self._read(1.0):  # what the child wrote before it ended
            pass
        os.close(self.fd)
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


def fork(target: Callable[[], Any], env: dict[str, str] | None = None) -> Child:
    """Start ``target()`` in a forked child; its JSON-able return value comes back as ``result``."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        status = 0
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.environ.update(env or {})
            logger = logging.getLogger("era_exp")
            logger.handlers = [_PipeHandler(write_fd)]
            logger.setLevel(logging.INFO)
            logger.propagate = False
            result = target()
            os.write(write_fd, f"{_END}ok {json.dumps(result, default=str)}\n".encode())
        except BaseException as err:
            message = f"{type(err).__name__}: {err}".replace("\n", " ")[:3000]
            os.write(write_fd, f"{_END}error {message}\n".encode())
            status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    return Child(pid=pid, fd=read_fd)


def run_to_end(target: Callable[[], Any], env: dict[str, str] | None = None, timeout: float = 1800) -> Child:
    """Fork ``target`` and wait for it to finish (SIGKILLed after ``timeout`` seconds)."""
    child = fork(target, env)
    child.join(timeout)
    return child
