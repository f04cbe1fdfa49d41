"""The random baseline: a map of i.i.d. uniform(-1, 1) values, independent of the model.

Ref: Hooker et al. 2019 (ROAR random baseline); Kim et al. 2019, sec. 4.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfrobust.attribution.smoothgrad import seed_tensor

__all__ = ["random_map"]


def random_map(model: Any, x: Any, y: Any = None, *, seed: Any = 0) -> tf.Tensor:
    """Uniform(-1, 1) noise with the shape of ``x``; ``model`` and ``y`` are ignored.

    Args:
        model: unused (kept for the registry's ``fn(model, x, y)`` signature).
        x: (N, H, W, C) (or any (N, ...)) inputs; only the shape is used.
        y: unused.
        seed: int or (2,) int; the same seed and shape give the same map.

    Returns:
        (N, ...) float32 tensor of i.i.d. uniform(-1, 1) values, shape of ``x``.

    Raises:
        ValueError: ``x`` is not a batch or ``seed`` is not a seed.
    """
    shape = tuple(x.shape) if hasattr(x, "shape") else tuple(tf.convert_to_tensor(x).shape)
    if len(shape) < 2:
        raise ValueError(f"x must be a batch (N, ...), got shape {shape}")
    return tf.random.stateless_uniform(shape, seed=seed_tensor(seed), minval=-1.0, maxval=1.0,
                                       dtype=tf.float32)
