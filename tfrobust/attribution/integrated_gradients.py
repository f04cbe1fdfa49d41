"""Integrated Gradients: the label logit's gradient integrated along a straight path.

Ref: Sundararajan, Taly, Yan 2017, "Axiomatic Attribution for Deep
Networks", eq. 1 and sec. 3 (the Riemann approximation). For a baseline
``b`` and the logit ``z_y`` of the target class ``y``::

    IG_i(x) = (x_i - b_i) * integral_0^1 d z_y(b + a (x - b)) / dx_i da

approximated here by the MIDPOINT rule with ``steps`` intervals,
``a_k = (k - 1/2) / steps`` for ``k = 1 .. steps``. The midpoint rule is
exact for a model linear in its input (``IG = w_y * (x - b)``) and its
error in completeness, ``sum_i IG_i(x) = z_y(x) - z_y(b)``, falls as
``1 / steps^2`` for a smooth model (a ReLU network's kinks make it slower).

The baseline is one value for every input entry: ``baseline`` when given,
else the data's lower bound (the protocol keyword ``bounds``, e.g. a black
image for [0, 1] data), else 0. The model runs with ``training=False``; the
``steps`` gradients of a batch are taken one path point at a time inside a
``tf.while_loop`` of one compiled ``tf.function`` cached per model, so memory
is that of one gradient of the batch. Registered as ``"integrated_gradients"``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from tfrobust.attribution.checks import check_bounds
from tfrobust.attribution.gradient import ModelFn, call_model, check_map, compiled, prepare
from tfrobust.config import FLOAT32_MAX, check_int
from tfrobust.registry import register

__all__ = ["integrated_gradients"]


def _label_logit_gradient(model_fn: ModelFn, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as input_tape:
        input_tape.watch(x)
        logits = tf.cast(call_model(model_fn, x), tf.float32)
        total = tf.reduce_sum(tf.gather(logits, y, axis=1, batch_dims=1))  # examples are independent
    return input_tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _builder(model_fn: ModelFn) -> Callable[[], Callable[..., tf.Tensor]]:
    def build() -> Callable[..., tf.Tensor]:
        def integrate(x: tf.Tensor, y: tf.Tensor, baseline: tf.Tensor, steps: tf.Tensor) -> tf.Tensor:
            delta = x - baseline
            n = tf.cast(steps, tf.float32)

            def body(k: tf.Tensor, total: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                alpha = (tf.cast(k, tf.float32) + 0.5) / n  # midpoint of interval k
                return k + 1, total + _label_logit_gradient(model_fn, baseline + alpha * delta, y)

            _, total = tf.while_loop(lambda k, total: k < steps, body, (tf.constant(0, tf.int32), tf.zeros_like(x)))
            return delta * total / n

        return integrate

    return build


@register("attributions", "integrated_gradients")
def integrated_gradients(
    model: ModelFn,
    x: Any,
    y: Any,
    *,
    steps: int = 50,
    baseline: float | None = None,
    bounds: tuple[float, float] | None = None,
) -> tf.Tensor:
    """Integrated Gradients of the label's logit from a constant baseline to ``x`` (midpoint rule).

    Args:
        model: maps (N, ...) inputs to (N, K) logits; run with ``training=False``.
        x: (N, H, W, C) (or any (N, ...)) float32 inputs in data units; never modified.
        y: (N,) int class labels; the path integrates the gradient of ``z_y``.
        steps: intervals of the midpoint rule (>= 1; Sundararajan et al.
            suggest 20 to 300).
        baseline: the value every input entry starts from; None: the data's
            lower bound ``bounds[0]`` when ``bounds`` is given (and finite),
            else 0.
        bounds: the data's value range (lo, hi), the attribution protocol
            keyword (:func:`tfrobust.attribution.attribute` passes it); only
            the default baseline uses it.

    Returns:
        (N, ...) float32 tensor, same shape as ``x``, in logit units; the
        entries of an example sum to about ``z_y(x) - z_y(baseline)``.

    Raises:
        ValueError: ``steps`` < 1, a non-finite ``baseline`` or malformed
            ``bounds``; eagerly also NaN/inf in ``x``, labels not integers in
            [0, K), or a non-finite map.

    Ref: Sundararajan et al. 2017, eq. 1 and eq. 3 (Riemann sum).
    """
    n = check_int(steps, name="steps", minimum=1)
    if baseline is None:
        lo = check_bounds(bounds)[0] if bounds is not None else 0.0
        start = lo if math.isfinite(lo) else 0.0
    else:
        if isinstance(baseline, bool) or not isinstance(baseline, numbers.Real):
            raise ValueError(f"baseline must be a number or None, got {baseline!r}")
        start = float(baseline)
        if not math.isfinite(start) or abs(start) > FLOAT32_MAX:
            raise ValueError(f"baseline must be a finite number within float32 range, got {baseline!r}")
    x, y = prepare(x, y, model)
    fn = compiled(model, ("integrated_gradients",), _builder(model))
    maps = fn(x, y, tf.constant(start, tf.float32), tf.constant(n, tf.int32))
    check_map(maps, "integrated_gradients")
    return maps
