"""Update rules of the PGD loop: the direction of each step, made from the input gradient.

A rule has ``init(x) -> state`` (once per restart) and
``direction(grad, state) -> (direction, state)`` (every step); PGD then moves
``step_size`` along the norm's steepest-ascent direction of ``direction``
(:meth:`tfrobust.attacks.Norm.normalize_step`), projects onto the ball and
clips to the bounds. Rules are frozen dataclasses: equal rules share one
compiled step.

- ``steepest`` (the default): the gradient itself, the PGD of Madry et al.
  2018; no state.
- ``momentum``: MI-FGSM (Dong et al. 2018, eq. 6-7): ``g_t = mu g_{t-1} +
  grad / ||grad||_1`` per example, the step along the steepest direction of
  ``g_t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import tensorflow as tf

from tfrobust.attacks.checks import check_eps

__all__ = ["UPDATE_RULES", "Momentum", "Steepest", "UpdateRule", "get_update_rule"]

_TINY = 1e-12


class UpdateRule(Protocol):
    """How one PGD step's direction is made from the gradient."""

    def init(self, x: tf.Tensor) -> Any:
        """The state before the first step of a restart (a tensor or a nest of tensors; ``()`` for none)."""

    def direction(self, grad: tf.Tensor, state: Any) -> tuple[tf.Tensor, Any]:
        """The step's (unnormalised) ascent direction and the next state."""


@dataclass(frozen=True)
class Steepest:
    """The gradient itself: plain PGD."""

    def init(self, x: tf.Tensor) -> Any:
        return ()

    def direction(self, grad: tf.Tensor, state: Any) -> tuple[tf.Tensor, Any]:
        return grad, state


@dataclass(frozen=True)
class Momentum:
    """MI-FGSM: an accumulated, l1-normalised gradient with decay ``mu``."""

    mu: float = 1.0

    def init(self, x: tf.Tensor) -> Any:
        return tf.zeros_like(x)

    def direction(self, grad: tf.Tensor, state: Any) -> tuple[tf.Tensor, Any]:
        axes = list(range(1, grad.shape.rank))
        l1 = tf.reduce_sum(tf.abs(grad), axis=axes, keepdims=True)
        g = tf.cast(self.mu, grad.dtype) * state + grad / tf.maximum(l1, _TINY)
        return g, g


#: Name -> rule class (``update`` option of :func:`tfrobust.attacks.pgd`).
UPDATE_RULES: dict[str, type] = {"steepest": Steepest, "momentum": Momentum}


def get_update_rule(name: str, *, momentum: float = 1.0) -> UpdateRule:
    """The rule ``name`` (``momentum`` is the decay of the ``momentum`` rule).

    Raises:
        ValueError: an unknown name, or a momentum that is not a finite number >= 0.
    """
    if not isinstance(name, str) or name not in UPDATE_RULES:
        raise ValueError(f"update must be one of {', '.join(UPDATE_RULES)}, got {name!r}")
    mu = check_eps(momentum, name="momentum")
    return Momentum(mu) if name == "momentum" else Steepest()
