"""Value checks of attack inputs: finite values, bounds, labels in [0, K), float32-safe radii.

The tensor checks (:func:`check_finite`, :func:`check_in_bounds`,
:func:`check_labels`, :func:`num_logits`) live in
:mod:`tfrobust.attribution.checks`, the gradient layer that attacks build on;
they run only when executing eagerly, each one or two reductions over the
batch, and inside a traced function (a ``train_step`` that attacks its batch)
they are skipped, so training pays nothing for them. This module adds the
checks of radii, step sizes and bounds. Every failure is a one-line ``ValueError``
that names the argument. Not exported from :mod:`tfrobust.attacks`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfrobust.attribution.checks import (
    check_bounds,
    check_finite,
    check_in_bounds,
    check_labels,
    num_logits,
)
from tfrobust.config import FLOAT32_MAX, FLOAT32_TINY, ConfigError, check_number

__all__ = ["check_bounds", "check_eps", "check_finite", "check_in_bounds", "check_labels", "check_l2_extent",
           "num_logits"]

#: Squared l2 lengths are summed in float32: lengths must stay below this.
L2_LENGTH_LIMIT = math.sqrt(FLOAT32_MAX / 2)


def check_eps(eps: Any, *, name: str = "eps") -> float:
    """A radius or step size in data units: a finite number >= 0 that float32 can hold.

    Raises:
        ValueError: (a :class:`~tfrobust.config.ConfigError`) naming ``name``.
    """
    message = (f"{name} must be a finite number >= 0 within float32 range (0 or {FLOAT32_TINY:.3g} to "
               f"{FLOAT32_MAX:.4g}), got {eps!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise ConfigError(message)
    try:
        return check_number(float(eps), name=name, minimum=0.0, float32=True)
    except ConfigError:
        raise ConfigError(message) from None


def check_l2_extent(eps: float, step_size: float, *, sign_steps: bool, dim: int | None = None) -> None:
    """Refuses an l2 attack whose squared lengths would overflow float32.

    A step moves by ``step_size`` in l2 (``step_size * sqrt(dim)`` for sign
    steps), so ``||x_adv + step - x||_2 <= eps + that``; its square is
    summed in float32 and must stay finite (else projection yields NaN).

    Raises:
        ValueError: naming eps and step_size, with the largest usable extent.
    """
    length = step_size * math.sqrt(dim) if sign_steps and dim else step_size
    if eps + length >= L2_LENGTH_LIMIT:
        what = f"eps + step_size * sqrt({dim})" if sign_steps and dim else "eps + step_size"
        raise ValueError(
            f"eps={eps:g} with step_size={step_size:g} is too large for the l2 attack: {what} = "
            f"{eps + length:.3g} must be < {L2_LENGTH_LIMIT:.3g} (its square overflows float32)")
