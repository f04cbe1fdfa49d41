"""Norm geometry of the threat models, written once (docs/architecture.md, Attacks and attributions).

Each norm provides three batched operations on (N, ...) tensors, reducing over
every axis but the first:

- ``project(delta, eps)``: the nearest point of the eps-ball (Noack et al.
  2021 eq. 12 for l2: rescale when ``||delta||_2 > eps``);
- ``normalize_step(grad, rule)``: the ascent direction of one PGD step: the
  sign for linf; for l2 either the gradient divided by its l2 norm
  (``"normalized"``, Madry et al. 2018) or its sign (``"sign"``, Noack et al.
  2021 eq. 11);
- ``random_start(shape, eps, seed)``: a uniform draw from the eps-ball.

Zero vectors are guarded: normalising or projecting a zero delta or gradient
returns zeros, never NaN. Called eagerly, every method refuses NaN/inf
tensors and a radius that is negative, non-finite or beyond float32
(one-line ValueError); inside a traced function these checks are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from tfrobust.attacks.checks import check_eps, check_finite

__all__ = ["NORMS", "L2_STEPS", "Norm", "get_norm"]

L2_STEPS = ("normalized", "sign")
_TINY = 1e-12


def _flat_l2(v: tf.Tensor) -> tf.Tensor:
    """Per-example l2 norm, shaped (N, 1, ..., 1) for broadcasting."""
    axes = list(range(1, v.shape.rank))
    return tf.sqrt(tf.reduce_sum(tf.square(v), axis=axes, keepdims=True))


def _check_radius(eps: Any, name: str = "eps") -> None:
    """A Python radius always; a tensor radius when executing eagerly."""
    if isinstance(eps, (int, float, np.integer, np.floating)) or isinstance(eps, bool):
        check_eps(eps, name=name)
    elif tf.executing_eagerly():
        value = np.asarray(eps.numpy() if hasattr(eps, "numpy") else eps, np.float64)
        if value.size != 1:
            raise ValueError(f"{name} must be a scalar radius, got shape {value.shape}")
        check_eps(float(value.reshape(())), name=name)


@dataclass(frozen=True)
class Norm:
    """The geometry of one lp ball (``"linf"`` or ``"l2"``)."""

    name: str

    def norm(self, v: tf.Tensor) -> tf.Tensor:
        """Per-example norm of ``v``: (N, ...) -> (N,)."""
        v = tf.convert_to_tensor(v)
        check_finite(v, "v")
        flat = tf.reshape(v, [tf.shape(v)[0], -1])
        if self.name == "linf":
            return tf.reduce_max(tf.abs(flat), axis=1)
        return tf.norm(flat, ord=2, axis=1)

    def project(self, delta: tf.Tensor, eps: Any) -> tf.Tensor:
        """Projects each example's ``delta`` onto the eps-ball around 0."""
        delta = tf.convert_to_tensor(delta)
        check_finite(delta, "delta")
        _check_radius(eps)
        eps = tf.cast(eps, delta.dtype)
        if self.name == "linf":
            return tf.clip_by_value(delta, -eps, eps)
        length = _flat_l2(delta)
        scale = tf.minimum(tf.ones_like(length), eps / tf.maximum(length, _TINY))
        return delta * scale

    def normalize_step(self, grad: tf.Tensor, rule: str = "normalized") -> tf.Tensor:
        """The unit ascent direction for a gradient (see module docstring)."""
        if rule not in L2_STEPS:
            raise ValueError(f"rule must be one of {', '.join(L2_STEPS)}, got {rule!r}")
        grad = tf.convert_to_tensor(grad)
        check_finite(grad, "grad")
        if self.name == "linf" or rule == "sign":
            return tf.sign(grad)
        length = _flat_l2(grad)
        # "<= _TINY" (not "> _TINY"): a NaN gradient must stay NaN (and be caught), not become a zero step.
        return tf.where(length <= _TINY, tf.zeros_like(grad), grad / tf.maximum(length, _TINY))

    def random_start(self, shape: Any, eps: Any, seed: tf.Tensor, dtype: tf.DType = tf.float32) -> tf.Tensor:
        """A uniform sample of the eps-ball, one per example.

        Args:
            shape: (N, ...) shape of the perturbation.
            eps: ball radius in data units.
            seed: (2,) int seed of the stateless random ops.
        """
        _check_radius(eps)
        eps = tf.cast(eps, dtype)
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=2)
        if self.name == "linf":
            return tf.random.stateless_uniform(shape, seeds[0], -1.0, 1.0, dtype=dtype) * eps
        # Uniform in the l2 ball: a Gaussian direction and radius eps * U^(1/d).
        direction = tf.random.stateless_normal(shape, seeds[0], dtype=dtype)
        direction = direction / tf.maximum(_flat_l2(direction), _TINY)
        dim = tf.cast(tf.reduce_prod(shape[1:]), dtype)
        batch = shape[0]
        radius_shape = tf.concat([[batch], tf.ones([tf.size(shape) - 1], tf.int32)], axis=0)
        u = tf.random.stateless_uniform(radius_shape, seeds[1], dtype=dtype)
        return direction * eps * tf.pow(u, 1.0 / dim)


NORMS: dict[str, Norm] = {"linf": Norm("linf"), "l2": Norm("l2")}


def get_norm(name: str) -> Norm:
    """The geometry for ``name``; ValueError for an unknown norm."""
    try:
        return NORMS[name]
    except (KeyError, TypeError):
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {name!r}") from None

