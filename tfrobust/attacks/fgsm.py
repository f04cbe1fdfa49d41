"""Fast gradient (sign) method: one full-size step, no random start.

Ref: Goodfellow et al. 2015; Noack et al. 2021 eq. 6-7. For ``norm="linf"``
this is FGSM, ``x + eps * sign(grad)``; for ``norm="l2"`` the fast gradient
method ``x + eps * grad / ||grad||_2``. Both are clipped into ``bounds``.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfrobust.attacks.pgd import ModelFn, pgd

__all__ = ["fgsm"]


def fgsm(
    model_fn: ModelFn,
    x: Any,
    y: Any,
    *,
    eps: float,
    bounds: tuple[float, float],
    norm: str = "linf",
    objective: str = "xent",
    targeted: bool = False,
    kappa: float = 0.0,
) -> tf.Tensor:
    """One gradient step of length ``eps`` (see module docstring).

    Args:
        model_fn: maps (N, ...) inputs to logits; Keras models run with
            ``training=False``.
        x: (N, ...) float32 within ``bounds``.
        y: (N,) int labels (targeted: target classes).
        eps: step length and radius in data units.
        bounds: (lo, hi) value range.
        norm: ``"linf"`` (sign step) or ``"l2"`` (normalised step).
        objective: ``"xent"`` or ``"cw"``.
        targeted: step towards class ``y``.
        kappa: CW confidence.

    Returns:
        (N, ...) adversarial examples.

    Raises:
        ValueError: as :func:`tfrobust.attacks.pgd` (a radius beyond float32,
            NaN/inf or out-of-bounds ``x``, labels not in [0, K), ...).
    """
    return pgd(model_fn, x, y, norm=norm, eps=eps, steps=1, step_size=eps, bounds=bounds,
               objective=objective, random_start=False, restarts=1, targeted=targeted, kappa=kappa)
