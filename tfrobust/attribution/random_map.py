"""The random baseline (attribution ``"random"``): i.i.d. uniform(-1, 1) values, independent of the model.

Ref: Hooker et al. 2019 (ROAR random baseline); Kim et al. 2019, sec. 4.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfrobust.attribution.checks import check_finite, check_labels, num_logits
from tfrobust.attribution.smoothgrad import seed_tensor
from tfrobust.registry import register

__all__ = ["random_map"]


@register("attributions", "random")
def random_map(model: Any, x: Any, y: Any = None, *, seed: int | tuple[int, int] = 0) -> tf.Tensor:
    """Uniform(-1, 1) noise with the shape of ``x``; ``model`` and ``y`` do not enter it.

    The inputs are still checked like every attribution's (a random baseline
    of invalid data is an error too): ``x`` must be finite and ``y``, if
    given, integer labels ``>= 0`` (``< K`` when ``model`` is a Keras model).

    Args:
        model: not called (kept for the registry's ``fn(model, x, y)`` signature).
        x: (N, H, W, C) (or any (N, ...)) inputs; only the shape enters the map.
        y: None or (N,) labels; checked only.
        seed: int or (2,) int; the same seed and shape give the same map
            (an example's values depend on the batch's shape, not only on it).

    Returns:
        (N, ...) float32 tensor of i.i.d. uniform(-1, 1) values, shape of ``x``.

    Raises:
        ValueError: ``x`` is not a finite batch, ``y`` not valid labels, or
            ``seed`` is not a seed.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    shape = tuple(x.shape)
    if len(shape) < 2:
        raise ValueError(f"x must be a batch (N, ...), got shape {shape}")
    check_finite(x, "x")
    if y is not None:
        k = num_logits(model, x) if isinstance(model, keras.layers.Layer) and shape[0] else None
        check_labels(y, shape[0], k)
    return tf.random.stateless_uniform(shape, seed=seed_tensor(seed), minval=-1.0, maxval=1.0,
                                       dtype=tf.float32)
