"""Report items: the figures and tables of a study report, built from saved results.

A study file's ``report`` section lists items in display order; each has a
``type`` (a key of :data:`REPORT_ITEMS`), a ``name`` (used for file names) and
the keyword-only options of its builder::

    report:
      title: "Kim et al. 2019, Fig. 4"
      items:
        - {type: table, name: robust_accuracy, stages: [train, attack], rows: [model],
           columns: {train.test_accuracy: standard, attack.robust_l2_1.5: "PGD-40 l2 1.5"}, percent: true}
        - {type: line, name: mu_vs_eps, stages: [roar], x: eps, y: [roar.mu_roar, roar.mu_kar],
           group: [norm], panels: true, scale_x: group_max, correlate: true}

Column references: ``stage.metric`` is a metric of that stage's rows, a bare
name a grid key (see :func:`tfrobust.reports.frame.study_frame`).

Every builder takes the :class:`~tfrobust.reports.frame.StudyData` first and
returns a :class:`ReportItem`: what it wrote (``figures/*.png``,
``tables/*.csv`` + ``.md``), or a placeholder (``pending``) when its stage has
no done cells yet. A misconfiguration (unknown column; a cell ``file`` that no
done cell of the stage has) raises ValueError starting with the option's name;
:func:`run_report_item` turns it into an ``error`` entry so one bad item never
stops a report (and ``tfrobust study report`` / ``run`` then exit with status 2).
"""

from __future__ import annotations

import inspect
import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from tfrobust.reports.correlation import pearson, spearman
from tfrobust.reports.files import atomic_save_figure, atomic_write_bytes, atomic_write_text
from tfrobust.reports.frame import StudyData, cell_label, require_columns
from tfrobust.reports.html import format_value, html_table, markdown_table, numeric_columns

__all__ = ["IMAGE_STYLES", "REPORT_ITEMS", "Artifact", "ReportItem", "bars_item", "cell_figure_item", "cell_table_item",
           "check_report_item", "check_report_section", "histogram_item", "images_item", "line_item",
           "render_image", "run_report_item", "table_item"]

FIGURES = "figures"
TABLES = "tables"
IMAGE_STYLES = ("image", "percentile", "diverging", "sigma3")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_MAX_IMAGE_ROWS = 64


@dataclass(frozen=True)
class Artifact:
    """One file an item wrote.

    Attributes:
        kind: ``figure`` or ``table``.
        path: relative to the study directory, ``/``-separated (``figures/x.png``, ``tables/x.csv``).
        title: short title.
        caption: caption text.
        markdown: tables: relative path of the Markdown version.
        html: tables: the table as an HTML snippet.
    """

    kind: str
    path: str
    title: str = ""
    caption: str = ""
    markdown: str = ""
    html: str = ""


