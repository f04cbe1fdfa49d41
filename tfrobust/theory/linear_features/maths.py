"""The maths of linear features: input checks, the paper's (w, b), the exact linf worst case.

Also the feature-label correlation and its top-k mask (Tsipras Fig. 2b-c)
and the interpolation between an image and its adversarial example (Fig. 4).
The model is the registry's two-logit ``linear`` architecture (see
:mod:`tfrobust.theory.linear_features`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.config import check_int
from tfrobust.data import Dataset

__all__ = [
    "accuracy_key",
    "check_binary",
    "check_eps_list",
    "check_non_negative",
    "check_positive_ints",
    "dense_layer",
    "exact_robust_accuracy",
    "feature_correlation",
    "interpolate",
    "linear_binary_weights",
    "linf_worst_case",
    "predict_labels",
    "top_k_features",
    "worst_case_tensor",
]

#: Examples per forward pass of :func:`predict_labels`.
_PREDICT_BATCH = 4096

#: The largest float32: radii and learning rates enter float32 tensors, larger values overflow.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


# --------------------------------------------------------------------------
# input checks


def check_non_negative(name: str, value: object) -> float:
    """``value`` as a finite float >= 0 that fits in float32.

    Raises:
        ValueError: one line naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    out = float(value)
    if not math.isfinite(out) or out < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if out > _FLOAT32_MAX:
        raise ValueError(f"{name}: {out:g} overflows float32 (at most {_FLOAT32_MAX:.4g})")
    return out


def check_eps_list(name: str, values: Sequence[float]) -> tuple[float, ...]:
    """A non-empty sequence of radii as unique floats >= 0, in the order given.

    Raises:
        ValueError: one line naming ``name`` (see :func:`check_non_negative`).
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}")
    out = tuple(check_non_negative(name, v) for v in values)
    if not out:
        raise ValueError(f"{name} must hold at least one value")
    return tuple(dict.fromkeys(out))  # unique, in the order given


def check_positive_ints(name: str, values: Sequence[int]) -> tuple[int, ...]:
    """A non-empty sequence (or 1-D array) of integers >= 1 as unique ints, in the order given.

    Raises:
        ValueError: one line naming ``name`` (:func:`tfrobust.config.check_int` for a bad item).
    """
    if (isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray)
            or np.ndim(values) != 1 or not len(values)):
        raise ValueError(f"{name} must be a non-empty sequence of integers, got {values!r}")
    items = values.tolist() if isinstance(values, np.ndarray) else values
    return tuple(dict.fromkeys(check_int(v, name=name, minimum=1) for v in items))


def check_binary(data: Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` as float32 / int32 arrays of a non-empty two-class Dataset with finite bounds.

    Raises:
        ValueError: one line naming ``name``.
    """
    if not isinstance(data, Dataset):
        raise ValueError(f"{name} must be a tfrobust.data.Dataset, got {type(data).__name__}")
    if data.num_classes != 2:
        raise ValueError(
            f"{name}: a binary task is needed (e.g. load_dataset(..., classes=(5, 7))), "
            f"got {data.num_classes} classes"
        )
    if len(data) == 0:
        raise ValueError(f"{name} is empty")
    lo, hi = data.bounds
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name}: finite bounds are needed for the linf box, got {data.bounds}")
    return np.asarray(data.x, np.float32), np.asarray(data.y, np.int32)


def accuracy_key(prefix: str, eps: float) -> str:
    """Column name of an accuracy at ``eps``, e.g. ``adversarial_test@0.2``."""
    return f"{prefix}@{eps:g}"


# --------------------------------------------------------------------------
# the linear model and its exact linf worst case


def dense_layer(model: keras.Model) -> keras.layers.Dense:
    """The single ``Dense(2)`` layer of a two-logit linear model (ValueError otherwise)."""
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if len(layers) != 1 or int(layers[0].units) != 2:
        raise ValueError(
            "model must be a two-logit linear classifier (one Dense(2) layer, e.g. "
            "tfrobust.models.linear(input_shape, 2))"
        )
    return layers[0]


