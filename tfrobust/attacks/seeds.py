"""Seeds of the attacks' random draws: one seed for a batch, or one seed per example.

Every attack takes ``seed`` as

- an int, or a (2,) int tensor: one seed for the whole batch; the draws of
  one example then depend on the batch it sits in (its position and size);
- an (N, 2) int tensor: one seed per example. Each example's draws depend on
  its own seed only, so attacking a subset of a batch (the evaluation's early
  exit, :func:`tfrobust.training.attacked_correct`) gives every attacked
  example the same random start, and so the same result, as attacking the
  whole batch.

:func:`fold` derives a new seed (per restart, per iteration) of the same
form; :func:`uniform` and :func:`normal` draw (N, ...) values either way.
Per-example draws cost about 4x one batch draw (a map over the rows with
``tf.map_fn``; 5 ms against 1.4 ms for 256 images of 28x28 on 2 CPU cores), paid once
per random start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["as_seed", "example_seeds", "fold", "is_per_example", "normal", "uniform"]


def as_seed(seed: Any) -> tf.Tensor:
    """An int seed as a (2,) int64 tensor; a (2,) or (N, 2) seed as int64 unchanged.

    Raises:
        ValueError: a seed that is neither an int nor of shape (2,) or (N, 2).
    """
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return tf.constant([int(seed), 0], tf.int64)
    value = tf.cast(seed, tf.int64)
    if value.shape.rank == 1 and value.shape[0] == 2:
        return value
    if value.shape.rank == 2 and value.shape[1] == 2:
        return value
    raise ValueError(f"seed must be an int, a (2,) seed or an (N, 2) seed per example, got shape {value.shape}")


def is_per_example(seed: Any) -> bool:
    """Whether ``seed`` gives one seed per example (shape (N, 2))."""
    return not isinstance(seed, (int, np.integer)) and tf.convert_to_tensor(seed).shape.rank == 2


def fold(seed: Any, value: Any) -> tf.Tensor:
    """A new seed of the same form: ``stateless_fold_in`` of ``value`` into the seed (or into each row)."""
    seed = as_seed(seed)
    value = tf.cast(value, tf.int32)  # int32, as a Python int is folded (int64 folds differently)
    if seed.shape.rank == 1:
        return tf.cast(tf.random.experimental.stateless_fold_in(seed, value), tf.int64)
    return _fold_rows(seed, value)


@tf.function(reduce_retracing=True)
def _fold_rows(seed: tf.Tensor, value: tf.Tensor) -> tf.Tensor:
    return tf.map_fn(lambda row: tf.cast(tf.random.experimental.stateless_fold_in(row, value), tf.int64), seed,
                     fn_output_signature=tf.TensorSpec([2], tf.int64))


def example_seeds(seed: Any, indices: Any) -> tf.Tensor:
    """(N, 2) per-example seeds for examples with the given global ``indices`` (N,) under one seed.

    An example keeps its seed whichever other examples share its batch.
    """
    seed = as_seed(seed)
    if seed.shape.rank != 1:
        raise ValueError("example_seeds needs one (2,) seed or an int, not per-example seeds")
    return _fold_indices(seed, tf.cast(tf.reshape(indices, [-1]), tf.int32))


@tf.function(reduce_retracing=True)
def _fold_indices(seed: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
    return tf.map_fn(lambda i: tf.cast(tf.random.experimental.stateless_fold_in(seed, i), tf.int64), indices,
                     fn_output_signature=tf.TensorSpec([2], tf.int64))


def _draw(draw: Callable[..., tf.Tensor], shape: Any, seed: Any, dtype: tf.DType, **kwargs: Any) -> tf.Tensor:
    seed = as_seed(seed)
    if seed.shape.rank == 1:
        return draw(shape, seed, dtype=dtype, **kwargs)
    return _draw_rows(draw, tf.convert_to_tensor(shape)[1:], seed, dtype, tuple(sorted(kwargs.items())))


@tf.function(reduce_retracing=True)
def _draw_rows(draw: Callable[..., tf.Tensor], row_shape: tf.Tensor, seed: tf.Tensor, dtype: tf.DType,
               kwargs: tuple[tuple[str, Any], ...]) -> tf.Tensor:
    return tf.map_fn(lambda row: draw(row_shape, row, dtype=dtype, **dict(kwargs)), seed,
                     fn_output_signature=tf.TensorSpec(None, dtype))


def uniform(shape: Any, seed: Any, *, minval: float = 0.0, maxval: float = 1.0,
            dtype: tf.DType = tf.float32) -> tf.Tensor:
    """(N, ...) uniform values in [minval, maxval): one draw for the batch, or one per example's seed."""
    return _draw(tf.random.stateless_uniform, shape, seed, dtype, minval=minval, maxval=maxval)


def normal(shape: Any, seed: Any, *, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """(N, ...) standard normal values: one draw for the batch, or one per example's seed."""
    return _draw(tf.random.stateless_normal, shape, seed, dtype)
