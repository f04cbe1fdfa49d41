"""Claims (issue 19): verdicts on synthetic result tables with known answers, the interval, validation.

Every table here is built in memory (a :class:`StudyData` with ``results`` as
the runner writes them: text), so no study runs and no TensorFlow is loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfrobust.reports.claims import (
    CLAIM_COLUMNS,
    bootstrap_interval,
    check_claim,
    check_claims_section,
    claims_html,
    evaluate_claim,
    evaluate_claims,
    permutation_p,
    verdict_of,
)
from tfrobust.reports.correlation import average_ranks, pearson, spearman
from tfrobust.reports.frame import StudyData
from tfrobust.reports.resampling import (
    arrangements,
    paired_statistic,
    row_pearson,
    row_ranks,
    row_slope,
    sign_flips,
)


def study(x, y, *, group=None, ledger=None, root=Path("/nonexistent")):
    """One stage ``m`` over grid keys ``eps`` and ``seed``: metric ``m.y`` (and ``m.g`` when ``group``)."""
    rows = []
    for i, (xv, yv) in enumerate(zip(x, y)):
        row = {"id": f"m__eps-{xv}__seed-{i}", "stage": "m", "eps": repr(float(xv)), "seed": str(i), "y": repr(float(yv))}
        if group is not None:
            row["g"] = str(group[i])
        rows.append(row)
    return StudyData(root=root, results=pd.DataFrame(rows, dtype=str), grid_keys=("eps", "seed"),
                     cells=ledger or [])


def claim(**fields):
    base = {"id": "c", "paper": "Paper 2019, Fig. 1: y grows with eps", "stages": ["m"], "test": "slope",
            "x": "eps", "y": "m.y", "direction": "positive"}
    return check_claim({k: v for k, v in {**base, **fields}.items() if v is not None})


def one(data, **fields):
    (row,) = evaluate_claim(data, claim(**fields))
    return row


def line(n, slope, noise, seed):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, n)
    return x, slope * x + rng.normal(0.0, noise, n)


def test_clear_positive_slope_is_reproduced_and_its_value_is_the_least_squares_slope():
    x, y = line(12, 2.0, 0.05, 0)
    row = one(study(x, y))
    assert row["verdict"] == "reproduced"
    assert row["value"] == pytest.approx(np.polyfit(x, y, 1)[0], rel=1e-9)  # analytic oracle
    assert 0 < row["low"] <= row["value"] <= row["high"] and row["n"] == 12 and row["level"] == 0.95
    assert 1.8 < row["low"] and row["high"] < 2.2


def test_clear_negative_slope_contradicts_a_positive_claim_and_reproduces_a_negative_one():
    x, y = line(12, -1.0, 0.05, 1)
    assert one(study(x, y))["verdict"] == "contradicted"
    assert one(study(x, y), direction="negative")["verdict"] == "reproduced"
    for method in ("spearman", "pearson"):
        row = one(study(x, y), test="correlation", method=method)
        assert row["verdict"] == "contradicted" and row["high"] < 0


def test_pure_noise_is_inconclusive():
    rng = np.random.default_rng(7)
    x, y = np.linspace(0, 1, 20), rng.normal(size=20)
    for fields in ({}, {"test": "correlation"}, {"test": "correlation", "method": "pearson"}):
        row = one(study(x, y), **fields)
        assert row["verdict"] == "inconclusive" and row["low"] < 0 < row["high"], fields


def test_noise_reaches_a_verdict_about_as_often_as_the_level_allows():
    """Over 200 noise tables (n = 20) a 95% interval excludes 0 on the paper's side in about 2.5% of them;
    at level 0.5 far more often: the level is the one used."""
    rates = {}
    for level in (0.95, 0.5):
        verdicts = []
        for seed in range(200):
            rng = np.random.default_rng(1000 + seed)
            data = study(np.linspace(0, 1, 20), rng.normal(size=20))
            verdicts.append(evaluate_claim(data, claim(level=level), resamples=400)[0]["verdict"])
        rates[level] = {v: verdicts.count(v) / len(verdicts) for v in ("reproduced", "contradicted")}
    assert rates[0.95]["reproduced"] <= 0.08 and rates[0.95]["contradicted"] <= 0.08
    assert rates[0.5]["reproduced"] > 0.15 and rates[0.5]["contradicted"] > 0.15


def test_difference_of_means_with_known_separation():
    rng = np.random.default_rng(3)
    ya, yb = 1.0 + rng.normal(0, 0.1, 5), rng.normal(0, 0.1, 5)
    data = study(range(10), [*ya, *yb], group=["adv"] * 5 + ["std"] * 5)
    row = one(data, test="difference", group="m.g", a="adv", b="std", direction="greater", x=None)
    assert row["verdict"] == "reproduced" and row["n"] == 10
    assert row["value"] == pytest.approx(ya.mean() - yb.mean(), rel=1e-12)
    assert 0.7 < row["low"] < row["value"] < row["high"] < 1.3
    assert "5 (m.g=adv) + 5 (m.g=std)" in row["note"]
    assert one(data, test="difference", group="m.g", a="adv", b="std", direction="less", x=None)["verdict"] == \
        "contradicted"
    same = study(range(10), [0.0, 1.0, 2.0, 3.0, 4.0] * 2, group=["adv"] * 5 + ["std"] * 5)  # equal samples
    assert one(same, test="difference", group="m.g", a="adv", b="std", direction="greater",
               x=None)["verdict"] == "inconclusive"


def test_three_seeds_per_group_need_level_0_9_the_exact_permutation_test_decides():
    """3 + 3 rows, perfectly separated: the bootstrap interval excludes 0, but only 1 of the C(6, 3) = 20
    label arrangements is as extreme, so p = 0.05: not enough at level 0.95 (0.025 a side), enough at 0.9.
    Groups are grid values matched as numbers (``a: 0.5`` is the label ``0.5``, ``b: 0`` is ``0.0``)."""
    data = study([0.0] * 3 + [0.5] * 3, [0.0, 0.1, 0.2, 1.0, 1.1, 1.2])
    fields = {"test": "difference", "group": "eps", "a": 0.5, "b": 0, "direction": "greater", "x": None}
    strict = one(data, **fields)
    assert strict["value"] == pytest.approx(1.0) and strict["low"] > 0.8
    assert strict["verdict"] == "inconclusive"
    assert "permutation p = 0.05 (upper tail, all 20 arrangements) > 0.025" in strict["note"]
    assert one(data, **fields, level=0.9)["verdict"] == "reproduced"
    assert one(data, **{**fields, "direction": "less"}, level=0.9)["verdict"] == "contradicted"


def test_paired_difference_of_two_columns_removes_the_rows_own_level():
    """Six seeds whose level varies by +-5 while y - minus = 1 +- 0.01: paired, the 2^6 = 64 sign flips give
    p = 1/64 and the interval sits near 1; the same numbers as two unpaired groups prove nothing."""
    rng = np.random.default_rng(4)
    level = rng.normal(0, 5, 6)
    y, minus = level + 1 + rng.normal(0, 0.01, 6), level
    rows = [{"id": f"m__seed-{i}", "stage": "m", "seed": str(i), "y": repr(float(y[i])), "z": repr(float(minus[i]))}
            for i in range(6)]
    data = StudyData(root=Path("/nonexistent"), results=pd.DataFrame(rows, dtype=str), grid_keys=("seed",))
    row = one(data, test="paired", y="m.y", minus="m.z", direction="greater", x=None)
    assert row["verdict"] == "reproduced" and row["n"] == 6 and row["value"] == pytest.approx((y - minus).mean())
    assert 0.98 < row["low"] < row["high"] < 1.02
    assert "permutation p = 0.0156 (upper tail, all 64 arrangements)" in row["note"]
    assert one(data, test="paired", y="m.y", minus="m.z", direction="less", x=None)["verdict"] == "contradicted"
    three = StudyData(root=data.root, results=data.results.iloc[:3], grid_keys=("seed",))
    row = one(three, test="paired", y="m.y", minus="m.z", direction="greater", x=None, level=0.9)
    assert row["verdict"] == "inconclusive" and "p = 0.125" in row["note"]  # 1 of 2^3 sign patterns
    long = [{**r, "g": g, "v": r[k]} for r in rows for g, k in (("y", "y"), ("z", "z"))]
    unpaired = StudyData(root=data.root, results=pd.DataFrame(long, dtype=str), grid_keys=("seed",))
    assert one(unpaired, test="difference", y="m.v", group="m.g", a="y", b="z", direction="greater",
               x=None)["verdict"] == "inconclusive"


@pytest.mark.parametrize("fields, rows", [
    ({"test": "difference", "group": "m.g", "a": "a", "b": "b", "direction": "greater", "x": None}, 3),
    ({}, 2),
    ({"test": "correlation"}, 2),
])
def test_n_too_small_is_inconclusive(fields, rows):
    group = ["a", "b", "b"][:rows]
    row = one(study(range(rows), [0.0, 5.0, 10.0][:rows], group=group), **fields)
    assert row["verdict"] == "inconclusive" and row["note"].startswith("n too small")
    assert row["low"] is None and row["high"] is None


def test_undefined_resamples_count_against_the_interval():
    """A perfectly monotone n = 3: 3 of 27 index patterns repeat one point (11% > 2.5%), so the 95% interval
    reaches -inf; at n = 4 only 4 of 256 do (1.6%): reproduced."""
    row3 = one(study([0, 1, 2], [0, 1, 2]), test="correlation")
    assert row3["verdict"] == "inconclusive" and row3["low"] == -np.inf and row3["value"] == 1.0
    assert "resamples undefined" in row3["note"]
    row4 = one(study([0, 1, 2, 3], [0, 1, 8, 27]), test="correlation", level=0.9)
    assert row4["low"] == row4["high"] == 1.0  # ranks: always +1 when defined
    assert row4["verdict"] == "reproduced" and "permutation p = 0.0417 (upper tail, all 24 arrangements)" in \
        row4["note"]  # 1 of 4! orders is as monotone
    assert one(study([0, 1, 2, 3], [0, 1, 8, 27]), test="correlation")["verdict"] == "inconclusive"  # 0.042 > 0.025
    assert one(study(range(5), [0, 1, 8, 27, 64]), test="correlation")["verdict"] == "reproduced"  # p = 1/120


def test_constant_column_leaves_the_statistic_undefined():
    row = one(study([0, 1, 2, 3], [1, 1, 1, 1]), test="correlation")
    assert row["verdict"] == "inconclusive" and "y is constant" in row["note"]


def test_bootstrap_interval_is_the_percentile_order_statistics():
    low, high, undefined = bootstrap_interval(np.arange(2000.0), 0.95)
    assert (low, high, undefined) == (50.0, 1949.0, 0)
    samples = np.arange(2000.0)
    samples[:10] = np.nan
    low, high, undefined = bootstrap_interval(samples, 0.95)
    assert (low, high, undefined) == (50.0, 1959.0, 10)  # NaN as +inf above: the upper bound moves out
    assert verdict_of(0.1, 2.0, 1) == "reproduced" and verdict_of(0.1, 2.0, -1) == "contradicted"
    assert verdict_of(-2.0, -0.1, -1) == "reproduced" and verdict_of(0.0, 1.0, 1) == "inconclusive"


@pytest.mark.parametrize("n", [7, 80])  # the vectorised ranks and the loop over rows
def test_row_statistics_agree_with_the_one_pair_functions(n):
    rng = np.random.default_rng(n)
    x = rng.integers(0, 5, (6, n)).astype(float)  # ties
    y = x * 0.5 + rng.normal(size=(6, n))
    for i in range(6):
        assert np.array_equal(row_ranks(x)[i], average_ranks(x[i]))
        assert row_pearson(x, y)[i] == pytest.approx(pearson(x[i], y[i]), abs=1e-12)
        assert paired_statistic("correlation", "spearman", x, y)[i] == pytest.approx(spearman(x[i], y[i]), abs=1e-12)
        assert row_slope(x, y)[i] == pytest.approx(np.polyfit(x[i], y[i], 1)[0], rel=1e-9)
    constant = np.ones((1, n))
    assert np.isnan(row_pearson(constant, y[:1]))[0] and np.isnan(row_slope(constant, y[:1]))[0]


def test_permutation_arrangements_are_exhaustive_when_few():
    rng = np.random.default_rng(0)
    rows, exact = arrangements(6, 3, 2000, rng)
    assert exact and rows.shape == (20, 6) and len({tuple(sorted(r[:3])) for r in rows}) == 20
    rows, exact = arrangements(4, None, 2000, rng)
    assert exact and len({tuple(r) for r in rows}) == 24
    rows, exact = arrangements(10, None, 2000, rng)  # 10! > 2000: random orders
    assert not exact and rows.shape == (2000, 10) and (np.sort(rows, axis=1) == np.arange(10)).all()
    signs, exact = sign_flips(3, 2000, rng)
    assert exact and len({tuple(r) for r in signs}) == 8
    signs, exact = sign_flips(12, 2000, rng)  # 4096 > 2000
    assert not exact and signs.shape == (2000, 12) and set(np.unique(signs)) == {-1.0, 1.0}


def test_permutation_p_counts_the_tail():
    permuted = np.arange(20.0)  # exact: the data's own value among them
    assert permutation_p(19.0, permuted, 1, exact=True) == 1 / 20
    assert permutation_p(0.0, permuted, -1, exact=True) == 1 / 20
    assert permutation_p(10.0, permuted, 1, exact=True) == 10 / 20
    assert permutation_p(25.0, permuted, 1, exact=False) == 1 / 21  # random ones: the data's own added
    assert permutation_p(19.0, np.array([np.nan, 0.0]), 1, exact=True) == 0.5  # undefined counts as extreme


def test_bootstrap_is_deterministic_and_uses_its_seed():
    x, y = line(10, 0.3, 0.3, 5)
    data = study(x, y)
    claims = [claim(), claim(id="d", test="correlation")]
    first, second = evaluate_claims(data, claims), evaluate_claims(data, claims)
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == list(CLAIM_COLUMNS)
    other = evaluate_claims(data, claims, seed=1)
    assert (other["value"] == first["value"]).all() and (other["low"] != first["low"]).any()
    # a claim's verdict does not depend on the claims before it
    alone = evaluate_claims(data, claims[1:])
    assert alone.iloc[0].to_dict() == first.iloc[1].to_dict()


def ledger(done, total):
    return [{"id": f"m__seed-{i}", "stage": "m", "status": "done" if i < done else "pending", "grid": {}}
            for i in range(total)]


def test_claims_whose_cells_are_not_all_done_are_pending():
    x, y = line(6, 2.0, 0.01, 0)
    row = one(study(x, y, ledger=ledger(6, 8)))
    assert row["verdict"] == "pending" and "6 of 8 cells of stage 'm' done" in row["note"]
    assert row["low"] > 0  # provisional statistic shown
    empty = StudyData(root=Path("/nonexistent"), results=pd.DataFrame(columns=["id", "stage"]), cells=ledger(0, 3))
    row = one(empty)
    assert row["verdict"] == "pending" and row["note"].startswith("not computed yet: 0 of 3")
    assert one(study(x, y, ledger=ledger(6, 6)))["verdict"] == "reproduced"


def test_by_requires_the_claim_within_every_value():
    x = np.tile(np.linspace(0, 1, 6), 2)
    up = 2 * x[:6]
    data = study(x, [*up, *up], group=["l2"] * 6 + ["linf"] * 6)
    rows = evaluate_claim(data, claim(by="m.g"))
    assert [r["id"] for r in rows] == ["c", "c[m.g=l2]", "c[m.g=linf]"]
    assert [r["verdict"] for r in rows] == ["reproduced"] * 3 and rows[0]["n"] == 12
    mixed = study(x, [*up, *-up], group=["l2"] * 6 + ["linf"] * 6)
    rows = evaluate_claim(mixed, claim(by="m.g"))
    assert [r["verdict"] for r in rows] == ["contradicted", "reproduced", "contradicted"]
    assert rows[0]["high"] < 0 and "weakest: c[m.g=linf]" in rows[0]["note"]


def test_where_and_missing_columns():
    x, y = line(8, 1.0, 0.01, 2)
    data = study(x, y, group=["keep"] * 4 + ["drop"] * 4)
    assert one(data, where={"m.g": "keep"})["n"] == 4
    row = one(data, y="m.nope")
    assert row["verdict"] == "error" and row["note"].startswith("claims.c.y: no column 'm.nope'")
    assert one(data, where={"m.h": 1})["note"].startswith("claims.c.where: no column 'm.h'")


@pytest.mark.parametrize("fields, message", [
    ({"test": "ratio"}, "claims.c.test: unknown test 'ratio'; tests: difference, paired, correlation, slope"),
    ({"x": None}, "claims.c.x: required for a slope claim"),
    ({"paper": None}, "claims.c.paper: required"),
    ({"group": "seed"}, "claims.c.group: unknown field for a slope claim"),
    ({"direction": "greater"}, "claims.c.direction: expected positive or negative"),
    ({"test": "difference", "x": None, "group": "eps", "a": 1, "b": 1, "direction": "less"}, "claims.c.b: must differ from a"),
    ({"test": "correlation", "method": "kendall"}, "claims.c.method: expected spearman or pearson"),
    ({"level": 1.0}, "claims.c.level: expected a confidence level"),
    ({"stages": ["train"]}, "claims.c.stages: unknown stage 'train'; stages: m"),
    ({"y": "train.acc"}, "claims.c.y: 'train.acc' refers to stage 'train', which is not in the claim's stages"),
    ({"long": "attack"}, "claims.c.long: expected one of the claim's stages [m]"),
    ({"where": {"m.g": [[1]]}}, "claims.c.where.m.g: expected a value or a list of values"),
    ({"id": "1st"}, "claims[0].id: expected a letter"),
])
def test_validation_names_the_claim_and_field_in_one_line(fields, message):
    base = {"id": "c", "paper": "P", "stages": ["m"], "test": "slope", "x": "eps", "y": "m.y",
            "direction": "positive"}
    values = {k: v for k, v in {**base, **fields}.items() if v is not None}
    with pytest.raises(ValueError) as info:
        check_claims_section([values], stages=["m"])
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_section_normalises_and_refuses_duplicates():
    (out,) = check_claims_section([{"id": "c", "paper": "P", "stages": "m", "test": "correlation", "x": "eps",
                                    "y": "m.y", "direction": "positive", "level": 0.9}], stages=["m"])
    assert out["stages"] == ["m"] and out["method"] == "spearman" and out["level"] == 0.9
    with pytest.raises(ValueError, match=r"^claims\[1\]\.id: 'c' is used by an earlier claim"):
        check_claims_section([out, out], stages=["m"])
    with pytest.raises(ValueError, match="^claims: expected a list"):
        check_claims_section({"c": out})
    assert check_claims_section(None) == []


def test_html_verdict_table_marks_and_escapes():
    x, y = line(8, 1.0, 0.01, 2)
    table = evaluate_claims(study(x, y), [claim(paper="<b>Fig. 1</b>"), claim(id="d", direction="negative")])
    page = claims_html(table)
    assert page.startswith('<section id="claims">') and "&lt;b&gt;Fig. 1&lt;/b&gt;" in page
    assert 'class="claim-reproduced"' in page and 'class="claim-contradicted"' in page
    assert "1 reproduced, 1 contradicted" in page
    assert claims_html(table.iloc[0:0]) == ""
    x = np.tile(np.linspace(0, 1, 6), 2)
    parts = evaluate_claims(study(x, 2 * x, group=["l2"] * 6 + ["linf"] * 6), [claim(by="m.g")])
    assert len(parts) == 3 and "1 reproduced." in claims_html(parts)  # a claim's by-rows are not counted
