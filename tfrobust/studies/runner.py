"""Runs a study's cells in dependency order, resumably, recording them in the ledger.

``run_study(spec, out_dir)`` writes into ``out_dir``:

- ``study.sqlite``: the ledger (:mod:`tfrobust.studies.ledger`);
- ``cells/<id>/``: each cell's artifacts, the kind's own directory
  (``error.txt`` with the traceback of a failed cell);
- ``records/<id>.json``: each cell's record, kept beside the ledger: id,
  stage, kind, the config hash its directory holds, ``status`` ``running``
  from its start, ``done`` with its metrics and seconds once finished;
- ``results.csv``: one row per done cell (``id``, ``stage``, the grid labels,
  the metrics flattened), rewritten atomically after every cell;
- ``claims.csv``: the verdict of each of the spec's claims
  (:mod:`tfrobust.reports.claims`; ``pending`` while a claim's cells are not
  all done), rewritten with ``results.csv`` when the spec has claims, and at
  the end of the run (by the report, or without one).

The spec's report section and claims are stored in the ledger's meta (JSON),
where the report and ``tfrobust study status`` read them; they are no part of
any cell, so adding a claim recomputes nothing.

Before anything runs or is written, every cell's params are checked against
its kind (:func:`tfrobust.studies.check.check_study`): a misspelt or ill-typed
param fails the run at once, not when its cell comes up. A cell runs as
:func:`tfrobust.studies.kinds.run_kind` (its kind from
:data:`tfrobust.registry.KINDS`, params checked by the kind's signature).

A cell already ``done`` with the same config hash is never recomputed; a
changed param changes the hash of its cell and of every cell downstream, so
exactly those run again. A killed run resumes where it stopped; a training
cell killed mid-way resumes from its last finished epoch (its directory is
kept when its record holds its current config hash, and cleared when it
holds another one, even if the run that changed the config was killed before
reaching the cell). A cell whose record is ``done`` with its current
config hash is taken as done from it (a run killed between the cell's end and
the ledger's update, or a ledger rebuilt after a damaged one was moved
aside), unless a dependency was recomputed in this run. Temp files that
killed processes left are removed at the start of a run
(:func:`tfrobust.studies.leftovers.remove_leftovers`).

Each cell goes through three steps, shared by both executors: the driver
settles it (:meth:`StudyRun.settle`: cached, recovered from its record,
skipped, or to run) and prepares it (:meth:`StudyRun.prepare`: a clean or
resumable directory, the ``running`` record and ledger row);
:func:`execute_cell` runs its kind and writes its ``done`` record or
``error.txt`` (in this process, or in a Ray worker with ``executor=``, see
:mod:`tfrobust.studies.executor_ray`); the driver records the outcome
(:meth:`StudyRun.record`: the ledger, ``results.csv``, ``claims.csv``). Only
the driver writes the ledger.

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
from typing import Any, Protocol

from tfrobust.config import ConfigError
from tfrobust.registry import KINDS, Entry
from tfrobust.reports.files import atomic_write_text
from tfrobust.reports.ledgerfile import flatten_metrics
from tfrobust.studies.check import check_study
from tfrobust.studies.kinds import run_kind
from tfrobust.studies.ledger import LEDGER_NAME, Ledger, to_json
from tfrobust.studies.leftovers import remove_leftovers
from tfrobust.studies.spec import Cell, StudySpec

__all__ = ["CLAIMS_NAME", "RECORDS_DIR", "RESULTS_NAME", "CellExecutor", "CellJob", "CellOutcome", "StudyRun",
           "StudySummary", "check_study_dir", "claim_counts", "execute_cell", "parse_shard", "read_cell_record",
           "run_study", "select_shard", "stable_hash", "write_results"]

RESULTS_NAME = "results.csv"
RECORDS_DIR = "records"
#: The verdicts of the spec's claims (as ``tfrobust.reports.claims.CLAIMS_NAME``, which imports pandas).
CLAIMS_NAME = "claims.csv"


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
        report_errors: one line per report item in error (``report item NAME: ...``).
        recovered: cells taken as done from their record (counted in ``cached`` too).
        claims: the written ``claims.csv`` (None when the spec has no claims or it could not be written).
    """

    out_dir: Path
    cells: int
    ran: int
    cached: int
    failed: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float
    report: Path | None = None
    report_errors: tuple[str, ...] = ()
    recovered: int = 0
    claims: Path | None = None

    @property
    def ok(self) -> bool:
        """True when no cell failed or was skipped (see ``report_errors`` for the report)."""
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


