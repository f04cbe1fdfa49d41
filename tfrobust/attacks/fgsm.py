"""Fast gradient (sign) method: one full-size step, no random start.

Ref: Goodfellow et al. 2015; Noack et al. 2021 eq. 6-7. For ``norm="linf"``
this is FGSM, ``x + eps * sign(grad)``; for ``norm="l2"`` the fast gradient
method ``x + eps * grad / ||grad||_2``; for any norm one step of length
``eps`` along its steepest-ascent direction. The result is clipped into
``bounds``. It is the ``fgsm`` entry of :data:`tfrobust.registry.ATTACKS`:
:func:`tfrobust.attacks.pgd` with one step of size ``eps``.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfrobust.attacks.checks import check_eps
from tfrobust.attacks.pgd import check_pgd, pgd
from tfrobust.attacks.protocol import checked_by
from tfrobust.attribution.gradient import ModelFn
from tfrobust.registry import register

__all__ = ["check_fgsm", "fgsm"]


def check_fgsm(*, norm: str, eps: float, bounds: Any, input_shape: Any = None, objective: str = "xent",
               targeted: bool = False, kappa: float = 0.0) -> dict[str, Any]:
    """The checker of :func:`fgsm`: PGD's, for one step of size ``eps`` without a random start."""
    eps = check_eps(eps)
    return check_pgd(norm=norm, eps=eps, bounds=bounds, input_shape=input_shape, steps=1, step_size=eps,
                     random_start=False, objective=objective, targeted=targeted, kappa=kappa)


@register("attacks", "fgsm")
@checked_by(check_fgsm)
def fgsm(
    model_fn: ModelFn,
    x: Any,
    y: Any,
    *,
    norm: str,
    eps: float,
    bounds: tuple[float, float],
    seed: Any = 0,
    objective: str = "xent",
    targeted: bool = False,
    kappa: float = 0.0,
) -> tf.Tensor:
    """One gradient step of length ``eps`` (see module docstring).

    Args:
        model_fn: maps (N, ...) inputs to logits; Keras models run with
            ``training=False``.
        x: (N, ...) float32 within ``bounds``; never modified.
        y: (N,) int labels (targeted: target classes).
        norm: a registered norm (``linf``: the sign step; ``l2``: the normalised step).
        eps: step length and radius in data units.
        bounds: (lo, hi) value range.
        seed: unused (FGSM draws nothing); part of the attack protocol.
        objective: a registered objective (``xent`` or ``cw``).
        targeted: step towards class ``y``.
        kappa: CW confidence.

    Returns:
        (N, ...) adversarial examples.

    Raises:
        ValueError: as :func:`tfrobust.attacks.pgd` (a radius beyond float32,
            NaN/inf or out-of-bounds ``x``, labels not in [0, K), ...).
    """
    del seed
    eps = check_eps(eps)
    return pgd(model_fn, x, y, norm=norm, eps=eps, steps=1, step_size=eps, bounds=bounds,
               objective=objective, random_start=False, restarts=1, targeted=targeted, kappa=kappa)
