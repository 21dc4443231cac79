"""Quiet Lightning output for the stage tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _quiet_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERA_QUIET", "1")
