"""Loading a study directory's saved results, and joining its stages into one frame.

Reads ``study.sqlite`` (read-only, with :mod:`tfrobust.reports.ledgerfile`,
whose names are re-exported here) and ``results.csv`` written by
:mod:`tfrobust.studies.runner`; imports neither TensorFlow nor
``tfrobust.studies`` (docs/architecture.md, Layers).

Column references used by report items: ``stage.metric`` names a metric of
that stage's rows (the metric part may itself contain dots, e.g.
``attack.robust_l2_1.5``); a bare name is a grid key.

Long rows: an ``attack`` cell also writes one row per (norm, eps) to
``cells/<id>/robust_accuracy.csv`` (:data:`LONG_FILE`; columns ``norm``,
``eps``, ``attack``, ``robust_accuracy``, ``worst_case``, ``flags``, ...).
``StudyData.frame(stages, long=stage)`` puts those rows in place of that
stage's one row per cell, as ``<stage>.<column>`` (``attack.eps``), next to
the cell's grid keys and the other stages' columns. A cell without the file
(older study directories) gets rows rebuilt from its ``robust_<norm>_<eps>``
metrics (:func:`long_from_metrics`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tfrobust.reports.ledgerfile import (
    LEDGER_NAME,
    RESULTS_NAME,
    LedgerError,
    check_ledger,
    flatten_metrics,
    read_ledger,
)

__all__ = ["LEDGER_NAME", "LONG_COLUMNS", "LONG_FILE", "RESULTS_NAME", "LedgerError", "StudyData", "cell_label",
           "check_ledger", "flatten_metrics", "grid_keys_of", "load_study", "long_from_metrics", "numeric_labels",
           "read_ledger", "require_columns", "results_from_cells", "study_frame"]

_BASE_COLUMNS = ("id", "stage")

#: The long-format rows a cell writes (one per norm x eps of an ``attack`` cell).
LONG_FILE = "robust_accuracy.csv"
#: Their tidy columns (as ``tfrobust.studies.kinds.attack.LONG_COLUMNS``; this layer does not import it).
LONG_COLUMNS = ("norm", "eps", "attack", "robust_accuracy", "worst_case", "flags")
_ROBUST_METRIC = re.compile(r"^robust_(worst_)?([A-Za-z0-9]+)_(.+)$")


def results_from_cells(cells: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows of ``results.csv`` rebuilt from ledger rows, as the runner writes them.

    One row per ``done`` cell: ``id``, ``stage``, its grid labels, then its
    metrics flattened (nested keys joined with ``.``, lists as JSON). Every
    value is text (``""`` where missing), as :func:`load_study` reads the CSV.
    """
    rows = [{"id": c["id"], "stage": c["stage"], **(c.get("grid") or {}), **flatten_metrics(c.get("metrics") or {})}
            for c in cells if c.get("status") == "done"]
    columns: list[str] = list(_BASE_COLUMNS)
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    frame = pd.DataFrame(rows, columns=columns)
    return frame.map(lambda v: "" if v is None else str(v)).astype(str) if len(frame) else frame.astype(str)


def grid_keys_of(cell_id: str) -> list[str]:
    """The grid keys in a cell id ``stage__key-label__key-label`` (see ``tfrobust.studies.spec``)."""
    return [part.split("-", 1)[0] for part in str(cell_id).split("__")[1:] if part]


def _stage_keys(results: pd.DataFrame, grid_keys: Sequence[str] | None) -> dict[str, list[str]]:
    """Grid keys each stage varies over, from its cells' ids (restricted to ``grid_keys``)."""
    out: dict[str, list[str]] = {}
    for cell_id, stage in zip(results["id"], results["stage"]):
        keys = out.setdefault(str(stage), [])
        for key in grid_keys_of(cell_id):
            if key in results.columns and key not in keys and (grid_keys is None or key in grid_keys):
                keys.append(key)
    return out


