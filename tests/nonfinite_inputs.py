"""Bad batches shared by the attack and attribution non-finite tests (tests/*/test_nonfinite.py)."""

from __future__ import annotations

import keras
import numpy as np


def tiny_model(num_classes: int) -> keras.Model:
    """Flatten + Dense on (4, 4, 1) inputs: ``num_classes`` logits."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(num_classes)])


def with_defect(x: np.ndarray, y: np.ndarray, kind: str, *, num_classes: int,
                high: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``(x, y)`` (at least 4 examples) with one defect of ``kind``: ``x_nan``, ``x_inf``,
    ``y_minus_1``, ``y_k`` (a label equal to the class count), ``x_out_of_bounds`` (a value above ``high``)
    or ``y_fraction`` (a non-integer label)."""
    x, y = x.copy(), y.copy()
    if kind == "x_nan":
        x[1, 2, 3, 0] = np.nan
    elif kind == "x_inf":
        x[0, 0, 0, 0] = np.inf
    elif kind == "y_minus_1":
        y[2] = -1
    elif kind == "y_k":
        y[3] = num_classes
    elif kind == "x_out_of_bounds":
        x[-1, 1, 1, 0] = high + 0.5
    elif kind == "y_fraction":
        y = y.astype(np.float32)
        y[0] = 0.5
    else:
        raise ValueError(f"unknown defect {kind!r}")
    return x, y
