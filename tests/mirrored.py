"""A MirroredStrategy script run in a subprocess beside a test module (logical devices must be set before
TensorFlow starts there): started only when the module has a selected "mirrored" test, read once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

__all__ = ["results_of", "start_if_selected", "stop"]


def start_if_selected(request: Any, script: str) -> subprocess.Popen[str] | None:
    """Starts ``python -c script <test dir>`` when a test of ``request.module`` named "*mirrored*" is selected."""
    wanted = any(getattr(item, "module", None) is request.module and "mirrored" in item.name
                 for item in request.session.items)
    if not wanted:
        return None
    here = os.path.dirname(os.path.abspath(request.module.__file__))
    return subprocess.Popen([sys.executable, "-c", script, here], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def stop(proc: subprocess.Popen[str] | None) -> None:
    """Kills a still-running script (the module ended before reading it)."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.communicate()


def results_of(proc: subprocess.Popen[str] | None) -> dict[str, Any]:
    """The JSON the script printed on its last ``RESULTS `` line; the script must have exited 0."""
    assert proc is not None
    stdout, stderr = proc.communicate(timeout=300)
    lines = [line for line in stdout.splitlines() if line.startswith("RESULTS ")]
    assert proc.returncode == 0 and lines, stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULTS "))
