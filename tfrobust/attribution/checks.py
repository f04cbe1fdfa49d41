"""Value checks of attribution inputs: finite values, bounds, labels in [0, K).

The tensor checks run only when executing eagerly, each one or two
reductions over the batch; inside a traced function (a ``train_step`` that
computes maps or Jacobian norms) they are skipped, so training pays nothing.
Every failure is a one-line ``ValueError`` that names the argument.

:mod:`tfrobust.attacks.checks` uses these checks too (attacks build on
the gradient layer) and adds the checks of radii and step sizes.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from tfrobust.attribution.classifier import as_classifier

__all__ = ["check_bounds", "check_finite", "check_in_bounds", "check_labels", "num_logits"]

# model callable -> number of logits K (found once per model)
_NUM_LOGITS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _eager(t: tf.Tensor) -> bool:
    return tf.executing_eagerly() and bool(t.shape.num_elements())


def check_finite(t: tf.Tensor, name: str, *, what: str = "values", hint: str = "give finite numbers") -> None:
    """Eagerly: ValueError if ``t`` holds NaN or inf (one reduction); ``hint`` ends the message."""
    if not _eager(t) or not t.dtype.is_floating:
        return
    bad = int(tf.size(t, tf.int64) - tf.math.count_nonzero(tf.math.is_finite(t), dtype=tf.int64))
    if bad:
        raise ValueError(f"{name} has {bad} non-finite {what} (NaN or inf) of {t.shape.num_elements()}; {hint}")


def check_bounds(bounds: Any, name: str = "bounds") -> tuple[float, float]:
    """A data range ``(lo, hi)`` as two floats with ``lo < hi`` (infinite ends allowed).

    Raises:
        ValueError: not a pair of numbers, NaN, or ``lo >= hi`` (one line, naming ``name``).
    """
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (lo, hi), got {bounds!r}") from None
    if not lo < hi:
        raise ValueError(f"{name} must satisfy lo < hi, got ({lo}, {hi})")
    return lo, hi


def check_in_bounds(x: tf.Tensor, lo: float, hi: float, name: str = "x") -> None:
    """Eagerly: ValueError if ``x`` (finite) leaves ``[lo, hi]`` beyond a float tolerance."""
    if not _eager(x):
        return
    x_min, x_max = float(tf.reduce_min(x)), float(tf.reduce_max(x))
    tol = 1e-5 * max(1.0, abs(lo), abs(hi)) if math.isfinite(lo) and math.isfinite(hi) else 1e-5
    if x_min < lo - tol or x_max > hi + tol:
        raise ValueError(f"{name} has values in [{x_min:.4g}, {x_max:.4g}], outside bounds ({lo:g}, {hi:g}); "
                         "give inputs in the data's own range")


def check_labels(y: Any, n: int | None, k: int | None, name: str = "y") -> tf.Tensor:
    """(N,) labels as int32; eagerly also integer-valued and in ``[0, k)``.

    Args:
        y: labels (int or integer-valued float).
        n: the batch size they must match (None: unknown).
        k: the model's number of logits (None: only ``>= 0`` is checked).

    Raises:
        ValueError: wrong shape or dtype, non-integer values, or a label outside [0, k).
    """
    y = tf.convert_to_tensor(y)
    if y.shape.rank != 1 or (n is not None and y.shape[0] is not None and y.shape[0] != n):
        raise ValueError(f"{name} must have shape ({n},), got {y.shape}")
    if not (y.dtype.is_integer or y.dtype.is_floating):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype.name}")
    span = f"in [0, {k})" if k is not None else ">= 0"
    if _eager(y):
        if y.dtype.is_floating:
            check_finite(y, name, what="labels")
            if not bool(tf.reduce_all(tf.equal(y, tf.round(y)))):
                raise ValueError(f"{name} must hold integer class labels {span}, got fractional values")
        y_min, y_max = float(tf.reduce_min(y)), float(tf.reduce_max(y))
        if y_min < 0 or (k is not None and y_max >= k):
            where = f" (the model has {k} logits)" if k is not None else ""
            raise ValueError(f"{name} must hold class labels {span}{where}, got values in "
                             f"[{y_min:g}, {y_max:g}]")
    return tf.cast(y, tf.int32)


def _logits_fn(model_fn: Callable[..., Any]) -> Callable[[tf.Tensor], tf.Tensor]:
    def logits(x: tf.Tensor) -> tf.Tensor:
        if isinstance(model_fn, keras.layers.Layer):
            return model_fn(x, training=False)
        return model_fn(x)

    return logits


def _static_num_logits(model_fn: Any) -> int | None:
    try:  # functional / Sequential Keras models know their output shape
        outputs = model_fn.outputs
        shape = tuple(outputs[0].shape)
    except Exception:  # noqa: BLE001 - subclassed, unbuilt or not Keras: no static shape
        return None
    if len(shape) != 2:
        raise ValueError(f"model must return (N, K) logits, its output has shape {shape}")
    return None if shape[1] is None else int(shape[1])


def num_logits(model_fn: Any, x: tf.Tensor) -> int | None:
    """The model's number of logits K, without running it on data.

    From a Keras model's output shape, else by tracing (not running) one
    call on ``x``'s shape; cached per model callable. None if unknown.
    A model with several outputs or inputs, or a final softmax, is read
    through :func:`tfrobust.attribution.classifier.as_classifier`.

    Raises:
        ValueError: the model does not return (N, K) logits, or its logits
            are ambiguous (several outputs) or probabilities (a fused softmax).
    """
    model_fn = as_classifier(model_fn)
    try:
        cached = _NUM_LOGITS.get(model_fn)
    except TypeError:  # not weak-referenceable
        cached = None
    if cached is not None:
        return cached
    k = _static_num_logits(model_fn)
    if k is None:
        spec = tf.TensorSpec([None, *x.shape[1:]], x.dtype)
        try:
            out = tf.function(_logits_fn(model_fn), autograph=False).get_concrete_function(spec).structured_outputs
        except Exception:  # noqa: BLE001 - untraceable callable: leave K unknown
            return None
        shape = tuple(getattr(out, "shape", ()))
        if len(shape) != 2:
            raise ValueError(f"model must return (N, K) logits, got shape {shape}")
        k = None if shape[1] is None else int(shape[1])
    if k is not None:
        try:
            _NUM_LOGITS[model_fn] = k
        except TypeError:
            pass
    return k