def numeric_labels(series: pd.Series) -> pd.Series:
    """The series as numbers when every non-empty value parses as one, else unchanged.

    Grid labels arrive as text (``"0.5"``); x axes need numbers.
    """
    text = series.astype(str)
    filled = text[text != ""]
    if filled.empty or filled.isin(("True", "False", "true", "false")).any():
        return series
    try:
        return pd.to_numeric(text.replace("", float("nan")), errors="raise")
    except (TypeError, ValueError):
        return series


def _metric_values(series: pd.Series) -> pd.Series:
    numeric = numeric_labels(series)
    if numeric is series:  # text metrics: keep, missing as None
        return series.where(series.astype(str) != "", None)
    return numeric


def long_from_metrics(row: Mapping[str, Any]) -> pd.DataFrame:
    """Long rows rebuilt from one attack cell's ``results.csv`` row (``robust_<norm>_<eps>``, and
    ``robust_worst_<norm>_<eps>`` with restarts; ``flagged``): for study directories whose cells
    wrote no long columns. ``attack`` is unknown there (empty); ``worst_case`` is the mean when no
    worst metric was recorded (one restart: the same number). Every value is text."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for key, value in row.items():
        match = _ROBUST_METRIC.match(str(key))
        if not match or str(value) == "":
            continue
        worst, norm, eps = match.groups()
        try:
            float(eps)
        except ValueError:
            continue
        entry = found.setdefault((norm, eps), {"norm": norm, "eps": eps, "attack": "", "robust_accuracy": "",
                                               "worst_case": "", "flags": ""})
        entry["worst_case" if worst else "robust_accuracy"] = str(value)
    flagged = [part.split() for part in str(row.get("flagged", "")).split(";") if part.strip()]
    for (norm, eps), entry in found.items():
        entry["worst_case"] = entry["worst_case"] or entry["robust_accuracy"]
        entry["flags"] = ",".join(p[0] for p in flagged
                                  if len(p) >= 3 and p[1] == norm and _same_number(p[2], eps))
    return pd.DataFrame(list(found.values()), columns=list(LONG_COLUMNS), dtype=str)


def _same_number(a: str, b: str) -> bool:
    try:
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    except ValueError:
        return a == b


def _read_long(path: Path) -> pd.DataFrame | None:
    """A cell's long rows as text, with the tidy columns added to files written before they existed."""
    try:
        rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return None
    aliases = {"robust_accuracy": "robust_accuracy_mean", "worst_case": "robust_accuracy_worst"}
    for new, old in aliases.items():
        if new not in rows.columns and old in rows.columns:
            rows[new] = rows[old]
    if "flags" not in rows.columns:
        rows["flags"] = ""
    if not {"norm", "eps", "robust_accuracy"} <= set(rows.columns):
        return None
    tidy = [c for c in LONG_COLUMNS if c in rows.columns]
    return rows[[*tidy, *(c for c in rows.columns if c not in tidy)]]