def linear_binary_weights(model: keras.Model) -> tuple[np.ndarray, float]:
    """The paper's (w, b) of a two-logit linear model.

    Args:
        model: a ``linear`` model with two logits (as
            :func:`~tfrobust.theory.linear_features.train_linear` returns).

    Returns:
        ``w``: (D,) float64 with ``w = W[:, 1] - W[:, 0]`` (D = number of input
        features, in flattening order), ``b = b_1 - b_0``; ``w.x + b > 0``
        predicts label 1.

    Raises:
        ValueError: the model has no single ``Dense(2)`` layer.

    Ref: Tsipras et al. 2019, A.2 (w in R^784, b in R).
    """
    kernel, bias = (np.asarray(v, np.float64) for v in dense_layer(model).get_weights())
    return kernel[:, 1] - kernel[:, 0], float(bias[1] - bias[0])


def worst_case_tensor(w: tf.Tensor, x: tf.Tensor, y: tf.Tensor, eps: float, lo: float, hi: float) -> tf.Tensor:
    """clip(x - eps s sign(w), lo, hi) for a flat (D,) ``w`` and (N, ...) ``x``."""
    rank = x.shape.rank
    s = tf.reshape(2.0 * tf.cast(y, x.dtype) - 1.0, [-1] + [1] * (rank - 1))
    direction = tf.reshape(tf.sign(tf.cast(w, x.dtype)), tf.shape(x)[1:])
    return tf.clip_by_value(x - eps * s * direction, lo, hi)


def linf_worst_case(model: keras.Model, x: Any, y: Any, *, eps: float,
                    bounds: tuple[float, float]) -> np.ndarray:
    """The exact linf worst case of a two-logit linear model (no search).

    ``x' = clip(x - eps s sign(w), lo, hi)`` with ``s = 2y - 1`` minimises the
    margin ``s (w.x' + b)`` over the box ``|x' - x|_inf <= eps`` within
    ``bounds``; it therefore maximises any loss that decreases in the margin
    (cross-entropy, CW). Pixels with zero weight are left unchanged.

    Args:
        model: two-logit linear model (see :func:`linear_binary_weights`).
        x: (N, ...) float32 inputs within ``bounds``.
        y: (N,) labels in {0, 1}.
        eps: linf radius in data units (>= 0).
        bounds: (lo, hi) value range of the data.

    Returns:
        (N, ...) float32 worst-case inputs.

    Raises:
        ValueError: bad eps, shapes or model.

    Ref: Tsipras et al. 2019, sec. 2.3 and Table 4 (linf, eps 0.2 on [0, 1]);
    Goodfellow et al. 2015 (FGSM is exact for linear models).
    """
    eps = check_non_negative("eps", eps)
    lo, hi = (float(b) for b in bounds)
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.ndim < 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (N, ...) and y (N,), got {x.shape} and {y.shape}")
    w, _ = linear_binary_weights(model)
    if w.size != int(np.prod(x.shape[1:])):
        raise ValueError(f"model has {w.size} input features, x has {int(np.prod(x.shape[1:]))}")
    s = (2.0 * y.astype(np.float32) - 1.0).reshape((-1,) + (1,) * (x.ndim - 1))
    direction = np.sign(w).astype(np.float32).reshape(x.shape[1:])
    return np.clip(x - np.float32(eps) * s * direction, np.float32(lo), np.float32(hi)).astype(np.float32)


def predict_labels(model: Callable[..., Any], x: np.ndarray) -> np.ndarray:
    """Arg-max labels of a logit model on ``x``, in batches of 4096."""
    preds = []
    for start in range(0, len(x), _PREDICT_BATCH):
        logits = model(tf.convert_to_tensor(x[start:start + _PREDICT_BATCH]), training=False)
        preds.append(np.argmax(np.asarray(logits), axis=-1))
    return np.concatenate(preds) if preds else np.zeros((0,), np.int64)


