"""SaliencySnapshot: a PNG grid (and TensorBoard images) of saliency maps per epoch."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tensorflow.python.summary.tb_summary import TBNotInstalledError

from tfrobust.attribution import attribute, channel_sum_clip, diverging_rgb
from tfrobust.config import ConfigError, check_int
from tfrobust.registry import ATTRIBUTIONS
from tfrobust.training.callbacks.epoch_logs import classifier_of
from tfrobust.training.callbacks.jacobian_norm import as_labels

__all__ = ["SaliencySnapshot", "image_summary", "render_inputs", "render_maps"]


def _as_images(arr: np.ndarray) -> np.ndarray:
    """(n, D) -> (n, 1, D, 1); (n, H, W) -> (n, H, W, 1); (n, H, W, C) unchanged."""
    if arr.ndim == 2:
        return arr[:, None, :, None]
    if arr.ndim == 3:
        return arr[..., None]
    return arr


def render_inputs(x: Any) -> np.ndarray:
    """Inputs as RGB images in [0, 1], min-max scaled over the whole batch.

    Args:
        x: (n, H, W, C), (n, H, W) or (n, D) inputs; C = 3 is shown as RGB,
            any other C as the grey mean over channels; (n, D) as a 1-pixel strip.

    Returns:
        (n, H, W, 3) float32 in [0, 1]; a constant batch is mid-grey.
    """
    img = _as_images(np.asarray(x, dtype=np.float64))
    if img.shape[-1] != 3:
        img = np.repeat(img.mean(axis=-1, keepdims=True), 3, axis=-1)
    lo, hi = (float(img.min()), float(img.max())) if img.size else (0.0, 0.0)
    out = (img - lo) / (hi - lo) if hi > lo else np.full_like(img, 0.5)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def render_maps(maps: Any, *, percentile: float = 99.0) -> np.ndarray:
    """Saliency maps as RGB images in [0, 1], one scale per map.

    Channels are summed and ``|value|`` clipped at the per-map ``percentile``
    (:func:`tfrobust.attribution.channel_sum_clip`). Signed maps (any value
    < 0) become blue-white-red (:func:`tfrobust.attribution.diverging_rgb`:
    negative blue, 0 white, positive red); non-negative maps become grey
    levels (0 black, the clip level white). Zero maps never give NaN.

    Args:
        maps: (n, H, W, C), (n, H, W) or (n, D) maps.
        percentile: clip percentile in (0, 100] (Kim Fig. 6: 99).

    Returns:
        (n, H, W, 3) float32 in [0, 1].
    """
    arr = np.asarray(maps.numpy() if hasattr(maps, "numpy") else maps, dtype=np.float32)
    summed = channel_sum_clip(_as_images(arr), percentile)  # (n, H, W) in [-1, 1]
    if np.any(arr < 0):
        return diverging_rgb(summed)
    return np.repeat(np.clip(summed, 0.0, 1.0)[..., None], 3, axis=-1).astype(np.float32)


def image_summary(name: str, images: np.ndarray, step: int) -> None:
    """Write (n, H, W, 3) images in [0, 1] to the default summary writer.

    Uses ``tf.summary.image`` when the ``tensorboard`` package is installed
    (TensorFlow >= 2.21 no longer depends on it); otherwise writes the same
    record itself: a string tensor ``[width, height, png_1, ..., png_n]``
    tagged for TensorBoard's ``images`` plugin, which TensorBoard reads alike.
    """
    try:
        tf.summary.image(name, images, step=step, max_outputs=len(images))
        return
    except TBNotInstalledError:
        pass
    as_bytes = tf.image.convert_image_dtype(tf.convert_to_tensor(images, tf.float32), tf.uint8, saturate=True)
    pngs = [tf.image.encode_png(img) for img in tf.unstack(as_bytes)]
    height, width = int(images.shape[1]), int(images.shape[2])
    tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)), *pngs])
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = "images"
    tf.summary.write(name, tensor, step=step, metadata=metadata)


class SaliencySnapshot(keras.callbacks.Callback):
    """Saves a grid of inputs and their saliency maps at the end of every ``every`` epochs.

    Writes ``out_dir/saliency_epoch{epoch+1:03d}.png``: the first row holds
    the inputs (min-max scaled), the second their maps from the attribution
    ``method`` (:func:`tfrobust.attribution.attribute`) rendered by
    :func:`render_maps` (signed maps in diverging colours). Each PNG is
    written to a temporary file and moved into place (``os.replace``), so a
    killed run never leaves a truncated image. With ``log_dir``, the same
    images (in [0, 1]) also go to TensorBoard as ``saliency/<method>``
    (and ``saliency/inputs`` once), step ``epoch + 1``.

    Works with any ``fit``: a wrapper (``tfrobust.training.RobustModel``) is
    explained through its ``classifier`` (the logits of the image input), any
    other ``keras.Model`` directly.

    Args:
        x: (N, H, W, C) (or (N, H, W), (N, D)) float32 inputs in data units;
            the first ``max_images`` are shown.
        y: (N,) int labels (or one-hot (N, K)).
        out_dir: directory for the PNGs (created when first written); None: no PNGs (then ``log_dir`` is
            required).
        method: a name in :data:`tfrobust.registry.ATTRIBUTIONS` (``gradient``,
            ``logit_gradient``, ``smoothgrad``, ...).
        every: snapshot every ``every`` epochs (>= 1).
        options: options of the attribution (e.g. ``{"samples": 10}`` for
            ``smoothgrad``), checked when the callback is made.
        bounds: the data's value range, given to an attribution that takes
            ``bounds`` (None: not given).
        log_dir: optional TensorBoard log directory.
        max_images: number of examples shown (>= 1).
        class_names: one name per label, for the PNG's titles (None: the label ids).

    Attributes:
        paths: the PNG files written so far, in order.
    """

    def __init__(self, x: Any, y: Any, *, out_dir: str | os.PathLike[str] | None, method: str = "logit_gradient",
                 every: int = 1, options: dict[str, Any] | None = None,
                 log_dir: str | os.PathLike[str] | None = None, max_images: int = 8,
                 bounds: tuple[float, float] | None = None, class_names: Any = None) -> None:
        super().__init__()
        xa, ya = as_labels(x, y)
        self.class_names = tuple(str(c) for c in class_names) if class_names is not None else ()
        if xa.ndim > 4:
            raise ValueError(f"x must have shape (N, H, W, C), (N, H, W) or (N, D), got {xa.shape}")
        try:
            entry = ATTRIBUTIONS[method]
        except ConfigError as err:
            raise ConfigError(f"method: {err}") from None
        parsed = entry.parse(options, prefix="options")
        if out_dir is not None and (not isinstance(out_dir, (str, os.PathLike)) or not os.fspath(out_dir)):
            raise ValueError(f"out_dir must be a directory path or None, got {out_dir!r}")
        if log_dir is not None and (not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir)):
            raise ValueError(f"log_dir must be a directory path or None, got {log_dir!r}")
        if out_dir is None and log_dir is None:
            raise ValueError("SaliencySnapshot needs out_dir (PNGs), log_dir (TensorBoard images) or both")
        self.every = check_int(every, name="every", minimum=1)
        count = check_int(max_images, name="max_images", minimum=1)
        self.x, self.y = xa[:count], ya[:count]
        self.method = method
        self.options = parsed
        self.bounds = bounds
        self.out_dir = None if out_dir is None else os.fspath(out_dir)
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.paths: list[str] = []
        self._writer: Any = None
        self._inputs_logged = False

    def maps(self, model: Any) -> np.ndarray:
        """The raw maps of the shown examples under ``model``: (n, ...) like ``x``."""
        out = attribute(self.method, model, self.x, self.y, bounds=self.bounds, **self.options)
        return np.asarray(out.numpy() if hasattr(out, "numpy") else out, dtype=np.float32)

    def _write_png(self, out_dir: str, path: str, inputs: np.ndarray, maps: np.ndarray, epoch: int) -> None:
        n = len(inputs)
        fig = Figure(figsize=(1.6 * n + 0.6, 3.6))
        FigureCanvasAgg(fig)
        axes = fig.subplots(2, n, squeeze=False)
        for i in range(n):
            axes[0, i].imshow(inputs[i], interpolation="nearest", aspect="auto")
            label = int(self.y[i])
            shown = self.class_names[label] if 0 <= label < len(self.class_names) else str(label)
            axes[0, i].set_title(f"y={shown}", fontsize=8)
            axes[1, i].imshow(maps[i], interpolation="nearest", aspect="auto")
            for row in range(2):
                axes[row, i].set_xticks([])
                axes[row, i].set_yticks([])
        axes[0, 0].set_ylabel("input", fontsize=8)
        axes[1, 0].set_ylabel(self.method, fontsize=8)
        fig.suptitle(f"epoch {epoch + 1}", fontsize=9)
        os.makedirs(out_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".saliency_", suffix=".png.tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fig.savefig(fh, format="png", dpi=100)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def _write_tensorboard(self, log_dir: str, inputs: np.ndarray, maps: np.ndarray, step: int) -> None:
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(log_dir)
        with self._writer.as_default():
            if not self._inputs_logged:
                image_summary("saliency/inputs", inputs, step)
                self._inputs_logged = True
            image_summary(f"saliency/{self.method}", maps, step)
        self._writer.flush()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        model = classifier_of(self.model)
        inputs = render_inputs(self.x)
        maps = render_maps(self.maps(model))
        if self.out_dir is not None:
            path = os.path.join(self.out_dir, f"saliency_epoch{epoch + 1:03d}.png")
            self._write_png(self.out_dir, path, inputs, maps, epoch)
            self.paths.append(path)
        if self.log_dir is not None:
            self._write_tensorboard(self.log_dir, inputs, maps, epoch + 1)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._inputs_logged = False
