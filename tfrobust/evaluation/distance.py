"""The manifold distance ``d_pi(x) = ||x - pi(x)||_2`` (Kim, Seo & Jeon 2019, sec. 2.1).

Its own module so that both :mod:`tfrobust.evaluation.manifold` (the study,
which re-exports it) and :mod:`tfrobust.evaluation.vaegan_training` (the
test-set distance after training) import it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tfrobust.config import check_int

__all__ = ["manifold_distance"]


def manifold_distance(projector: Callable[[Any], Any], x: Any, *, batch_size: int = 256) -> np.ndarray:
    """``d_pi(x) = ||x - pi(x)||_2`` per example (Kim et al. 2019 sec. 2.1).

    Args:
        projector: any callable mapping a (B, ...) float32 batch to its
            projection of the same shape, e.g. a :class:`tfrobust.models.VAEGAN`
            (``dec(enc(x))``) or ``functools.partial(vaegan.project, optimize_steps=100)``
            (footnote 2).
        x: (N, ...) float32 inputs in the data's bounds.
        batch_size: examples per projector call.

    Returns:
        (N,) float64 distances in data units.

    Raises:
        ValueError: bad ``batch_size`` or a projection of another shape.
    """
    size = check_int(batch_size, name="batch_size", minimum=1)
    x = np.asarray(x, np.float32)
    out = np.zeros(len(x), np.float64)
    for start in range(0, len(x), size):
        xb = x[start:start + size]
        projected = np.asarray(projector(xb), np.float32)
        if projected.shape != xb.shape:
            raise ValueError(f"the projector returned shape {projected.shape} for inputs of shape {xb.shape}")
        diff = (xb.astype(np.float64) - projected.astype(np.float64)).reshape(len(xb), -1)
        out[start:start + len(xb)] = np.linalg.norm(diff, axis=1)
    return out
