"""Report of one training run: learning curves (PNG) and a summary page (HTML).

Reads only the files a run wrote (``history.csv``, ``metrics.json``,
``config.yaml``); imports no TensorFlow (docs/architecture.md, Layers).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

__all__ = ["plot_history", "write_training_report"]


def _atomic_text(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def plot_history(history: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Plots loss and accuracy per epoch (train and, if present, validation).

    Args:
        history: the run's ``history.csv`` as a DataFrame (``epoch`` column,
            Keras log names such as ``loss``, ``val_accuracy``).
        path: PNG file to write (atomically).
    """
    import matplotlib  # slow to import: only when drawing

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    epochs = history["epoch"] + 1 if "epoch" in history else pd.Series(range(1, len(history) + 1))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, label, style in (("", "train", "-o"), ("val_", "test", "--s")):
            column = prefix + metric
            if column in history:
                ax.plot(epochs, history[column], style, label=label, markersize=4)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


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
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}</style>",
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
        plot_history(history, run / "curves.png")
        parts.append("<h2>Learning curves</h2><img src='curves.png' alt='learning curves'>")
        parts.append(history.to_html(index=False, float_format=lambda v: f"{v:.4g}"))
    parts.append("<h2>Metrics</h2>")
    parts.append(pd.Series(metrics, name="value").to_frame().to_html())
    parts.append("<h2>Configuration</h2><pre>")
    parts.append(html.escape(yaml.safe_dump(config, sort_keys=False)))
    parts.append("</pre>")
    report = run / "report.html"
    _atomic_text("\n".join(parts) + "\n", report)
    return report
