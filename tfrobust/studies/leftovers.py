"""Removing what killed processes left in a study directory: stale temp files, nothing else.

Every writer in the library writes a temp file and renames it into place
(:mod:`tfrobust.reports.files` lists the temp names). A process killed between
the two leaves the temp file behind; :func:`remove_leftovers`, called by the
runner at the start of a run, removes those, and only those:

- ``.NAME.tmpPID[.EXT]`` files and folders anywhere in the study directory
  whose writer (PID) is no longer a running process;
- ``.NAME.XXXXXX.tmp`` (``mkstemp`` names, no PID) inside the directory of a
  cell that is done, or that this run is about to run (a cell runs in one
  runner only: shards own whole cells);
- ``NAME.partial`` inside the directory of a done cell (in an unfinished cell
  it is resume state, kept for the cell to continue from).

A name that matches none of these patterns is never touched.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from pathlib import Path

from tfrobust.reports.files import is_temp_name, temp_name_pid

__all__ = ["pid_alive", "remove_leftovers", "stale_leftovers"]


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (True when it cannot be told)."""
    if pid == os.getpid():
        return True
    if os.name == "nt" or pid <= 0:  # os.kill(pid, 0) would terminate a process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


def _stale(name: str, cell: str | None, owned: Collection[str], done: Collection[str]) -> bool:
    pid = temp_name_pid(name)
    if pid is not None:
        return not pid_alive(pid)
    if name.endswith(".partial"):
        return cell is not None and cell in done
    return cell is not None and (cell in done or cell in owned)


def stale_leftovers(study_dir: str | os.PathLike[str], *, owned: Collection[str] = (),
                    done: Collection[str] = ()) -> list[Path]:
    """The stale temp files and folders in a study directory (see the module docstring).

    Args:
        study_dir: the study directory.
        owned: ids of the cells the caller is about to run (it alone writes their directories).
        done: ids of the done cells.

    Returns:
        Paths, in walk order; a stale folder is listed, not its contents.
    """
    root = Path(study_dir)
    out: list[Path] = []
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root).parts
        cell = rel[1] if len(rel) >= 2 and rel[0] == "cells" else None
        for name in sorted(dirs):
            if is_temp_name(name) and _stale(name, cell, owned, done):
                out.append(Path(folder) / name)
                dirs.remove(name)  # do not descend into what goes
        out.extend(Path(folder) / name for name in sorted(files)
                   if is_temp_name(name) and _stale(name, cell, owned, done))
    return out


def remove_leftovers(study_dir: str | os.PathLike[str], *, owned: Collection[str] = (),
                     done: Collection[str] = ()) -> list[Path]:
    """Removes :func:`stale_leftovers`; returns what it removed."""
    removed = []
    for path in stale_leftovers(study_dir, owned=owned, done=done):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
