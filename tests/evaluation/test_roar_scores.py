"""ROAR/KAR curve areas and mu scores against the random baseline (hand-computed oracles)."""

import csv
import math

import pytest

from tfrobust.evaluation.roar_scores import curve_area, scores, summarize, write_csv

FRACTIONS = [0.0, 0.1, 0.5, 0.9]


def rows_for(method, mode, curves):
    """One row per (fraction, repeat) from a list of per-repeat accuracy curves."""
    return [{"method": method, "mode": mode, "fraction": f, "repeat": r, "accuracy": a}
            for r, curve in enumerate(curves) for f, a in zip(FRACTIONS, curve)]


def test_curve_area_is_the_trapezoid_sum():
    assert curve_area([0.0, 1.0], [1.0, 0.0]) == pytest.approx(0.5)
    # 0.1 * (0.9 + 0.8) / 2 + 0.4 * (0.8 + 0.4) / 2 + 0.4 * (0.4 + 0.1) / 2
    assert curve_area(FRACTIONS, [0.9, 0.8, 0.4, 0.1]) == pytest.approx(0.085 + 0.24 + 0.1)
    assert curve_area([0.0], [0.7]) == 0.0


@pytest.mark.parametrize("fractions, accuracies", [
    ([0.1, 0.5], [0.5, 0.5]),  # not starting at 0
    ([0.0, 0.5, 0.5], [0.5, 0.5, 0.5]),  # not strictly increasing
    ([0.0, 0.6, 0.3], [0.5, 0.5, 0.5]),
    ([0.0, 1.5], [0.5, 0.5]),
    ([0.0, 0.5], [0.5, 1.2]),  # accuracy out of [0, 1]
    ([0.0, 0.5], [0.5, float("nan")]),
    ([0.0, 0.5], [0.5]),
    ([], []),
])
def test_curve_area_rejects_bad_curves(fractions, accuracies):
    with pytest.raises(ValueError):
        curve_area(fractions, accuracies)


def test_summarize_means_stds_and_order():
    rows = rows_for("gradient", "kar", [[0.9, 0.8, 0.6, 0.2], [0.9, 0.6, 0.6, 0.4]])
    rows += rows_for("gradient", "roar", [[0.9, 0.5, 0.3, 0.1]])
    out = summarize(rows)
    assert [(r["mode"], r["fraction"]) for r in out] == [("roar", f) for f in FRACTIONS] + [
        ("kar", f) for f in FRACTIONS]
    kar = {r["fraction"]: r for r in out if r["mode"] == "kar"}
    assert kar[0.1]["mean"] == pytest.approx(0.7) and kar[0.1]["std"] == pytest.approx(math.sqrt(0.02))
    assert kar[0.0]["std"] == 0.0 and kar[0.0]["n"] == 2
    assert all(r["std"] == 0.0 and r["n"] == 1 for r in out if r["mode"] == "roar")
    assert set(out[0]) == {"method", "mode", "fraction", "mean", "std", "n"}


def test_summarize_rejects_bad_rows():
    good = {"method": "random", "mode": "roar", "fraction": 0.1, "repeat": 0, "accuracy": 0.5}
    with pytest.raises(ValueError, match="duplicate"):
        summarize([good, dict(good)])
    with pytest.raises(ValueError, match="mode"):
        summarize([{**good, "mode": "keep"}])
    with pytest.raises(ValueError, match="accuracy"):
        summarize([{**good, "accuracy": 1.5}])
    with pytest.raises(ValueError, match="fraction"):
        summarize([{**good, "fraction": "x"}])
    with pytest.raises(ValueError, match="lacks"):
        summarize([{k: v for k, v in good.items() if k != "repeat"}])


