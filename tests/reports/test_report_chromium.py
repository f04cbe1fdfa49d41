"""report.html renders in headless Chromium to a non-blank page (plain HTML, relative links)."""

import shutil
import subprocess

import pytest
from matplotlib.image import imread

from tests.reports.test_build_report import make_study
from tfrobust.reports import build_report

SKIP_REASON = "chromium not installed (Debian package chromium; `make test` installs it where apt works)"


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_report_renders_in_headless_chromium(tmp_path):
    binary = chromium()
    if binary is None:
        pytest.skip(SKIP_REASON)
    page = build_report(make_study(tmp_path / "study"))
    shot = tmp_path / "shot.png"
    command = [binary, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
               page.resolve().as_uri()]
    subprocess.run(command, check=False, capture_output=True, timeout=60)
    assert shot.is_file(), "chromium wrote no screenshot"
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    assert float(pixels.std()) > 0.02, "blank screenshot"
    non_white = (pixels < 0.95).any(axis=-1).mean()
    assert non_white > 0.01, f"only {non_white:.2%} of pixels are not white"
