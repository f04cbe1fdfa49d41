"""Pearson and Spearman correlation in numpy, NaN-safe (docs/architecture.md, Numerics).

Both drop pairs with a non-finite value in either input, and return NaN (never
raise, never warn) for fewer than two remaining pairs or a constant input.

Ref: Kim et al. 2019, sec. 4.2 (correlation of eps with the ROAR/KAR score mu).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["average_ranks", "pearson", "spearman"]

ArrayLike = Sequence[float] | np.ndarray


def _finite_pairs(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"x and y differ in length: {a.size} vs {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def _pearson_finite(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    da = a - a.mean()
    db = b - b.mean()
    denominator = np.sqrt(np.dot(da, da) * np.dot(db, db))
    if not np.isfinite(denominator) or denominator <= 0:
        return float("nan")
    return float(np.clip(np.dot(da, db) / denominator, -1.0, 1.0))


def average_ranks(values: ArrayLike) -> np.ndarray:
    """Ranks 1..n of ``values``, ties sharing their average rank (like ``scipy.stats.rankdata``).

    Args:
        values: (n,) finite numbers.

    Returns:
        (n,) float64 ranks.
    """
    a = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(a.size, dtype=np.float64)
    sorted_values = a[order]
    start = 0
    while start < a.size:
        stop = start + 1
        while stop < a.size and sorted_values[stop] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop]] = (start + stop + 1) / 2.0  # mean of ranks start+1 .. stop
        start = stop
    return ranks


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson's linear correlation coefficient r of paired samples.

    Args:
        x: (n,) numbers; pairs with a NaN/inf in ``x`` or ``y`` are dropped.
        y: (n,) numbers.

    Returns:
        r in [-1, 1]; NaN for fewer than 2 finite pairs or a constant input.

    Raises:
        ValueError: ``x`` and ``y`` differ in length.
    """
    return _pearson_finite(*_finite_pairs(x, y))


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rank correlation rho: Pearson's r of the average ranks.

    Args:
        x: (n,) numbers; pairs with a NaN/inf in ``x`` or ``y`` are dropped.
        y: (n,) numbers.

    Returns:
        rho in [-1, 1]; NaN for fewer than 2 finite pairs or a constant input.

    Raises:
        ValueError: ``x`` and ``y`` differ in length.
    """
    a, b = _finite_pairs(x, y)
    if a.size < 2:
        return float("nan")
    return _pearson_finite(average_ranks(a), average_ranks(b))