def exact_robust_accuracy(model: keras.Model, x: Any, y: Any, *, eps: float,
                          bounds: tuple[float, float]) -> float:
    """Accuracy of a two-logit linear model under its exact linf worst case.

    Args:
        model: two-logit linear model.
        x: (N, ...) float32 inputs within ``bounds``.
        y: (N,) labels in {0, 1}.
        eps: linf radius in data units; 0 gives the standard accuracy.
        bounds: (lo, hi) value range of the data.

    Returns:
        Fraction in [0, 1] of examples still classified correctly.
    """
    x_adv = linf_worst_case(model, x, y, eps=eps, bounds=bounds)
    if len(x_adv) == 0:
        raise ValueError("x is empty")
    return float(np.mean(predict_labels(model, x_adv) == np.asarray(y)))


# --------------------------------------------------------------------------
# Fig. 2: feature-label correlation, top-k features


def feature_correlation(train: Dataset) -> np.ndarray:
    """Pearson correlation of every input feature with the label in {-1, +1}.

    Args:
        train: binary data set (labels 0 / 1, mapped to -1 / +1).

    Returns:
        (D,) float64 in [-1, 1], features in flattening order; 0 for a feature
        that never varies (e.g. an always-black border pixel) or when only
        one class is present (no division by zero).

    Ref: Tsipras et al. 2019, sec. 2.3, Fig. 2b ("feature-label correlation").
    """
    x, y = check_binary(train, "train")
    flat = x.reshape(len(x), -1).astype(np.float64)
    s = 2.0 * y.astype(np.float64) - 1.0
    xc = flat - flat.mean(axis=0)
    sc = s - s.mean()
    denominator = np.sqrt((xc ** 2).sum(axis=0) * (sc ** 2).sum())
    numerator = sc @ xc
    corr = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    return np.clip(corr, -1.0, 1.0)


def top_k_features(corr: Any, k: int) -> np.ndarray:
    """(D,) bool mask of the k features with the largest |correlation| (ties: lower index first).

    A strongly negative correlation is as usable (and as robust) as a
    positive one, so features are ranked by magnitude.
    """
    corr = np.asarray(corr, np.float64).reshape(-1)
    k = check_int(k, name="k", minimum=1)
    if k > corr.size:
        raise ValueError(f"k must be at most the {corr.size} features, got {k}")
    order = np.argsort(-np.abs(corr), kind="stable")
    mask = np.zeros(corr.size, bool)
    mask[order[:k]] = True
    return mask


# --------------------------------------------------------------------------
# Fig. 4: interpolation


def interpolate(x: Any, x_adv: Any, steps: int) -> np.ndarray:
    """Linear interpolation from ``x`` to ``x_adv`` (Tsipras Fig. 4).

    Args:
        x: array of any shape (one image or a batch).
        x_adv: array of the same shape.
        steps: number of points, >= 2, including both ends.

    Returns:
        (steps, *x.shape) float32; entry 0 equals ``x`` and entry -1 equals
        ``x_adv`` exactly, entry i is ``(1 - a_i) x + a_i x_adv`` with
        ``a_i = i / (steps - 1)``.

    Ref: Tsipras et al. 2019, sec. 3.2, Fig. 4.
    """
    x = np.asarray(x, np.float32)
    x_adv = np.asarray(x_adv, np.float32)
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {x.shape} and {x_adv.shape}")
    steps = check_int(steps, name="steps", minimum=2)  # both ends
    alphas = np.linspace(0.0, 1.0, steps, dtype=np.float32).reshape((steps,) + (1,) * x.ndim)
    path = (1.0 - alphas) * x + alphas * x_adv
    path[0], path[-1] = x, x_adv
    return path.astype(np.float32)
