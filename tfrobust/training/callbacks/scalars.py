"""EpochScalars: every numeric value of the epoch logs as a TensorBoard scalar, in one flat log directory."""

from __future__ import annotations

import os
from typing import Any

import keras
import tensorflow as tf
from tensorflow.python.summary.tb_summary import TBNotInstalledError

__all__ = ["EpochScalars", "scalar_summary"]


def scalar_summary(name: str, value: float, step: int) -> None:
    """Write one scalar to the default summary writer.

    Uses ``tf.summary.scalar`` when the ``tensorboard`` package is installed
    (a tfrobust dependency; TensorFlow >= 2.21 no longer pulls it in);
    otherwise writes the same record itself: a float32 scalar tagged for
    TensorBoard's ``scalars`` plugin.
    """
    try:
        tf.summary.scalar(name, value, step=step)
        return
    except TBNotInstalledError:
        pass
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    tf.summary.write(name, tf.constant(value, tf.float32), step=step, metadata=metadata)


class EpochScalars(keras.callbacks.Callback):
    """Writes the epoch logs to TensorBoard: one scalar per numeric key, tagged with the key, step ``epoch + 1``.

    Unlike ``keras.callbacks.TensorBoard`` (``train/`` and ``validation/``
    subdirectories, ``epoch_`` tags), every value goes to one event file in
    ``log_dir`` under the name it has in the logs and in ``history.csv``
    (``loss``, ``accuracy``, ``val_accuracy``, ``val_robust_accuracy``,
    regularizer terms, ``jacobian_label_norm``, ...), with the step numbering
    of :class:`SaliencySnapshot`'s images. Place it after the callbacks that
    write their values in ``on_epoch_end`` (those of
    :class:`tfrobust.training.callbacks.epoch_logs.EpochLogCallback`, such
    as ``RobustAccuracy``, reach it anywhere). The writer is flushed after
    every epoch and closed at the end of training.

    Args:
        log_dir: TensorBoard log directory (created when first written).
        keys: optional collection of the keys to write (default: every numeric key).

    Attributes:
        steps: the steps written so far, in order.
    """

    def __init__(self, log_dir: str | os.PathLike[str], *, keys: Any = None) -> None:
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise ValueError(f"log_dir must be a directory path, got {log_dir!r}")
        self.log_dir = os.fspath(log_dir)
        self.keys = None if keys is None else frozenset(str(k) for k in keys)
        self.steps: list[int] = []
        self._writer: Any = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        values = {}
        for key, value in (logs or {}).items():
            if self.keys is not None and key not in self.keys:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # a string or an array: not a scalar
            if isinstance(value, bool):
                continue
            values[key] = number
        if not values:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for key in sorted(values):
                scalar_summary(key, values[key], epoch + 1)
        self._writer.flush()
        self.steps.append(epoch + 1)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
