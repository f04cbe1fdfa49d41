"""ROAR / KAR curves and interpretability scores against a random baseline (numpy only).

A run of ROAR or KAR gives rows ``(method, mode, fraction, repeat, accuracy)``:
the test accuracy of a model retrained (repeat r) on images whose fraction
``f`` of pixels was replaced. :func:`summarize` averages the repeats per
point, :func:`scores` integrates the mean curves and compares each method with
the random baseline:

    mu_ROAR(g) = AOC(ROAR curve of g) - AOC(ROAR curve of random)
    mu_KAR(g)  = AUC(KAR curve of g)  - AUC(KAR curve of random)

Both are positive when ``g`` beats the random ranking. Accuracies are in
[0, 1] and fractions in [0, 1], so areas are in [0, 1].

End point (``end_point="chance"``, the default): a curve measured up to a
fraction below 1 is closed at ``(1, 1 / num_classes)``, the accuracy of a
classifier that sees no pixel at all. That is the form of the authors' code
(1202kbs/Robustness-and-Interpretability, ``3.5 CIFAR-10 Result
Analysis.ipynb``, ``get_scores``: ``auc([0.0, 0.1, ..., 0.9, 1.0], ...)``
with the last accuracy 0.1 for CIFAR-10's ten classes, for ROAR and for KAR,
whose curve they plot against the fraction removed). Method and baseline share
the end point, so it adds one trapezoid to mu: ``(1 - f_last) / 2`` times the
gap between the two curves at ``f_last`` (``a_g - a_rand`` for KAR,
``a_rand - a_g`` for ROAR). ``end_point="none"`` integrates the measured
points only.

Ref: Kim et al. 2019, sec. 3.2 (the mu scores) and Figs. 4-5; Hooker et al. 2019.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["END_POINTS", "MODES", "curve_area", "summarize", "scores", "write_csv"]

MODES = ("roar", "kar")
#: How a curve ends: ``chance`` closes it at (1, 1/K) (Kim et al.'s code), ``none`` keeps the measured points.
END_POINTS = ("chance", "none")
_KEYS = ("method", "mode", "fraction", "repeat", "accuracy")


def curve_area(fractions: Sequence[float] | np.ndarray, accuracies: Sequence[float] | np.ndarray) -> float:
    """Trapezoid area under an accuracy-vs-fraction curve.

    Args:
        fractions: (K,) strictly increasing fractions in [0, 1], starting at 0
            (the unoccluded model).
        accuracies: (K,) accuracies in [0, 1] at those fractions.

    Returns:
        ``sum_i (f[i+1] - f[i]) * (a[i] + a[i+1]) / 2``; 0.0 for a single point.

    Raises:
        ValueError: lengths differ, empty, non-finite, out of [0, 1], fractions
            not strictly increasing or not starting at 0.
    """
    f = np.asarray(fractions, dtype=np.float64)
    a = np.asarray(accuracies, dtype=np.float64)
    if f.ndim != 1 or a.shape != f.shape or f.size == 0:
        raise ValueError(f"fractions and accuracies must be equal-length 1-D sequences, got {f.shape} and {a.shape}")
    if not (np.isfinite(f).all() and np.isfinite(a).all()):
        raise ValueError("fractions and accuracies must be finite")
    if f[0] != 0.0:
        raise ValueError(f"fractions must start at 0 (the unoccluded accuracy), got {f[0]:g}")
    if (np.diff(f) <= 0).any() or f[-1] > 1.0:
        raise ValueError(f"fractions must be strictly increasing within [0, 1], got {f.tolist()}")
    if (a < 0).any() or (a > 1).any():
        raise ValueError(f"accuracies must be in [0, 1], got {a.tolist()}")
    return float(np.sum(np.diff(f) * (a[1:] + a[:-1]) / 2.0))


def _number(row: Mapping[str, Any], key: str, lo: float, hi: float) -> float:
    value = row[key]
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {value!r} in row {dict(row)}") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{key} must be in [{lo:g}, {hi:g}], got {value!r} in row {dict(row)}")
    return v


def summarize(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean and spread over repeats of every point of every curve.

    Rows are grouped by what they say: a fraction-0 row (the unoccluded
    accuracy) is a point of the (method, mode) curve it is listed under, so a
    runner lists it once per method and mode that should start from it.

    Args:
        rows: dicts with keys ``method`` (str), ``mode`` (``"roar"`` or
            ``"kar"``), ``fraction`` in [0, 1], ``repeat`` (any hashable id) and
            ``accuracy`` in [0, 1]; other keys are ignored.

    Returns:
        One dict per (method, mode, fraction) with keys ``method``, ``mode``,
        ``fraction``, ``mean``, ``std`` (sample std, ddof=1, over repeats; 0.0
        for a single repeat) and ``n`` (number of repeats); methods in order of
        first appearance, then ``roar`` before ``kar``, then ascending fraction.

    Raises:
        ValueError: a missing key, an unknown mode, a value out of range, or
            the same (method, mode, fraction, repeat) twice.
    """
    groups: dict[tuple[str, str, float], dict[Any, float]] = {}
    method_order: dict[str, int] = {}
    for row in rows:
        missing = [key for key in _KEYS if key not in row]
        if missing:
            raise ValueError(f"row {dict(row)} lacks {', '.join(missing)}")
        method, mode = str(row["method"]), row["mode"]
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        fraction = _number(row, "fraction", 0.0, 1.0)
        accuracy = _number(row, "accuracy", 0.0, 1.0)
        points = groups.setdefault((method, mode, fraction), {})
        if row["repeat"] in points:
            raise ValueError(f"duplicate row for method={method} mode={mode} fraction={fraction:g} "
                             f"repeat={row['repeat']!r}")
        points[row["repeat"]] = accuracy
        method_order.setdefault(method, len(method_order))
    out = []
    for method, mode, fraction in sorted(groups, key=lambda g: (method_order[g[0]], MODES.index(g[1]), g[2])):
        values = np.fromiter(groups[(method, mode, fraction)].values(), dtype=np.float64)
        out.append({
            "method": method, "mode": mode, "fraction": fraction, "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if values.size > 1 else 0.0, "n": int(values.size),
        })
    return out


