"""The ``histogram`` report item: overlaid step histograms of a per-example value each cell wrote to a CSV."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from tfrobust.reports.artifacts import Artifact, ReportItem
from tfrobust.reports.frame import StudyData, cell_label
from tfrobust.reports.items.common import (
    FIGURES,
    cell_path,
    item_status,
    missing_file_error,
    pending_item,
    save_figure,
    write_table,
)

__all__ = ["histogram_item"]


def histogram_item(data: StudyData, *, name: str, stage: str, value: str, file: str = "distances.csv",
                   by: str | None = None, bins: int = 30, xlabel: str | None = None, logy: bool = False,
                   title: str | None = None, caption: str = "") -> ReportItem:
    """Overlaid step histograms of a per-example value per cell (Kim Fig. 1: manifold distances).

    Per done cell of ``stage`` reads the CSV ``cells/<id>/<file>``; one step
    histogram per (cell, value of ``by``) on shared bins; colour per cell,
    line style per ``by`` value; a (``by`` value, values) pair that several
    cells share exactly is drawn once, in black. Writes ``tables/<name>.csv`` with count,
    mean, median and std per (cell, by).

    Args:
        data: the study.
        name: file name stem.
        stage: the stage whose cells wrote the file.
        value: the numeric column to histogram (e.g. ``distance``).
        file: the CSV inside each cell directory.
        by: a column splitting the rows (e.g. ``kind``: clean / adversarial).
        bins: number of shared bins.
        xlabel: x axis label (default: value).
        logy: logarithmic counts.
        title: heading (default: the name).
        caption: caption.
    """
    title = title or name
    placeholder, note = pending_item(data, [stage], name=name, type_="histogram", title=title, caption=caption,
                                 option="stage")
    if placeholder is not None:
        return placeholder
    cells = data.done_cells(stage)
    series: list[tuple[int, str, str, dict[str, Any], np.ndarray]] = []
    missing = 0
    for ci, (cell_id, grid) in enumerate(cells):
        path = data.root / cell_path(cell_id, file)
        if not path.is_file():
            missing += 1
            continue
        table = pd.read_csv(path)
        for column, option in ((value, "value"), (by, "by")):
            if column is not None and column not in table.columns:
                raise ValueError(f"{option}: no column {column!r} in {cell_path(cell_id, file)}; "
                                 f"columns: {', '.join(map(str, table.columns))}")
        numbers = pd.to_numeric(table[value], errors="coerce").to_numpy(dtype=float)
        parts = [("", np.ones(len(table), dtype=bool))] if by is None else \
            [(str(v), (table[by] == v).to_numpy()) for v in dict.fromkeys(table[by])]
        for part, mask in parts:
            series.append((ci, cell_id, part, grid, numbers[mask]))
    if cells and missing == len(cells):
        raise missing_file_error(file, cells, stage)
    notes = [note] if note else []
    if missing:
        notes.append(f"{file} missing in {missing} of {len(cells)} done cells")
    finite = [s[4][np.isfinite(s[4])] for s in series]
    pooled = np.concatenate(finite) if finite else np.zeros(0)
    if pooled.size == 0:
        return ReportItem(name=name, type="histogram", title=title, caption=caption, status="pending",
                          message=f"not computed yet: no finite {value!r} values in {file} of the "
                                  f"{len(cells)} done cells of {stage!r}")
    from matplotlib.figure import Figure  # slow to import: only when drawing

    edges = np.histogram_bin_edges(pooled, bins=bins)
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = figure.subplots()
    by_values = list(dict.fromkeys(s[2] for s in series))
    styles = ["-", "--", ":", "-."]
    # A part with the very same values in several cells (Kim Fig. 1: the test images' distances, the
    # same for every classifier) is drawn once, in black, as the shared reference.
    keys = [(s[2], values.tobytes()) for s, values in zip(series, finite)]
    sharing = Counter(keys)
    drawn: set[tuple[str, bytes]] = set()
    stats_rows = []
    for (ci, cell_id, part, grid, _), values, key in zip(series, finite, keys):
        shared = sharing[key] > 1
        if shared:
            label, color = f"{part or value} (same in {sharing[key]} cells)", "black"
        else:
            label, color = cell_label(grid, stage=stage) + (f" · {part}" if part else ""), f"C{ci % 10}"
        if values.size and key not in drawn:
            ax.hist(values, bins=edges.tolist(), histtype="step", color=color,
                    linestyle=styles[by_values.index(part) % 4], linewidth=1.4, label=label)
        if shared:
            drawn.add(key)
        stats_rows.append({"cell": cell_id, **grid, **({by: part} if by else {}), "count": int(values.size),
                           "mean": float(values.mean()) if values.size else float("nan"),
                           "median": float(np.median(values)) if values.size else float("nan"),
                           "std": float(values.std(ddof=1)) if values.size > 1 else float("nan")})
    ax.set_xlabel(xlabel or value)
    ax.set_ylabel("count")
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    message = "; ".join(notes)
    artifacts = (Artifact(kind="figure", path=save_figure(data, figure, f"{FIGURES}/{name}.png"), title=title,
                          caption=caption),
                 write_table(data, name, pd.DataFrame(stats_rows), title=f"{title}: summary per cell"))
    return ReportItem(name=name, type="histogram", title=title, caption=caption, status=item_status(message),
                      message=message, artifacts=artifacts)
