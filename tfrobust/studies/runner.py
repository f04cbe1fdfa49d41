"""Runs a study's cells in dependency order, resumably, recording them in the ledger.

``run_study(spec, out_dir)`` writes into ``out_dir``:

- ``study.sqlite``: the ledger (:mod:`tfrobust.studies.ledger`);
- ``cells/<id>/``: each cell's artifacts (``error.txt`` with the traceback of
  a failed cell);
- ``results.csv``: one row per done cell (``id``, ``stage``, the grid labels,
  the metrics flattened), rewritten atomically after every cell.

A cell already ``done`` with the same config hash is never recomputed; a
changed param changes the hash of its cell and of every cell downstream, so
exactly those run again. A killed run resumes where it stopped; a training
cell killed mid-way resumes from its last finished epoch (its directory is
kept when its config is unchanged, and cleared when it changed).

Sharding (``shard=(i, n)``, ``0 <= i < n``): cells are grouped into the
connected components of the dependency graph and a component runs wholly in
shard ``stable_hash(its root cell ids) % n``, so every cell runs exactly once
across the n shards and no shard waits for another. A study whose stages all
feed one summary cell is a single component and runs in one shard.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfrobust.reports.frame import flatten_metrics
from tfrobust.studies.kinds import KINDS
from tfrobust.studies.ledger import Ledger
from tfrobust.studies.spec import Cell, StudySpec

__all__ = ["RESULTS_NAME", "StudySummary", "parse_shard", "run_study", "select_shard", "stable_hash",
           "write_results"]

RESULTS_NAME = "results.csv"


@dataclass(frozen=True)
class StudySummary:
    """What one :func:`run_study` call did.

    Attributes:
        out_dir: the study directory.
        cells: cells in this run (this shard's, when sharded).
        ran: cells computed now (done).
        cached: cells already done with the same config hash (not recomputed).
        failed: ids of cells whose kind raised.
        skipped: ids of cells not run because a dependency failed.
        seconds: wall time of this call.
        report: the written ``report.html`` (None when not asked for).
    """

    out_dir: Path
    cells: int
    ran: int
    cached: int
    failed: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float
    report: Path | None = None

    @property
    def ok(self) -> bool:
        """True when no cell failed or was skipped."""
        return not self.failed and not self.skipped


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (unlike ``hash``)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)


def parse_shard(text: str) -> tuple[int, int]:
    """Parses ``"i/n"`` (``0 <= i < n``); ValueError otherwise."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise ValueError(f"--shard must be i/n with 0 <= i < n (e.g. 0/2 and 1/2), got {text!r}")
    return i, n


def select_shard(cells: Sequence[Cell], index: int, count: int) -> list[Cell]:
    """The cells of shard ``index`` of ``count``: whole dependency components (see module docstring)."""
    parent = {c.id: c.id for c in cells}

    def root(cell_id: str) -> str:
        while parent[cell_id] != cell_id:
            parent[cell_id] = parent[parent[cell_id]]
            cell_id = parent[cell_id]
        return cell_id

    for cell in cells:
        for dep in cell.needs.values():
            parent[root(cell.id)] = root(dep)
    members: dict[str, list[str]] = {}
    for cell in cells:
        if not cell.needs:
            members.setdefault(root(cell.id), []).append(cell.id)
    shard_of = {key: stable_hash("\n".join(sorted(ids))) % count for key, ids in members.items()}
    return [c for c in cells if shard_of[root(c.id)] == index]


def write_results(out_dir: str | os.PathLike[str], *, ledger: Ledger | None = None) -> list[dict[str, Any]]:
    """(Re)writes ``results.csv`` from the ledger, atomically; returns its rows.

    One row per done cell: ``id``, ``stage``, the grid labels of every grid key
    (empty where the stage does not vary over it), then the metrics flattened
    (nested keys joined with ``.``, lists as JSON).
    """
    out = Path(out_dir)
    own = ledger is None
    book = Ledger(out, create=False) if ledger is None else ledger
    try:
        done = book.rows("done")
    finally:
        if own:
            book.close()
    rows = [{"id": r["id"], "stage": r["stage"], **r["grid"], **flatten_metrics(r["metrics"] or {})} for r in done]
    columns: list[str] = ["id", "stage"]
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    tmp = out / f".{RESULTS_NAME}.tmp{os.getpid()}"
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, out / RESULTS_NAME)
    return rows


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def run_study(
    spec: StudySpec,
    out_dir: str | os.PathLike[str],
    *,
    preset: str | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool | Callable[[str], None] = True,
    report: bool = True,
) -> StudySummary:
    """Runs every cell of a study that is not done yet (see the module docstring).

    Args:
        spec: the study.
        out_dir: the study directory (created; re-use it to resume).
        preset: a preset name of the spec (``quick``, ``paper``), or None for
            the params as written.
        shard: ``(i, n)``: run only shard i of n.
        progress: print one line per cell (True), stay silent (False), or a
            callable that receives each line.
        report: when done, (re)write the figures, tables and ``report.html``
            of the study (:func:`tfrobust.reports.build_report`); also after
            failed cells, with what is done.

    Returns:
        A :class:`StudySummary`. Failed cells do not raise: they are recorded
        ``failed`` with a one-line error, their dependents ``skipped``, and
        the remaining cells still run.

    Raises:
        ConfigError: unknown preset or unknown kind.
    """
    started = time.time()
    say: Callable[[str], None]
    if callable(progress):
        say = progress
    else:
        say = (lambda line: print(line, flush=True)) if progress else (lambda line: None)
    cells = spec.cells(preset)
    if shard is not None:
        cells = select_shard(cells, *shard)
    unknown = sorted({c.kind for c in cells} - set(KINDS))
    if unknown:
        from tfrobust.config import ConfigError

        raise ConfigError(f"unknown stage kind(s) {', '.join(unknown)}; registered: {', '.join(KINDS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state: dict[str, str] = {}
    ran = cached = 0
    failed: list[str] = []
    skipped: list[str] = []
    with Ledger(out) as ledger:
        ledger.set_meta({"name": spec.name, "preset": preset or "", "description": spec.description,
                         "reference": spec.reference, "report": json.dumps(dict(spec.report))})
        previous = ledger.sync(cells)
        for number, cell in enumerate(cells, 1):
            tag = f"[{number}/{len(cells)}] {cell.id}"
            row = ledger.get(cell.id)
            if row is not None and row["status"] == "done":
                state[cell.id] = "done"
                cached += 1
                say(f"{tag}: done (cached)")
                continue
            blocked = [d for d in cell.needs.values() if state.get(d) != "done"]
            if blocked:
                reason = f"dependency {blocked[0]} {state.get(blocked[0], 'not run')}"
                ledger.skip(cell.id, reason)
                state[cell.id] = "skipped"
                skipped.append(cell.id)
                say(f"{tag}: skipped ({reason})")
                continue
            cell_dir = out / "cells" / cell.id
            old = previous.get(cell.id)
            if cell_dir.exists() and (old is None or old["config_hash"] != cell.config_hash):
                shutil.rmtree(cell_dir)  # artifacts of another config must not be resumed from
            cell_dir.mkdir(parents=True, exist_ok=True)
            (cell_dir / "error.txt").unlink(missing_ok=True)
            deps = {key: out / "cells" / dep for key, dep in cell.needs.items()}
            params = json.loads(json.dumps(cell.params))
            say(f"{tag}: running {cell.kind}")
            ledger.start(cell.id)
            tic = time.time()
            try:
                metrics = KINDS[cell.kind](params, deps, cell_dir)
                if not isinstance(metrics, Mapping):
                    raise TypeError(f"kind {cell.kind!r} returned {type(metrics).__name__}, not a mapping of metrics")
                ledger.finish(cell.id, metrics, time.time() - tic)
            except Exception as err:  # a failing cell must not stop the others
                (cell_dir / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
                ledger.fail(cell.id, _one_line(err), time.time() - tic)
                state[cell.id] = "failed"
                failed.append(cell.id)
                say(f"{tag}: FAILED {_one_line(err)}")
                continue
            except BaseException:  # KeyboardInterrupt: not done, resumable
                ledger.reset(cell.id, "interrupted")
                raise
            state[cell.id] = "done"
            ran += 1
            write_results(out, ledger=ledger)
            say(f"{tag}: done in {time.time() - tic:.1f} s")
        write_results(out, ledger=ledger)
    report_path = None
    if report:
        from tfrobust.reports import write_report

        written = write_report(out)
        report_path = written.path
        for error in written.errors:
            say(f"report: {error}")
    summary = StudySummary(out_dir=out, cells=len(cells), ran=ran, cached=cached, failed=tuple(failed),
                           skipped=tuple(skipped), seconds=time.time() - started, report=report_path)
    say(f"study {spec.name}: {len(cells)} cells, {ran} run, {cached} cached, {len(failed)} failed, "
        f"{len(skipped)} skipped in {summary.seconds:.1f} s -> {out / RESULTS_NAME}")
    if report_path is not None:
        say(f"report: {report_path}")
    return summary
