"""The ``table`` report item: chosen columns of the joined stage rows (Kim et al. 2019, Table 1 style)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tfrobust.reports.artifacts import ReportItem
from tfrobust.reports.frame import StudyData, require_columns
from tfrobust.reports.items.common import (
    item_status,
    labelled_columns,
    pending_item,
    select_rows,
    write_table,
)

__all__ = ["table_item"]


def table_item(data: StudyData, *, name: str, stages: Sequence[str], columns: Mapping[str, str] | Sequence[str],
               rows: Sequence[str] | None = None, percent: bool = False, long: str | None = None,
               where: Mapping[str, Any] | None = None, title: str | None = None,
               caption: str = "") -> ReportItem:
    """A table: one row per joined row of ``stages``, the given columns (Kim Table 1 style).

    Writes ``tables/<name>.csv`` (numbers, ``percent`` ones times 100) and
    ``tables/<name>.md``; the report shows it inline. Missing values show as ``–``.

    Args:
        data: the study.
        name: file name stem.
        stages: stages whose rows are joined (see ``study_frame``).
        columns: column references in display order; a mapping gives each its header.
        rows: grid keys that label the rows (default: every grid key present).
        percent: show the numeric ``columns`` times 100 with 2 decimals (fractions to %); the
            ``rows`` labels (grid keys) are never scaled.
        long: a stage of ``stages`` whose cells' long rows replace its one row per cell (see
            :func:`~tfrobust.reports.items.line.line_item`), e.g. ``columns: [attack.norm, attack.eps,
            attack.robust_accuracy]``.
        where: ``{column: value}`` (or a list of values): keep only those rows.
        title: heading (default: the name).
        caption: text under the table.
    """
    title = title or name
    placeholder, note = pending_item(data, stages, name=name, type_="table", title=title, caption=caption)
    if placeholder is not None:
        return placeholder
    frame = select_rows(data.frame(stages, long=long), where)
    _, headers = labelled_columns(columns)
    row_keys = list(rows) if rows is not None else [k for k in data.grid_keys if k in frame.columns]
    require_columns(frame, row_keys, where="rows")
    require_columns(frame, list(headers), where="columns")
    table = pd.DataFrame({key: frame[key] for key in row_keys})
    percent_columns = []
    for ref, header in headers.items():
        values = frame[ref]
        numeric = pd.to_numeric(values, errors="coerce")
        if percent and _is_fraction(ref, long) and numeric.notna().any():
            values = numeric * 100.0
            percent_columns.append(str(header))
        table[str(header)] = values
    if table.empty:
        note = "; ".join(filter(None, [note, "no rows: the stages share no grid values"]))
    art = write_table(data, name, table, title=title, percent=percent_columns)
    return ReportItem(name=name, type="table", title=title, caption=caption, status=item_status(note), message=note,
                      artifacts=(art,))


#: Long-row columns that are fractions (the others, e.g. ``eps``, ``steps``, ``n``, describe the attack).
_LONG_FRACTIONS = ("robust_accuracy", "worst_case", "clean_accuracy")


def _is_fraction(ref: str, long: str | None) -> bool:
    """Whether ``percent`` scales column ``ref``: a metric (``stage.metric``), never a grid key; of the
    ``long`` stage only its accuracies (not ``eps`` or counts)."""
    stage, dot, metric = ref.partition(".")
    if not dot:
        return False
    if stage == long:
        return metric in _LONG_FRACTIONS or metric.startswith("robust_accuracy")
    return True
