"""The ``images`` report item (image and attribution-map grids from cell ``.npz`` files) and :func:`render_image`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfrobust.reports.artifacts import Artifact, ReportItem
from tfrobust.reports.frame import StudyData, cell_label
from tfrobust.reports.items.common import (
    FIGURES,
    cell_path,
    item_status,
    missing_file_error,
    pending_item,
    save_figure,
)

__all__ = ["IMAGE_STYLES", "images_item", "render_image"]

IMAGE_STYLES = ("image", "percentile", "diverging", "sigma3")
"""Display styles of :func:`render_image` (the values of an images item's ``style``)."""
_MAX_IMAGE_ROWS = 64


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
        from matplotlib import colormaps  # slow to import: only for this style

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
    placeholder, note = pending_item(data, [stage], name=name, type_="images", title=title, caption=caption,
                                 option="stage")
    if placeholder is not None:
        return placeholder
    cells = data.done_cells(stage)
    rows: list[tuple[str, list[np.ndarray], list[str]]] = []
    missing = 0
    for cell_id, grid in cells:
        path = data.root / cell_path(cell_id, file)
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
            names = tuple(str(v) for v in np.asarray(npz["class_names"]).reshape(-1)) \
                if "class_names" in npz.files else ()
            shared_preds = np.asarray(npz["pred"]).reshape(-1) if "pred" in npz.files else None
            for array in arrays:
                if array not in npz.files:
                    raise ValueError(f"arrays: no array {array!r} in {cell_path(cell_id, file)}; "
                                     f"arrays there: {', '.join(npz.files)}")
                values = np.asarray(npz[array])
                how = styles.get(array, "image")
                own = f"pred_{array}"  # the prediction on this very array, where the cell saved it
                preds = np.asarray(npz[own]).reshape(-1) if own in npz.files else shared_preds
                if values.ndim == 3:
                    values = values[..., None]
                if values.ndim == 4:
                    count = min(n, values.shape[0])
                    titles = [_image_title(labels, preds, i, names) for i in range(count)]
                    rows.append((f"{label} · {array}",
                                 [render_image(values[i], style=how, bounds=bounds) for i in range(count)], titles))
                elif values.ndim == 5:
                    # (N, S) predictions (``pred_path``: one per step of each path) title every step;
                    # (N,) ones title the first image only
                    steps = np.asarray(npz[own]) if own in npz.files else np.zeros((0, 0), np.int64)
                    per_step = steps.shape == values.shape[:2]
                    for i in range(min(n, values.shape[0])):
                        if per_step:
                            titles = [_image_title(labels, steps[:, 0], i, names) if j == 0
                                      else f"pred={_class(steps[i, j], names)}"
                                      for j in range(values.shape[1])]
                        else:
                            titles = [_image_title(labels, preds, i, names)] + [""] * (values.shape[1] - 1)
                        rows.append((f"{label} · {array} #{i}",
                                     [render_image(v, style=how, bounds=bounds) for v in values[i]], titles))
                else:
                    raise ValueError(f"arrays: {array!r} in {cell_path(cell_id, file)} has shape {values.shape}; "
                                     "expected (N, H, W, C) images or (N, S, H, W, C) paths")
    if cells and missing == len(cells):
        raise missing_file_error(file, cells, stage)
    notes = [note] if note else []
    if missing:
        notes.append(f"{file} missing in {missing} of {len(cells)} done cells")
    if not rows:
        return ReportItem(name=name, type="images", title=title, caption=caption, status="pending",
                          message=f"not computed yet: no arrays in {file} of the {len(cells)} done cells of {stage!r}")
    if len(rows) > _MAX_IMAGE_ROWS:
        notes.append(f"showing the first {_MAX_IMAGE_ROWS} of {len(rows)} rows")
        rows = rows[:_MAX_IMAGE_ROWS]
    from matplotlib.figure import Figure  # slow to import: only when drawing
    from matplotlib.patches import Rectangle

    ncols = max(len(r[1]) for r in rows)
    margin = max(2.0, 0.2 + 0.06 * max(len(r[0]) for r in rows))  # inches for the row labels (7 pt)
    width = margin + 0.2 + 1.1 * ncols
    height = 0.3 + 1.15 * len(rows)
    figure = Figure(figsize=(width, height))
    # One axes per row showing its tiles side by side: a figure of R x C axes spends most of its
    # time creating axes (0.5 s for 48), which made `study report` slow.
    axes = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
    figure.subplots_adjust(left=margin / width, right=0.99, top=1 - 0.15 / height, bottom=0.15 / height, hspace=0.3)
    for ax, (label, images, titles) in zip(axes, rows, strict=True):
        tile_h, tile_w = images[0].shape[:2]
        gap = max(1, round(0.05 * tile_w))
        strip = np.ones((tile_h, ncols * (tile_w + gap) - gap, 3))  # white where a row has fewer tiles
        for c, (image, tile_title) in enumerate(zip(images, titles, strict=True)):
            x0 = c * (tile_w + gap)
            strip[:, x0:x0 + tile_w] = image
            ax.add_patch(Rectangle((x0 - 0.5, -0.5), tile_w, tile_h, fill=False, linewidth=0.6))
            if tile_title:
                ax.text(x0 + tile_w / 2 - 0.5, -0.5 - 0.02 * tile_h, tile_title, fontsize=6, ha="center",
                        va="bottom")
        ax.imshow(strip, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    artifact = Artifact(kind="figure", path=save_figure(data, figure, f"{FIGURES}/{name}.png"), title=title, caption=caption)
    message = "; ".join(notes)
    return ReportItem(name=name, type="images", title=title, caption=caption, status=item_status(message),
                      message=message, artifacts=(artifact,))


def _class(label: Any, names: Sequence[str]) -> str:
    """A label as its class name when the cell saved ``class_names`` and the label is one of them, else the id."""
    try:
        index = int(label)
    except (TypeError, ValueError):
        return str(label)
    return names[index] if 0 <= index < len(names) else str(label)


def _image_title(labels: np.ndarray | None, preds: np.ndarray | None, i: int, names: Sequence[str] = ()) -> str:
    parts = []
    if labels is not None and i < labels.size:
        parts.append(f"y={_class(labels[i], names)}")
    if preds is not None and i < preds.size:
        parts.append(f"pred={_class(preds[i], names)}")
    return " ".join(parts)
