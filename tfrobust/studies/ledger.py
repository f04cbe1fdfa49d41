"""The study ledger: ``study.sqlite``, one row per cell (stdlib ``sqlite3``).

Columns: ``id``, ``stage``, ``kind``, ``grid`` (JSON: the cell's grid labels),
``params`` (JSON), ``config_hash``, ``status``, ``metrics`` (JSON), ``started``,
``finished`` (Unix seconds), ``seconds``, ``error`` (one line). Statuses:

- ``pending``: not run yet, or to be run again (changed config, killed run);
- ``running``: started; a row left ``running`` by a killed process counts as
  not done and is reset to ``pending`` when the study is run again;
- ``done``: finished, ``metrics`` hold its results;
- ``failed``: the kind raised; ``error`` holds the message (re-run next time);
- ``skipped``: not run because a dependency failed or was skipped.

Every status change commits in its own transaction, so a killed run loses at
most the cell it was running. A ``meta`` table records the study's name and
the preset of the latest run.

Opening checks the file first, reading only: a file that is not SQLite, a
damaged one or another program's database raises :class:`LedgerError` (a
ValueError; one line naming the file and what to do) and is left untouched.
The runner also keeps each cell's record in ``records/<id>.json`` (config
hash, status, metrics), so a lost ledger can be rebuilt by running the study
again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfrobust.reports.ledgerfile import LEDGER_NAME, LedgerError, check_ledger

if TYPE_CHECKING:
    from tfrobust.studies.spec import Cell

__all__ = ["LEDGER_NAME", "STATUSES", "Ledger", "LedgerError", "to_json"]

STATUSES = ("pending", "running", "done", "failed", "skipped")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    id TEXT PRIMARY KEY, stage TEXT NOT NULL, kind TEXT NOT NULL, grid TEXT NOT NULL,
    params TEXT NOT NULL, config_hash TEXT NOT NULL, status TEXT NOT NULL, metrics TEXT,
    started REAL, finished REAL, seconds REAL, error TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"metric value {value!r} ({type(value).__name__}) is not JSON-serializable")


def to_json(value: Any) -> str:
    """JSON text of params or metrics (numpy scalars become numbers)."""
    return json.dumps(value, default=_plain)


class Ledger:
    """Reads and writes a study's ``study.sqlite``.

    Args:
        path: the database file, or the study directory holding it.
        create: create the file when missing (else FileNotFoundError).

    Raises:
        FileNotFoundError: no ledger and ``create`` is False.
        LedgerError: the file is not a readable ledger (nothing is written to it).
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        path = Path(path)
        self.path = path / LEDGER_NAME if path.is_dir() or path.suffix != ".sqlite" else path
        if self.path.exists() and not self.path.is_file():
            raise LedgerError(f"{self.path} is not a file; a study ledger must be one (move it aside)")
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"no study ledger at {self.path} (run `tfrobust study run` first)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=60)
        except sqlite3.Error as err:
            raise LedgerError(f"cannot open the study ledger {self.path}: {' '.join(str(err).split())}") from None
        self._conn.row_factory = sqlite3.Row
        try:
            check_ledger(self._conn, self.path)  # reads only: a damaged file is never written to
            with self._conn:
                self._conn.executescript(_SCHEMA)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        """Closes the database connection."""
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_meta(self, values: Mapping[str, str]) -> None:
        """Stores study-level facts (name, preset)."""
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                   [(k, str(v)) for k, v in values.items()])

    def meta(self) -> dict[str, str]:
        """Study-level facts."""
        return {r["key"]: r["value"] for r in self._conn.execute("SELECT key, value FROM meta")}

    def sync(self, cells: Iterable[Cell]) -> dict[str, dict[str, Any]]:
        """Registers cells before a run; returns each cell's previous row (if any).

        A new cell is inserted ``pending``. A known cell stays ``done`` only if
        its config hash is unchanged; anything else (changed hash, ``running``
        left by a killed process, ``failed``, ``skipped``) becomes ``pending``.
        """
        previous: dict[str, dict[str, Any]] = {}
        for cell in cells:
            old = self.get(cell.id)
            if old is not None:
                previous[cell.id] = old
                if old["status"] == "done" and old["config_hash"] == cell.config_hash:
                    continue
            with self._conn:
                self._conn.execute(
                    "INSERT INTO cells (id, stage, kind, grid, params, config_hash, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT(id) DO UPDATE SET "
                    "stage = excluded.stage, kind = excluded.kind, grid = excluded.grid, "
                    "params = excluded.params, config_hash = excluded.config_hash, status = 'pending', "
                    "metrics = NULL, started = NULL, finished = NULL, seconds = NULL, error = NULL",
                    (cell.id, cell.stage, cell.kind, to_json(dict(cell.values)), to_json(cell.params),
                     cell.config_hash),
                )
        return previous

    def _set(self, cell_id: str, **values: Any) -> None:
        columns = ", ".join(f"{k} = ?" for k in values)
        with self._conn:
            cursor = self._conn.execute(f"UPDATE cells SET {columns} WHERE id = ?", (*values.values(), cell_id))
        if cursor.rowcount != 1:
            raise KeyError(f"no cell {cell_id!r} in {self.path}")

    def start(self, cell_id: str) -> None:
        """Marks a cell ``running``."""
        self._set(cell_id, status="running", started=time.time(), finished=None, seconds=None,
                  error=None, metrics=None)

    def finish(self, cell_id: str, metrics: Mapping[str, Any], seconds: float) -> None:
        """Marks a cell ``done`` with its metrics."""
        self._set(cell_id, status="done", metrics=to_json(dict(metrics)), finished=time.time(),
                  seconds=float(seconds), error=None)

    def fail(self, cell_id: str, error: str, seconds: float) -> None:
        """Marks a cell ``failed`` with a one-line error."""
        self._set(cell_id, status="failed", error=error, finished=time.time(), seconds=float(seconds))

    def skip(self, cell_id: str, reason: str) -> None:
        """Marks a cell ``skipped`` (a dependency did not finish)."""
        self._set(cell_id, status="skipped", error=reason, started=None, finished=None, seconds=None)

    def reset(self, cell_id: str, reason: str) -> None:
        """Marks a cell ``pending`` again (e.g. interrupted)."""
        self._set(cell_id, status="pending", error=reason)

    def get(self, cell_id: str) -> dict[str, Any] | None:
        """One row as a dict (JSON columns decoded), or None."""
        row = self._conn.execute("SELECT * FROM cells WHERE id = ?", (cell_id,)).fetchone()
        return None if row is None else self._decode(row)

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """All rows in registration order, optionally of one status."""
        if status is None:
            cursor = self._conn.execute("SELECT * FROM cells ORDER BY rowid")
        else:
            cursor = self._conn.execute("SELECT * FROM cells WHERE status = ? ORDER BY rowid", (status,))
        return [self._decode(r) for r in cursor]

    def counts(self) -> dict[str, int]:
        """Number of cells per status (every status listed)."""
        counts = dict.fromkeys(STATUSES, 0)
        for row in self._conn.execute("SELECT status, COUNT(*) AS n FROM cells GROUP BY status"):
            counts[row["status"]] = row["n"]
        return counts

    @staticmethod
    def _decode(row: sqlite3.Row) -> dict[str, Any]:
        out = dict(row)
        for key in ("grid", "params", "metrics"):
            if out[key] is not None:
                out[key] = json.loads(out[key])
        return out