def _chance(end_point: str, num_classes: Any) -> float | None:
    """The accuracy a curve ends at (None: no end point); checks both arguments."""
    if end_point not in END_POINTS:
        raise ValueError(f"end_point must be one of {', '.join(END_POINTS)}, got {end_point!r}")
    if end_point == "none":
        return None
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes: give the number of classes (an integer >= 1) for end_point='chance', "
                         f"got {num_classes!r}")
    return 1.0 / int(num_classes)


def scores(rows: Iterable[Mapping[str, Any]], *, baseline: str = "random", end_point: str = "chance",
           num_classes: int | None = None) -> list[dict[str, Any]]:
    """Kim et al.'s interpretability scores mu_ROAR and mu_KAR of every method.

    The mean curve over repeats (see :func:`summarize`) of each (method, mode)
    is integrated with :func:`curve_area` (so it must include fraction 0),
    after closing it at ``(1, 1 / num_classes)`` with ``end_point="chance"``
    when its last measured fraction is below 1 (module docstring):

    - KAR: ``area = AUC`` (higher: the kept pixels carry the accuracy).
    - ROAR: ``area = AOC := (f_last - f_first) * 1.0 - AUC``, the area between
      100% accuracy and the curve over its fractions (higher: the
      removed pixels mattered). The paper does not say which ceiling its AOC
      uses; any constant ceiling gives the same score, because only
      differences over the same fractions matter:
      ``mu_ROAR = AUC(random) - AUC(g)``.

    ``mu = area(method) - area(baseline)`` for the same mode, so the baseline
    itself scores exactly 0.0. ``mu`` is NaN (silently; callers can test with
    ``math.isnan``) when the baseline has no curve for that mode or was
    measured at other fractions (areas over different grids do not compare).

    Args:
        rows: ROAR/KAR result rows as for :func:`summarize`.
        baseline: method name of the random baseline.
        end_point: ``"chance"`` (default, the authors' form) or ``"none"``.
        num_classes: K, needed for ``end_point="chance"``.

    Returns:
        One dict per (method, mode) with keys ``method``, ``mode``, ``area``
        and ``mu`` (floats); order as in :func:`summarize`.

    Raises:
        ValueError: as :func:`summarize`, a curve without fraction 0, a bad
            ``end_point`` or, for ``"chance"``, a missing ``num_classes``.

    Ref: Kim et al. 2019, sec. 3.2 (definitions of mu_ROAR and mu_KAR).
    """
    chance = _chance(end_point, num_classes)
    curves: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for point in summarize(rows):
        fractions, means = curves.setdefault((point["method"], point["mode"]), ([], []))
        fractions.append(point["fraction"])
        means.append(point["mean"])
    if chance is not None:
        for fractions, means in curves.values():
            if fractions[-1] < 1.0:
                fractions.append(1.0)
                means.append(chance)
    areas: dict[tuple[str, str], float] = {}
    for (method, mode), (fractions, means) in curves.items():
        try:
            auc = curve_area(fractions, means)
        except ValueError as err:
            raise ValueError(f"{method} {mode} curve: {err}") from None
        areas[(method, mode)] = auc if mode == "kar" else (fractions[-1] - fractions[0]) * 1.0 - auc
    out = []
    for (method, mode), area in areas.items():
        base = curves.get((baseline, mode))
        comparable = base is not None and base[0] == curves[(method, mode)][0]
        mu = area - areas[(baseline, mode)] if comparable else math.nan
        out.append({"method": method, "mode": mode, "area": float(area), "mu": float(mu)})
    return out


def write_csv(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike, columns: Sequence[str]) -> Path:
    """Writes dict rows as CSV with a header, atomically (temp file + ``os.replace``).

    Args:
        rows: dicts holding at least every key of ``columns`` (other keys are
            ignored); floats are written with ``repr`` precision, NaN as ``nan``.
        path: the CSV file.
        columns: column names, in order.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: a row lacks one of ``columns``.
    """
    path = Path(path)
    rows = list(rows)
    for row in rows:
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"row {dict(row)} lacks column(s) {', '.join(missing)}")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path
