"""Figures of the linear-classifier experiments (Tsipras et al. 2019, Figs. 1-4, 6, 7).

Every figure is written atomically (a temp file in the same directory, then
``os.replace``); matplotlib runs on the non-interactive Agg backend.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tfrobust.theory.linear_features.maths import interpolate, linear_binary_weights

__all__ = ["plot_accuracy_curves", "plot_large_eps", "plot_linear_features"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out_png: str | os.PathLike[str]) -> Path:
    """Writes the figure atomically (temp file in the same directory + ``os.replace``)."""
    plt = _pyplot()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=110)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return out


def _as_image(v: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A flat feature vector as a 2-D image (channels summed)."""
    image = np.asarray(v, np.float64).reshape(shape)
    if image.ndim == 3:
        image = image.sum(axis=-1)
    if image.ndim != 2:
        raise ValueError(f"cannot show features of shape {shape} as an image")
    return image


def plot_linear_features(models: Mapping[str, keras.Model], corr: Any,
                         out_png: str | os.PathLike[str]) -> Path:
    """Weight images (Fig. 2a) and feature-label correlation against weight (Fig. 2b).

    Top row: ``w`` of each model as an image (red positive, blue negative,
    symmetric scale per model) and, last, the correlation image. Bottom row:
    one scatter per model of correlation (x) against weight (y), one point
    per feature.

    Args:
        models: ``{label: two-logit linear model}``, e.g. ``{"eps=0": m0, "eps=0.2": m1}``.
        corr: (D,) correlations from :func:`~tfrobust.theory.linear_features.feature_correlation`.
        out_png: PNG path, written atomically.

    Returns:
        The path written.

    Ref: Tsipras et al. 2019, sec. 2.3, Fig. 2a-b.
    """
    if not models:
        raise ValueError("models: give at least one model")
    corr = np.asarray(corr, np.float64).reshape(-1)
    weights = {}
    shape: tuple[int, ...] = ()
    for label, model in models.items():
        w, _ = linear_binary_weights(model)
        if w.size != corr.size:
            raise ValueError(f"model {label!r} has {w.size} weights, corr has {corr.size} features")
        weights[label] = w
        shape = tuple(int(s) for s in model.input_shape[1:])
    plt = _pyplot()
    n = len(weights)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.9 * (n + 1), 5.8), squeeze=False)
    for i, (label, w) in enumerate(weights.items()):
        scale = float(np.abs(w).max()) or 1.0
        shown = axes[0, i].imshow(_as_image(w, shape), cmap="RdBu_r", vmin=-scale, vmax=scale)
        axes[0, i].set_title(f"w, {label}\n||w||_1 = {np.abs(w).sum():.3g}", fontsize=9)
        fig.colorbar(shown, ax=axes[0, i], fraction=0.046, pad=0.04)
        ax = axes[1, i]
        ax.scatter(corr, w, s=4, alpha=0.5, color=f"C{i % 10}", linewidths=0)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_xlabel("feature-label correlation")
        ax.set_ylabel("weight")
        ax.set_title(label, fontsize=9)
    shown = axes[0, n].imshow(_as_image(corr, shape), cmap="RdBu_r", vmin=-1, vmax=1)
    axes[0, n].set_title("correlation with label", fontsize=9)
    fig.colorbar(shown, ax=axes[0, n], fraction=0.046, pad=0.04)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, n].axis("off")
    fig.suptitle("Linear classifiers: weights and feature-label correlation (Tsipras Fig. 2a-b)",
                 fontsize=10)
    fig.tight_layout()
    return _save(fig, out_png)


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, numbers.Real) else str(value)


def plot_accuracy_curves(
    rows: Sequence[Mapping[str, float]],
    out_png: str | os.PathLike[str],
    *,
    x: str,
    y: Sequence[str],
    group: str | None = None,
    xlabel: str | None = None,
    title: str = "",
    logx: bool = False,
) -> Path:
    """Accuracy curves from result rows (Figs. 1, 6, 7 and 2c).

    Args:
        rows: dicts from :func:`~tfrobust.theory.linear_features.accuracy_vs_eps_train`,
            :func:`~tfrobust.theory.linear_features.accuracy_vs_train_size` or
            :func:`~tfrobust.theory.linear_features.accuracy_top_k`.
        out_png: PNG path, written atomically.
        x: the column on the horizontal axis (e.g. ``"eps_train"``).
        y: accuracy columns, one line style each (fractions, shown in percent).
        group: optional column that splits the rows into separately coloured
            lines (e.g. ``"eps_train"`` for the training-size curves).
        xlabel: axis label (default: ``x``).
        title: figure title.
        logx: logarithmic horizontal axis.

    Returns:
        The path written.
    """
    if not rows:
        raise ValueError("rows: nothing to plot")
    columns = [x, *y] + ([group] if group else [])
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise ValueError(f"rows lack column(s) {', '.join(missing)}")
    groups: dict[Any, list[Mapping[str, float]]] = {}
    for row in rows:
        groups.setdefault(row[group] if group else None, []).append(row)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    styles = ("-o", "--s", ":^", "-.v")
    for g, (key, members) in enumerate(groups.items()):
        members = sorted(members, key=lambda r: float(r[x]))
        xs = [float(r[x]) for r in members]
        for j, column in enumerate(y):
            label = column if key is None else f"{column}, {group}={_fmt(key)}"
            ax.plot(xs, [100 * float(r[column]) for r in members], styles[j % len(styles)],
                    color=f"C{g % 10}", ms=4, label=label)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_large_eps(
    strips: Mapping[str, tuple[Any, Any]],
    out_png: str | os.PathLike[str],
    *,
    steps: int = 8,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> Path:
    """Large-eps adversarial examples as interpolation strips (Figs. 3-4).

    Each example is one row: ``steps`` images from the original (left, Fig.
    3's input) through :func:`~tfrobust.theory.linear_features.interpolate` to the adversarial image (right,
    Fig. 3's output); the row in between is Fig. 4.

    Args:
        strips: ``{row label: (x, x_adv)}``, each (N, H, W, C) within
            ``bounds``; one row per example.
        out_png: PNG path, written atomically.
        steps: images per row, >= 2.
        bounds: grey-scale range of the display.

    Returns:
        The path written.

    Ref: Tsipras et al. 2019, sec. 3.1-3.2, Figs. 3-4.
    """
    rows: list[tuple[str, np.ndarray]] = []
    for label, (x, x_adv) in strips.items():
        path = interpolate(x, x_adv, steps)  # (steps, N, ...)
        for i in range(path.shape[1]):
            rows.append((label if i == 0 else "", path[:, i]))
    if not rows:
        raise ValueError("strips: nothing to plot")
    plt = _pyplot()
    lo, hi = (float(b) for b in bounds)
    fig, axes = plt.subplots(len(rows), steps, figsize=(1.1 * steps + 1.6, 1.15 * len(rows)),
                             squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(steps):
            image = np.clip(images[c], lo, hi)
            ax = axes[r, c]
            if image.ndim == 3 and image.shape[-1] == 3:  # colour: shown rescaled to [0, 1]
                ax.imshow((image - lo) / (hi - lo))
            else:
                ax.imshow(image.reshape(image.shape[:2]), cmap="gray", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("original" if c == 0 else "adversarial" if c == steps - 1
                             else f"{c / (steps - 1):.2f}", fontsize=7)
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return _save(fig, out_png)