def claim_counts(path: str | os.PathLike[str]) -> str:
    """``2 reproduced, 1 inconclusive``: the verdicts in a ``claims.csv`` (rows of a claim's ``by`` values,
    ids with ``[``, not counted); "" when it is missing or empty."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            verdicts = [r.get("verdict", "") for r in csv.DictReader(handle) if "[" not in r.get("id", "")]
    except (OSError, csv.Error, UnicodeDecodeError):
        return ""
    counts: dict[str, int] = {}
    for verdict in verdicts:
        counts[verdict] = counts.get(verdict, 0) + 1
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def _write_claims(out: Path, say: Callable[[str], None]) -> Path | None:
    """(Re)writes ``claims.csv``; a failure is reported, never raised (the cells' work is safe)."""
    from tfrobust.reports.claims import write_claims

    try:
        return write_claims(out)
    except Exception as err:  # claims are a summary: they must not stop a run
        say(f"claims: not written: {_one_line(err)}")
        return None


def read_cell_record(out_dir: str | os.PathLike[str], cell_id: str) -> dict[str, Any] | None:
    """A cell's record ``records/<id>.json`` (see the module docstring), or None when missing or unreadable."""
    try:
        record = json.loads((Path(out_dir) / RECORDS_DIR / f"{cell_id}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _finished_record(record: dict[str, Any], cell: Cell) -> bool:
    return (record.get("status") == "done" and record.get("id") == cell.id
            and record.get("config_hash") == cell.config_hash and isinstance(record.get("metrics"), dict))


def _write_cell_record(cell: Cell, out: Path, status: str, metrics: Mapping[str, Any] | None = None,
                       seconds: float | None = None) -> None:
    record: dict[str, Any] = {"id": cell.id, "stage": cell.stage, "kind": cell.kind,
                              "config_hash": cell.config_hash, "status": status}
    if metrics is not None:
        record.update(metrics=dict(metrics), seconds=seconds, finished=time.time())
    atomic_write_text(out / RECORDS_DIR / f"{cell.id}.json", to_json(record) + "\n")


def _clear(cell_dir: Path) -> None:
    """Removes a cell directory: renamed away first, so a kill midway leaves a temp folder, not half of it."""
    doomed = cell_dir.with_name(f".{cell_dir.name}.tmp{os.getpid()}")
    shutil.rmtree(doomed, ignore_errors=True)
    os.replace(cell_dir, doomed)
    shutil.rmtree(doomed)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def check_study_dir(out: Path) -> None:
    """Refuses an output path that is a file, or a non-empty folder that is not a study directory.

    A study directory holds the ledger, ``cells/`` or ``records/``; any other
    non-empty folder belongs to someone else and is never written into.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"study directory {out} is a file; give a directory with --out")
    if out.is_dir() and any(out.iterdir()):
        if not any((out / name).exists() for name in (LEDGER_NAME, "cells", RECORDS_DIR)):
            raise ConfigError(f"{out} is not empty and is not a study directory (no {LEDGER_NAME}, cells/ "
                              "or records/); choose a new or empty --out")


@dataclass(frozen=True)
class CellJob:
    """What running one prepared cell needs (picklable: it travels to Ray workers).

    Attributes:
        cell: the cell.
        out_dir: the study directory (absolute for a Ray worker).
        deps: dependency key -> that dependency's cell directory.
        params: the cell's params as plain JSON values.
    """

    cell: Cell
    out_dir: Path
    deps: Mapping[str, Path]
    params: Mapping[str, Any]

    @property
    def cell_dir(self) -> Path:
        """The cell's own artifact directory ``cells/<id>/``."""
        return self.out_dir / "cells" / self.cell.id


@dataclass(frozen=True)
class CellOutcome:
    """What running a cell gave: its metrics, or the one-line error of its kind.

    Attributes:
        cell_id: the cell's id.
        metrics: the kind's metrics (None when it failed).
        error: ``Type: message`` of the failure (None when done).
        seconds: wall time of the kind.
    """

    cell_id: str
    metrics: Mapping[str, Any] | None
    error: str | None
    seconds: float


def execute_cell(job: CellJob, entry: Entry | None = None) -> CellOutcome:
    """Runs a prepared cell's kind and writes its ``done`` record, or ``error.txt`` with the traceback.

    The same code runs a cell in the sequential runner and in a Ray worker.

    Args:
        job: the prepared cell (:meth:`StudyRun.prepare`).
        entry: the kind's registry entry, shipped by a driver to a worker that may lack it (a kind added
            at run time); None: looked up in :data:`~tfrobust.registry.KINDS` by :func:`run_kind`.

    Returns:
        The outcome; an exception of the kind becomes a failed outcome, never raised.

    Raises:
        BaseException: KeyboardInterrupt and the like pass through (the cell stays resumable).
    """
    cell = job.cell
    tic = time.time()
    try:
        if entry is None:
            metrics = run_kind(cell.kind, dict(job.params), job.deps, job.cell_dir)
        else:
            options = entry.parse(dict(job.params), prefix=cell.kind)
            metrics = entry.load()(dict(job.deps), job.cell_dir, **options)
        if not isinstance(metrics, Mapping):
            raise TypeError(f"kind {cell.kind!r} returned {type(metrics).__name__}, not a mapping of metrics")
        seconds = time.time() - tic
        _write_cell_record(cell, job.out_dir, "done", metrics, seconds)
        return CellOutcome(cell.id, json.loads(to_json(dict(metrics))), None, seconds)
    except Exception as err:  # a failing cell must not stop the others
        (job.cell_dir / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        return CellOutcome(cell.id, None, _one_line(err), time.time() - tic)


class StudyRun:
    """The driver's side of one run: the ledger, each cell's state, the counts and the progress lines.

    Args:
        spec: the study.
        cells: the cells of this run, in dependency order.
        out: the study directory.
        ledger: its open ledger (synced with ``cells``).
        previous: each cell's ledger row before the sync.
        say: receives one progress line per event.
    """

    def __init__(self, spec: StudySpec, cells: Sequence[Cell], out: Path, ledger: Ledger,
                 previous: Mapping[str, dict[str, Any]], say: Callable[[str], None]) -> None:
        self.spec = spec
        self.cells = list(cells)
        self.out = out
        self.ledger = ledger
        self.previous = previous
        self.say = say
        self.state: dict[str, str] = {}
        self.fresh: set[str] = set()  # cells computed in this run
        self.ran = self.cached = self.recovered = 0
        self.failed: list[str] = []
        self.skipped: list[str] = []
        self._number = {c.id: i for i, c in enumerate(self.cells, 1)}

    def tag(self, cell: Cell) -> str:
        """``[3/10] <id>``: how progress lines name a cell."""
        return f"[{self._number[cell.id]}/{len(self.cells)}] {cell.id}"

    def settle(self, cell: Cell) -> bool:
        """Records a cell that needs no run (cached, recovered from its record, or skipped); True when it must run.

        Call it once every dependency of the cell has its final state.
        """
        tag = self.tag(cell)
        row = self.ledger.get(cell.id)
        if row is not None and row["status"] == "done":
            self.state[cell.id] = "done"
            self.cached += 1
            self.say(f"{tag}: done (cached)")
            return False
        record = read_cell_record(self.out, cell.id)
        if (record is not None and _finished_record(record, cell)
                and all(self.state.get(d) == "done" and d not in self.fresh for d in cell.needs.values())):
            self.ledger.finish(cell.id, record["metrics"], float(record.get("seconds") or 0.0))
            self.state[cell.id] = "done"
            self.cached += 1
            self.recovered += 1
            self.say(f"{tag}: done (recovered from {RECORDS_DIR}/{cell.id}.json)")
            return False
        blocked = [d for d in cell.needs.values() if self.state.get(d) != "done"]
        if blocked:
            reason = f"dependency {blocked[0]} {self.state.get(blocked[0], 'not run')}"
            self.ledger.skip(cell.id, reason)
            self.state[cell.id] = "skipped"
            self.skipped.append(cell.id)
            self.say(f"{tag}: skipped ({reason})")
            return False
        return True

    def prepare(self, cell: Cell, *, clean: bool = False) -> CellJob:
        """Readies a cell to run: its directory (cleared when it holds another config, or when ``clean``),
        the ``running`` record and ledger row, and the progress line.

        Args:
            cell: a cell :meth:`settle` said must run.
            clean: start from an empty directory (a retry after a killed worker).
        """
        cell_dir = self.out / "cells" / cell.id
        record = read_cell_record(self.out, cell.id)
        old = self.previous.get(cell.id)
        if clean:
            stale = True
        elif record is not None:  # the directory says which config it holds
            stale = record.get("config_hash") != cell.config_hash
        else:
            stale = old is None or old["config_hash"] != cell.config_hash
        if cell_dir.exists() and stale:
            _clear(cell_dir)  # artifacts of another config must not be resumed from
        cell_dir.mkdir(parents=True, exist_ok=True)
        (cell_dir / "error.txt").unlink(missing_ok=True)
        _write_cell_record(cell, self.out, "running")
        deps = {key: self.out / "cells" / dep for key, dep in cell.needs.items()}
        self.say(f"{self.tag(cell)}: running {cell.kind}")
        self.ledger.start(cell.id)
        return CellJob(cell=cell, out_dir=self.out, deps=deps, params=json.loads(json.dumps(cell.params)))

    def record(self, cell: Cell, outcome: CellOutcome) -> None:
        """Writes a finished cell's outcome to the ledger (and ``results.csv``, ``claims.csv`` when done)."""
        tag = self.tag(cell)
        if outcome.error is not None or outcome.metrics is None:
            error = outcome.error or "no metrics"
            self.ledger.fail(cell.id, error, outcome.seconds)
            self.state[cell.id] = "failed"
            self.failed.append(cell.id)
            self.say(f"{tag}: FAILED {error}")
            return
        self.ledger.finish(cell.id, outcome.metrics, outcome.seconds)
        self.state[cell.id] = "done"
        self.fresh.add(cell.id)
        self.ran += 1
        write_results(self.out, ledger=self.ledger)
        if self.spec.claims:
            _write_claims(self.out, self.say)
        self.say(f"{tag}: done in {outcome.seconds:.1f} s")

    def interrupted(self, cell_id: str, reason: str = "interrupted") -> None:
        """Marks a started cell ``pending`` again: not done, resumable."""
        self.ledger.reset(cell_id, reason)


class CellExecutor(Protocol):
    """Runs a study's cells (``run_study(..., executor=...)``), e.g. on a Ray cluster.

    ``run(study)`` must settle every cell of ``study.cells`` once its dependencies have their final
    state, prepare, execute (:func:`execute_cell`) and record each one that must run, and on an
    interrupt mark the started cells pending (:meth:`StudyRun.interrupted`) before re-raising.
    """

    def run(self, study: StudyRun) -> None:
        """Runs the cells of ``study``."""


def _run_sequentially(study: StudyRun) -> None:
    """The default executor: each cell in dependency order, in this process."""
    for cell in study.cells:
        if not study.settle(cell):
            continue
        job = study.prepare(cell)
        try:
            outcome = execute_cell(job)
        except BaseException:  # KeyboardInterrupt: not done, resumable
            study.interrupted(cell.id)
            raise
        study.record(cell, outcome)


def run_study(
    spec: StudySpec,
    out_dir: str | os.PathLike[str],
    *,
    preset: str | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool | Callable[[str], None] = True,
    report: bool = True,
    executor: CellExecutor | None = None,
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
        executor: runs the cells (e.g. :class:`tfrobust.studies.executor_ray.RayExecutor`); None: one
            after another in this process. With an executor the study directory is made absolute.

    Returns:
        A :class:`StudySummary`. Failed cells do not raise: they are recorded
        ``failed`` with a one-line error, their dependents ``skipped``, and
        the remaining cells still run.

    Raises:
        ConfigError: unknown preset or kind, or a cell's params that its kind
            refuses (:func:`~tfrobust.studies.check.check_study`; nothing is
            run or written then).
        LedgerError: ``study.sqlite`` is not a readable ledger (left untouched).
    """
    started = time.time()
    say: Callable[[str], None]
    if callable(progress):
        say = progress
    else:
        say = (lambda line: print(line, flush=True)) if progress else (lambda line: None)
    cells = check_study(spec, preset, kinds=KINDS)  # every cell of the preset, before anything runs
    if shard is not None:
        cells = select_shard(cells, *shard)
    out = Path(out_dir)
    check_study_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    if executor is not None:
        out = out.resolve()  # workers have other working directories
    with Ledger(out) as ledger:
        ledger.set_meta({"name": spec.name, "preset": preset or "", "description": spec.description,
                         "reference": spec.reference, "report": json.dumps(dict(spec.report)),
                         "claims": json.dumps([dict(c) for c in spec.claims])})
        previous = ledger.sync(cells)
        done = {r["id"] for r in ledger.rows("done")}
        removed = remove_leftovers(out, owned={c.id for c in cells} - done, done=done)
        if removed:
            say(f"removed {len(removed)} temp file(s) left by a killed run: "
                f"{', '.join(p.relative_to(out).as_posix() for p in removed[:5])}"
                + (", ..." if len(removed) > 5 else ""))
        run = StudyRun(spec, cells, out, ledger, previous, say)
        if executor is None:
            _run_sequentially(run)
        else:
            executor.run(run)
        write_results(out, ledger=ledger)
    report_path = None
    report_errors: tuple[str, ...] = ()
    claims_path: Path | None = None
    if report:
        from tfrobust.reports import write_report

        written = write_report(out)  # writes claims.csv too
        report_path = written.path
        report_errors = written.problems
        for error in report_errors:
            say(f"report: {error}")
        claims_path = out / CLAIMS_NAME if spec.claims and (out / CLAIMS_NAME).is_file() else None
    elif spec.claims or (out / CLAIMS_NAME).is_file():
        claims_path = _write_claims(out, say)
    summary = StudySummary(out_dir=out, cells=len(cells), ran=run.ran, cached=run.cached, failed=tuple(run.failed),
                           skipped=tuple(run.skipped), seconds=time.time() - started, report=report_path,
                           report_errors=report_errors, recovered=run.recovered, claims=claims_path)
    say(f"study {spec.name}: {len(cells)} cells, {run.ran} run, {run.cached} cached, {len(run.failed)} failed, "
        f"{len(run.skipped)} skipped in {summary.seconds:.1f} s -> {out / RESULTS_NAME}")
    if claims_path is not None:
        say(f"claims: {claim_counts(claims_path) or 'none'} -> {claims_path}")
    if report_path is not None:
        say(f"report: {report_path}")
    return summary
