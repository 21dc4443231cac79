"""Deterministic training on a GPU needs cuBLAS's workspace fixed before the first cuBLAS call."""

from __future__ import annotations

import os
import subprocess
import sys


def _workspace_after_import(env: dict[str, str]) -> str:
    code = "import era_exp, os; print(os.environ.get('CUBLAS_WORKSPACE_CONFIG'))"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_importing_the_package_fixes_cublas_workspace_unless_the_user_did() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    assert _workspace_after_import(env) == ":4096:8"
    assert _workspace_after_import({**env, "CUBLAS_WORKSPACE_CONFIG": ":16:8"}) == ":16:8"
