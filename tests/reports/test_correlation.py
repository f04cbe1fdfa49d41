"""Pearson and Spearman in numpy: hand-computed values, ties, NaN guards, scipy agreement."""

import warnings

import numpy as np
import pytest

from tfrobust.reports.correlation import average_ranks, pearson, spearman


def test_hand_computed_values():
    # x = 1..4, y = 2, 4, 5, 9: dx = -1.5, -.5, .5, 1.5; dy = -3, -1, 0, 4 -> 11 / sqrt(5 * 26)
    assert pearson([1, 2, 3, 4], [2, 4, 5, 9]) == pytest.approx(11 / np.sqrt(130))
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([0.0, 1.0, 2.0], [5.0, 7.0, 9.0]) == pytest.approx(1.0)
    # monotone but not linear: Spearman 1, Pearson below 1
    x = [1, 2, 3, 4, 5]
    y = [1, 4, 9, 16, 100]
    assert spearman(x, y) == pytest.approx(1.0) and pearson(x, y) < 0.95
    assert spearman(x, y[::-1]) == pytest.approx(-1.0)


def test_average_ranks_and_ties():
    np.testing.assert_allclose(average_ranks([10, 20, 20, 5]), [2.0, 3.5, 3.5, 1.0])
    np.testing.assert_allclose(average_ranks([3, 3, 3]), [2.0, 2.0, 2.0])
    # ranks x: 1, 2.5, 2.5, 4; y: 1..4 -> Pearson of the ranks by hand: 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / np.sqrt(4.5 * 5))


def test_nan_guards_never_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(pearson([1.0], [2.0]))
        assert np.isnan(spearman([], []))
        assert np.isnan(pearson([1, 1, 1], [1, 2, 3]))          # constant x
        assert np.isnan(spearman([1, 2, 3], [0.1, 0.1, 0.1]))   # constant y
        assert np.isnan(pearson([1, np.nan, 3], [np.nan, 2, 4]))  # one finite pair left
        assert np.isnan(pearson([0.1] * 5, [0.3] * 5))
    # pairs with a NaN (or inf) in either are dropped, not propagated
    assert pearson([1, 2, np.nan, 3, np.inf], [2, 4, 7, 6, 1]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, np.nan], [3, 2, 1, 0]) == pytest.approx(-1.0)


def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="differ in length"):
        pearson([1, 2], [1, 2, 3])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_scipy(seed):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, 40).astype(float)  # many ties
    y = x * 0.5 + rng.normal(size=40)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    np.testing.assert_allclose(average_ranks(y), stats.rankdata(y))