@dataclass(frozen=True)
class ReportItem:
    """What one report item produced.

    Attributes:
        name: the item's name.
        type: its type (a key of :data:`REPORT_ITEMS`).
        title: heading in the report.
        caption: the item's caption.
        status: ``ok``; ``partial`` (built from some of the cells); ``pending``
            (placeholder, nothing computed yet); ``error`` (misconfiguration).
        message: the note, placeholder text or one-line error.
        artifacts: the figures and tables written.
    """

    name: str
    type: str
    title: str
    caption: str = ""
    status: str = "ok"
    message: str = ""
    artifacts: tuple[Artifact, ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        """Relative paths of every file written (Markdown versions of tables included)."""
        out: list[str] = []
        for art in self.artifacts:
            out.append(art.path)
            if art.markdown:
                out.append(art.markdown)
        return tuple(out)


# ---------------------------------------------------------------- helpers


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _pending(data: StudyData, stages: Sequence[str], *, name: str, type_: str, title: str,
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


def _status(note: str) -> str:
    return "partial" if note else "ok"


def _write_table(data: StudyData, name: str, frame: pd.DataFrame, *, title: str, caption: str = "",
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


def _save(data: StudyData, figure: Figure, rel: str) -> str:
    atomic_save_figure(figure, data.root / rel)
    return rel


def _numbers(series: pd.Series, where: str, ref: str) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce")
    if len(series) and values.isna().all() and not series.isna().all():
        raise ValueError(f"{where}: column {ref!r} is not numeric")
    return values.astype(float)


def _group_labels(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    if not keys:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    names = list(keys)
    return frame[names].apply(lambda row: " · ".join(f"{k}={format_value(v)}" for k, v in zip(names, row)),
                              axis=1).astype(object)


def _labelled(y: str | Sequence[str] | Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """Columns and their display labels (a ``{column: label}`` mapping, or the column names themselves)."""
    if isinstance(y, Mapping):
        return list(y), {str(k): str(v) for k, v in y.items()}
    columns = _as_list(y)
    return columns, {c: c for c in columns}


def _axis_label(label: str, percent: bool) -> str:
    return label + (" (%)" if percent and "%" not in label else "")


def _plain_log_ticks(ax: Axes, values: Sequence[float]) -> None:
    """A log x axis labelled at the data's own x values in plain numbers (no 3x10^2 clutter)."""
    ticks = sorted({float(v) for v in values if np.isfinite(v) and v > 0})
    if not ticks:
        return
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([format_value(int(t) if float(t).is_integer() else t) for t in ticks],
                       rotation=30 if len(ticks) > 5 else 0)


def _band(values: pd.Series) -> tuple[float, float, int]:
    """Mean, 95% half-width (1.96 std / sqrt(n), 0 for n < 2) and n of the finite values."""
    finite = values[np.isfinite(values)]
    n = int(finite.size)
    if n == 0:
        return float("nan"), 0.0, 0
    mean = float(finite.mean())
    half = 1.96 * float(finite.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    return mean, half, n


def _cell_rel(cell_id: str, file: str) -> str:
    return f"cells/{cell_id}/{file}"


def _no_file(file: str, cells: Sequence[tuple[str, Mapping[str, Any]]], stage: str) -> ValueError:
    """The error of an item whose file no done cell of its stage has (a misspelt name, or artifacts lost)."""
    example = _cell_rel(cells[0][0], file) if cells else file
    return ValueError(f"file: {file!r} is missing in all {len(cells)} done cells of stage {stage!r} "
                      f"(e.g. {example})")


def _file_ok(file: str) -> bool:
    path = PurePosixPath(file)
    return bool(file) and not path.is_absolute() and ".." not in path.parts and "\\" not in file


# ---------------------------------------------------------------- table


def table_item(data: StudyData, *, name: str, stages: Sequence[str], columns: Mapping[str, str] | Sequence[str],
               rows: Sequence[str] | None = None, percent: bool = False, title: str | None = None,
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
        percent: show numeric columns times 100 with 2 decimals (fractions to %).
        title: heading (default: the name).
        caption: text under the table.
    """
    title = title or name
    placeholder, note = _pending(data, stages, name=name, type_="table", title=title, caption=caption)
    if placeholder is not None:
        return placeholder
    frame = data.frame(stages)
    _, headers = _labelled(columns)
    row_keys = list(rows) if rows is not None else [k for k in data.grid_keys if k in frame.columns]
    require_columns(frame, row_keys, where="rows")
    require_columns(frame, list(headers), where="columns")
    table = pd.DataFrame({key: frame[key] for key in row_keys})
    percent_columns = []
    for ref, header in headers.items():
        values = frame[ref]
        numeric = pd.to_numeric(values, errors="coerce")
        if percent and numeric.notna().any():
            values = numeric * 100.0
            percent_columns.append(str(header))
        table[str(header)] = values
    if table.empty:
        note = "; ".join(filter(None, [note, "no rows: the stages share no grid values"]))
    art = _write_table(data, name, table, title=title, percent=percent_columns)
    return ReportItem(name=name, type="table", title=title, caption=caption, status=_status(note), message=note,
                      artifacts=(art,))


# ---------------------------------------------------------------- line


def line_item(data: StudyData, *, name: str, stages: Sequence[str], x: str,
              y: str | Sequence[str] | Mapping[str, str],
              group: str | Sequence[str] = (), panels: bool = True, scale_x: str | None = None,
              correlate: bool = False, xlabel: str | None = None, ylabel: str | None = None, logx: bool = False,
              percent: bool = False, markers_only: bool = False, title: str | None = None,
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
        title: heading (default: the name).
        caption: caption.
    """
    title = title or name
    (ys, labels), groups = _labelled(y), _as_list(group)
    placeholder, note = _pending(data, stages, name=name, type_="line", title=title, caption=caption)
    if placeholder is not None:
        return placeholder
    frame = data.frame(stages)
    require_columns(frame, [x], where="x")
    require_columns(frame, ys, where="y")
    require_columns(frame, groups, where="group")
    frame = frame.copy()
    frame["_x"] = _numbers(frame[x], "x", x)
    frame["_group"] = _group_labels(frame, groups)
    group_names = list(dict.fromkeys(frame["_group"]))
    if scale_x == "group_max":
        peak = frame.groupby("_group", sort=False)["_x"].transform("max").to_numpy(dtype=float)
        xs = frame["_x"].to_numpy(dtype=float)
        ok = np.isfinite(peak) & (peak != 0)
        frame["_x"] = np.divide(xs, peak, out=np.full_like(xs, np.nan), where=ok)
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
        values = _numbers(frame[ref], "y", ref) * (100.0 if percent else 1.0)
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
            stats = [(xv, *_band(ys_g[xs_g == xv])) for xv in sorted(set(xs_g[np.isfinite(xs_g)]))]
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
            ax.set_ylabel(_axis_label(ylabel or (labels[ref] if panels or len(ys) == 1 else "value"), percent))
            if panels and len(ys) > 1:
                ax.set_title(labels[ref], fontsize="medium")
            if logx:
                ax.set_xscale("log")
                _plain_log_ticks(ax, frame["_x"].tolist())
            ax.grid(alpha=0.3)
    for ax in axes[:n_axes]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    artifacts = [Artifact(kind="figure", path=_save(data, figure, f"{FIGURES}/{name}.png"), title=title,
                          caption=caption)]
    if correlate:
        table = pd.DataFrame(correlation_rows, columns=[*groups, "y", "n", "pearson", "spearman"])
        artifacts.append(_write_table(data, f"{name}_correlation", table,
                                      title=f"{title}: correlation of {x} with y (Pearson r, Spearman ρ)"))
    return ReportItem(name=name, type="line", title=title, caption=caption, status=_status(note), message=note,
                      artifacts=tuple(artifacts))


# ---------------------------------------------------------------- bars


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
    ys, labels = _labelled(y)
    placeholder, note = _pending(data, stages, name=name, type_="bars", title=title, caption=caption)
    if placeholder is not None:
        return placeholder
    frame = data.frame(stages)
    require_columns(frame, [x], where="x")
    require_columns(frame, ys, where="y")
    categories = list(dict.fromkeys(frame[x]))
    scale = 100.0 if percent else 1.0
    stats = {ref: [_band(_numbers(frame[ref], "y", ref)[frame[x] == c] * scale) for c in categories] for ref in ys}
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
    ax.set_ylabel(_axis_label(ylabel or (labels[ys[0]] if len(ys) == 1 else "value"), percent))
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3, axis="y")
    if len(ys) > 1:
        ax.legend(fontsize="small")
    table = pd.DataFrame({x: categories, **{ref: [s[0] for s in stats[ref]] for ref in ys},
                          "n": [max((stats[ref][i][2] for ref in ys), default=0) for i in range(len(categories))]})
    artifacts = (Artifact(kind="figure", path=_save(data, figure, f"{FIGURES}/{name}.png"), title=title,
                          caption=caption),
                 _write_table(data, name, table, title=f"{title}: means", percent=ys if percent else ()))
    return ReportItem(name=name, type="bars", title=title, caption=caption, status=_status(note), message=note,
                      artifacts=artifacts)


# ---------------------------------------------------------------- images


def render_image(image: np.ndarray, *, style: str = "image", bounds: tuple[float, float] | None = None) -> np.ndarray:
    """One image or attribution map as displayable RGB.

    Args:
        image: (H, W, C) or (H, W) array.
        style: ``image``: grey (C=1) or RGB (C=3) scaled from ``bounds`` (else
            the image's own min/max) to [0, 1]; ``percentile``: sum over
            channels, clipped to its 0.5th/99.5th percentiles, grey (Kim et al.
            2019, Fig. 6); ``diverging``: sum over channels on a symmetric
            per-image scale, blue negative / white zero / red positive (Tsipras
            et al. 2019, Fig. 2, MNIST); ``sigma3``: clipped to mean +- 3 std
            per image and rescaled to [0, 1] (Tsipras Fig. 2, CIFAR-10).
        bounds: ``(low, high)`` data range of raw images (style ``image``).

    Returns:
        (H, W, 3) float64 in [0, 1]. Constant inputs give a uniform image.

    Raises:
        ValueError: unknown style or shape.
    """
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"style: expected an (H, W, C) image, got shape {a.shape}")
    a = np.where(np.isfinite(a), a, 0.0)

    def scaled(v: np.ndarray, low: float, high: float, empty: float = 0.0) -> np.ndarray:
        if not high > low:
            return np.full_like(v, empty)
        return np.clip((v - low) / (high - low), 0.0, 1.0)

    def rgb(v: np.ndarray) -> np.ndarray:
        if v.shape[-1] >= 3:
            return v[..., :3]
        return np.repeat(v.mean(axis=-1, keepdims=True), 3, axis=-1)  # grey (C=1; C=2 averaged)

    if style == "image":
        low, high = (float(bounds[0]), float(bounds[1])) if bounds is not None else (float(a.min()), float(a.max()))
        return rgb(scaled(a, low, high))
    if style == "sigma3":
        mean, std = float(a.mean()), float(a.std())
        return rgb(scaled(a, mean - 3 * std, mean + 3 * std, empty=0.5))
    total = a.sum(axis=-1)
    if style == "percentile":
        low, high = (float(v) for v in np.percentile(total, [0.5, 99.5]))
        return rgb(scaled(total, low, high)[..., None])
    if style == "diverging":
        peak = float(np.abs(total).max())
        signed = total / peak if peak > 0 else np.zeros_like(total)
        return np.asarray(colormaps["bwr"]((signed + 1.0) / 2.0))[..., :3]
    raise ValueError(f"style: unknown style {style!r}; styles: {', '.join(IMAGE_STYLES)}")


def images_item(data: StudyData, *, name: str, stage: str, arrays: Sequence[str], file: str = "images.npz",
                n: int = 8, style: Mapping[str, str] | None = None, title: str | None = None,
                caption: str = "") -> ReportItem:
    """A grid of images and attribution maps from each done cell's ``.npz`` (Kim Fig. 6, Tsipras Fig. 2).

    Per done cell of ``stage`` (results order) reads ``cells/<id>/<file>``
    with ``np.load(allow_pickle=False)``. An (N, H, W, C) array gives one row of
    its first ``n`` images, labelled ``<cell labels> · <array>``; an
    (N, S, H, W, C) array (interpolation paths) gives one row per example
    (first ``n``) of S columns. The npz may hold ``bounds`` (2,) for raw
    images, and ``y`` / ``pred`` (N,) ints shown as small titles; ``pred_<array>`` (the
    prediction on that array, e.g. ``pred_x`` and ``pred_x_adv``) wins over ``pred`` for its row;
    for a path it may be (N, S), the prediction at every step (``pred_path``).

    Args:
        data: the study.
        name: file name stem: ``figures/<name>.png``.
        stage: the stage whose cells wrote the file.
        arrays: array names in the npz, one row (or row block) each per cell.
        file: the npz file inside each cell directory.
        n: images (or paths) per row.
        style: array name -> display style (see :func:`render_image`; default ``image``).
        title: heading (default: the name).
        caption: caption.
    """
    title = title or name
    styles = dict(style or {})
    placeholder, note = _pending(data, [stage], name=name, type_="images", title=title, caption=caption,
                                 option="stage")
    if placeholder is not None:
        return placeholder
    cells = data.done_cells(stage)
    rows: list[tuple[str, list[np.ndarray], list[str]]] = []
    missing = 0
    for cell_id, grid in cells:
        path = data.root / _cell_rel(cell_id, file)
        if not path.is_file():
            missing += 1
            continue
        label = cell_label(grid, stage=stage)
        with np.load(path, allow_pickle=False) as npz:
            bounds: tuple[float, float] | None = None
            if "bounds" in npz.files and np.asarray(npz["bounds"]).size >= 2:
                low, high = np.asarray(npz["bounds"], dtype=np.float64).reshape(-1)[:2]
                bounds = (float(low), float(high))
            labels = np.asarray(npz["y"]).reshape(-1) if "y" in npz.files else None
            shared_preds = np.asarray(npz["pred"]).reshape(-1) if "pred" in npz.files else None
            for array in arrays:
                if array not in npz.files:
                    raise ValueError(f"arrays: no array {array!r} in {_cell_rel(cell_id, file)}; "
                                     f"arrays there: {', '.join(npz.files)}")
                values = np.asarray(npz[array])
                how = styles.get(array, "image")
                own = f"pred_{array}"  # the prediction on this very array, where the cell saved it
                preds = np.asarray(npz[own]).reshape(-1) if own in npz.files else shared_preds
                if values.ndim == 3:
                    values = values[..., None]
                if values.ndim == 4:
                    count = min(n, values.shape[0])
                    titles = [_image_title(labels, preds, i) for i in range(count)]
                    rows.append((f"{label} · {array}",
                                 [render_image(values[i], style=how, bounds=bounds) for i in range(count)], titles))
                elif values.ndim == 5:
                    # (N, S) predictions (``pred_path``: one per step of each path) title every step;
                    # (N,) ones title the first image only
                    steps = np.asarray(npz[own]) if own in npz.files else np.zeros((0, 0), np.int64)
                    per_step = steps.shape == values.shape[:2]
                    for i in range(min(n, values.shape[0])):
                        if per_step:
                            titles = [_image_title(labels, steps[:, 0], i) if j == 0 else f"pred={steps[i, j]}"
                                      for j in range(values.shape[1])]
                        else:
                            titles = [_image_title(labels, preds, i)] + [""] * (values.shape[1] - 1)
                        rows.append((f"{label} · {array} #{i}",
                                     [render_image(v, style=how, bounds=bounds) for v in values[i]], titles))
                else:
                    raise ValueError(f"arrays: {array!r} in {_cell_rel(cell_id, file)} has shape {values.shape}; "
                                     "expected (N, H, W, C) images or (N, S, H, W, C) paths")
    if cells and missing == len(cells):
        raise _no_file(file, cells, stage)
    notes = [note] if note else []
    if missing:
        notes.append(f"{file} missing in {missing} of {len(cells)} done cells")
    if not rows:
        return ReportItem(name=name, type="images", title=title, caption=caption, status="pending",
                          message=f"not computed yet: no arrays in {file} of the {len(cells)} done cells of {stage!r}")
    if len(rows) > _MAX_IMAGE_ROWS:
        notes.append(f"showing the first {_MAX_IMAGE_ROWS} of {len(rows)} rows")
        rows = rows[:_MAX_IMAGE_ROWS]
    ncols = max(len(r[1]) for r in rows)
    margin = max(2.0, 0.2 + 0.06 * max(len(r[0]) for r in rows))  # inches for the row labels (7 pt)
    width = margin + 0.2 + 1.1 * ncols
    figure = Figure(figsize=(width, 0.3 + 1.15 * len(rows)))
    axes = figure.subplots(len(rows), ncols, squeeze=False)
    figure.subplots_adjust(left=margin / width, right=0.99, top=1 - 0.15 / (0.3 + 1.15 * len(rows)),
                           bottom=0.15 / (0.3 + 1.15 * len(rows)), wspace=0.05, hspace=0.3)
    for r, (label, images, titles) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(images):
                ax.set_axis_off()
                continue
            ax.imshow(images[c], interpolation="nearest")
            if titles[c]:
                ax.set_title(titles[c], fontsize=6, pad=2)
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    artifact = Artifact(kind="figure", path=_save(data, figure, f"{FIGURES}/{name}.png"), title=title, caption=caption)
    message = "; ".join(notes)
    return ReportItem(name=name, type="images", title=title, caption=caption, status=_status(message),
                      message=message, artifacts=(artifact,))


def _image_title(labels: np.ndarray | None, preds: np.ndarray | None, i: int) -> str:
    parts = []
    if labels is not None and i < labels.size:
        parts.append(f"y={labels[i]}")
    if preds is not None and i < preds.size:
        parts.append(f"pred={preds[i]}")
    return " ".join(parts)


# ---------------------------------------------------------------- histogram


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
    placeholder, note = _pending(data, [stage], name=name, type_="histogram", title=title, caption=caption,
                                 option="stage")
    if placeholder is not None:
        return placeholder
    cells = data.done_cells(stage)
    series: list[tuple[int, str, str, dict[str, Any], np.ndarray]] = []
    missing = 0
    for ci, (cell_id, grid) in enumerate(cells):
        path = data.root / _cell_rel(cell_id, file)
        if not path.is_file():
            missing += 1
            continue
        table = pd.read_csv(path)
        for column, option in ((value, "value"), (by, "by")):
            if column is not None and column not in table.columns:
                raise ValueError(f"{option}: no column {column!r} in {_cell_rel(cell_id, file)}; "
                                 f"columns: {', '.join(map(str, table.columns))}")
        numbers = pd.to_numeric(table[value], errors="coerce").to_numpy(dtype=float)
        parts = [("", np.ones(len(table), dtype=bool))] if by is None else \
            [(str(v), (table[by] == v).to_numpy()) for v in dict.fromkeys(table[by])]
        for part, mask in parts:
            series.append((ci, cell_id, part, grid, numbers[mask]))
    if cells and missing == len(cells):
        raise _no_file(file, cells, stage)
    notes = [note] if note else []
    if missing:
        notes.append(f"{file} missing in {missing} of {len(cells)} done cells")
    finite = [s[4][np.isfinite(s[4])] for s in series]
    pooled = np.concatenate(finite) if finite else np.zeros(0)
    if pooled.size == 0:
        return ReportItem(name=name, type="histogram", title=title, caption=caption, status="pending",
                          message=f"not computed yet: no finite {value!r} values in {file} of the "
                                  f"{len(cells)} done cells of {stage!r}")
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
    artifacts = (Artifact(kind="figure", path=_save(data, figure, f"{FIGURES}/{name}.png"), title=title,
                          caption=caption),
                 _write_table(data, name, pd.DataFrame(stats_rows), title=f"{title}: summary per cell"))
    return ReportItem(name=name, type="histogram", title=title, caption=caption, status=_status(message),
                      message=message, artifacts=artifacts)


# ---------------------------------------------------------------- cell_figure


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
    if not _file_ok(file):
        raise ValueError(f"file: {file!r} must be a relative path inside the cell directory")
    placeholder, note = _pending(data, [stage], name=name, type_="cell_figure", title=title, caption=caption,
                                 option="stage")
    if placeholder is not None:
        return placeholder
    cells = data.done_cells(stage)
    artifacts = []
    for cell_id, grid in cells:
        source = data.root / _cell_rel(cell_id, file)
        if source.is_file() and source.stat().st_size > 0:  # an empty file is no figure
            rel = f"{FIGURES}/{name}__{cell_id}{Path(file).suffix or '.png'}"
            atomic_write_bytes(data.root / rel, source.read_bytes())
            artifacts.append(Artifact(kind="figure", path=rel, title=cell_label(grid, stage=stage),
                                      caption=cell_label(grid, stage=stage)))
    if not artifacts:
        raise _no_file(file, cells, stage)
    notes = [note] if note else []
    if len(artifacts) < len(cells):
        notes.append(f"{file} missing in {len(cells) - len(artifacts)} of {len(cells)} done cells")
    message = "; ".join(notes)
    return ReportItem(name=name, type="cell_figure", title=title, caption=caption, status=_status(message),
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
    if not _file_ok(file):
        raise ValueError(f"file: {file!r} must be a relative path inside the cell directory")
    placeholder, note = _pending(data, [stage], name=name, type_="cell_table", title=title, caption=caption,
                                 option="stage")
    if placeholder is not None:
        return placeholder
    cells = data.done_cells(stage)
    parts = []
    missing = 0
    for cell_id, grid in cells:
        path = data.root / _cell_rel(cell_id, file)
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
        raise _no_file(file, cells, stage)
    if not parts:
        return ReportItem(name=name, type="cell_table", title=title, caption=caption, status="pending",
                          message=f"not computed yet: {file} is empty in all {len(cells)} done cells of {stage!r}")
    notes = [note] if note else []
    if len(parts) < len(cells):
        notes.append(f"{file} missing in {len(cells) - len(parts)} of {len(cells)} done cells")
    art = _write_table(data, name, pd.concat(parts, ignore_index=True), title=title)
    message = "; ".join(notes)
    return ReportItem(name=name, type="cell_table", title=title, caption=caption, status=_status(message),
                      message=message, artifacts=(art,))


REPORT_ITEMS: dict[str, Callable[..., ReportItem]] = {
    "table": table_item,
    "line": line_item,
    "bars": bars_item,
    "images": images_item,
    "histogram": histogram_item,
    "cell_figure": cell_figure_item,
    "cell_table": cell_table_item,
}
"""Report item types (the ``type`` of an item) -> builder."""


# ---------------------------------------------------------------- validation


def _options(builder: Callable[..., ReportItem]) -> tuple[list[str], list[str]]:
    """(all keyword-only option names, required ones) of a builder."""
    params = [p for p in inspect.signature(builder).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    return [p.name for p in params], [p.name for p in params if p.default is inspect.Parameter.empty]


def _text_list(value: Any, where: str, *, single: bool = False, empty: bool = False) -> list[str]:
    if single and isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        what = "a name or a list of names" if single else "a list of names"
        raise ValueError(f"{where}: expected {what}, got {value!r}")
    if not value and not empty:
        raise ValueError(f"{where}: name at least one")
    return list(value)


_BOOL_OPTIONS = ("percent", "panels", "correlate", "logx", "logy", "markers_only")
_TEXT_OPTIONS = ("title", "caption", "xlabel", "ylabel", "stage", "value", "by", "x")
_SCALE_X = (None, "group_max")


def _text_mapping(value: Any, where: str, what: str) -> list[str]:
    """Validates ``{column: what}`` (non-empty texts, distinct values); returns the columns."""
    if not value or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{where}: expected {{column: {what}}} texts, got {value!r}")
    if len(set(value.values())) < len(value):
        raise ValueError(f"{where}: {what}s must differ, got {list(value.values())}")
    return list(value)


def _check_reference(ref: str, stages: Sequence[str], where: str, *, grid_only: bool = False) -> None:
    stage, dot, metric = ref.partition(".")
    if not dot:
        return
    if grid_only:
        raise ValueError(f"{where}: {ref!r} is a metric; use grid keys here")
    if not metric or stage not in stages:
        raise ValueError(f"{where}: {ref!r} refers to stage {stage!r}, which is not in stages "
                         f"[{', '.join(stages)}]")


def check_report_item(item: Any, *, where: str = "report.items[0]",
                      stages: Collection[str] | None = None) -> dict[str, Any]:
    """Validates one report item without reading any file.

    Args:
        item: the item mapping (``type``, ``name``, options).
        where: its position for messages, e.g. ``report.items[2]``.
        stages: the study's stage names, to check stage references (None: skip).

    Returns:
        The item with list options normalised (``y``, ``group``, ``stages`` as lists).

    Raises:
        ValueError: naming the field, e.g. ``report.items[2].y: ...``.
    """
    if not isinstance(item, Mapping):
        raise ValueError(f"{where}: expected a mapping with type, name and options, got {item!r}")
    kind = item.get("type")
    if kind not in REPORT_ITEMS:
        raise ValueError(f"{where}.type: unknown item type {kind!r}; types: {', '.join(REPORT_ITEMS)}")
    names, required = _options(REPORT_ITEMS[kind])
    unknown = [k for k in item if k != "type" and k not in names]
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown option for a {kind} item; options: {', '.join(names)}")
    absent = [k for k in required if k not in item]
    if absent:
        raise ValueError(f"{where}.{absent[0]}: required for a {kind} item")
    out = dict(item)
    name = item["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{where}.name: expected a letter then letters, digits, _ or -, got {name!r}")
    for key in _BOOL_OPTIONS:
        if key in item and not isinstance(item[key], bool):
            raise ValueError(f"{where}.{key}: expected true or false, got {item[key]!r}")
    for key in _TEXT_OPTIONS:
        if key in item and not (isinstance(item[key], str) and (item[key] or key in ("title", "caption"))):
            if not (key == "by" and item[key] is None):
                raise ValueError(f"{where}.{key}: expected text, got {item[key]!r}")
    for key in ("n", "bins"):
        if key in item and (isinstance(item[key], bool) or not isinstance(item[key], int) or item[key] < 1):
            raise ValueError(f"{where}.{key}: expected a positive integer, got {item[key]!r}")
    used = [item["stage"]] if "stage" in item else []
    if "stages" in item:
        used = out["stages"] = _text_list(item["stages"], f"{where}.stages", single=True)
    if stages is not None:
        bad = [s for s in used if s not in stages]
        if bad:
            raise ValueError(f"{where}.{'stage' if 'stage' in item else 'stages'}: unknown stage {bad[0]!r}; "
                             f"stages: {', '.join(stages)}")
    if "y" in item:
        if isinstance(item["y"], Mapping):
            refs = _text_mapping(item["y"], f"{where}.y", "label")
        else:
            refs = out["y"] = _text_list(item["y"], f"{where}.y", single=True)
        for ref in refs:
            _check_reference(ref, used, f"{where}.y")
    if "x" in item:
        _check_reference(item["x"], used, f"{where}.x")
    for key in ("group", "rows"):
        if key in item and item[key] is not None:
            out[key] = _text_list(item[key], f"{where}.{key}", single=True, empty=True)
            for ref in out[key]:
                _check_reference(ref, used, f"{where}.{key}", grid_only=True)
    if "columns" in item:
        columns = item["columns"]
        if isinstance(columns, Mapping):
            refs = _text_mapping(columns, f"{where}.columns", "header")
        else:
            refs = out["columns"] = _text_list(columns, f"{where}.columns", single=True)
        for ref in refs:
            _check_reference(ref, used, f"{where}.columns")
    if "scale_x" in item and item["scale_x"] not in _SCALE_X:
        raise ValueError(f"{where}.scale_x: expected group_max or null, got {item['scale_x']!r}")
    if "arrays" in item:
        out["arrays"] = _text_list(item["arrays"], f"{where}.arrays", single=True)
    if "style" in item and item["style"] is not None:
        style = item["style"]
        if not isinstance(style, Mapping):
            raise ValueError(f"{where}.style: expected {{array: style}}, got {style!r}")
        for array, how in style.items():
            if array not in out.get("arrays", []):
                raise ValueError(f"{where}.style: {array!r} is not one of the arrays {out.get('arrays', [])}")
            if how not in IMAGE_STYLES:
                raise ValueError(f"{where}.style.{array}: unknown style {how!r}; styles: {', '.join(IMAGE_STYLES)}")
    if "file" in item and not (isinstance(item["file"], str) and _file_ok(item["file"])):
        raise ValueError(f"{where}.file: expected a relative path inside the cell directory, got {item['file']!r}")
    return out


def check_report_section(section: Any, *, stages: Collection[str] | None = None) -> dict[str, Any]:
    """Validates a study's ``report`` section without reading any file.

    Checks: known ``type``; ``name`` a safe identifier, unique; option names
    are keyword-only parameters of the item's builder; required options
    present; option values of the right kind; ``stage.metric`` references
    name one of the item's stages.

    Args:
        section: the parsed ``report`` mapping (``title``, ``items``) or None.
        stages: the study's stage names, to check stage references (None: skip).

    Returns:
        ``{"title": ..., "items": [...]}`` with list options normalised.

    Raises:
        ValueError: naming the field, e.g. ``report.items[2].y: ...``.
    """
    if section is None:
        return {"title": None, "items": []}
    if not isinstance(section, Mapping):
        raise ValueError(f"report: expected a mapping with title and items, got {section!r}")
    unknown = [k for k in section if k not in ("title", "items")]
    if unknown:
        raise ValueError(f"report.{unknown[0]}: unknown field; fields: title, items")
    title = section.get("title")
    if title is not None and not isinstance(title, str):
        raise ValueError(f"report.title: expected text, got {title!r}")
    items = section.get("items") or []
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"report.items: expected a list of items, got {items!r}")
    checked = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        out = check_report_item(item, where=f"report.items[{i}]", stages=stages)
        if out["name"] in seen:
            raise ValueError(f"report.items[{i}].name: {out['name']!r} is used by an earlier item")
        seen.add(out["name"])
        checked.append(out)
    return {"title": title, "items": checked}


def run_report_item(data: StudyData, item: Any, *, index: int = 0) -> ReportItem:
    """Validates and builds one item; never raises.

    A misconfiguration becomes an ``error`` item whose message names the field
    (``report.items[<index>].<option>: ...``); any other failure an ``error``
    item with the exception's type and message.
    """
    where = f"report.items[{index}]"
    raw_name = item.get("name") if isinstance(item, Mapping) else None
    name = raw_name if isinstance(raw_name, str) and _NAME.match(raw_name) else f"item{index}"
    kind = str(item.get("type")) if isinstance(item, Mapping) else "?"
    title = str(item.get("title") or name) if isinstance(item, Mapping) else name
    try:
        options = check_report_item(item, where=where)
        options.pop("type")
        return REPORT_ITEMS[kind](data, **options)
    except ValueError as err:
        text = " ".join(str(err).split())
        option = re.match(r"^([A-Za-z_]+)[.:]", text)
        if text.startswith(where):
            message = text
        elif option and kind in REPORT_ITEMS and option.group(1) in _options(REPORT_ITEMS[kind])[0]:
            message = f"{where}.{text}"
        else:
            message = f"{where}: {text}"
    except Exception as err:  # one broken item must not stop the report
        message = f"{where}: {type(err).__name__}: {' '.join(str(err).split())}"
    return ReportItem(name=name, type=kind, title=title, status="error", message=message)
