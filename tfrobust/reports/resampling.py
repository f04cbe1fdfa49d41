"""Resampling for claims (:mod:`tfrobust.reports.claims`): row-wise statistics, the percentile
bootstrap interval and the permutation test, in numpy.

Every statistic works on (B, n) arrays, one resample or arrangement per row, so
thousands of them cost one vectorised call. NaN marks an undefined statistic
(a constant row), never an error.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from tfrobust.reports.correlation import average_ranks

__all__ = ["arrangements", "bootstrap_interval", "paired_statistic", "permutation_p", "row_pearson", "row_ranks",
           "row_slope", "sign_flips"]


def row_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1..n, ties sharing theirs) of each row of a (B, n) array."""
    batch, n = values.shape
    if n > 64:
        return np.stack([average_ranks(row) for row in values])
    out = np.empty((batch, n), dtype=np.float64)
    step = max(1, 2_000_000 // max(n * n, 1))
    for start in range(0, batch, step):
        part = values[start:start + step]
        less = (part[:, :, None] > part[:, None, :]).sum(axis=2)
        equal = (part[:, :, None] == part[:, None, :]).sum(axis=2)
        out[start:start + step] = less + (equal + 1) / 2.0
    return out


def row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair of (B, n) arrays; NaN where a row is constant."""
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    sxx, syy = (dx * dx).sum(axis=1), (dy * dy).sum(axis=1)
    ok = (np.ptp(x, axis=1) > 0) & (np.ptp(y, axis=1) > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (dx * dy).sum(axis=1) / np.sqrt(sxx * syy)
    return np.where(ok, np.clip(r, -1.0, 1.0), np.nan)


def row_slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x for each row pair of (B, n) arrays; NaN where x is constant."""
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    ok = np.ptp(x, axis=1) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (dx * dy).sum(axis=1) / (dx * dx).sum(axis=1)
    return np.where(ok, slope, np.nan)


def paired_statistic(test: str, method: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The statistic of a ``slope`` or ``correlation`` claim for each row pair of (B, n) arrays.

    Args:
        test: ``slope`` (least squares, y on x) or ``correlation``.
        method: for a correlation, ``spearman`` (Pearson's r of average ranks) or ``pearson``.
        x: (B, n) values.
        y: (B, n) values.

    Returns:
        (B,) statistics, NaN where undefined.
    """
    if test == "slope":
        return row_slope(x, y)
    if method == "spearman":
        return row_pearson(row_ranks(x), row_ranks(y))
    return row_pearson(x, y)


def bootstrap_interval(samples: np.ndarray, level: float) -> tuple[float, float, int]:
    """The percentile interval of bootstrap statistics; undefined (NaN) ones count against it.

    Args:
        samples: (B,) statistics of the resamples, NaN where undefined.
        level: confidence level, e.g. 0.95.

    Returns:
        ``(low, high, undefined)``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` order
        statistics with NaN taken as -inf for ``low`` and +inf for ``high``, and the number of
        undefined resamples.
    """
    values = np.asarray(samples, dtype=np.float64).ravel()
    undefined = int(np.isnan(values).sum())
    k = int(math.floor((1.0 - level) / 2.0 * values.size + 1e-9))
    low = np.sort(np.where(np.isnan(values), -np.inf, values))[k]
    high = np.sort(np.where(np.isnan(values), np.inf, values))[values.size - 1 - k]
    return float(low), float(high), undefined


def arrangements(n: int, k: int | None, limit: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Index arrangements of a permutation test, and whether they are all of them.

    Every arrangement when there are at most ``limit`` (exact test), else ``limit`` random ones.
    ``k`` None: orders of the ``n`` rows; else the ways to put ``k`` of the ``n`` rows first (group a)
    and the rest after. Each row of the (m, n) result is one arrangement.
    """
    if k is None:
        if math.factorial(n) <= limit:
            return np.array(list(itertools.permutations(range(n))), dtype=np.int64), True
    elif math.comb(n, k) <= limit:
        rows = [[*first, *(i for i in range(n) if i not in first)] for first in itertools.combinations(range(n), k)]
        return np.array(rows, dtype=np.int64), True
    return rng.permuted(np.tile(np.arange(n), (limit, 1)), axis=1), False


def sign_flips(n: int, limit: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Signs (+1/-1) of a paired permutation test, and whether they are all of them.

    Every one of the 2^n sign vectors when there are at most ``limit`` (exact test), else ``limit``
    random ones. Each row of the (m, n) result is one arrangement.
    """
    if 2 ** n <= limit:
        return np.array(list(itertools.product((1.0, -1.0), repeat=n)), dtype=np.float64), True
    return rng.choice(np.array([1.0, -1.0]), size=(limit, n)), False


def permutation_p(value: float, permuted: np.ndarray, side: int, *, exact: bool) -> float:
    """One-sided permutation p-value of ``value`` on its ``side``.

    Args:
        value: the statistic on the data.
        permuted: the statistic under the arrangements; NaN ones count as extreme.
        side: +1: the share of arrangements with T >= value; -1: with T <= value (ties within 1e-9 count).
        exact: ``permuted`` holds every arrangement (the data's own among them): the plain share;
            else random arrangements, the data's own added: ``(1 + count) / (1 + m)``.

    Returns:
        The p-value in (0, 1].
    """
    stats = np.asarray(permuted, dtype=np.float64).ravel() * side
    tolerance = 1e-9 * max(1.0, abs(value))
    extreme = int((np.isnan(stats) | (stats >= value * side - tolerance)).sum())
    return extreme / stats.size if exact else (1 + extreme) / (1 + stats.size)
