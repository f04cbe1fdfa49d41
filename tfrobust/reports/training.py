"""Report of one training run: learning curves (PNG) and a summary page (HTML).

Reads only the files a run wrote (``history.csv``, ``metrics.json``,
``config.yaml``); imports no TensorFlow (docs/architecture.md, Layers).

The curves (:func:`curve_panels`) name what each ``history.csv`` column
measured: ``loss``/``accuracy`` are those of the batches trained on
(adversarial examples for ``adversarial``; the clean batch, with the penalty
added to the loss, for ``trades``, ``ir`` and ``jr``),
``clean_loss``/``clean_accuracy`` those of the unattacked training batches
(``adversarial`` only), ``val_*`` those of the clean test set (of the
held-out validation examples with ``model_selection: best_validation``), and
``val_robust_accuracy`` the test accuracy under the training attack
(``tfrobust train --robust-eval``). Further panels draw the regularizer terms
(``trades_penalty``, ``trades_kl``, ``ir_penalty``, ``jr_penalty``), the
Jacobian norms (``jacobian_norm``, ``label_jacobian_norm``,
``jacobian_label_norm``, ``jacobian_other_norm``), the target cosines, the
ensemble members (``m<i>_loss``, ``m<i>_accuracy``) and any other numeric
column; timings (``images_per_second``, ``train_seconds``) are left out.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

__all__ = ["CurveLine", "CurvePanel", "curve_panels", "history_figure", "plot_history", "write_training_report"]

#: Columns that are no learning curves (timings, the optimizer's rate): left out of the figure.
_NOT_CURVES = re.compile(r"^(epoch|lr|learning_rate)$|seconds|per_second")
#: Columns of the first three panels; every other numeric column goes to a later panel.
_MAIN = ("loss", "clean_loss", "val_loss", "accuracy", "clean_accuracy", "val_accuracy", "val_robust_accuracy")
#: Titles of the later panels, in drawing order.
_LATER = ("Regularizer terms", "Jacobian norms", "Target cosine", "Ensemble members", "Other logged values")


@dataclass(frozen=True)
class CurveLine:
    """One line of a panel.

    Attributes:
        column: the ``history.csv`` column drawn.
        label: its name in the legend (what was measured, on which data).
        style: matplotlib format string.
    """

    column: str
    label: str
    style: str = "-o"


@dataclass(frozen=True)
class CurvePanel:
    """One panel of ``curves.png``.

    Attributes:
        title: the panel's title.
        ylabel: its y-axis label.
        lines: the lines drawn, in legend order.
    """

    title: str
    ylabel: str
    lines: tuple[CurveLine, ...]


def _atomic_text(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _attack_text(config: Mapping[str, Any]) -> str:
    """``l2 eps=0.02``: the run's training attack (config.yaml ``method_options.attack``); "" without one."""
    options = config.get("method_options")
    attack = options.get("attack") if isinstance(options, Mapping) else None
    if not isinstance(attack, Mapping) or "norm" not in attack or "eps" not in attack:
        return ""
    return f"{attack['norm']} eps={attack['eps']}"


def _fraction(config: Mapping[str, Any]) -> float:
    """``method_options.adversarial_fraction`` (default 1: every example attacked)."""
    options = config.get("method_options")
    value = options.get("adversarial_fraction", 1.0) if isinstance(options, Mapping) else 1.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 1.0


def _train_labels(history: pd.DataFrame, config: Mapping[str, Any]) -> tuple[str, str]:
    """Legend names of ``loss`` and ``accuracy`` (the batches trained on) for the run's method."""
    method = str(config.get("method") or ("adversarial" if "clean_accuracy" in history else ""))
    if method == "adversarial":
        fraction = _fraction(config)
        if fraction >= 1.0:
            name = "adversarial (training batches)"
        elif fraction <= 0.0:
            name = "clean (training batches, none attacked)"
        else:
            name = f"training batches ({fraction:.0%} adversarial)"
        return name, name
    if method == "trades":
        return "clean (training batches), CE + TRADES penalty", "clean (training batches)"
    if method in ("ir", "jr") or any(str(c).endswith("_penalty") for c in history.columns):
        return "clean (training batches), CE + penalty", "clean (training batches)"
    if method == "standard":
        return "clean (training batches)", "clean (training batches)"
    return "train", "train"


