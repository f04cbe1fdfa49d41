"""Norms of the input-logits Jacobian: per-class slices, Frobenius norm, projections.

For a classifier ``f: R^D -> R^K`` (logits) the Jacobian ``J(x)`` is the
(K, D) matrix of input gradients; its row ``J_k(x) = d f_k(x) / dx`` is the
logit gradient of class ``k`` and ``J_c(x)`` (``c`` the label) is Noack's
simple-gradient interpretation. This module measures

- ``||J_c(x)||_2`` and the mean over ``k != c`` of ``||J_k(x)||_2``
  (:func:`logit_jacobian_norms`, Noack Fig. 4);
- ``||J(x)||_F``, exactly or by random projections (:func:`jacobian_frobenius`,
  the quantity Jacobian Regularization penalises, Noack eq. 13 / 14).

Every model call uses ``training=False``. The exact norms take one input
gradient per class from ONE forward pass (a persistent ``input_tape``) inside
one compiled ``tf.function`` cached per model (as in
:mod:`tfrobust.attribution.gradient`); the class loop is unrolled at trace
time, which suits the usual K <= 100. Norms of zero vectors are 0 with a zero
(finite) gradient: see :func:`safe_norm` (docs/architecture.md, Numerics).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from tfrobust.attribution.checks import check_finite
from tfrobust.attribution.gradient import ModelFn, call_model, compiled, prepare
from tfrobust.attribution.smoothgrad import seed_tensor
from tfrobust.config import check_int

__all__ = ["jacobian_frobenius", "logit_jacobian_norms", "projection_vectors", "safe_norm", "safe_sqrt"]

#: Norms below this are reported as exactly 0 (with gradient 0) by :func:`safe_norm`.
NORM_FLOOR = 1e-12


def safe_sqrt(squared: Any, *, floor: float = NORM_FLOOR) -> tf.Tensor:
    """``sqrt(squared)`` with value 0 and gradient 0 where ``squared <= floor**2``.

    The plain ``sqrt`` has an infinite derivative at 0, which turns into NaN
    once multiplied by the zero gradient of a squared norm. Here the square
    root is only evaluated on a substituted safe value (the "double where"),
    so neither branch produces inf or NaN, also under ``jit_compile``.

    Args:
        squared: tensor of non-negative values (e.g. squared norms), any shape.
        floor: values whose square root would be ``<= floor`` map to 0.

    Returns:
        float tensor of the same shape and dtype.

    Raises:
        ValueError: a negative or non-finite ``floor``; called eagerly also
            NaN/inf or negative values in ``squared`` (skipped when traced).
    """
    squared = tf.convert_to_tensor(squared)
    if not squared.dtype.is_floating:
        squared = tf.cast(squared, tf.float32)
    _check_floor(floor)
    check_finite(squared, "squared")
    if tf.executing_eagerly() and squared.shape.num_elements() and float(tf.reduce_min(squared)) < 0:
        raise ValueError(f"squared must hold values >= 0, got a minimum of {float(tf.reduce_min(squared)):g}")
    return _sqrt_floor(squared, floor)


def _check_floor(floor: Any) -> None:
    if isinstance(floor, bool) or not isinstance(floor, (int, float, np.integer, np.floating)) or not (
            math.isfinite(floor) and floor >= 0):
        raise ValueError(f"floor must be a finite number >= 0, got {floor!r}")


def _sqrt_floor(squared: tf.Tensor, floor: float) -> tf.Tensor:
    ok = squared > tf.cast(floor * floor, squared.dtype)
    safe = tf.where(ok, squared, tf.ones_like(squared))
    return tf.where(ok, tf.sqrt(safe), tf.zeros_like(squared))


def safe_norm(v: Any, axis: Any = -1, *, keepdims: bool = False, floor: float = NORM_FLOOR) -> tf.Tensor:
    """Euclidean norm along ``axis`` whose value and gradient are finite everywhere.

    ``safe_norm(0) == 0`` and its gradient at 0 is 0 (a valid subgradient)
    instead of NaN; elsewhere (norm > ``floor``) it equals ``tf.norm``.
    Usable inside ``train_step``, under ``jit_compile`` and in nested tapes
    (e.g. a Jacobian Regularization penalty).

    Args:
        v: float tensor.
        axis: int or list of ints reduced over (``None``: all axes).
        keepdims: keep the reduced axes with length 1.
        floor: norms ``<= floor`` are reported as 0 (default 1e-12).

    Returns:
        float tensor: ``v``'s shape without (or with length-1) ``axis``.

    Raises:
        ValueError: a bad ``floor``; called eagerly also NaN/inf in ``v``
            (skipped when traced, e.g. inside a ``train_step``).
    """
    v = tf.convert_to_tensor(v)
    if not v.dtype.is_floating:
        v = tf.cast(v, tf.float32)
    _check_floor(floor)
    check_finite(v, "v")
    return _sqrt_floor(tf.reduce_sum(tf.square(v), axis=axis, keepdims=keepdims), floor)


def _unit_vectors(num_classes: int, n_proj: int, seed: tf.Tensor, batch: Any = None) -> tf.Tensor:
    # Philox explicitly: "auto_select" may pick another algorithm under XLA.
    shape = (n_proj, num_classes) if batch is None else tf.stack([n_proj, batch, num_classes])
    v = tf.random.stateless_normal(shape, seed=seed, dtype=tf.float32, alg="philox")
    norm = safe_norm(v, axis=-1, keepdims=True)
    return tf.math.divide_no_nan(v, norm)


def projection_vectors(num_classes: int, n_proj: int, seed: Any = 0, *, batch: Any = None) -> tf.Tensor:
    """``n_proj`` random directions, uniform on the unit sphere ``S^{K-1}`` in R^K.

    Normalised standard Gaussians drawn with a stateless Philox RNG: the same
    ``seed`` gives the same vectors eagerly, in graph mode and under XLA (a
    (2,) seed tensor, e.g. a per-step seed inside ``train_step``, is accepted).

    Args:
        num_classes: K, the number of logits (>= 1).
        n_proj: number of vectors (>= 1).
        seed: int or (2,) int seed.
        batch: None, or N (an int or a scalar tensor, e.g. ``tf.shape(x)[0]``)
            for a separate draw per example.

    Returns:
        (n_proj, K) float32 tensor of unit rows, or (n_proj, N, K) with ``batch``.

    Raises:
        ValueError: non-integer or non-positive sizes, or a bad seed.

    Ref: Hoffman et al. 2019, "Robust learning with Jacobian regularization";
    Noack et al. 2021, eq. 14.
    """
    k = check_int(num_classes, name="num_classes", minimum=1)
    n = check_int(n_proj, name="n_proj", minimum=1)
    return _unit_vectors(k, n, seed_tensor(seed), batch)


def _flat_sq(g: tf.Tensor) -> tf.Tensor:
    """Per-example squared l2 norm of (N, ...) -> (N,)."""
    return tf.reduce_sum(tf.reshape(tf.square(g), [tf.shape(g)[0], -1]), axis=1)


def _num_classes(logits: tf.Tensor) -> int:
    k = logits.shape[-1]
    if logits.shape.rank != 2 or k is None:
        raise ValueError(f"model must return (N, K) logits with a known K, got shape {logits.shape}")
    return int(k)


def _class_sq_norms(model_fn: ModelFn, x: tf.Tensor) -> tf.Tensor:
    """(N, K) squared norms ``||J_k(x_n)||_2^2``: one forward pass, K input gradients."""
    with tf.GradientTape(persistent=True) as input_tape:
        input_tape.watch(x)
        logits = tf.cast(call_model(model_fn, x), tf.float32)
        k = _num_classes(logits)
        # Examples are independent (training=False), so the gradient of the
        # batch sum of logit k is each example's own J_k row.
        targets = [tf.reduce_sum(logits[:, j]) for j in range(k)]
    columns = []
    for target in targets:
        g = input_tape.gradient(target, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        columns.append(_flat_sq(g))
    del input_tape
    return tf.stack(columns, axis=1)


def _projected_sq_norms(model_fn: ModelFn, x: tf.Tensor, seed: tf.Tensor, n_proj: int) -> tf.Tensor:
    """(N,) ``K * mean_mu ||d(v_mu . f(x_n)) / dx||^2`` over ``n_proj`` unit vectors.

    All projections run as one batch of ``n_proj * N`` inputs (projection-major),
    so the cost is one forward and one backward pass of that batch.
    """
    n = tf.shape(x)[0]
    x_tiled = tf.tile(x, tf.concat([[n_proj], tf.ones([x.shape.rank - 1], tf.int32)], 0))
    with tf.GradientTape() as input_tape:
        input_tape.watch(x_tiled)
        logits = tf.cast(call_model(model_fn, x_tiled), tf.float32)
        k = _num_classes(logits)
        v = tf.repeat(_unit_vectors(k, n_proj, seed), n, axis=0)  # row mu * N + i is v_mu
        total = tf.reduce_sum(logits * v)
    g = input_tape.gradient(total, x_tiled, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    sq = tf.reshape(_flat_sq(g), [n_proj, n])
    return float(k) * tf.reduce_mean(sq, axis=0)


def _exact_fn(model_fn: ModelFn) -> Callable[[tf.Tensor], tf.Tensor]:
    def build() -> Callable[[tf.Tensor], tf.Tensor]:
        def class_sq_norms(x: tf.Tensor) -> tf.Tensor:
            return _class_sq_norms(model_fn, x)

        return class_sq_norms

    return compiled(model_fn, ("jacobian", "class_sq_norms"), build)


def _check_x(x: Any) -> tf.Tensor:
    x = tf.convert_to_tensor(x, tf.float32)
    if x.shape.rank is None or x.shape.rank < 2:
        raise ValueError(f"x must be a batch (N, ...), got shape {x.shape}")
    check_finite(x, "x")
    return x


def _check_result(values: tf.Tensor, what: str) -> tf.Tensor:
    check_finite(values, what, hint="the model's logits or input gradients are not finite (or overflow float32)")
    return values


def jacobian_frobenius(model: ModelFn, x: Any, *, n_proj: int | None = None, seed: Any = 0) -> tf.Tensor:
    """Frobenius norm ``||J(x)||_F`` of the input-logits Jacobian, per example.

    ``n_proj=None`` is exact: ``sqrt(sum_k ||J_k(x)||^2)`` from K input
    gradients. Otherwise the random-projection estimate of Hoffman et al.
    (2019)::

        ||J(x)||_F^2  ~=  K / n_proj * sum_mu ||d(v_mu . f(x)) / dx||^2,

    ``v_mu`` uniform on the unit sphere in R^K (:func:`projection_vectors`;
    the same ``n_proj`` vectors serve every example of the batch). Since
    ``E[v v^T] = I / K`` the squared estimate is UNBIASED. Note: Noack et al.
    eq. 14 as printed omits the factor K (it estimates ``||J||_F / sqrt(K)``);
    this function keeps Hoffman's factor. The square root of the unbiased
    squared estimate is returned (slightly biased low for small ``n_proj``).

    Traceable and differentiable with respect to the model's weights (double
    backprop), so a Jacobian Regularization ``train_step`` can penalise it;
    called eagerly the exact form runs in a compiled function cached per model.
    Not batched: memory grows with N (exact) or ``n_proj * N`` (projections).

    Args:
        model: maps (N, ...) inputs to (N, K) logits; a ``keras.Model`` runs
            with ``training=False``.
        x: (N, H, W, C) (or any (N, ...)) float32 inputs in data units; never modified.
        n_proj: None (exact) or the number of random projections (>= 1;
            Noack / Hoffman train with 1).
        seed: int or (2,) int seed of the projections (ignored when exact).

    Returns:
        (N,) float32 tensor, in logit units per data unit; 0 (never NaN) for a
        zero Jacobian.

    Raises:
        ValueError: ``x`` is not a batch, ``n_proj`` < 1 or the model's output
            is not (N, K); eagerly also NaN/inf in ``x`` or in the result.

    Ref: Noack et al. 2021, eq. 13 and 14; Hoffman et al. 2019, sec. 2.
    """
    x = _check_x(x)
    if n_proj is None:
        sq = _exact_fn(model)(x)
        return _sqrt_floor(_check_result(tf.reduce_sum(sq, axis=1), "the squared Jacobian norm"), NORM_FLOOR)
    count = check_int(n_proj, name="n_proj", minimum=1)
    seed_t = seed_tensor(seed)

    def build() -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
        def projected(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
            return _projected_sq_norms(model, x, seed, count)

        return projected

    sq_est = compiled(model, ("jacobian", "projected", count), build)(x, seed_t)
    return _sqrt_floor(_check_result(sq_est, "the squared Jacobian norm estimate"), NORM_FLOOR)


def logit_jacobian_norms(model: ModelFn, x: Any, y: Any, *, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Norms of the label's Jacobian slice and the mean norm of the other slices.

    For each example with label ``c``: ``label = ||J_c(x)||_2`` and
    ``other = mean_{k != c} ||J_k(x)||_2`` (a mean of norms over the K - 1
    non-label logits; 0 when K = 1), both of the flattened input gradient.
    Exact: one input gradient per class, batched over N.

    Args:
        model: maps (N, ...) inputs to (N, K) logits; a ``keras.Model`` runs
            with ``training=False``.
        x: (N, H, W, C) (or any (N, ...)) float32 inputs in data units; never modified.
        y: (N,) int class labels in [0, K) (one-hot (N, K) is reduced with argmax).
        batch_size: examples per compiled call (>= 1); bounds memory.

    Returns:
        ``{"label": (N,), "other": (N,)}`` float32 numpy arrays in logit units
        per data unit; zeros (never NaN) for a constant model.

    Raises:
        ValueError: bad shapes, ``batch_size`` < 1, NaN/inf in ``x`` or in
            the norms, or labels that are not integers in [0, K).

    Ref: Noack et al. 2021, Fig. 4 (``||J_c(x)||_F`` and ``||J_{!=c}(x)||_F``,
    the latter averaged over the logits that differ from the ground truth).
    """
    size = check_int(batch_size, name="batch_size", minimum=1)
    x, y = prepare(x, y, model)
    fn = _exact_fn(model)
    n = int(x.shape[0])
    parts = [fn(x[i:i + size]).numpy() for i in range(0, n, size)]
    labels = y.numpy().astype(np.int64)
    if not parts:
        return {"label": np.zeros((0,), np.float32), "other": np.zeros((0,), np.float32)}
    sq = np.concatenate(parts, axis=0).astype(np.float64)
    if not np.isfinite(sq).all():
        raise ValueError(f"the squared Jacobian slice norms have {int((~np.isfinite(sq)).sum())} non-finite values; "
                         "the model's logits or input gradients are not finite (or overflow float32)")
    k = sq.shape[1]
    if labels.size and int(labels.max()) >= k:
        raise ValueError(f"y must hold class labels < {k} (the model's number of logits), got {int(labels.max())}")
    norms = np.sqrt(np.maximum(sq, 0.0))
    label = np.take_along_axis(norms, labels[:, None], axis=1)[:, 0]
    other = (norms.sum(axis=1) - label) / (k - 1) if k > 1 else np.zeros_like(label)
    return {"label": label.astype(np.float32), "other": np.maximum(other, 0.0).astype(np.float32)}
