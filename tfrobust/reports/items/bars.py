"""The ``bars`` report item: grouped bars of means with 95% error bars, one category per x value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tfrobust.reports.artifacts import Artifact, ReportItem
from tfrobust.reports.frame import StudyData, require_columns
from tfrobust.reports.html import format_value
from tfrobust.reports.items.common import (
    FIGURES,
    axis_label,
    item_status,
    labelled_columns,
    mean_band,
    numeric_column,
    pending_item,
    save_figure,
    write_table,
)

__all__ = ["bars_item"]


def bars_item(data: StudyData, *, name: str, stages: Sequence[str], x: str,
              y: str | Sequence[str] | Mapping[str, str],
              percent: bool = False, ylabel: str | None = None, logy: bool = False, title: str | None = None,
              caption: str = "") -> ReportItem:
    """Grouped bars: one category per value of ``x`` (results order), one bar per y (Noack Fig. 4).

    Rows sharing an x value are averaged; error bars show the 95% confidence
    interval of the mean (1.96 std / sqrt(n), none for n = 1). The means are
    also written to ``tables/<name>.csv`` and ``.md``.

    Args:
        data: the study.
        name: file name stem.
        stages: stages whose rows are joined.
        x: the category column (usually a grid key such as ``model``).
        y: one or more numeric columns, or ``{column: label}`` (legend labels).
        percent: y times 100.
        ylabel: y axis label.
        logy: logarithmic y axis.
        title: heading (default: the name).
        caption: caption.
    """
    title = title or name
    ys, labels = labelled_columns(y)
    placeholder, note = pending_item(data, stages, name=name, type_="bars", title=title, caption=caption)
    if placeholder is not None:
        return placeholder
    frame = data.frame(stages)
    require_columns(frame, [x], where="x")
    require_columns(frame, ys, where="y")
    categories = list(dict.fromkeys(frame[x]))
    scale = 100.0 if percent else 1.0
    stats = {ref: [mean_band(numeric_column(frame[ref], "y", ref)[frame[x] == c] * scale) for c in categories] for ref in ys}
    from matplotlib.figure import Figure  # slow to import: only when drawing

    figure = Figure(figsize=(max(4.0, 1.0 + 0.5 * len(categories) * len(ys)), 3.6), layout="constrained")
    ax = figure.subplots()
    width = 0.8 / max(len(ys), 1)
    positions = np.arange(len(categories), dtype=float)
    for yi, ref in enumerate(ys):
        means = np.array([s[0] for s in stats[ref]])
        halves = np.array([s[1] for s in stats[ref]])
        ax.bar(positions + (yi - (len(ys) - 1) / 2) * width, means, width, label=labels[ref], color=f"C{yi % 10}",
               yerr=np.where(halves > 0, halves, np.nan), capsize=3)
    ax.set_xticks(positions, [format_value(c) for c in categories], rotation=30 if len(categories) > 4 else 0)
    ax.set_xlabel(x)
    ax.set_ylabel(axis_label(ylabel or (labels[ys[0]] if len(ys) == 1 else "value"), percent))
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3, axis="y")
    if len(ys) > 1:
        ax.legend(fontsize="small")
    table = pd.DataFrame({x: categories, **{ref: [s[0] for s in stats[ref]] for ref in ys},
                          "n": [max((stats[ref][i][2] for ref in ys), default=0) for i in range(len(categories))]})
    artifacts = (Artifact(kind="figure", path=save_figure(data, figure, f"{FIGURES}/{name}.png"), title=title,
                          caption=caption),
                 write_table(data, name, table, title=f"{title}: means", percent=ys if percent else ()))
    return ReportItem(name=name, type="bars", title=title, caption=caption, status=item_status(note), message=note,
                      artifacts=artifacts)