def test_scores_against_random_baseline():
    # two different random repeats: their mean curve is [0.9, 0.85, 0.7, 0.5]
    rows = rows_for("random", "roar", [[0.9, 0.9, 0.8, 0.6], [0.9, 0.8, 0.6, 0.4]])
    rows += rows_for("random", "kar", [[0.9, 0.5, 0.4, 0.3]])
    rows += rows_for("gradient", "roar", [[0.9, 0.6, 0.3, 0.1]])  # drops faster: better
    rows += rows_for("gradient", "kar", [[0.9, 0.8, 0.7, 0.5]])  # stays higher: better
    rows += rows_for("worse", "roar", [[0.9, 0.9, 0.8, 0.7]])
    got = {(s["method"], s["mode"]): s for s in scores(rows, end_point="none")}
    # the baseline's own areas come from its mean curve (AOC for ROAR, AUC for KAR)
    assert got[("random", "roar")]["area"] == pytest.approx(0.9 - curve_area(FRACTIONS, [0.9, 0.85, 0.7, 0.5]))
    assert got[("random", "kar")]["area"] == pytest.approx(curve_area(FRACTIONS, [0.9, 0.5, 0.4, 0.3]))
    # mu is measured against the named baseline: swapping the roles flips the sign
    swapped = {(s["method"], s["mode"]): s for s in scores(rows, baseline="gradient", end_point="none")}
    for mode in ("roar", "kar"):
        assert swapped[("random", mode)]["mu"] == pytest.approx(-got[("gradient", mode)]["mu"])
        assert swapped[("random", mode)]["mu"] < 0
    assert swapped[("worse", "roar")]["mu"] == pytest.approx(got[("worse", "roar")]["mu"] - got[("gradient", "roar")]["mu"])
    assert got[("gradient", "roar")]["mu"] > 0 and got[("gradient", "kar")]["mu"] > 0
    assert got[("worse", "roar")]["mu"] < 0
    auc_random = curve_area(FRACTIONS, [0.9, 0.85, 0.7, 0.5])
    auc_gradient = curve_area(FRACTIONS, [0.9, 0.6, 0.3, 0.1])
    assert got[("random", "roar")]["area"] == pytest.approx(0.9 - auc_random)  # AOC up to 100%
    assert got[("gradient", "roar")]["mu"] == pytest.approx(auc_random - auc_gradient)
    assert got[("gradient", "kar")]["area"] == pytest.approx(curve_area(FRACTIONS, [0.9, 0.8, 0.7, 0.5]))
    assert got[("gradient", "kar")]["mu"] == pytest.approx(
        curve_area(FRACTIONS, [0.9, 0.8, 0.7, 0.5]) - curve_area(FRACTIONS, [0.9, 0.5, 0.4, 0.3]))
    assert [tuple(s) for s in scores(rows, end_point="none")][0] == ("method", "mode", "area", "mu")


def test_scores_nan_without_comparable_baseline(recwarn):
    rows = rows_for("gradient", "roar", [[0.9, 0.6, 0.3, 0.1]])
    assert math.isnan(scores(rows, end_point="none")[0]["mu"])
    rows += [{"method": "random", "mode": "roar", "fraction": f, "repeat": 0, "accuracy": 0.5}
             for f in (0.0, 0.5)]  # other fractions: not comparable
    assert math.isnan(scores(rows, end_point="none")[0]["mu"])
    assert scores(rows, baseline="gradient", end_point="none")[0]["mu"] == 0.0
    assert len(recwarn) == 0


def test_scores_need_fraction_zero():
    rows = [{"method": "g", "mode": "kar", "fraction": 0.5, "repeat": 0, "accuracy": 0.5}]
    with pytest.raises(ValueError, match="g kar curve: fractions must start at 0"):
        scores(rows, num_classes=2)


def test_write_csv_atomic_and_exact(tmp_path):
    out = write_csv([{"method": "g", "mode": "roar", "area": 0.1, "mu": math.nan, "extra": 1}],
                    tmp_path / "scores.csv", ["method", "mode", "area", "mu"])
    with open(out, newline="") as handle:
        assert list(csv.DictReader(handle)) == [{"method": "g", "mode": "roar", "area": "0.1", "mu": "nan"}]
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]
    with pytest.raises(ValueError, match="lacks"):
        write_csv([{"method": "g"}], tmp_path / "bad.csv", ["method", "mu"])
