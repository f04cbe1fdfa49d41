"""Atomic file writes for reports: a temp file in the same directory, then ``os.replace``.

A reader (a browser, a second report run) never sees a half-written PNG, CSV
or HTML page, and a killed report run leaves the previous file intact.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from matplotlib.figure import Figure

__all__ = ["atomic_save_figure", "atomic_write_bytes", "atomic_write_text"]


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