def _panel_of(column: str) -> str:
    """Title of the later panel a column belongs to."""
    if "cosine" in column:
        return "Target cosine"
    if "norm" in column:
        return "Jacobian norms"
    if re.match(r"^(val_)?m\d+_", column):
        return "Ensemble members"
    if column.endswith(("_penalty", "_kl")):
        return "Regularizer terms"
    return "Other logged values"


def curve_panels(history: pd.DataFrame, config: Mapping[str, Any] | None = None) -> list[CurvePanel]:
    """What ``curves.png`` draws: one panel per quantity, each line named by what it measured.

    Args:
        history: the run's ``history.csv`` as a DataFrame.
        config: the run's ``config.yaml`` (``method``, ``method_options``,
            ``model_selection``); None or {}: names from the columns alone.

    Returns:
        The panels in drawing order: loss, accuracy, robust accuracy (clean
        and adversarial test accuracy, when ``val_robust_accuracy`` has a
        value), then regularizer terms, Jacobian norms, target cosine,
        ensemble members and other values, each only when one of its columns
        has a value. Columns that are all missing, not numeric, or timings
        are left out.
    """
    config = config or {}
    drawn = [str(c) for c in history.columns
             if not _NOT_CURVES.search(str(c)) and pd.api.types.is_numeric_dtype(history[c])
             and bool(history[c].notna().any())]
    train_loss, train_accuracy = _train_labels(history, config)
    held_out = ("clean (validation, held out of train)" if config.get("model_selection") == "best_validation"
                else "clean (test)")
    attack = _attack_text(config)
    names = {"loss": train_loss, "accuracy": train_accuracy, "clean_loss": "clean (training batches)",
             "clean_accuracy": "clean (training batches)", "val_loss": held_out, "val_accuracy": held_out,
             "val_robust_accuracy": f"adversarial (test, {attack})" if attack else "adversarial (test)"}
    styles = {"loss": "-o", "accuracy": "-o", "clean_loss": ":^", "clean_accuracy": ":^", "val_loss": "--s",
              "val_accuracy": "--s", "val_robust_accuracy": "-.D"}

    def lines(columns: tuple[str, ...]) -> tuple[CurveLine, ...]:
        return tuple(CurveLine(c, names[c], styles[c]) for c in columns if c in drawn)

    panels = [CurvePanel(title, ylabel, lines(columns)) for title, ylabel, columns in (
        ("Loss", "cross-entropy loss", ("loss", "clean_loss", "val_loss")),
        ("Accuracy", "accuracy", ("accuracy", "clean_accuracy", "val_accuracy")))]
    robust = [c for c in drawn if c.startswith("val_robust") and c != "val_robust_accuracy"]  # other names
    if "val_robust_accuracy" in drawn or robust:
        panels.append(CurvePanel("Robust accuracy", "accuracy", lines(("val_accuracy", "val_robust_accuracy"))
                                 + tuple(CurveLine(c, c, "-.D") for c in robust)))
    panels = [p for p in panels if p.lines]
    later: dict[str, list[str]] = {}
    for column in drawn:
        if column not in _MAIN and column not in robust:
            later.setdefault(_panel_of(column), []).append(column)
    panels += [CurvePanel(title, "value", tuple(CurveLine(c, c) for c in later[title]))
               for title in _LATER if title in later]
    return panels


def history_figure(history: pd.DataFrame, config: Mapping[str, Any] | None = None) -> Any:
    """The learning-curve figure of :func:`curve_panels`: a matplotlib ``Figure``, not saved.

    Args:
        history: the run's ``history.csv`` as a DataFrame.
        config: the run's ``config.yaml`` (see :func:`curve_panels`).

    Returns:
        The figure: one axes per panel, in order (2 or 3 per row),
        each with its title and a legend naming the lines.
    """
    from matplotlib.figure import Figure  # slow to import: only when drawing
    from matplotlib.ticker import MaxNLocator

    panels = curve_panels(history, config) or [CurvePanel("Loss", "loss", ())]
    epochs = history["epoch"] + 1 if "epoch" in history else pd.Series(range(1, len(history) + 1))
    ncols = 2 if len(panels) in (2, 4) else min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.4 * nrows), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax, panel in zip(axes, panels):
        for line in panel.lines:
            ax.plot(epochs, history[line.column], line.style, label=line.label, markersize=4)
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3)
        if panel.lines:
            ax.legend(fontsize=7)
    for ax in axes[len(panels):]:
        fig.delaxes(ax)
    return fig


