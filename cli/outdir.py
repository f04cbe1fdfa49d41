"""The check every results directory (``--out``) gets before a command does any work."""

from __future__ import annotations

import os
from pathlib import Path

import click

__all__ = ["check_out_dir"]


def check_out_dir(path: str | os.PathLike[str], *, hint: str = "--out") -> Path:
    """Refuses a results directory that cannot be created or written, before any expensive work.

    The path itself may exist (a directory) or not; its nearest existing
    ancestor must be a writable directory. Nothing is created here.

    Returns:
        The path.

    Raises:
        click.BadParameter: one line naming ``hint`` and the reason.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} exists and is not a directory", param_hint=hint)
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise click.BadParameter(f"cannot create {out}: {parent} is not a directory", param_hint=hint)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise click.BadParameter(f"cannot create or write {out}: no permission to write in {parent}",
                                 param_hint=hint)
    return out
