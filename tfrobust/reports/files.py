"""Atomic file writes for reports: a temp file in the same directory, then ``os.replace``.

A reader (a browser, a second report run) never sees a half-written PNG, CSV
or HTML page, and a killed report run leaves the previous file intact.

A killed process leaves its temp file behind. :func:`temp_name_pid` and
:func:`is_temp_name` recognise the temp names the library uses (so reports
never show them and ``tfrobust study run`` removes stale ones):

- ``.NAME.tmpPID`` and ``.STEM.tmpPID.EXT`` (files and directories; PID the
  writer's process id);
- ``.NAME.XXXXXX.tmp`` (``tempfile.mkstemp`` with a ``.tmp`` suffix; no PID);
- ``NAME.partial`` (resumable partial results, e.g. attribution maps).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is slow to import; these helpers run without it
    from matplotlib.figure import Figure

__all__ = ["atomic_save_figure", "atomic_write_bytes", "atomic_write_text", "is_temp_name", "temp_name_pid"]

_PID_TEMP = re.compile(r"^\..+\.tmp(\d+)(?:\.[^/]+)?$")
_MKSTEMP_TEMP = re.compile(r"^\..+\.tmp$")


def temp_name_pid(name: str) -> int | None:
    """The writer's process id in a ``.NAME.tmpPID[.EXT]`` temp name, else None."""
    match = _PID_TEMP.match(name)
    return int(match.group(1)) if match else None


def is_temp_name(name: str) -> bool:
    """True for a file or directory name of one of the library's temp patterns (module docstring)."""
    return bool(_PID_TEMP.match(name) or _MKSTEMP_TEMP.match(name)) or name.endswith(".partial")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically, creating parent directories.

    Args:
        path: the destination file.
        data: its full content.

    Returns:
        The destination path.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Writes UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_figure(figure: Figure, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Saves a matplotlib figure as PNG atomically.

    Args:
        figure: a ``matplotlib.figure.Figure`` (no pyplot state involved).
        path: the destination ``.png``.
        dpi: resolution in dots per inch.

    Returns:
        The destination path.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return atomic_write_bytes(path, buffer.getvalue())
