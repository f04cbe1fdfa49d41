"""Post-processing of attribution maps: thresholding, permutation, display helpers.

All functions are batched over the first axis (one map per example), take
numpy arrays or tensors, return float32 numpy arrays, never modify their
inputs, and never produce NaN for zero or constant maps (docs/architecture.md, Numerics).
Maps holding NaN or inf (or values beyond float32) are a one-line
ValueError, never silently turned into zeros, 0 or 0.5.

Ref: Noack et al. 2021, sec. 3.1 (thresholding) and 4.4 (permutation);
Kim et al. 2019, Fig. 6 (channel sum + percentile clip display);
Tsipras et al. 2019, Fig. 5 caption (clip to mean +- 3 std).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["threshold", "permute", "channel_sum_clip", "clip_3sigma", "diverging_rgb", "cosine"]


def _batch(maps: Any, name: str = "maps", min_rank: int = 2) -> np.ndarray:
    """``maps`` as a float32 array of rank >= ``min_rank``; NaN, inf or float32 overflow is an error."""
    raw = np.asarray(maps.numpy() if hasattr(maps, "numpy") else maps)
    if raw.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {raw.dtype}")
    with np.errstate(over="ignore"):
        arr = raw.astype(np.float32)
    if arr.ndim < min_rank:
        raise ValueError(f"{name} must be a batch (N, ...) of rank >= {min_rank}, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - np.count_nonzero(finite))
        cause = "overflow float32" if np.isfinite(raw).all() else "are NaN or inf"
        raise ValueError(f"{name} has {bad} non-finite values of {arr.size} (they {cause}); "
                         "post-processing needs finite maps")
    return arr


def _check_fraction(value: Any, name: str, lo: float, hi: float | None) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < lo or (hi is not None and v > hi):
        bound = f"in [{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return v


def threshold(maps: Any, phi: float = 1.0) -> np.ndarray:
    """Zero every value within ``[mean - phi*std, mean + phi*std]`` of its own map.

    Mean and (population) standard deviation are taken over all values of
    each map (all pixels and channels). Values strictly outside the band are
    kept unchanged. A constant map (std 0) becomes all zeros.

    Args:
        maps: (N, ...) float maps, e.g. (N, H, W, C).
        phi: band half-width in standard deviations (>= 0; Noack sec. 4: 1).

    Returns:
        (N, ...) float32 array, same shape.

    Ref: Noack et al. 2021, sec. 3.1.
    """
    phi = _check_fraction(phi, "phi", 0.0, None)
    arr = _batch(maps)
    flat = arr.reshape(arr.shape[0], -1).astype(np.float64)
    mean = flat.mean(axis=1, keepdims=True) if flat.shape[1] else np.zeros((flat.shape[0], 1))
    std = flat.std(axis=1, keepdims=True) if flat.shape[1] else np.zeros((flat.shape[0], 1))
    keep = np.abs(flat - mean) > phi * std
    constant = flat.max(axis=1, initial=0.0) == flat.min(axis=1, initial=0.0) if flat.shape[1] else True
    keep &= ~np.reshape(constant, (-1, 1))
    return np.where(keep, flat, 0.0).astype(np.float32).reshape(arr.shape)


def permute(maps: Any, p: float, *, seed: int = 0) -> np.ndarray:
    """Randomly permute a fraction ``p`` of the pixels of each map among themselves.

    A "pixel" is a spatial position: for (N, H, W, C) maps all C channels of a
    pixel move together (P = H * W pixels); for any other rank every value
    after the batch axis is a pixel (P = prod of the other axes). Per map,
    exactly ``k = floor(p * P + 0.5)`` pixels are drawn without replacement and
    their contents are shuffled by a uniformly random permutation of those k
    positions (so a selected pixel may stay in place by chance); the other
    ``P - k`` pixels are unchanged. Shape and the multiset of values of every
    map are preserved, hence also its mean and std; ``p = 0`` is the identity.

    Args:
        maps: (N, H, W, C) or (N, ...) float maps.
        p: fraction of pixels permuted, in [0, 1] (Noack: 0.1 to 1.0).
        seed: seed of a ``numpy.random.default_rng``; maps get independent draws.

    Returns:
        (N, ...) float32 array, same shape.

    Ref: Noack et al. 2021, sec. 4.4 ("randomly permuted from 10% to 100% of
    pixels in each interpretation").
    """
    p = _check_fraction(p, "p", 0.0, 1.0)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}")
    arr = _batch(maps)
    n = arr.shape[0]
    pixels = arr.reshape(n, -1, arr.shape[-1]) if arr.ndim == 4 else arr.reshape(n, -1, 1)
    count = pixels.shape[1]
    k = int(math.floor(p * count + 0.5))
    out = pixels.copy()
    if k >= 2:
        rng = np.random.default_rng(int(seed))
        for i in range(n):
            chosen = rng.choice(count, size=k, replace=False)
            out[i, chosen] = pixels[i, rng.permutation(chosen)]
    return out.reshape(arr.shape)


def channel_sum_clip(maps: Any, percentile: float = 99.0) -> np.ndarray:
    """Sum over channels, clip ``|value|`` at a per-map percentile, scale to [-1, 1].

    Args:
        maps: (N, H, W, C) maps (channels summed) or (N, H, W) maps (used as is).
        percentile: in (0, 100]; per map the clip level is this percentile of
            the absolute channel sums (Kim Fig. 6: 99).

    Returns:
        (N, H, W) float32 array in [-1, 1]; an all-zero map stays zero.

    Ref: Kim et al. 2019, Fig. 6.
    """
    percentile = _check_fraction(percentile, "percentile", 0.0, 100.0)
    if percentile == 0.0:
        raise ValueError("percentile must be in (0, 100], got 0")
    arr = _batch(maps, min_rank=3)
    if arr.ndim == 4:
        summed = arr.astype(np.float64).sum(axis=-1)
    elif arr.ndim == 3:
        summed = arr.astype(np.float64)
    else:
        raise ValueError(f"maps must have shape (N, H, W, C) or (N, H, W), got {arr.shape}")
    flat = np.abs(summed.reshape(summed.shape[0], -1))
    level = (np.percentile(flat, percentile, axis=1) if flat.shape[1] else np.zeros(flat.shape[0]))
    level = level.reshape((-1,) + (1,) * (summed.ndim - 1))
    safe = np.where(level > 0, level, 1.0)
    out = np.where(level > 0, np.clip(summed, -level, level) / safe, 0.0)
    return out.astype(np.float32)


def clip_3sigma(maps: Any) -> np.ndarray:
    """Clip each map to ``mean +- 3 std`` and rescale that range to [0, 1].

    Args:
        maps: (N, ...) float maps.

    Returns:
        (N, ...) float32 array in [0, 1], same shape; a constant map gives 0.5.

    Ref: Tsipras et al. 2019, Fig. 5 caption.
    """
    arr = _batch(maps)
    flat = arr.reshape(arr.shape[0], -1).astype(np.float64)
    if flat.shape[1] == 0:
        return arr.copy()
    mean = flat.mean(axis=1, keepdims=True)
    std = flat.std(axis=1, keepdims=True)
    lo, hi = mean - 3 * std, mean + 3 * std
    width = hi - lo
    ok = width > 0
    scaled = (np.clip(flat, lo, hi) - lo) / np.where(ok, width, 1.0)
    out = np.where(ok, scaled, 0.5)
    return out.astype(np.float32).reshape(arr.shape)


def diverging_rgb(maps2d: Any) -> np.ndarray:
    """Signed maps to a blue-white-red colour image, scaled per map by ``max |value|``.

    ``-max`` is blue (0, 0, 1), 0 is white (1, 1, 1), ``+max`` is red (1, 0, 0),
    linear in between. An all-zero map is white.

    Args:
        maps2d: (N, H, W) signed maps (e.g. from :func:`channel_sum_clip`).

    Returns:
        (N, H, W, 3) float32 RGB in [0, 1].
    """
    arr = _batch(maps2d, "maps2d", min_rank=3)
    if arr.ndim != 3:
        raise ValueError(f"maps2d must have shape (N, H, W), got {arr.shape}")
    values = arr.astype(np.float64)
    scale = np.abs(values).reshape(values.shape[0], -1).max(axis=1, initial=0.0).reshape(-1, 1, 1)
    v = np.where(scale > 0, values / np.where(scale > 0, scale, 1.0), 0.0)
    pos, neg = np.clip(v, 0.0, 1.0), np.clip(-v, 0.0, 1.0)
    rgb = np.stack([1.0 - neg, 1.0 - pos - neg, 1.0 - pos], axis=-1)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def cosine(a: Any, b: Any) -> np.ndarray:
    """Per-example cosine similarity of flattened maps; 0 where either map is zero.

    Args:
        a: (N, ...) maps.
        b: (N, ...) maps, same shape as ``a``.

    Returns:
        (N,) float32 cosines in [-1, 1].

    Ref: Noack et al. 2021, Fig. 3 (cosine between targets and gradients).
    """
    fa, fb = _batch(a, "a"), _batch(b, "b")
    if fa.shape != fb.shape:
        raise ValueError(f"a and b must have the same shape, got {fa.shape} and {fb.shape}")
    va = fa.reshape(fa.shape[0], -1).astype(np.float64)
    vb = fb.reshape(fb.shape[0], -1).astype(np.float64)
    denom = np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1)
    dot = np.sum(va * vb, axis=1)
    out = np.where(denom > 0, dot / np.where(denom > 0, denom, 1.0), 0.0)
    return np.clip(out, -1.0, 1.0).astype(np.float32)
