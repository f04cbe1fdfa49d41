"""Norm geometry of the threat models, one class per norm (docs/architecture.md, Attacks and attributions).

Each norm is a :class:`Norm` subclass registered in
:data:`tfrobust.registry.NORMS` with ``@register("norms", "<name>")``;
:func:`get_norm` returns its instance. A norm provides batched operations on
(N, ...) tensors, reducing over every axis but the first:

- ``norm(v)``: the per-example length;
- ``project(delta, eps)``: the nearest point of the eps-ball around 0;
- ``normalize_step(grad, rule)``: the steepest-ascent direction of unit
  length for a gradient (the direction of one PGD step);
- ``random_start(shape, eps, seed)``: a uniform draw from the eps-ball;
- ``unit_length(rule, dim)``: the length, in this norm, of a step of size 1.

The norms:

- ``linf``: clipping; the sign of the gradient.
- ``l2``: rescaling when ``||delta||_2 > eps`` (Noack et al. 2021 eq. 12);
  the gradient divided by its l2 norm (``rule="normalized"``, Madry et al.
  2018) or its sign (``rule="sign"``, Noack et al. 2021 eq. 11, whose l2
  length is ``sqrt(dim)``).
- ``l1``: the sort-based projection of Duchi et al. 2008; the steepest ascent
  direction puts the whole step on the coordinate(s) of largest ``|grad|``
  (ties share it); a uniform start from normalised exponential spacings with
  random signs.

``rule`` selects the l2 step; the other norms have one steepest direction
and ignore it. Zero vectors are guarded: normalising or projecting a zero
delta or gradient returns zeros, never NaN. Called eagerly, every method
refuses NaN/inf tensors and a radius that is negative, non-finite or beyond
float32 (one-line ValueError); inside a traced function these checks are
skipped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from tfrobust.attacks.checks import check_eps, check_finite
from tfrobust.attacks.seeds import as_seed, fold, normal, uniform
from tfrobust.registry import NORMS, register

__all__ = ["L2_STEPS", "L1", "L2", "Linf", "Norm", "get_norm"]

#: The l2 step rules of :meth:`Norm.normalize_step`.
L2_STEPS = ("normalized", "sign")
_TINY = 1e-12


def _flat(v: tf.Tensor) -> tf.Tensor:
    """(N, ...) -> (N, D)."""
    return tf.reshape(v, [tf.shape(v)[0], -1])


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


class Norm:
    """The geometry of one lp ball; subclasses implement ``_norm``, ``_project``, ``_direction``, ``_sample``.

    The public methods check their arguments (eagerly) and call these.
    """

    #: The name the norm is registered under.
    name: str = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))

    def norm(self, v: tf.Tensor) -> tf.Tensor:
        """Per-example norm of ``v``: (N, ...) -> (N,)."""
        v = tf.convert_to_tensor(v)
        check_finite(v, "v")
        return self._norm(_flat(v))

    def project(self, delta: tf.Tensor, eps: Any) -> tf.Tensor:
        """Projects each example's ``delta`` onto the eps-ball around 0."""
        delta = tf.convert_to_tensor(delta)
        check_finite(delta, "delta")
        _check_radius(eps)
        return self._project(delta, tf.cast(eps, delta.dtype))

    def normalize_step(self, grad: tf.Tensor, rule: str = "normalized") -> tf.Tensor:
        """The unit steepest-ascent direction for a gradient (see module docstring)."""
        if rule not in L2_STEPS:
            raise ValueError(f"rule must be one of {', '.join(L2_STEPS)}, got {rule!r}")
        grad = tf.convert_to_tensor(grad)
        check_finite(grad, "grad")
        return self._direction(grad, rule)

    def random_start(self, shape: Any, eps: Any, seed: tf.Tensor, dtype: tf.DType = tf.float32) -> tf.Tensor:
        """A uniform sample of the eps-ball, one per example.

        Args:
            shape: (N, ...) shape of the perturbation.
            eps: ball radius in data units.
            seed: (2,) int seed of the stateless random ops, or (N, 2) seeds,
                one per example (:mod:`tfrobust.attacks.seeds`): each
                example's draw then depends on its own seed only.
        """
        _check_radius(eps)
        seed = as_seed(seed)
        if seed.shape.rank == 1:
            seeds = tf.random.experimental.stateless_split(seed, num=2)
            first, second = seeds[0], seeds[1]
        else:
            first, second = fold(seed, 0), fold(seed, 1)
        return self._sample(shape, tf.cast(eps, dtype), (first, second), dtype)

    def unit_length(self, rule: str = "normalized", dim: int | None = None) -> float:
        """Length in this norm of one step of size 1 under ``rule`` over ``dim`` input values (None: unknown)."""
        del rule, dim
        return 1.0

    # the geometry ----------------------------------------------------------

    def _norm(self, flat: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def _project(self, delta: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def _direction(self, grad: tf.Tensor, rule: str) -> tf.Tensor:
        raise NotImplementedError

    def _sample(self, shape: Any, eps: tf.Tensor, seeds: tuple[tf.Tensor, tf.Tensor], dtype: tf.DType) -> tf.Tensor:
        """Draws with :func:`tfrobust.attacks.seeds.uniform` / ``normal`` from ``seeds`` (two seeds, each
        (2,) or (N, 2))."""
        raise NotImplementedError


@register("norms", "linf")
class Linf(Norm):
    """The linf ball: clipping, sign steps, a uniform box start."""

    name = "linf"

    def _norm(self, flat: tf.Tensor) -> tf.Tensor:
        return tf.reduce_max(tf.abs(flat), axis=1)

    def _project(self, delta: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        return tf.clip_by_value(delta, -eps, eps)

    def _direction(self, grad: tf.Tensor, rule: str) -> tf.Tensor:
        return tf.sign(grad)

    def _sample(self, shape: Any, eps: tf.Tensor, seeds: tuple[tf.Tensor, tf.Tensor], dtype: tf.DType) -> tf.Tensor:
        return uniform(shape, seeds[0], minval=-1.0, maxval=1.0, dtype=dtype) * eps


@register("norms", "l2")
class L2(Norm):
    """The l2 ball: rescaling, normalised (or sign) steps, a uniform ball start."""

    name = "l2"

    def _norm(self, flat: tf.Tensor) -> tf.Tensor:
        return tf.norm(flat, ord=2, axis=1)

    def _project(self, delta: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        length = _flat_l2(delta)
        scale = tf.minimum(tf.ones_like(length), eps / tf.maximum(length, _TINY))
        return delta * scale

    def _direction(self, grad: tf.Tensor, rule: str) -> tf.Tensor:
        if rule == "sign":
            return tf.sign(grad)
        length = _flat_l2(grad)
        # "<= _TINY" (not "> _TINY"): a NaN gradient must stay NaN (and be caught), not become a zero step.
        return tf.where(length <= _TINY, tf.zeros_like(grad), grad / tf.maximum(length, _TINY))

    def _sample(self, shape: Any, eps: tf.Tensor, seeds: tuple[tf.Tensor, tf.Tensor], dtype: tf.DType) -> tf.Tensor:
        # A Gaussian direction and radius eps * U^(1/d).
        direction = normal(shape, seeds[0], dtype=dtype)
        direction = direction / tf.maximum(_flat_l2(direction), _TINY)
        dim = tf.cast(tf.reduce_prod(shape[1:]), dtype)
        radius_shape = tf.concat([[shape[0]], tf.ones([tf.size(shape) - 1], tf.int32)], axis=0)
        u = uniform(radius_shape, seeds[1], dtype=dtype)
        return direction * eps * tf.pow(u, 1.0 / dim)

    def unit_length(self, rule: str = "normalized", dim: int | None = None) -> float:
        """A sign step moves each of the ``dim`` values by 1: l2 length ``sqrt(dim)`` (unknown ``dim``: 1)."""
        return math.sqrt(dim) if rule == "sign" and dim else 1.0


@register("norms", "l1")
class L1(Norm):
    """The l1 ball: Duchi et al.'s projection, steps on the largest gradient coordinate(s)."""

    name = "l1"

    def _norm(self, flat: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.abs(flat), axis=1)

    def _project(self, delta: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        # Soft-threshold |delta| by the theta that makes the l1 norm eps (Duchi et al. 2008, Fig. 1).
        flat = _flat(delta)
        size = tf.abs(flat)
        top = tf.sort(size, axis=1, direction="DESCENDING")
        excess = tf.cumsum(top, axis=1) - eps
        ranks = tf.cast(tf.range(1, tf.shape(flat)[1] + 1), flat.dtype)
        count = tf.maximum(tf.reduce_sum(tf.cast(top - excess / ranks > 0, tf.int32), axis=1), 1)
        theta = tf.gather(excess, count - 1, batch_dims=1) / tf.cast(count, flat.dtype)
        shrunk = tf.sign(flat) * tf.maximum(size - theta[:, None], 0.0)
        inside = tf.reduce_sum(size, axis=1, keepdims=True) <= eps
        return tf.reshape(tf.where(inside, flat, shrunk), tf.shape(delta))

    def _direction(self, grad: tf.Tensor, rule: str) -> tf.Tensor:
        flat = _flat(grad)
        size = tf.abs(flat)
        ties = tf.cast(size >= tf.reduce_max(size, axis=1, keepdims=True), flat.dtype)
        share = ties / tf.maximum(tf.reduce_sum(ties, axis=1, keepdims=True), 1.0)
        return tf.reshape(tf.sign(flat) * share, tf.shape(grad))  # zero gradient: sign 0, a zero step

    def _sample(self, shape: Any, eps: tf.Tensor, seeds: tuple[tf.Tensor, tf.Tensor], dtype: tf.DType) -> tf.Tensor:
        # d of d + 1 normalised exponential spacings are uniform in the simplex's corner; random signs.
        n, dim = shape[0], tf.reduce_prod(shape[1:])
        u = uniform(tf.stack([n, dim + 1]), seeds[0], dtype=dtype)
        spacings = -tf.math.log1p(-u)  # Exp(1), finite for u in [0, 1)
        size = spacings[:, :-1] / tf.reduce_sum(spacings, axis=1, keepdims=True)
        coin = uniform(tf.stack([n, dim]), seeds[1], dtype=dtype)
        signs = tf.where(coin < 0.5, -tf.ones_like(coin), tf.ones_like(coin))
        return tf.reshape(signs * size, shape) * eps


_INSTANCES: dict[type, Norm] = {}


def get_norm(name: str) -> Norm:
    """The geometry registered as ``name`` in :data:`~tfrobust.registry.NORMS`.

    Raises:
        ConfigError: (a ValueError) an unknown name, listing the registered ones.
    """
    cls = NORMS[name].load()
    norm = _INSTANCES.get(cls)
    if norm is None:
        norm = _INSTANCES[cls] = cls()
    return norm
