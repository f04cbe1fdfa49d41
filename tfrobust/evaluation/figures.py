"""Figure helpers of the evaluation layer: atomic PNG writes and images scaled for display.

Used by the VAE-GAN reconstructions (:mod:`tfrobust.evaluation.vaegan_training`)
and the manifold figures (:mod:`tfrobust.evaluation.manifold`); draws saliency
grids whose signed maps carry a colour bar and a sign legend
(:func:`saliency_grid`), and names classes instead of numeric ids
(:func:`label_text`). The evaluation
layer may not import :mod:`tfrobust.reports` (docs/architecture.md, Layers),
whose writers serve saved results.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SIGNED_CMAP", "SIGN_LEGEND", "add_sign_colorbar", "atomic_savefig", "display_images", "label_text",
           "saliency_grid"]

#: The matplotlib colour map of signed maps drawn by
#: :func:`tfrobust.attribution.diverging_rgb`: blue (-max), white (0), red (+max), linear in between.
SIGNED_CMAP = "bwr"
#: Legend text of a signed-map colour bar.
SIGN_LEGEND = "red: positive, blue: negative\n(each map scaled by its max |value|)"


def atomic_savefig(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Saves a matplotlib figure as PNG (100 dpi) atomically, creating parent directories.

    The figure goes to ``.STEM.tmpPID.png`` next to ``path`` (a temp name the
    library recognises), then ``os.replace`` moves it into place; the temp file
    is removed if saving fails.

    Returns:
        The destination path.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}.png")
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def display_images(images: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Images (N, H, W, C) within ``bounds`` rescaled into [0, 1] for ``imshow``.

    Colour images (C = 3) keep their channels; any other channel count is
    averaged into grey, giving (N, H, W).
    """
    lo, hi = bounds
    shown = np.clip((images - lo) / (hi - lo), 0.0, 1.0)
    return shown if shown.shape[-1] == 3 else shown.mean(axis=-1)


def label_text(label: Any, class_names: Sequence[str] | None = None) -> str:
    """A label for a title or axis: its class name when known, else the number.

    Args:
        label: an integer class label (Python or NumPy integer).
        class_names: one name per label (e.g. ``Dataset.class_names``); None
            or a label outside it gives ``str(label)``.

    Returns:
        ``class_names[label]`` or ``str(label)``.

    Raises:
        ValueError: ``label`` is not an integer (one line).
    """
    if isinstance(label, bool) or not isinstance(label, numbers.Integral):
        raise ValueError(f"label: expected an integer class label, got {label!r}")
    index = int(label)
    if class_names is not None and 0 <= index < len(class_names):
        return str(class_names[index])
    return str(index)


def add_sign_colorbar(fig: Any, axes: Any, *, legend: str = SIGN_LEGEND) -> Any:
    """Adds the colour bar of signed maps (:data:`SIGNED_CMAP` over [-1, 1]) next to ``axes``.

    Ticks read ``-max``, ``0`` and ``+max`` (each map is scaled by its own
    largest absolute value); the bar's label is ``legend``.

    Args:
        fig: a matplotlib ``Figure``.
        axes: the axes (or array / list of axes) the bar takes its room from.
        legend: the colour bar's label (default :data:`SIGN_LEGEND`).

    Returns:
        The matplotlib ``Colorbar``.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(norm=Normalize(vmin=-1.0, vmax=1.0), cmap=SIGNED_CMAP)
    ax_list = list(np.ravel(axes)) if isinstance(axes, (np.ndarray, list, tuple)) else axes
    bar = fig.colorbar(mappable, ax=ax_list, fraction=0.04, pad=0.02, ticks=[-1.0, 0.0, 1.0])
    bar.ax.set_yticklabels(["\u2212max", "0", "+max"], fontsize=7)
    bar.set_label(legend, fontsize=7)
    return bar


def _grid_inputs(x: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) values in [0, 1]; vectors become 1 x F strips, unbounded data min-max per example."""
    images = x.reshape(x.shape[0], 1, -1, 1) if x.ndim == 2 else x
    lo, hi = bounds
    if math.isfinite(lo) and math.isfinite(hi):
        return display_images(images, (lo, hi))
    flat = images.reshape(images.shape[0], -1)
    low = flat.min(axis=1).reshape(-1, 1, 1, 1)
    span = np.maximum(flat.max(axis=1).reshape(-1, 1, 1, 1) - low, 1e-12)
    shown = np.clip((images - low) / span, 0.0, 1.0)
    return shown if shown.shape[-1] == 3 else shown.mean(axis=-1)


def saliency_grid(x: np.ndarray, y: np.ndarray, columns: Mapping[str, np.ndarray], *, bounds: tuple[float, float],
                  class_names: Sequence[str] | None = None, predictions: Mapping[str, np.ndarray] | None = None,
                  sign_legend: bool = True) -> Any:
    """A figure of inputs and their signed attribution maps, with a colour bar and a sign legend.

    One row per example: the input (its row label names the class), then one
    column per method, drawn as :func:`tfrobust.attribution.diverging_rgb` of
    :func:`tfrobust.attribution.channel_sum_clip` (Kim et al. 2019 Fig. 6:
    channel sum, 99th percentile clip; blue negative, white 0, red positive).

    Args:
        x: (N, H, W, C) images or (N, F) vectors, within ``bounds``.
        y: (N,) integer labels.
        columns: method name -> (N, ...) maps shaped like ``x``.
        bounds: (lo, hi) value range of ``x`` (infinite: min-max per example).
        class_names: one name per label; None shows the numbers.
        predictions: optional method name -> (N,) predicted labels, shown
            under that method's maps by class name.
        sign_legend: add the colour bar with the sign legend (:func:`add_sign_colorbar`).

    Returns:
        The matplotlib ``Figure`` (not saved; see :func:`atomic_savefig`).

    Raises:
        ValueError: mismatched shapes (one line).
    """
    from matplotlib.figure import Figure

    from tfrobust.attribution.postprocess import channel_sum_clip, diverging_rgb

    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.ndim not in (2, 4) or x.shape[0] == 0:
        raise ValueError(f"x: expected (N, H, W, C) images or (N, F) vectors with N >= 1, got shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y: expected shape ({x.shape[0]},) to match x, got {y.shape}")
    panels = [("input", _grid_inputs(x, bounds))]
    for name, maps in columns.items():
        arr = np.asarray(maps, np.float32)
        if arr.shape != x.shape:
            raise ValueError(f"columns[{name!r}]: expected maps of shape {x.shape} like x, got {arr.shape}")
        panels.append((name, diverging_rgb(channel_sum_clip(arr.reshape(arr.shape[0], 1, -1) if arr.ndim == 2
                                                            else arr))))
    preds = dict(predictions or {})
    rows, cols = x.shape[0], len(panels)
    fig = Figure(figsize=(1.5 * cols + (0.9 if sign_legend else 0.0), 1.5 * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for c, (title, images) in enumerate(panels):
        for r in range(rows):
            ax = axes[r, c]
            ax.imshow(images[r], cmap="gray" if images.ndim == 3 else None, vmin=0, vmax=1,
                      interpolation="nearest", aspect="auto" if x.ndim == 2 else "equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=9)
            if c == 0:
                ax.set_ylabel(label_text(y[r], class_names), fontsize=8)
            elif title in preds:
                ax.set_xlabel(f"pred: {label_text(np.asarray(preds[title])[r], class_names)}", fontsize=7)
    if sign_legend and len(panels) > 1:
        add_sign_colorbar(fig, axes[:, 1:])
    return fig
