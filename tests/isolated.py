"""Run a Python script in a process where tfrobust cannot be imported (served exports, `.keras` files).

The process runs ``python -I`` (no PYTHONPATH, no current directory on the
path), and :data:`NO_TFROBUST`, prepended to every script, removes the
editable-install finder of the venv and the repository root from the path,
then proves that neither ``tfrobust`` nor ``cli`` imports. ``sys.argv[1]``
is the repository root (a script may put it back to show the fix).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["NO_TFROBUST", "ROOT", "isolated"]

ROOT = Path(__file__).resolve().parents[1]

#: Makes tfrobust (installed editable into the venv) unimportable, and proves it.
NO_TFROBUST = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in str(getattr(f, "__module__", ""))]
sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in str(getattr(h, "__module__", ""))]
sys.path_importer_cache.clear()
sys.path[:] = [p for p in sys.path if p and p.rstrip("/") != sys.argv[1].rstrip("/")]  # the repository root
for name in ("tfrobust", "cli"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} is importable in the isolated process")
"""


def isolated(script: str, *args: object, cwd: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """Runs :data:`NO_TFROBUST` + ``script`` with ``python -I``; ``sys.argv`` is ``[-c, ROOT, *args]``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow")
    return subprocess.run([sys.executable, "-I", "-c", NO_TFROBUST + script, str(ROOT), *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
