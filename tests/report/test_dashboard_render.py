"""The dashboard renders offline in a real browser (headless Chromium), not just as valid text."""

from __future__ import annotations

import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from era_exp.report.build import build_report

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1280, 2000


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)")
def test_dashboard_renders_in_headless_chromium(fake_sweep: Path, tmp_path: Path) -> None:
    report = build_report(fake_sweep, tmp_path / "report")
    shot = tmp_path / "shot.png"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{HEIGHT}",
        (report.out_dir / "index.html").resolve().as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=180)
    image = matplotlib.image.imread(shot)[..., :3]
    assert image.shape[:2] == (HEIGHT, WIDTH)
    inked = (image < 0.9).any(axis=2)
    # Text, tables and plots cover a good part of the page, and reach its lower half (the figures).
    assert inked.mean() > 0.03
    assert inked[HEIGHT // 2 :].mean() > 0.03
    # Colour from the embedded plots, not only black text on white.
    assert (np.ptp(image, axis=2) > 0.2).mean() > 0.005
