"""SmoothGrad: the mean of a gradient map over Gaussian-noised copies of x.

Ref: Smilkov et al. 2017; Noack et al. 2021, sec. 3.1 (eq. for ``I^SmG``) and
sec. 4.1 (``sigma = 0.15`` on [0, 1] data, ``N = 50`` samples, logit-gradient
base). Registered as the attribution ``"smoothgrad"``.

Noise is ABSOLUTE, in data units: ``x + e`` with ``e ~ N(0, sigma^2)``, so
``sigma = 0.15`` means 0.15 of a [0, 1] pixel (PAIR saliency and
tf-keras-vis instead scale sigma by each input's value range; convert with
``sigma = level * (hi - lo)`` if you want theirs). The noisy inputs are NOT
clipped to the data bounds unless ``clip=True`` (SmoothGrad does not clip);
the bounds clipped to are the data's, which callers pass through the
attribution protocol keyword ``bounds``. Noack et al.'s code
(a1noack/interp_regularization, ``ir_utils/interp_generators.py``,
``smoothgrad``) clips the noisy copies to [0, 1] and averages them together
with the clean input (``j + 1 = 51`` maps for ``j = 50``):
``clip=True, include_clean=True`` with ``bounds=(0, 1)``.

Speed and memory: all samples of a batch are evaluated inside ONE compiled
``tf.function`` (cached per model, base, chunk, clip bounds and include_clean;
the maps of each chunk compiled with XLA where
:func:`tfrobust.attribution.compile_mode.default_jit` says so for the device:
graph mode on CPU, measured; the noise is drawn in graph mode either way, as
XLA draws different stateless random numbers), ``chunk`` noisy
copies of every example at a time, i.e. batches of ``chunk * N`` inputs,
accumulated over ``ceil(samples / chunk)`` iterations of a ``tf.while_loop``.
The noise of sample ``s`` is ``stateless_normal(shape(x), fold_in(seed, s))``
and samples are summed in index order, so the result does not depend on
``chunk`` (exactly, up to any batch-size dependence of the model's kernels).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from tfrobust.attribution.checks import check_bounds, check_in_bounds
from tfrobust.attribution.compile_mode import default_jit
from tfrobust.attribution.gradient import BASE_MAPS, ModelFn, check_map, compiled, prepare
from tfrobust.config import FLOAT32_MAX, check_int
from tfrobust.registry import register

__all__ = ["smoothgrad", "smoothgrad_builder", "seed_tensor", "DEFAULT_CHUNK"]

#: Noisy copies per example evaluated together when ``chunk`` is not given.
DEFAULT_CHUNK = 16


def seed_tensor(seed: Any) -> tf.Tensor:
    """An int or a (2,) int seed as a (2,) int64 tensor for stateless ops.

    Raises:
        ValueError: ``seed`` is neither.
    """
    if isinstance(seed, bool):
        raise ValueError(f"seed must be an int or a pair of ints, got {seed!r}")
    if isinstance(seed, (int, np.integer)):
        return tf.constant([int(seed), 0], tf.int64)
    try:
        raw = tf.reshape(tf.convert_to_tensor(seed), [2])
    except (TypeError, ValueError, tf.errors.InvalidArgumentError):
        raise ValueError(f"seed must be an int or a pair of ints, got {seed!r}") from None
    if raw.dtype.is_floating and tf.executing_eagerly() and not bool(
            tf.reduce_all(tf.math.is_finite(raw) & tf.equal(raw, tf.round(raw)))):
        raise ValueError(f"seed must be an int or a pair of ints, got {seed!r}")
    if not (raw.dtype.is_integer or raw.dtype.is_floating):
        raise ValueError(f"seed must be an int or a pair of ints, got dtype {raw.dtype.name}")
    return tf.cast(raw, tf.int64)


def smoothgrad_builder(model_fn: ModelFn, base: str, chunk: int, bounds: tuple[float, float] | None,
                       include_clean: bool = False, jit_compile: bool = False
                       ) -> Callable[[], Callable[..., tf.Tensor]]:
    """A builder of SmoothGrad's traceable core, ``fn(x, y, sigma, samples, seed) -> maps``, as :func:`smoothgrad`
    compiles it (its noise, chunking and clipping); for callers that trace it into their own functions (the
    serving export, :mod:`tfrobust.training.serving`)."""
    base_fn = BASE_MAPS[base]

    def build() -> Callable[..., tf.Tensor]:
        # Eagerly, the maps of a chunk are compiled by XLA where that is the device's default; the
        # loop and the noise stay in graph mode (XLA draws other stateless random numbers, and
        # XLA while loops were measured slow on CPU). Traced, the caller's graph decides.
        def base_maps(inputs: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
            return base_fn(model_fn, inputs, labels)

        maps_fn = tf.function(base_maps, jit_compile=True) if jit_compile and tf.executing_eagerly() else base_maps

        def smooth(x: tf.Tensor, y: tf.Tensor, sigma: tf.Tensor, samples: tf.Tensor,
                   seed: tf.Tensor) -> tf.Tensor:
            shape = tf.shape(x)
            rank = x.shape.rank
            x_tiled = tf.tile(x, [chunk] + [1] * (rank - 1))  # (chunk * N, ...), sample-major
            y_tiled = tf.tile(y, [chunk])
            n_chunks = (samples + chunk - 1) // chunk

            def body(c: tf.Tensor, total: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                first = c * chunk
                noise = tf.concat(
                    [tf.random.stateless_normal(
                        shape, seed=tf.random.experimental.stateless_fold_in(seed, first + j))
                     for j in range(chunk)], axis=0)
                noisy = x_tiled + sigma * noise
                if bounds is not None:
                    noisy = tf.clip_by_value(noisy, bounds[0], bounds[1])
                maps = tf.reshape(maps_fn(noisy, y_tiled), tf.concat([[chunk], shape], 0))
                for j in range(chunk):  # add in sample order: chunk-independent sums
                    weight = tf.cast(first + j < samples, tf.float32)
                    total = total + weight * maps[j]
                return c + 1, total

            _, total = tf.while_loop(lambda c, total: c < n_chunks, body,
                                     (tf.constant(0, tf.int32), tf.zeros_like(x)))
            if include_clean:  # the unnoised input as one more sample (Noack et al.'s code)
                return (total + maps_fn(x, y)) / tf.cast(samples + 1, tf.float32)
            return total / tf.cast(samples, tf.float32)

        return smooth

    return build


@register("attributions", "smoothgrad")
def smoothgrad(
    model: ModelFn,
    x: Any,
    y: Any,
    *,
    base: Literal["logit_gradient", "gradient", "gradient_input"] = "logit_gradient",
    sigma: float = 0.15,
    samples: int = 50,
    seed: int | tuple[int, int] = 0,
    chunk: int | None = None,
    clip: bool = False,
    include_clean: bool = False,
    bounds: tuple[float, float] | None = None,
) -> tf.Tensor:
    """SmoothGrad ``mean_s base(x + e_s)``, ``e_s ~ N(0, sigma^2)`` i.i.d. per value.

    Args:
        model: maps (N, ...) inputs to (N, K) logits; run with ``training=False``.
        x: (N, H, W, C) (or any (N, ...)) float32 inputs in data units; never modified.
        y: (N,) int class labels.
        base: the map averaged: ``"logit_gradient"`` (Noack's targets),
            ``"gradient"`` or ``"gradient_input"`` (which multiplies by the
            noisy input).
        sigma: noise standard deviation, ABSOLUTE in data units (>= 0;
            Noack: 0.15 on [0, 1] data). Not scaled by the input's range.
        samples: number of noisy copies averaged (>= 1; Noack: 50).
        seed: int or (2,) int (a tensor too, e.g. a per-step seed); sample
            ``s`` uses noise drawn from ``fold_in(seed, s)`` for the whole
            batch, so results do not depend on ``chunk`` (but the noise of an
            example depends on the batch's shape, not only on the example).
        chunk: noisy copies of each example evaluated together (>= 1;
            default ``min(samples, 16)``); memory grows as ``chunk * N``.
        clip: clip the noisy inputs to ``bounds`` (Noack et al.'s code);
            default False: no clipping, as in SmoothGrad.
        include_clean: also average the map of the unnoised ``x``, i.e.
            ``(base(x) + sum_s base(x + e_s)) / (samples + 1)`` (Noack et
            al.'s code); default False, the plain SmoothGrad mean.
        bounds: the data's value range (lo, hi), the attribution protocol
            keyword (:func:`tfrobust.attribution.attribute` passes it); used
            only with ``clip`` (then required, and ``x`` must lie within it).

    Returns:
        (N, ...) float32 tensor, same shape as ``x``.

    Raises:
        ValueError: unknown ``base`` or an option out of range (named in the
            message), ``clip`` without ``bounds``; eagerly also NaN/inf in
            ``x``, ``x`` outside ``bounds`` (with ``clip``), labels not integers
            in [0, K), or a non-finite map.

    Ref: Noack et al. 2021, sec. 3.1 and 4.1; Smilkov et al. 2017.
    """
    if base not in BASE_MAPS:
        raise ValueError(f"base must be one of {', '.join(sorted(BASE_MAPS))}, got {base!r}")
    try:
        sigma_f = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be a number >= 0, got {sigma!r}") from None
    if not math.isfinite(sigma_f) or sigma_f < 0 or sigma_f > FLOAT32_MAX:
        raise ValueError(f"sigma must be a finite number >= 0 within float32 range, got {sigma!r}")
    n = check_int(samples, name="samples", minimum=1)
    size = min(n, DEFAULT_CHUNK) if chunk is None else min(check_int(chunk, name="chunk", minimum=1), n)
    for flag, value in (("clip", clip), ("include_clean", include_clean)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be true or false, got {value!r}")
    limits = check_bounds(bounds) if bounds is not None else None
    if clip and limits is None:
        raise ValueError("clip: smoothgrad clips the noisy copies to the data's bounds; pass bounds=(lo, hi)")
    clip_to = limits if clip else None
    seed_t = seed_tensor(seed)
    x, y = prepare(x, y, model)
    if clip_to is not None:
        check_in_bounds(x, *clip_to)
    jit = default_jit()
    key = ("smoothgrad", base, size, clip_to) + (("include_clean",) if include_clean else ()) + (("xla",) if jit else ())
    fn = compiled(model, key, smoothgrad_builder(model, base, size, clip_to, include_clean, jit))
    maps = fn(x, y, tf.constant(sigma_f, tf.float32), tf.constant(n, tf.int32), seed_t)
    check_map(maps, "smoothgrad")
    return maps
