"""Throughput: training images per second, per epoch, written into the logs."""

from __future__ import annotations

import time
from typing import Any

import keras

__all__ = ["Throughput"]


class Throughput(keras.callbacks.Callback):
    """Adds ``train_seconds`` and ``images_per_second`` to each epoch's logs.

    The clock runs from the first training batch of an epoch to the end of
    its last one, so validation time is excluded; the first epoch includes
    tracing and compilation. Place it before loggers (``CSVLogger``) in the
    callback list so they see the values.

    Args:
        examples_per_epoch: training examples seen per epoch.
    """

    def __init__(self, examples_per_epoch: int) -> None:
        super().__init__()
        if examples_per_epoch <= 0:
            raise ValueError(f"examples_per_epoch must be positive, got {examples_per_epoch}")
        self.examples_per_epoch = int(examples_per_epoch)
        self.epoch_seconds: list[float] = []
        self._start: float | None = None
        self._last: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = None
        self._last = None

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._start is None or self._last is None:
            return
        seconds = self._last - self._start
        self.epoch_seconds.append(seconds)
        if logs is not None:
            logs["train_seconds"] = seconds
            logs["images_per_second"] = self.examples_per_epoch / max(seconds, 1e-9)