def _expand_long(part: pd.DataFrame, ids: pd.Series, stage: str,
                 long_rows: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``part`` (one row per cell) with each row repeated once per long row of its cell, the long
    columns set as ``<stage>.<column>`` (replacing a metric of the same name); cells without rows drop."""
    long_columns = {f"{stage}.{c}" for rows in long_rows.values() for c in rows.columns}
    part = part.drop(columns=[c for c in part.columns if c in long_columns])  # the long rows' values win
    pieces = []
    for i, cell_id in enumerate(ids):
        rows = long_rows.get(str(cell_id))
        if rows is None or rows.empty:
            continue
        piece = part.iloc[[i] * len(rows)].reset_index(drop=True)
        for column in rows.columns:
            piece[f"{stage}.{column}"] = rows[column].astype(str).to_numpy()
        pieces.append(piece)
    if not pieces:
        return part.iloc[0:0]
    out = pd.concat(pieces, ignore_index=True)
    for column in long_columns:
        if column in out.columns:
            out[column] = _metric_values(out[column].fillna("").astype(str))
    return out


def study_frame(results: pd.DataFrame, stages: Sequence[str], *,
                grid_keys: Sequence[str] | None = None, long: str | None = None,
                long_rows: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Joins the done rows of several stages into one frame.

    Each stage contributes the grid keys it varies over (found from its cell
    ids) and its metrics as ``<stage>.<metric>``. Stages are joined in order
    (inner join) on the grid keys both sides vary over; a stage sharing no key
    (e.g. one shared teacher cell) is broadcast to every row. Grid labels that
    all parse as numbers become numbers.

    Args:
        results: ``results.csv`` as text (``load_study(...).results``).
        stages: stage names, joined left to right; row order follows the first.
        grid_keys: the study's grid keys (default: every key found in cell ids).
        long: a stage (in ``stages``) whose rows become its cells' long rows.
        long_rows: cell id -> that cell's long rows (text), for ``long``.

    Returns:
        Columns: the grid keys present (grid order) then ``<stage>.<metric>``.
        Empty (no rows) when a stage has no done rows.

    Raises:
        ValueError: no stages given, or ``long`` not one of them.
    """
    if not stages:
        raise ValueError("stages: name at least one stage")
    if long is not None and long not in stages:
        raise ValueError(f"long: {long!r} is not one of the item's stages [{', '.join(stages)}]")
    if results.empty or "stage" not in results.columns:
        return pd.DataFrame()
    keys_of = _stage_keys(results, grid_keys)
    order = list(grid_keys) if grid_keys is not None else []
    for keys in keys_of.values():
        order.extend(k for k in keys if k not in order)
    grid_columns = set(order)
    joined: pd.DataFrame | None = None
    joined_keys: list[str] = []
    for stage in stages:
        rows = results[results["stage"] == stage]
        keys = keys_of.get(stage, [])
        metrics = [c for c in rows.columns if c not in grid_columns and c not in _BASE_COLUMNS
                   and (rows[c].astype(str) != "").any()]
        part = rows[keys].astype(str).reset_index(drop=True)
        for metric in metrics:
            part[f"{stage}.{metric}"] = _metric_values(rows[metric].reset_index(drop=True))
        if stage == long:
            part = _expand_long(part, rows["id"].reset_index(drop=True), stage, long_rows or {})
        if joined is None:
            joined, joined_keys = part, list(keys)
            continue
        common = [k for k in keys if k in joined_keys]
        joined = joined.merge(part, how="inner", on=common) if common else joined.merge(part, how="cross")
        joined_keys.extend(k for k in keys if k not in joined_keys)
    if joined is None:  # unreachable: stages is not empty
        return pd.DataFrame()
    ordered = [k for k in order if k in joined_keys] + [c for c in joined.columns if c not in joined_keys]
    joined = joined[ordered].reset_index(drop=True)
    for key in joined_keys:
        joined[key] = numeric_labels(joined[key])
    return joined


def require_columns(frame: pd.DataFrame, references: Sequence[str], *, where: str) -> None:
    """Raises a one-line ValueError naming a missing column and the available ones.

    Args:
        frame: a :func:`study_frame`.
        references: column references (``stage.metric`` or grid keys).
        where: the field, e.g. ``report.items[2].y``.
    """
    missing = [r for r in references if r not in frame.columns]
    if missing:
        available = ", ".join(map(str, frame.columns)) or "none"
        raise ValueError(f"{where}: no column {', '.join(map(repr, missing))}; available: {available}")


def cell_label(grid: Mapping[str, Any] | None, *, stage: str = "") -> str:
    """A short label of a cell from its grid labels: ``model=adv_l2, eps=0.5`` (the stage when none)."""
    if not grid:
        return stage or "(all)"
    return ", ".join(f"{k}={v}" for k, v in grid.items())


@dataclass
class StudyData:
    """What a report reads from a study directory.

    Attributes:
        root: the study directory.
        meta: the ledger's meta table (``name``, ``preset``, ``report``, ...).
        cells: ledger rows in registration order (empty without a ledger).
        results: ``results.csv`` as text (``""`` for missing), or rebuilt from
            the ledger's done cells when the CSV is missing.
        grid_keys: grid keys in grid order.
    """

    root: Path
    meta: dict[str, str] = field(default_factory=dict)
    cells: list[dict[str, Any]] = field(default_factory=list)
    results: pd.DataFrame = field(default_factory=pd.DataFrame)
    grid_keys: tuple[str, ...] = ()

    def frame(self, stages: Sequence[str], *, long: str | None = None) -> pd.DataFrame:
        """:func:`study_frame` of these stages; with ``long``, that stage's cells' long rows."""
        rows = self.long_rows(long) if long is not None and long in stages else None
        return study_frame(self.results, stages, grid_keys=self.grid_keys, long=long, long_rows=rows)

    def long_rows(self, stage: str) -> dict[str, pd.DataFrame]:
        """Cell id -> long rows (text) of each done cell of ``stage``: its ``cells/<id>/``
        :data:`LONG_FILE`, else rebuilt from its metrics (:func:`long_from_metrics`)."""
        out: dict[str, pd.DataFrame] = {}
        if "stage" not in self.results.columns:
            return out
        for _, row in self.results[self.results["stage"] == stage].iterrows():
            cell_id = str(row["id"])
            path = self.root / "cells" / cell_id / LONG_FILE
            rows = _read_long(path) if path.is_file() else None
            out[cell_id] = rows if rows is not None else long_from_metrics(row.to_dict())
        return out

    def stage_counts(self, stage: str) -> tuple[int, int]:
        """``(done, total)`` cells of a stage (total from the ledger, else the done rows)."""
        done = int((self.results["stage"] == stage).sum()) if "stage" in self.results.columns else 0
        total = sum(1 for c in self.cells if c["stage"] == stage)
        return done, max(total, done)

    def done_cells(self, stage: str) -> list[tuple[str, dict[str, Any]]]:
        """``(cell id, grid labels)`` of a stage's done cells, in results order."""
        grids = {c["id"]: c.get("grid") or {} for c in self.cells}
        if "stage" not in self.results.columns:
            return []
        rows = self.results[self.results["stage"] == stage]
        out = []
        for cell_id in rows["id"]:
            grid = grids.get(cell_id)
            if grid is None:
                row = rows[rows["id"] == cell_id].iloc[0]
                grid = {k: row[k] for k in grid_keys_of(cell_id) if k in rows.columns}
            out.append((str(cell_id), dict(grid)))
        return out


def load_study(study_dir: str | os.PathLike[str]) -> StudyData:
    """Reads a study directory (ledger read-only, then ``results.csv``).

    Args:
        study_dir: a directory written by ``tfrobust study run`` (finished or not).

    Returns:
        A :class:`StudyData`; empty parts where files are missing.

    Raises:
        FileNotFoundError: the directory has neither ``study.sqlite`` nor ``results.csv``.
    """
    root = Path(study_dir)
    csv_path = root / RESULTS_NAME
    if not (root / LEDGER_NAME).is_file() and not csv_path.is_file():
        raise FileNotFoundError(f"{root} is not a study directory: no {LEDGER_NAME} or {RESULTS_NAME}")
    meta, cells = read_ledger(root)
    if csv_path.is_file():
        try:
            results = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            results = pd.DataFrame(columns=list(_BASE_COLUMNS))
    else:
        results = results_from_cells(cells)
    for column in _BASE_COLUMNS:
        if column not in results.columns:
            results[column] = pd.Series(dtype=str)
    keys: list[str] = []
    for cell in cells:
        keys.extend(k for k in (cell.get("grid") or {}) if k not in keys)
    for cell_id in results["id"]:
        keys.extend(k for k in grid_keys_of(cell_id) if k in results.columns and k not in keys)
    return StudyData(root=root, meta=meta, cells=cells, results=results, grid_keys=tuple(keys))
