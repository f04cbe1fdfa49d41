"""The ``cell_figure`` and ``cell_table`` report items: figures and CSV tables the cells wrote themselves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tfrobust.reports.artifacts import Artifact, ReportItem
from tfrobust.reports.files import atomic_write_bytes
from tfrobust.reports.frame import StudyData, cell_label
from tfrobust.reports.items.common import (
    FIGURES,
    cell_path,
    is_cell_file,
    item_status,
    missing_file_error,
    pending_item,
    write_table,
)

__all__ = ["cell_figure_item", "cell_table_item"]


def cell_figure_item(data: StudyData, *, name: str, stage: str, file: str, title: str | None = None,
                     caption: str = "") -> ReportItem:
    """Copies a figure each done cell drew (``cells/<id>/<file>``) into the report.

    Copies go to ``figures/<name>__<cell id><suffix>``, captioned with the
    cell's grid labels (e.g. Kim Fig. 2, the 2-D toy tilt drawn by its cell).

    Args:
        data: the study.
        name: file name stem.
        stage: the stage whose cells drew the figure.
        file: the image file inside each cell directory (relative, e.g. ``toy.png``).
        title: heading (default: the name).
        caption: caption.
    """
    title = title or name
    if not is_cell_file(file):
        raise ValueError(f"file: {file!r} must be a relative path inside the cell directory")
    placeholder, note = pending_item(data, [stage], name=name, type_="cell_figure", title=title, caption=caption,
                                 option="stage")
    if placeholder is not None:
        return placeholder
    cells = data.done_cells(stage)
    artifacts = []
    for cell_id, grid in cells:
        source = data.root / cell_path(cell_id, file)
        if source.is_file() and source.stat().st_size > 0:  # an empty file is no figure
            rel = f"{FIGURES}/{name}__{cell_id}{Path(file).suffix or '.png'}"
            atomic_write_bytes(data.root / rel, source.read_bytes())
            artifacts.append(Artifact(kind="figure", path=rel, title=cell_label(grid, stage=stage),
                                      caption=cell_label(grid, stage=stage)))
    if not artifacts:
        raise missing_file_error(file, cells, stage)
    notes = [note] if note else []
    if len(artifacts) < len(cells):
        notes.append(f"{file} missing in {len(cells) - len(artifacts)} of {len(cells)} done cells")
    message = "; ".join(notes)
    return ReportItem(name=name, type="cell_figure", title=title, caption=caption, status=item_status(message),
                      message=message, artifacts=tuple(artifacts))


# ---------------------------------------------------------------- cell_table


def cell_table_item(data: StudyData, *, name: str, stage: str, file: str, title: str | None = None,
                    caption: str = "") -> ReportItem:
    """Stacks a CSV table each done cell wrote (``cells/<id>/<file>``) into one report table.

    The rows of every done cell of ``stage`` (results order) are concatenated,
    preceded by the grid keys the stage varies over; written to
    ``tables/<name>.csv`` and ``.md`` and shown inline (e.g. Tsipras Table 4).

    Args:
        data: the study.
        name: file name stem.
        stage: the stage whose cells wrote the CSV.
        file: the CSV inside each cell directory (relative, e.g. ``linear_table.csv``).
        title: heading (default: the name).
        caption: caption.
    """
    title = title or name
    if not is_cell_file(file):
        raise ValueError(f"file: {file!r} must be a relative path inside the cell directory")
    placeholder, note = pending_item(data, [stage], name=name, type_="cell_table", title=title, caption=caption,
                                 option="stage")
    if placeholder is not None:
        return placeholder
    cells = data.done_cells(stage)
    parts = []
    missing = 0
    for cell_id, grid in cells:
        path = data.root / cell_path(cell_id, file)
        if not path.is_file():
            missing += 1
            continue
        try:
            table = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            continue
        for i, (key, label) in enumerate(grid.items()):
            if key not in table.columns:
                table.insert(i, key, label)
        parts.append(table)
    if cells and missing == len(cells):
        raise missing_file_error(file, cells, stage)
    if not parts:
        return ReportItem(name=name, type="cell_table", title=title, caption=caption, status="pending",
                          message=f"not computed yet: {file} is empty in all {len(cells)} done cells of {stage!r}")
    notes = [note] if note else []
    if len(parts) < len(cells):
        notes.append(f"{file} missing in {len(cells) - len(parts)} of {len(cells)} done cells")
    art = write_table(data, name, pd.concat(parts, ignore_index=True), title=title)
    message = "; ".join(notes)
    return ReportItem(name=name, type="cell_table", title=title, caption=caption, status=item_status(message),
                      message=message, artifacts=(art,))
