"""ROAR / KAR curves figure (Kim et al. 2019, Fig. 4 style) from a saved ``roar.csv``.

Reads only ``roar.csv`` (``method, mode, fraction, repeat, accuracy``);
imports no TensorFlow (docs/architecture.md, Layers).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

__all__ = ["write_roar_figure"]

COLUMNS = ("method", "mode", "fraction", "repeat", "accuracy")
_TITLES = {"roar": "ROAR (most important replaced)", "kar": "KAR (least important replaced)"}


def write_roar_figure(roar_csv: str | os.PathLike, out_png: str | os.PathLike) -> Path:
    """Plots test accuracy against the fraction of replaced pixels, per method.

    One panel per mode present (ROAR left, KAR right), one line per method
    (the mean over repeats) with a shaded band of +- one sample standard
    deviation (none for a single repeat); a method keeps its colour across
    panels.

    Args:
        roar_csv: a ``roar.csv`` written by ``tfrobust roar``.
        out_png: PNG file to write (atomically: temp file + ``os.replace``).

    Returns:
        The path of the PNG.

    Raises:
        ValueError: the CSV lacks a column, has no rows or no known mode.

    Ref: Kim et al. 2019, sec. 3.2, Fig. 4; Hooker et al. 2019.
    """
    import matplotlib  # slow to import: only when drawing

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_png)
    table = pd.read_csv(roar_csv)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{roar_csv} lacks column(s) {', '.join(missing)}")
    table = table[table["mode"].isin(tuple(_TITLES))]
    if table.empty:
        raise ValueError(f"{roar_csv} has no rows with mode 'roar' or 'kar'")
    stats = (table.groupby(["method", "mode", "fraction"], sort=True)["accuracy"]
             .agg(["mean", "std"]).reset_index())
    stats["std"] = stats["std"].fillna(0.0)  # a single repeat has no spread
    modes = [m for m in _TITLES if (stats["mode"] == m).any()]
    methods = list(dict.fromkeys(table["method"]))
    colours = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    fig, axes = plt.subplots(1, len(modes), figsize=(4.6 * len(modes), 3.6), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        for method in methods:
            curve = stats[(stats["mode"] == mode) & (stats["method"] == method)]
            if curve.empty:
                continue
            ax.plot(curve["fraction"], curve["mean"], "-o", color=colours[method], markersize=3,
                    label=str(method))
            ax.fill_between(curve["fraction"], curve["mean"] - curve["std"],
                            curve["mean"] + curve["std"], color=colours[method], alpha=0.2, linewidth=0)
        ax.set_title(_TITLES[mode])
        ax.set_xlabel("fraction of pixels replaced")
        ax.set_ylabel("test accuracy")
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out)
    return out
