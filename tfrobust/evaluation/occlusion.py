"""Pixel occlusion by attribution rank for ROAR and KAR (remove / keep and retrain).

An attribution map ranks the pixels of its image; ROAR replaces the fraction
``f`` of pixels ranked *most* important with a fill value, KAR the fraction
``f`` ranked *least* important. A "pixel" is a spatial position: all channels
of a pixel are replaced together. Per image exactly
``k = occluded_count(f, H * W) = floor(f * H * W + 0.5)`` pixels are replaced,
so ROAR at ``f`` and KAR at ``f'`` are complements whenever the two counts add
up to ``H * W``.

The numpy functions (:func:`importance_ranks`, :func:`occlusion_mask`,
:func:`fill_values`) prepare ranks and fills once per data set;
:func:`occlude` applies them in TensorFlow (inside ``tf.data`` maps and
compiled train steps) and gives the same pixels as :func:`occlusion_mask`.

Ref: Kim et al. 2019, sec. 3.2 (ROAR/KAR with a constant fill, fractions
0.1 to 0.9); Hooker et al. 2019 (ROAR, per-channel mean fill).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["TIES", "importance_ranks", "occluded_count", "occlusion_mask", "occlude", "fill_values"]

MODES = ("abs", "signed")
#: Tie-breaking of equal scores: ``index`` (row-major order) or ``random`` (seeded).
TIES = ("index", "random")
_CHUNK_VALUES = 1 << 22  # map values sorted per chunk (about 16 MB of float32 scores)


def _array(values: Any) -> np.ndarray:
    return np.asarray(values.numpy() if hasattr(values, "numpy") else values)


def _fraction(fraction: Any) -> float:
    if isinstance(fraction, np.ndarray) and fraction.ndim == 0:
        fraction = fraction.item()
    if isinstance(fraction, bool) or not isinstance(fraction, (Real, np.number)):
        raise ValueError(f"fraction must be a number in [0, 1], got {fraction!r}")
    value = float(fraction)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    return value


def importance_ranks(maps: Any, *, mode: str = "abs", ties: str = "index", seed: int = 0) -> np.ndarray:
    """Ranks the pixels of each map by importance; rank 0 is the most important.

    Channels are reduced first: ``mode="abs"`` scores a pixel by the sum over
    channels of ``|map|``, ``mode="signed"`` by the plain sum over channels
    (larger is more important, so negative evidence ranks last). Among equal
    scores, with ``ties="index"`` the lower row-major pixel index ``h * W + w``
    ranks first, so a constant map ranks pixels in reading order; with
    ``ties="random"`` they are ordered by a uniform random key drawn per pixel
    from ``numpy.random.default_rng(seed)`` (the same ranks for any chunking).
    Kim et al.'s code breaks ties at random too: it adds U(0, 1e-8) noise to
    every map before thresholding (``3.4 CIFAR-10 ROAR KAR.ipynb``,
    ``occlude_dataset``), which also reorders scores closer than 1e-8; here
    only exactly equal scores are reordered. Examples are sorted in chunks
    (stable argsort), so 60,000 maps of 28 x 28 take a few seconds and little
    memory beyond the (N, H, W) int32 result.

    Args:
        maps: (N, H, W, C) or (N, H, W) finite attribution maps (numpy or tensor).
        mode: ``"abs"`` or ``"signed"`` channel reduction.
        ties: ``"index"`` or ``"random"`` order among equal scores.
        seed: seed of the random tie-breaking keys (``ties="random"``).

    Returns:
        (N, H, W) int32 array; each image holds a permutation of 0 .. H*W - 1.

    Raises:
        ValueError: bad ``mode``, ``ties``, shape, empty image or non-finite values.

    Ref: Kim et al. 2019, sec. 3.2; Hooker et al. 2019, sec. 3.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    rng = np.random.default_rng(seed) if ties == "random" else None
    arr = _array(maps)
    if arr.ndim not in (3, 4):
        raise ValueError(f"maps must have shape (N, H, W, C) or (N, H, W), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"maps must be real numbers, got dtype {arr.dtype}")
    n, h, w = arr.shape[:3]
    pixels = h * w
    if pixels == 0 or (arr.ndim == 4 and arr.shape[3] == 0):
        raise ValueError(f"maps must have at least one pixel and channel, got shape {arr.shape}")
    ranks = np.empty((n, pixels), np.int32)
    positions = np.broadcast_to(np.arange(pixels, dtype=np.int32), (1, pixels))
    chunk = max(1, _CHUNK_VALUES // (pixels * (arr.shape[3] if arr.ndim == 4 else 1)))
    for start in range(0, n, chunk):
        part = arr[start:start + chunk].astype(np.float64 if arr.dtype == np.float64 else np.float32)
        part = part.reshape(part.shape[0], pixels, -1)
        score = (np.abs(part) if mode == "abs" else part).sum(axis=-1)
        if not np.isfinite(score).all():
            raise ValueError("maps must be finite (found NaN or inf after the channel reduction)")
        if rng is None:
            order = np.argsort(-score, axis=1, kind="stable")  # descending, ties by index
        else:  # descending, ties by a random key (lexsort: the last key is the primary one)
            order = np.lexsort((rng.random(score.shape), -score), axis=1)
        np.put_along_axis(ranks[start:start + chunk], order,
                          np.broadcast_to(positions, order.shape), axis=1)
    return ranks.reshape(n, h, w)


def occluded_count(fraction: float, num_pixels: int) -> int:
    """Number of pixels replaced per image: ``floor(fraction * num_pixels + 0.5)``.

    Args:
        fraction: fraction of pixels replaced, in [0, 1].
        num_pixels: pixels per image, ``H * W`` (>= 0).

    Returns:
        The count k, rounded half up, in ``[0, num_pixels]``.

    Raises:
        ValueError: ``fraction`` outside [0, 1] or ``num_pixels`` not an int >= 0.
    """
    value = _fraction(fraction)
    if isinstance(num_pixels, bool) or not isinstance(num_pixels, (int, np.integer)) or num_pixels < 0:
        raise ValueError(f"num_pixels must be an integer >= 0, got {num_pixels!r}")
    return min(int(num_pixels), int(math.floor(value * int(num_pixels) + 0.5)))


def occlusion_mask(ranks: Any, fraction: float, *, keep: bool = False) -> np.ndarray:
    """Which pixels ROAR (``keep=False``) or KAR (``keep=True``) replaces.

    With ``P = H * W`` and ``k = occluded_count(fraction, P)``, ROAR replaces
    the k most important pixels (``ranks < k``) and KAR the k least important
    ones (``ranks >= P - k``), i.e. KAR keeps the ``P - k`` most important.

    Args:
        ranks: (N, H, W) (or a single (H, W)) integer ranks from
            :func:`importance_ranks`; exactly k pixels per image are selected
            when each image's ranks are a permutation of 0 .. P - 1.
        fraction: fraction of pixels replaced, in [0, 1].
        keep: False for ROAR (remove the most important), True for KAR.

    Returns:
        bool array with the shape of ``ranks``; True marks a replaced pixel.

    Raises:
        ValueError: bad ``fraction``, or ``ranks`` not integer (N, H, W) / (H, W).

    Ref: Kim et al. 2019, sec. 3.2; Hooker et al. 2019.
    """
    arr = _array(ranks)
    if arr.ndim not in (2, 3) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ranks must be integer (N, H, W) or (H, W), got {arr.dtype} {arr.shape}")
    pixels = arr.shape[-2] * arr.shape[-1]
    k = occluded_count(fraction, pixels)
    return arr >= pixels - k if keep else arr < k


def _count_tensor(fraction: Any, pixels: tf.Tensor) -> tf.Tensor:
    """k as an int64 tensor: ``floor(f * P + 0.5)`` in float64, clipped to [0, P]."""
    f = tf.cast(fraction, tf.float64)
    p = tf.cast(pixels, tf.float64)
    k = tf.clip_by_value(tf.floor(f * p + 0.5), 0.0, p)
    return tf.cast(k, tf.int64)


def occlude(x: Any, ranks: Any, fraction: Any, *, keep: bool = False, fill: Any = 0.0) -> tf.Tensor:
    """Replaces the ROAR / KAR pixels of images with a fill value, in TensorFlow.

    Selects the same pixels as :func:`occlusion_mask` (all channels of a
    selected pixel are replaced). Works eagerly, in ``tf.data`` maps, in
    ``tf.function`` and under ``jit_compile=True``. A Python ``fraction`` (or a
    tensor with a known value) is validated and counted exactly like
    :func:`occluded_count`; a symbolic scalar tensor is counted in float64 as
    ``floor(f * P + 0.5)`` clipped to [0, P] (no error can be raised in a graph).

    Args:
        x: (H, W, C) image or (N, H, W, C) batch.
        ranks: (H, W) or (N, H, W) integer ranks matching ``x`` (one map per image).
        fraction: fraction of pixels replaced, in [0, 1]; Python float or scalar tensor.
        keep: False for ROAR (replace the most important), True for KAR
            (replace the least important).
        fill: scalar or (C,) per-channel value in data units (e.g. from
            :func:`fill_values`); cast to ``x``'s dtype.

    Returns:
        Tensor with the shape and dtype of ``x``.

    Raises:
        ValueError: mismatched shapes, non-integer ranks, bad fill or fraction.

    Ref: Kim et al. 2019, sec. 3.2; Hooker et al. 2019.
    """
    x = tf.convert_to_tensor(x)
    ranks = tf.convert_to_tensor(ranks)
    if x.shape.rank not in (3, 4):
        raise ValueError(f"x must have shape (H, W, C) or (N, H, W, C), got {x.shape}")
    if not ranks.dtype.is_integer:
        raise ValueError(f"ranks must be integers, got dtype {ranks.dtype.name}")
    if ranks.shape.rank != x.shape.rank - 1:
        raise ValueError(f"ranks must have shape {'(N, H, W)' if x.shape.rank == 4 else '(H, W)'} "
                         f"to match x {x.shape}, got {ranks.shape}")
    if not x.shape[:-1].is_compatible_with(ranks.shape):
        raise ValueError(f"ranks {ranks.shape} do not match the pixels of x {x.shape}")
    fill_t = tf.cast(tf.convert_to_tensor(fill), x.dtype)
    if fill_t.shape.rank is None or fill_t.shape.rank > 1:
        raise ValueError(f"fill must be a scalar or a (C,) vector, got shape {fill_t.shape}")
    if fill_t.shape.rank == 1 and not fill_t.shape.is_compatible_with(x.shape[-1:]):
        raise ValueError(f"fill has {fill_t.shape[0]} values but x has {x.shape[-1]} channels")
    if not isinstance(keep, (bool, np.bool_)):
        raise ValueError(f"keep must be a bool, got {keep!r}")

    height, width = ranks.shape[-2], ranks.shape[-1]
    static_fraction = fraction if not tf.is_tensor(fraction) else tf.get_static_value(fraction)
    if static_fraction is not None:
        static_fraction = _fraction(static_fraction)
    elif fraction.shape.rank != 0:
        raise ValueError(f"fraction must be a scalar, got shape {fraction.shape}")
    if static_fraction is not None and height is not None and width is not None:
        pixels: Any = height * width
        k: Any = occluded_count(static_fraction, pixels)
    else:
        shape = tf.shape(ranks, out_type=tf.int64)
        pixels = shape[-2] * shape[-1]
        k = _count_tensor(static_fraction if static_fraction is not None else fraction, pixels)
    ranks64 = tf.cast(ranks, tf.int64)
    mask = ranks64 >= tf.cast(pixels, tf.int64) - k if keep else ranks64 < k
    return tf.where(mask[..., tf.newaxis], fill_t, x)


def fill_values(x: Any, kind: Any = "mean") -> np.ndarray:
    """Per-channel fill values for occluded pixels.

    Args:
        x: (N, H, W, C) (training) images, numpy or tensor.
        kind: ``"mean"``: each channel's mean over all images and pixels
            (Hooker et al.'s fill; computed in float64); a finite number: that
            constant for every channel (Kim et al.'s "constant value", e.g. 0,
            the middle of [-1, 1]).

    Returns:
        (C,) float32 array in data units.

    Raises:
        ValueError: ``x`` not (N, H, W, C) with N >= 1 for ``"mean"``, or an
            unknown / non-finite ``kind``.

    Ref: Kim et al. 2019, sec. 3.2; Hooker et al. 2019, sec. 3.
    """
    arr = _array(x)
    if arr.ndim != 4:
        raise ValueError(f"x must have shape (N, H, W, C), got {arr.shape}")
    channels = arr.shape[-1]
    if isinstance(kind, str):
        if kind != "mean":
            raise ValueError(f"kind must be 'mean' or a number, got {kind!r}")
        if arr.size == 0:
            raise ValueError(f"x must hold at least one pixel for kind='mean', got shape {arr.shape}")
        return arr.mean(axis=(0, 1, 2), dtype=np.float64).astype(np.float32)
    if isinstance(kind, bool) or not isinstance(kind, (Real, np.number)) or not math.isfinite(float(kind)):
        raise ValueError(f"kind must be 'mean' or a finite number, got {kind!r}")
    return np.full((channels,), float(kind), np.float32)
