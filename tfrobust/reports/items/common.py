"""Helpers several report item builders share: placeholders, table and figure writing, labels, bands.

Every path here is relative to the study directory (``figures/...``,
``tables/...``, ``cells/<id>/...``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tfrobust.reports.artifacts import Artifact, ReportItem
from tfrobust.reports.files import atomic_save_figure, atomic_write_text
from tfrobust.reports.frame import StudyData
from tfrobust.reports.html import format_value, html_table, markdown_table, numeric_columns

if TYPE_CHECKING:  # matplotlib is slow to import; the builders that draw import it themselves
    from matplotlib.figure import Figure

__all__ = ["FIGURES", "TABLES", "as_list", "axis_label", "cell_path", "is_cell_file", "item_status",
           "labelled_columns", "mean_band", "missing_file_error", "numeric_column", "pending_item", "save_figure",
           "select_rows", "write_table"]

FIGURES = "figures"
TABLES = "tables"


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """One name or several as a list (None: empty)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def pending_item(data: StudyData, stages: Sequence[str], *, name: str, type_: str, title: str,
                 caption: str, option: str = "stages") -> tuple[ReportItem | None, str]:
    """A placeholder when a stage has no done cells; else None and a note on partial stages."""
    notes = []
    known = {c["stage"] for c in data.cells}
    for stage in stages:
        done, total = data.stage_counts(stage)
        if data.cells and stage not in known and done == 0:
            raise ValueError(f"{option}: unknown stage {stage!r}; stages: {', '.join(sorted(known))}")
        if done == 0:
            message = f"not computed yet: {done} of {total} cells of stage {stage!r} done"
            return ReportItem(name=name, type=type_, title=title, caption=caption, status="pending",
                              message=message), ""
        if done < total:
            notes.append(f"{done} of {total} cells of stage {stage!r} done")
    return None, ("partial: " + "; ".join(notes)) if notes else ""


def select_rows(frame: pd.DataFrame, where: Mapping[str, Any] | None) -> pd.DataFrame:
    """The rows whose column equals the value, for every ``{column: value}`` of ``where`` (a list of
    values keeps any of them); numbers compare as numbers (``eps: 0.1`` matches ``0.1``).

    Raises:
        ValueError: ``where: no column ...`` naming a missing column and the available ones.
    """
    if not where:
        return frame
    missing = [c for c in where if c not in frame.columns]
    if missing:
        raise ValueError(f"where: no column {', '.join(map(repr, missing))}; "
                         f"available: {', '.join(map(str, frame.columns)) or 'none'}")
    keep = pd.Series(True, index=frame.index)
    for column, wanted in where.items():
        values = wanted if isinstance(wanted, (list, tuple)) else [wanted]
        keep &= frame[column].map(lambda v, values=values: any(_equal(v, w) for w in values))
    return frame[keep].reset_index(drop=True)


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
        try:
            return math.isclose(float(value), float(wanted), rel_tol=1e-6, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return str(value) == str(wanted)


def item_status(note: str) -> str:
    """``partial`` when a built item carries a note (some cells missing), else ``ok``."""
    return "partial" if note else "ok"


def write_table(data: StudyData, name: str, frame: pd.DataFrame, *, title: str, caption: str = "",
                percent: Collection[str] = ()) -> Artifact:
    """Writes ``tables/<name>.csv`` (raw numbers) and ``.md`` (formatted); returns the artifact."""
    csv_rel = f"{TABLES}/{name}.csv"
    md_rel = f"{TABLES}/{name}.md"
    atomic_write_text(data.root / csv_rel, frame.to_csv(index=False, lineterminator="\n"))
    headers = [str(c) for c in frame.columns]
    raw = [[None if _missing(v) else v for v in row] for row in frame.itertuples(index=False, name=None)]
    numeric = numeric_columns(raw, len(headers))
    cells = [[format_value(v, percent=str(col) in percent) for v, col in zip(row, frame.columns)] for row in raw]
    atomic_write_text(data.root / md_rel, markdown_table(headers, cells, numeric=numeric))
    return Artifact(kind="table", path=csv_rel, title=title, caption=caption, markdown=md_rel,
                    html=html_table(headers, cells, numeric=numeric))


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def save_figure(data: StudyData, figure: Figure, rel: str) -> str:
    """Writes ``figure`` to ``rel`` inside the study directory (atomically); returns ``rel``."""
    atomic_save_figure(figure, data.root / rel)
    return rel


def numeric_column(series: pd.Series, where: str, ref: str) -> pd.Series:
    """The column as floats; ValueError starting with ``where`` when it has values but none reads as a number."""
    values = pd.to_numeric(series, errors="coerce")
    if len(series) and values.isna().all() and not series.isna().all():
        raise ValueError(f"{where}: column {ref!r} is not numeric")
    return values.astype(float)


def labelled_columns(y: str | Sequence[str] | Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """Columns and their display labels (a ``{column: label}`` mapping, or the column names themselves)."""
    if isinstance(y, Mapping):
        return list(y), {str(k): str(v) for k, v in y.items()}
    columns = as_list(y)
    return columns, {c: c for c in columns}


def axis_label(label: str, percent: bool) -> str:
    """The label with `` (%)`` added for percent values (unless it already has a ``%``)."""
    return label + (" (%)" if percent and "%" not in label else "")


def mean_band(values: pd.Series) -> tuple[float, float, int]:
    """Mean, 95% half-width (1.96 std / sqrt(n), 0 for n < 2) and n of the finite values."""
    finite = values[np.isfinite(values)]
    n = int(finite.size)
    if n == 0:
        return float("nan"), 0.0, 0
    mean = float(finite.mean())
    half = 1.96 * float(finite.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    return mean, half, n


def cell_path(cell_id: str, file: str) -> str:
    """``cells/<cell_id>/<file>``: a file a cell wrote, relative to the study directory."""
    return f"cells/{cell_id}/{file}"


def missing_file_error(file: str, cells: Sequence[tuple[str, Mapping[str, Any]]], stage: str) -> ValueError:
    """The error of an item whose file no done cell of its stage has (a misspelt name, or artifacts lost)."""
    example = cell_path(cells[0][0], file) if cells else file
    return ValueError(f"file: {file!r} is missing in all {len(cells)} done cells of stage {stage!r} "
                      f"(e.g. {example})")


def is_cell_file(file: str) -> bool:
    """True for a relative path that stays inside a cell directory (not absolute; no ``..``, no backslash)."""
    path = PurePosixPath(file)
    return bool(file) and not path.is_absolute() and ".." not in path.parts and "\\" not in file
