"""toy2d (Kim A.1) and tsipras (Tsipras eq. 3): statistics, options, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfrobust.data import load_dataset, synthetic

# ---------------------------------------------------------------- toy2d


def test_toy2d_shape_and_balance():
    ds = load_dataset("toy2d")
    assert ds.x.shape == (6000, 2) and ds.x.dtype == np.float32
    assert ds.bounds == (-1.0, 1.0) and ds.source == "synthetic"
    np.testing.assert_array_equal(np.bincount(ds.y), [3000, 3000])
    assert ds.x.min() >= -1.0 and ds.x.max() <= 1.0
    assert set(np.unique(load_dataset("toy2d", limit=20).y)) == {0, 1}  # shuffled, not blocked


def test_toy2d_statistics_match_constants():
    x, y = synthetic.toy2d(seed=3, geometry="tilted")  # the kim_notebook default: tests/test_fidelity_kim.py
    cov = np.asarray(synthetic.TOY2D_COV)
    assert np.all(np.linalg.eigvalsh(cov) > 0)  # a valid covariance, unlike the printed one
    for label, mean in enumerate(synthetic.TOY2D_MEANS):
        pts = x[y == label].astype(np.float64)
        assert abs(pts[:, 0].mean() - mean[0]) < 0.03  # std err 0.005
        assert abs(pts[:, 1].mean() - mean[1]) < 0.02  # std err 0.003
        np.testing.assert_allclose(np.cov(pts.T), cov, rtol=0.15, atol=0.003)
    # separated (mostly) along the low-variance direction x2: the midline classifies (almost) all
    accuracy = np.mean((x[:, 1] < 0) == (y == 1))
    assert accuracy > 0.995
    # elongated and correlated like A.1's printed covariance (negative off-diagonal term)
    low, high = np.linalg.eigvalsh(cov)
    assert high / low > 5 and cov[0, 1] < 0


def test_toy2d_means_and_cov_options():
    x, y = synthetic.toy2d(means=synthetic.TOY2D_NARROW_MEANS, cov=synthetic.TOY2D_NARROW_COV, seed=1,
                           geometry="tilted")
    assert abs(x[y == 0, 1].mean() - 0.05) < 0.002 and abs(x[y == 1, 1].mean() + 0.05) < 0.002
    np.testing.assert_allclose(x[y == 0].var(0), [0.1, 0.0002], rtol=0.15)
    x2, _ = synthetic.toy2d(means=((0.5, 0.0), (-0.5, 0.0)), cov=((0.01, 0.0), (0.0, 0.01)), n_per_class=500)
    assert x2.shape == (1000, 2)
    default, _ = synthetic.toy2d(seed=2, geometry="tilted")
    explicit, _ = synthetic.toy2d(seed=2, geometry="tilted", means=synthetic.TOY2D_MEANS, cov=synthetic.TOY2D_COV)
    np.testing.assert_array_equal(default, explicit)


@pytest.mark.parametrize(
    "options,field",
    [
        ({"means": ((0.0, 1.0),)}, "means"),
        ({"means": ((0.0, math.nan), (0.0, 1.0))}, "means"),
        ({"means": "abc"}, "means"),
        ({"cov": ((1.0, 2.0), (2.0, 1.0))}, "cov"),  # |rho| > 1, like A.1 as printed
        ({"cov": ((1.0, 0.1), (0.0, 1.0))}, "cov"),  # not symmetric
        ({"cov": (1.0, 1.0)}, "cov"),
    ],
)
def test_toy2d_validation(options, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        synthetic.toy2d(**options)


def test_toy2d_determinism_and_splits():
    a, b = load_dataset("toy2d", seed=1), load_dataset("toy2d", seed=1)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, load_dataset("toy2d", "test", seed=1).x)
    assert not np.array_equal(a.x, load_dataset("toy2d", seed=2).x)
    assert len(load_dataset("toy2d", n_per_class=5)) == 10
    with pytest.raises(ValueError, match="n_per_class"):
        load_dataset("toy2d", n_per_class=0)


def test_toy2d_clips_into_custom_bounds():
    ds = load_dataset("toy2d", bounds=(-0.3, 0.3))
    assert ds.x.min() >= -0.3 and ds.x.max() <= 0.3 and ds.x.min() == pytest.approx(-0.3)


# ---------------------------------------------------------------- tsipras


def test_tsipras_defaults():
    ds = load_dataset("tsipras", n=10)
    assert ds.x.shape == (10, 1001) and ds.input_shape == (1001,)
    assert ds.bounds == (-math.inf, math.inf) and ds.class_names == ("y=-1", "y=+1")


@pytest.mark.parametrize("p", [0.7, 0.95])
def test_tsipras_statistics(p):
    d, n = 50, 4000
    ds = load_dataset("tsipras", d=d, n=n, p=p, seed=5)
    sign = 2.0 * ds.y - 1.0
    assert abs(ds.y.mean() - 0.5) < 0.03
    assert set(np.unique(ds.x[:, 0])) == {-1.0, 1.0}
    assert np.mean(ds.x[:, 0] == sign) == pytest.approx(p, abs=0.025)
    weak = ds.x[:, 1:].astype(np.float64) * sign[:, None]  # ~ N(eta, 1)
    assert weak.mean() == pytest.approx(3 / math.sqrt(d), abs=0.01)
    assert weak.var() == pytest.approx(1.0, abs=0.03)


def test_tsipras_explicit_eta_and_averaging_classifier():
    ds = load_dataset("tsipras", d=20, n=3000, eta=0.5)
    sign = 2.0 * ds.y - 1.0
    assert (ds.x[:, 1:] * sign[:, None]).mean() == pytest.approx(0.5, abs=0.02)
    # Tsipras 2.1: with eta = 3/sqrt(d) the averaging classifier f_avg is > 99% accurate
    d = 100
    ds = load_dataset("tsipras", d=d, n=3000, seed=2)
    accuracy = np.mean(np.sign(ds.x[:, 1:].mean(1)) == 2 * ds.y - 1)
    assert accuracy > 0.99
    assert np.all(
        load_dataset("tsipras", d=3, n=50, p=1.0).x[:, 0]
        == 2 * load_dataset("tsipras", d=3, n=50, p=1.0).y - 1
    )


def test_tsipras_determinism_and_splits():
    a = load_dataset("tsipras", d=5, n=100, seed=7)
    b = load_dataset("tsipras", d=5, n=100, seed=7)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, load_dataset("tsipras", "test", d=5, n=100, seed=7).x)
    assert not np.array_equal(a.x, load_dataset("tsipras", d=5, n=100, seed=8).x)


@pytest.mark.parametrize(
    "options,field",
    [
        ({"d": 0}, "d"),
        ({"p": 1.5}, "p"),
        ({"p": -0.1}, "p"),
        ({"eta": -1.0}, "eta"),
        ({"eta": math.inf}, "eta"),
        ({"n": 0}, "n"),
        ({"d": 2.5}, "d"),
    ],
)
def test_tsipras_validation(options, field):
    with pytest.raises(ValueError, match=f"^{field}( must|:)"):
        load_dataset("tsipras", **options)


def test_tsipras_bounds_clip():
    ds = load_dataset("tsipras", d=10, n=200, bounds=(-2.0, 2.0))
    assert ds.x.min() >= -2.0 and ds.x.max() <= 2.0
