"""Reading a study's ledger ``study.sqlite`` read-only, without pandas (stdlib ``sqlite3`` and ``json``).

The pieces of :mod:`tfrobust.reports.frame` that ``tfrobust study status``
and the study runner need (:func:`check_ledger`, :func:`read_ledger`,
:func:`flatten_metrics`), kept apart so that using them imports neither
pandas nor matplotlib; :mod:`tfrobust.reports.frame` re-exports them. The
ledger itself is written by :mod:`tfrobust.studies.ledger`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["LEDGER_NAME", "RESULTS_NAME", "LedgerError", "check_ledger", "flatten_metrics", "read_ledger"]

LEDGER_NAME = "study.sqlite"
RESULTS_NAME = "results.csv"


class LedgerError(ValueError):
    """A ``study.sqlite`` that cannot be used: not a SQLite file, damaged, or not a study ledger."""


def _unreadable(path: Path, reason: str) -> LedgerError:
    return LedgerError(
        f"{path} is not a readable SQLite study ledger ({reason}); nothing was changed. Move it aside and re-run "
        f"`tfrobust study run` with the same config to rebuild it (finished cells are recovered from "
        f"records/<cell id>.json, the others recomputed), or restore it from a backup")


def check_ledger(conn: sqlite3.Connection, path: Path) -> bool:
    """Checks an open ``study.sqlite`` before use; returns whether it holds the ledger's tables.

    Reads only (``PRAGMA quick_check`` and the table list), so a damaged file
    is reported before anything writes to it. An empty file (no tables) is a
    new ledger.

    Raises:
        LedgerError: not a SQLite database, damaged, a SQLite database of
            something else, or unreadable (locked, no permission); one line
            naming the file and what to do.
    """
    try:
        check = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.OperationalError as err:  # locked, permissions, a directory: not damage
        raise LedgerError(f"cannot read the study ledger {path}: {' '.join(str(err).split())}") from None
    except sqlite3.DatabaseError as err:  # "file is not a database", "database disk image is malformed"
        raise _unreadable(path, " ".join(str(err).split())) from None
    if check != ["ok"]:
        raise _unreadable(path, "damaged: " + " ".join(" ".join(check).split())[:200])
    if tables and not {"cells", "meta"} <= tables:
        raise _unreadable(path, f"a SQLite database without the ledger's tables cells and meta; "
                                f"tables: {', '.join(sorted(tables))}")
    return bool(tables)


def _read(path: Path, mode: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    try:
        conn = sqlite3.connect(f"file:{path.resolve().as_posix()}?mode={mode}", uri=True, timeout=30)
    except sqlite3.Error as err:
        raise LedgerError(f"cannot open the study ledger {path}: {' '.join(str(err).split())}") from None
    conn.row_factory = sqlite3.Row
    try:
        if not check_ledger(conn, path):
            return {}, []
        meta = {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM meta")}
        cells = [dict(r) for r in conn.execute("SELECT * FROM cells ORDER BY rowid")]
    except sqlite3.DatabaseError as err:  # damage that quick_check let through
        raise _unreadable(path, " ".join(str(err).split())) from None
    finally:
        conn.close()
    return meta, cells


def read_ledger(study_dir: str | os.PathLike[str]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Reads a study's ledger read-only.

    Args:
        study_dir: the study directory.

    Returns:
        ``(meta, cells)``: the meta table as a dict, and every cell row in
        registration order (``grid``, ``params``, ``metrics`` JSON-decoded).
        Both are empty when there is no ``study.sqlite`` (or an empty one).

    Raises:
        LedgerError: ``study.sqlite`` is not a readable ledger (see :func:`check_ledger`).
    """
    path = Path(study_dir) / LEDGER_NAME
    if not path.exists():
        return {}, []
    if not path.is_file():
        raise _unreadable(path, "not a file")
    try:
        meta, cells = _read(path, "ro")
    except LedgerError as err:
        if "readonly" not in str(err):
            raise
        # A writer killed mid-write leaves a write-ahead log whose index must be rebuilt before anyone can
        # read it, and a read-only connection may not rebuild it: open read-write once (SQLite recovers the
        # log; no row changes).
        meta, cells = _read(path, "rw")
    for row in cells:
        for key in ("grid", "params", "metrics"):
            try:
                row[key] = json.loads(row[key]) if row.get(key) is not None else None
            except (TypeError, ValueError):
                row[key] = None
    return meta, cells


def flatten_metrics(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Metrics as ``results.csv`` columns: nested keys joined with ``.``, lists as JSON."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_metrics(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out
