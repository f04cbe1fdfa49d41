"""The ``line`` report item: y against x, one line per group, with 95% bands and optional correlations."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tfrobust.reports.artifacts import Artifact, ReportItem
from tfrobust.reports.correlation import pearson, spearman
from tfrobust.reports.frame import StudyData, require_columns
from tfrobust.reports.html import format_value
from tfrobust.reports.items.common import (
    FIGURES,
    as_list,
    axis_label,
    item_status,
    labelled_columns,
    mean_band,
    numeric_column,
    pending_item,
    save_figure,
    select_rows,
    write_table,
)

if TYPE_CHECKING:  # matplotlib is slow to import; line_item imports it when it draws
    from matplotlib.axes import Axes

__all__ = ["line_item"]


def line_item(data: StudyData, *, name: str, stages: Sequence[str], x: str,
              y: str | Sequence[str] | Mapping[str, str],
              group: str | Sequence[str] = (), panels: bool = True, scale_x: str | None = None,
              correlate: bool = False, xlabel: str | None = None, ylabel: str | None = None, logx: bool = False,
              percent: bool = False, markers_only: bool = False, long: str | None = None,
              where: Mapping[str, Any] | None = None, title: str | None = None,
              caption: str = "") -> ReportItem:
    """Lines of y against x, one per group (Kim Fig. 4/5, Tsipras Fig. 1, Noack Fig. 3 style).

    Rows sharing (group, x), e.g. seeds not in ``group``, are averaged; the
    shaded band is the 95% confidence interval of the mean,
    mean +- 1.96 std / sqrt(n) (sample std; no band for n = 1).

    Args:
        data: the study.
        name: file name stem: ``figures/<name>.png`` (+ ``tables/<name>_correlation.*``).
        stages: stages whose rows are joined.
        x: a numeric column (grid key such as ``eps``, or ``stage.metric``).
        y: one or more columns to plot, or ``{column: label}`` (labels for panel titles and legends).
        group: grid keys; one line per combination of their values (legend: ``key=value``).
        panels: one subplot per y (else every y in one axes).
        scale_x: ``group_max`` divides x by the largest x of its group (Kim
            Fig. 4: eps of l2 and linf sweeps on one [0, 1] axis); None keeps x.
        correlate: Pearson r and Spearman rho of (x, y) per (group, y) over all
            rows; shown in the legend and written to ``tables/<name>_correlation.csv``
            (columns: group keys, ``y``, ``n``, ``pearson``, ``spearman``).
        xlabel: x axis label (default: x).
        ylabel: y axis label (default: the y column).
        logx: logarithmic x axis, ticks at the data's x values.
        percent: y times 100 (`` (%)`` is added to the y label unless it has a ``%``).
        markers_only: markers without lines (a scatter; Kim Fig. 5).
        long: a stage of ``stages`` whose cells' long rows (one per norm x eps of an ``attack`` cell:
            ``<stage>.norm``, ``.eps``, ``.attack``, ``.robust_accuracy``, ``.worst_case``, ``.flags``)
            replace its one row per cell: e.g. ``x: attack.eps``, ``y: attack.robust_accuracy``,
            ``group: training`` plots robust accuracy against the attack's eps, one line per training.
        where: ``{column: value}`` (or a list of values): keep only those rows, e.g. ``{attack.norm: l2}``.
        title: heading (default: the name).
        caption: caption.
    """
    title = title or name
    (ys, labels), groups = labelled_columns(y), as_list(group)
    placeholder, note = pending_item(data, stages, name=name, type_="line", title=title, caption=caption)
    if placeholder is not None:
        return placeholder
    frame = select_rows(data.frame(stages, long=long), where)
    require_columns(frame, [x], where="x")
    require_columns(frame, ys, where="y")
    require_columns(frame, groups, where="group")
    frame = frame.copy()
    frame["_x"] = numeric_column(frame[x], "x", x)
    frame["_group"] = _group_labels(frame, groups)
    group_names = list(dict.fromkeys(frame["_group"]))
    if scale_x == "group_max":
        peak = frame.groupby("_group", sort=False)["_x"].transform("max").to_numpy(dtype=float)
        xs = frame["_x"].to_numpy(dtype=float)
        ok = np.isfinite(peak) & (peak != 0)
        frame["_x"] = np.divide(xs, peak, out=np.full_like(xs, np.nan), where=ok)
    from matplotlib.figure import Figure  # slow to import: only when drawing

    correlation_rows: list[dict[str, Any]] = []
    n_axes = len(ys) if panels else 1
    ncols = min(n_axes, 3)
    nrows = math.ceil(n_axes / ncols)
    figure = Figure(figsize=(4.4 * ncols, 3.4 * nrows), layout="constrained")
    axes_grid = figure.subplots(nrows, ncols, squeeze=False)
    axes: list[Axes] = [a for row in axes_grid for a in row]
    for extra in axes[n_axes:]:
        extra.set_visible(False)
    styles = ["-", "--", ":", "-."]
    for yi, ref in enumerate(ys):
        ax = axes[yi if panels else 0]
        values = numeric_column(frame[ref], "y", ref) * (100.0 if percent else 1.0)
        for gi, gname in enumerate(group_names):
            member = frame["_group"] == gname
            xs_g, ys_g = frame.loc[member, "_x"], values[member]
            show_y = (not panels and len(ys) > 1) or not gname
            label = " · ".join(([gname] if gname else []) + ([labels[ref]] if show_y else []))
            if correlate:
                r, rho = pearson(xs_g, ys_g), spearman(xs_g, ys_g)
                n = int((np.isfinite(xs_g) & np.isfinite(ys_g)).sum())
                first = frame.loc[member].iloc[0] if member.any() else None
                correlation_rows.append({**{k: (first[k] if first is not None else None) for k in groups},
                                         "y": ref, "n": n, "pearson": r, "spearman": rho})
                label = f"{label} (r={r:.2f}, ρ={rho:.2f})"
            stats = [(xv, *mean_band(ys_g[xs_g == xv])) for xv in sorted(set(xs_g[np.isfinite(xs_g)]))]
            if not stats:
                continue
            xv_, mean, half, _ = (np.array(c, dtype=float) for c in zip(*stats))
            by_y = not panels and len(ys) > 1 and len(group_names) == 1
            colour = f"C{(yi if by_y else gi) % 10}"
            if markers_only:
                ax.errorbar(xv_, mean, yerr=half if (half > 0).any() else None, fmt="o", color=colour,
                            markersize=4, capsize=2, label=label)
            else:
                ax.plot(xv_, mean, styles[yi % 4] if not panels else "-", marker="o", markersize=3, color=colour,
                        label=label)
                if (half > 0).any():
                    ax.fill_between(xv_, mean - half, mean + half, color=colour, alpha=0.2, linewidth=0)
        if panels or yi == 0:
            ax.set_xlabel(xlabel or (f"{x} / group max" if scale_x == "group_max" else x))
            ax.set_ylabel(axis_label(ylabel or (labels[ref] if panels or len(ys) == 1 else "value"), percent))
            if panels and len(ys) > 1:
                ax.set_title(labels[ref], fontsize="medium")
            if logx:
                ax.set_xscale("log")
                _plain_log_ticks(ax, frame["_x"].tolist())
            ax.grid(alpha=0.3)
    for ax in axes[:n_axes]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    artifacts = [Artifact(kind="figure", path=save_figure(data, figure, f"{FIGURES}/{name}.png"), title=title,
                          caption=caption)]
    if correlate:
        table = pd.DataFrame(correlation_rows, columns=[*groups, "y", "n", "pearson", "spearman"])
        artifacts.append(write_table(data, f"{name}_correlation", table,
                                      title=f"{title}: correlation of {x} with y (Pearson r, Spearman ρ)"))
    return ReportItem(name=name, type="line", title=title, caption=caption, status=item_status(note), message=note,
                      artifacts=tuple(artifacts))



def _group_labels(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    if not keys:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    names = list(keys)
    return frame[names].apply(lambda row: " · ".join(f"{k}={format_value(v)}" for k, v in zip(names, row)),
                              axis=1).astype(object)


def _plain_log_ticks(ax: Axes, values: Sequence[float]) -> None:
    """A log x axis labelled at the data's own x values in plain numbers (no 3x10^2 clutter)."""
    ticks = sorted({float(v) for v in values if np.isfinite(v) and v > 0})
    if not ticks:
        return
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([format_value(int(t) if float(t).is_integer() else t) for t in ticks],
                       rotation=30 if len(ticks) > 5 else 0)
