"""report.html renders in headless Chromium to a non-blank page (plain HTML, relative links).

Without Chromium the test skips with a reason, unless the environment variable
``TFROBUST_REQUIRE_BROWSER=1`` says the browser must be there (``make test``
sets it where it installed Chromium): then a missing browser fails the test.
"""

import os
import shutil
import subprocess

import pytest
from matplotlib.image import imread

from tests.reports.test_build_report import make_study
from tfrobust.reports import build_report

SKIP_REASON = "chromium not installed (Debian package chromium; `make test` installs it where apt works)"
REQUIRE_VARIABLE = "TFROBUST_REQUIRE_BROWSER"


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The browser's path; else a skip, or a failure where ``TFROBUST_REQUIRE_BROWSER=1``."""
    binary = chromium()
    if binary is not None:
        return binary
    if os.environ.get(REQUIRE_VARIABLE, "") == "1":
        pytest.fail(f"{REQUIRE_VARIABLE}=1 but no chromium, chromium-browser or google-chrome on PATH")
    pytest.skip(SKIP_REASON)


def test_a_missing_browser_fails_when_required_and_skips_otherwise(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv(REQUIRE_VARIABLE, "1")
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_VARIABLE):
        require_chromium()
    for value in ("0", ""):
        monkeypatch.setenv(REQUIRE_VARIABLE, value)
        with pytest.raises(pytest.skip.Exception, match="chromium not installed"):
            require_chromium()
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}" if name == "chromium-browser" else None)
    assert require_chromium() == "/usr/bin/chromium-browser"


def test_report_renders_in_headless_chromium(tmp_path):
    binary = require_chromium()
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
