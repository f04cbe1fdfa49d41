"""Model selection: keep the best epoch's weights from the second half of training.

Noack et al. 2021 do not describe model selection, but their code keeps the
checkpoint with the highest test accuracy among the epochs after the first
half (a1noack/interp_regularization ``train_models.py``: ``if
test_stats['accuracy'] > best_acc and epoch > .5 * args.n_epochs:
torch.save(...)``, then ``net.load_state_dict(torch.load(model_path))  # load
last saved, i.e. best, model`` before the final evaluation). Selecting on the
test set makes the reported test numbers optimistic; :class:`BestCheckpoint`
therefore records which split its monitored value came from: ``validation``
(default; a held-out part of the training data, see :func:`holdout_split`;
the authors' own ``MNIST_val`` dataset holds out the first 5,000 training
images) or ``test_set`` (the authors' choice, named as such).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

__all__ = ["SELECTIONS", "BestCheckpoint", "holdout_split"]

#: Where the monitored value comes from (recorded, and named in reports).
SELECTIONS = ("validation", "test_set")


class BestCheckpoint(keras.callbacks.Callback):
    """Restores, when training ends, the weights of the best epoch after ``start_fraction`` of the run.

    Epoch ``e`` (1-based) is a candidate when ``e > start_fraction * epochs``
    (the authors' ``epoch > .5 * n_epochs``); among candidates the first
    epoch with the strictly best ``monitor`` value wins. If no epoch was a
    candidate (a run stopped early), the last weights stay.

    Args:
        epochs: the run's total number of epochs (>= 1).
        monitor: the epoch-log key compared (default ``val_accuracy``; the
            run must pass ``validation_data``).
        mode: ``max`` or ``min``.
        start_fraction: in [0, 1); 0.5 is the authors' rule.
        selection: which split ``monitor`` is computed on, ``validation`` or
            ``test_set`` (recorded in :meth:`summary`; the caller decides
            what ``validation_data`` is).
        filepath: optional ``*.weights.h5`` path: the best weights are also
            written there (atomically) with a JSON record next to it
            (``<filepath>.json``), so a run resumed after a crash (Keras
            ``BackupAndRestore``) keeps its best epoch. Without it the best
            weights are kept in memory only.

    Attributes:
        best_epoch: 1-based epoch of the kept weights, or None.
        best_value: its ``monitor`` value, or None.
    """

    def __init__(self, epochs: int, *, monitor: str = "val_accuracy", mode: str = "max",
                 start_fraction: float = 0.5, selection: str = "validation",
                 filepath: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be a log key such as 'val_accuracy', got {monitor!r}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be max or min, got {mode!r}")
        try:
            start = float(start_fraction)
        except (TypeError, ValueError):
            raise ValueError(f"start_fraction must be a number in [0, 1), got {start_fraction!r}") from None
        if isinstance(start_fraction, bool) or not 0.0 <= start < 1.0:
            raise ValueError(f"start_fraction must be a number in [0, 1), got {start_fraction!r}")
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
        if filepath is not None and not str(filepath).endswith(".weights.h5"):
            raise ValueError(f"filepath must end in .weights.h5, got {str(filepath)!r}")
        self.epochs = int(epochs)
        self.monitor = monitor
        self.mode = mode
        self.start_fraction = start
        self.selection = selection
        self.filepath = None if filepath is None else Path(filepath)
        self.best_epoch: int | None = None
        self.best_value: float | None = None
        self._best_weights: list[np.ndarray] | None = None

    # ------------------------------------------------------------- helpers
    @property
    def _record_path(self) -> Path | None:
        return None if self.filepath is None else self.filepath.with_name(self.filepath.name + ".json")

    def is_candidate(self, epoch: int) -> bool:
        """Whether 1-based ``epoch`` may be selected (``epoch > start_fraction * epochs``)."""
        return epoch > self.start_fraction * self.epochs

    def _better(self, value: float) -> bool:
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def _save(self) -> None:
        assert self.filepath is not None and self._record_path is not None
        self.filepath.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.filepath.with_name(f".best.tmp{os.getpid()}.weights.h5")
        self.model.save_weights(str(tmp))
        os.replace(tmp, self.filepath)
        record = {"epoch": self.best_epoch, "value": self.best_value, "monitor": self.monitor,
                  "mode": self.mode, "selection": self.selection, "start_fraction": self.start_fraction,
                  "epochs": self.epochs}
        tmp_json = self._record_path.with_name(f".{self._record_path.name}.tmp{os.getpid()}")
        tmp_json.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp_json, self._record_path)

    # ----------------------------------------------------------- callbacks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.best_epoch = self.best_value = None
        self._best_weights = None
        record_path = self._record_path
        if record_path is None or not record_path.is_file() or not self.filepath or not self.filepath.is_file():
            return
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read the best-checkpoint record {record_path}: {err}") from err
        same = all(record.get(k) == v for k, v in (("monitor", self.monitor), ("mode", self.mode),
                                                   ("selection", self.selection), ("epochs", self.epochs)))
        if same and isinstance(record.get("epoch"), int) and isinstance(record.get("value"), (int, float)):
            self.best_epoch, self.best_value = int(record["epoch"]), float(record["value"])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        number = epoch + 1
        if not self.is_candidate(number):
            return
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"BestCheckpoint: {self.monitor!r} is not in the epoch logs "
                             f"(keys: {', '.join(sorted(logs)) or 'none'}); pass validation_data to fit")
        value = float(logs[self.monitor])
        if not math.isfinite(value) or not self._better(value):
            return
        self.best_epoch, self.best_value = number, value
        self._best_weights = [np.array(w, copy=True) for w in self.model.get_weights()]
        if self.filepath is not None:
            self._save()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)
        elif self.best_epoch is not None and self.filepath is not None and self.filepath.is_file():
            self.model.load_weights(str(self.filepath))  # chosen before a resume

    def summary(self) -> dict[str, Any]:
        """What was selected, for ``metrics.json``: epoch, value, monitor and split."""
        return {"selected_epoch": self.best_epoch, f"selected_{self.monitor}": self.best_value,
                "selection": self.selection, "selection_monitor": self.monitor,
                "selection_start_epoch": math.floor(self.start_fraction * self.epochs) + 1}


def holdout_split(dataset: Any, size: int | float, *,
                  targets: np.ndarray | None = None) -> tuple[Any, Any, np.ndarray | None]:
    """Splits the first ``size`` training examples off as a validation split, keeping order.

    The authors' ``MNIST_val`` (``ir_utils/target_interps_datasets.py``)
    validates on the first 5,000 training images and trains on the rest.

    Args:
        dataset: a :class:`tfrobust.data.Dataset` (the training split).
        size: examples held out: an integer >= 1, or a fraction in (0, 1)
            of the examples (rounded, at least 1).
        targets: optional (N, ...) per-example side data aligned with
            ``dataset`` (IR target maps); the training part is returned.

    Returns:
        ``(train, validation, train_targets)``: two Datasets (``split``
        ``"train"`` and ``"validation"``) and the targets of ``train`` (None
        without ``targets``).

    Raises:
        ValueError: a size that leaves no training example, or targets of
            another length.
    """
    n = len(dataset)
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        raise ValueError(f"validation size must be an integer >= 1 or a fraction in (0, 1), got {size!r}")
    if isinstance(size, (float, np.floating)) and not float(size).is_integer():
        if not 0.0 < float(size) < 1.0:
            raise ValueError(f"validation size must be an integer >= 1 or a fraction in (0, 1), got {size!r}")
        count = max(1, round(float(size) * n))
    else:
        count = int(size)
    if not 1 <= count < n:
        raise ValueError(f"validation size {size!r} must leave at least one of {n} training examples")
    if targets is not None and len(targets) != n:
        raise ValueError(f"targets have {len(targets)} rows but the dataset has {n} examples")
    validation = dataclasses.replace(dataset, split="validation", x=dataset.x[:count], y=dataset.y[:count])
    train = dataclasses.replace(dataset, x=dataset.x[count:], y=dataset.y[count:])
    return train, validation, None if targets is None else targets[count:]