def plot_history(history: pd.DataFrame, path: str | os.PathLike, *,
                 config: Mapping[str, Any] | None = None) -> Path:
    """Plots the learning curves of :func:`curve_panels` (loss, accuracy, robust accuracy, regularizer terms).

    Args:
        history: the run's ``history.csv`` as a DataFrame (``epoch`` column,
            Keras log names such as ``loss``, ``val_accuracy``).
        path: PNG file to write (atomically).
        config: the run's ``config.yaml``: names the lines by method (e.g.
            "adversarial (training batches)" vs "clean (test)"); None: from
            the columns alone.

    Returns:
        The PNG path.
    """
    path = Path(path)
    fig = history_figure(history, config)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _lines_html(panels: list[CurvePanel]) -> str:
    """What each named line is: its legend name and its ``history.csv`` column ("" when none is renamed)."""
    seen: dict[str, str] = {}
    for panel in panels:
        for line in panel.lines:
            seen.setdefault(line.column, line.label)
    items = "".join(f"<li>{html.escape(label)}: <code>{html.escape(column)}</code></li>"
                    for column, label in seen.items() if label != column)
    return f"<p>Lines (legend name: history.csv column):</p><ul>{items}</ul>" if items else ""


def _scrolling(table_html: str) -> str:
    """A table inside a box that scrolls sideways when the table is wider than the page."""
    return f'<div class="scroll">{table_html}</div>'


def write_training_report(run_dir: str | os.PathLike) -> Path:
    """Writes ``curves.png`` and ``report.html`` for a finished training run.

    Args:
        run_dir: a directory written by ``tfrobust train``.

    Returns:
        The path of ``report.html``.

    Raises:
        FileNotFoundError: the run has no ``metrics.json`` (it did not finish).
    """
    run = Path(run_dir)
    metrics_path = run / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{run} has no metrics.json: the run did not finish")
    metrics: dict[str, Any] = json.loads(metrics_path.read_text(encoding="utf-8"))
    config: dict[str, Any] = {}
    if (run / "config.yaml").is_file():
        config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}
    parts = ["<!doctype html><meta charset='utf-8'><title>tfrobust run</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}"
             ".scroll{overflow-x:auto;max-width:100%;margin:.5em 0}img{max-width:100%}</style>",
             f"<h1>Training run {html.escape(run.name)}</h1>"]
    model = config.get("model", {}).get("arch", "?")
    data = config.get("data", {}).get("name", "?")
    parts.append(
        f"<p><b>{html.escape(str(model))}</b> on <b>{html.escape(str(data))}</b>, "
        f"method {html.escape(str(config.get('method', '?')))}: test accuracy "
        f"<b>{metrics['test_accuracy']:.4f}</b> on {metrics['test_examples']} test images "
        f"after training on {metrics['train_examples']} images.</p>"
    )
    history_path = run / "history.csv"
    if history_path.is_file() and history_path.stat().st_size > 0:
        history = pd.read_csv(history_path)
        plot_history(history, run / "curves.png", config=config)
        parts.append("<h2>Learning curves</h2><img src='curves.png' alt='learning curves'>")
        parts.append(_lines_html(curve_panels(history, config)))
        parts.append(_scrolling(history.to_html(index=False, float_format=lambda v: f"{v:.4g}")))
    parts.append("<h2>Metrics</h2>")
    parts.append(_scrolling(pd.Series(metrics, name="value").to_frame().to_html()))
    parts.append("<h2>Configuration</h2><pre>")
    parts.append(html.escape(yaml.safe_dump(config, sort_keys=False)))
    parts.append("</pre>")
    report = run / "report.html"
    _atomic_text("\n".join(parts) + "\n", report)
    return report
