"""Tsipras et al. 2019 sec. 2.1-2.2: eq. 3 samples vs closed forms, Theorem 2.1, a small trained run."""

import math

import numpy as np
import pytest

from tfrobust.data import load_dataset
from tfrobust.theory import (
    averaged_classifier_accuracy,
    bayes_accuracy,
    check_theorem_bound,
    linear_accuracy,
    linear_adversarial_example,
    linear_robust_correct,
    linear_tsipras_experiment,
    no_free_lunch_bound,
    robust_feature_accuracy,
    theorem_2_2_eta,
    validate_tsipras_setting,
)

D, ETA, P, N = 50, 0.3, 0.7, 20_000


@pytest.fixture(scope="module")
def samples():
    ds = load_dataset("tsipras", "test", seed=3, d=D, eta=ETA, p=P, n=N)
    return ds.x.astype(np.float64), ds.y


def _se(q, n):
    return math.sqrt(q * (1 - q) / n)


def test_sampled_statistics_match_eq3(samples):
    x, y = samples
    sign = 2.0 * y - 1.0
    assert abs(np.mean(y) - 0.5) < 4 * _se(0.5, N)
    # x_1 = y w.p. p: E[x_1 y] = 2p - 1, x_1 in {-1, +1}
    assert set(np.unique(x[:, 0])) == {-1.0, 1.0}
    assert np.mean(x[:, 0] * sign) == pytest.approx(2 * P - 1, abs=4 * 2 * _se(P, N))
    # x_i ~ N(eta y, 1): per-feature class means +-eta, unit variance around them
    noise = x[:, 1:] - ETA * sign[:, None]
    assert np.abs(x[sign > 0, 1:].mean(axis=0) - ETA).max() < 5 / math.sqrt(N / 2)
    assert np.abs(x[sign < 0, 1:].mean(axis=0) + ETA).max() < 5 / math.sqrt(N / 2)
    assert np.abs(noise.var(axis=0) - 1).max() < 5 * math.sqrt(2 / N)


def test_averaged_classifier_closed_form_vs_monte_carlo(samples):
    x, y = samples
    w = np.r_[0.0, np.full(D, 1.0 / D)]  # eq. 4
    for eps in (0.0, ETA, 2 * ETA):
        closed = averaged_classifier_accuracy(D, ETA, eps=eps)
        assert closed == pytest.approx(0.5 * (1 + math.erf((ETA - eps) * math.sqrt(D) / math.sqrt(2))))
        sampled = linear_robust_correct(x, y, w, eps=eps).mean()
        assert abs(sampled - closed) < 4 * _se(closed, N) + 1e-4
        assert linear_accuracy(w, eta=ETA, p=P, eps=eps) == pytest.approx(closed, abs=1e-12)
    # the paper's numbers: > 99% at eta = 3/sqrt(d), < 1% at eps = 2 eta
    assert averaged_classifier_accuracy(1000, 3 / math.sqrt(1000)) > 0.99
    assert averaged_classifier_accuracy(1000, 3 / math.sqrt(1000), eps=6 / math.sqrt(1000)) < 0.01


def test_linear_accuracy_vs_monte_carlo(samples):
    x, y = samples
    rng = np.random.default_rng(0)
    for _ in range(4):
        w = rng.normal(size=D + 1) * np.r_[1.0, np.full(D, 0.1)]
        b = float(rng.normal(scale=0.3))
        for eps in (0.0, 0.05):
            closed = linear_accuracy(w, b, eta=ETA, p=P, eps=eps)
            sampled = linear_robust_correct(x, y, w, b, eps=eps).mean()
            assert abs(sampled - closed) < 4 * _se(closed, N) + 1e-4
    # robust feature alone: p, standard and for any eps < 1
    e1 = np.r_[1.0, np.zeros(D)]
    assert linear_accuracy(e1, eta=ETA, p=P) == pytest.approx(P)
    assert linear_accuracy(e1, eta=ETA, p=P, eps=0.9) == pytest.approx(P)
    assert linear_accuracy(e1, eta=ETA, p=P, eps=1.0) == 0.0
    assert robust_feature_accuracy(P) == P and robust_feature_accuracy(P, eps=0.9) == P
    assert robust_feature_accuracy(P, eps=1.0) == 0.0


def test_worst_case_example_reaches_the_closed_form_margin(samples):
    x, y = samples
    w = np.r_[0.5, np.full(D, 0.02)]
    x_adv = linear_adversarial_example(x[:100], y[:100], w, eps=0.1)
    assert np.abs(x_adv - x[:100]).max() == pytest.approx(0.1, rel=1e-5)
    sign = 2.0 * y[:100] - 1.0
    assert np.allclose(sign * (x_adv @ w), sign * (x[:100] @ w) - 0.1 * np.abs(w).sum(), atol=1e-4)


def test_bayes_beats_averaged_and_robust_feature():
    eta = 3 / math.sqrt(1000)
    bayes = bayes_accuracy(1000, eta, P)
    assert bayes >= averaged_classifier_accuracy(1000, eta) and bayes >= P
    assert bayes == pytest.approx(P * 0.5 * (1 + math.erf((3 + math.log(P / (1 - P)) / 6) / math.sqrt(2)))
                                  + (1 - P) * 0.5 * (1 + math.erf((3 - math.log(P / (1 - P)) / 6) / math.sqrt(2))))


def test_no_free_lunch_bound_is_the_papers():
    assert no_free_lunch_bound(0.01, p=0.7) == pytest.approx(7 / 3 * 0.01)  # Theorem 2.1
    assert no_free_lunch_bound(0.3, p=0.7) == pytest.approx(0.7)  # tight: sign(x_1)
    assert no_free_lunch_bound(0.1, p=0.6) == pytest.approx(0.15)
    for bad in ({"delta": -0.1}, {"delta": 0.1, "p": 0.5}, {"delta": 0.1, "p": 1.0}):
        with pytest.raises(ValueError, match="delta|p"):
            no_free_lunch_bound(**{"p": 0.7, **bad})


def test_theorem_bound_holds_on_the_grid():
    rows = check_theorem_bound(d=100, n=5000, seed=1)
    assert len(rows) == 55
    assert all(r["population_holds"] for r in rows)
    assert all(r["holds"] for r in rows)
    by_alpha = {(r["alpha"], r["bias"]): r for r in rows}
    robust_only = by_alpha[(0.0, 0.0)]
    assert robust_only["population_standard_accuracy"] == pytest.approx(P)
    assert robust_only["population_adversarial_accuracy"] == pytest.approx(P)
    averaged = by_alpha[(1.0, 0.0)]
    assert averaged["population_standard_accuracy"] > 0.99 and averaged["population_adversarial_accuracy"] < 0.01
    with pytest.raises(ValueError, match="eps"):
        check_theorem_bound(d=100, eta=0.4, eps=0.5, n=100)


@pytest.mark.parametrize("kwargs, field", [
    ({"d": 0}, "d"), ({"eta": 0.0}, "eta"), ({"eta": -1.0}, "eta"), ({"p": 0.5}, "p"), ({"p": 1.0}, "p"),
    ({"eps": -0.1}, "eps"), ({"eta": math.nan}, "eta"), ({"d": 2.5}, "d"), ({"d": True}, "d"),
])
def test_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}( must|:)"):
        validate_tsipras_setting(**{"d": 10, "eta": None, "p": 0.7, **kwargs})


def test_defaults():
    assert validate_tsipras_setting(d=100, eta=None, p=0.7) == (100, 0.4, 0.7, 0.8)
    assert theorem_2_2_eta(1000) == pytest.approx(4 / math.sqrt(1000))


def test_small_experiment_standard_vs_adversarial():
    # eta sqrt(d) = 3 (sec. 2.1); eps = 2 eta = 0.2 < 2p - 1, so x_1 stays useful under attack
    rows = linear_tsipras_experiment(d=900, eta=0.1, n_train=3000, n_test=2000, epochs=4, seed=0)
    std, adv = rows
    assert std["training"] == "standard" and adv["training"] == "adversarial"
    assert std["eps"] == pytest.approx(0.2)
    # standard training: accurate but not robust (Theorem 2.2, first part)
    assert std["standard_accuracy"] > 0.97 and std["adversarial_accuracy"] < 0.03
    # adversarial training: both about p, weight on x_1 only (Theorem 2.2, second part)
    for key in ("standard_accuracy", "adversarial_accuracy", "population_standard_accuracy",
                "population_adversarial_accuracy"):
        assert adv[key] == pytest.approx(P, abs=0.04), key
    assert adv["robust_to_nonrobust_ratio"] > 20 * std["robust_to_nonrobust_ratio"]
    for row in rows:
        # PGD on a linear model reaches the closed-form worst case
        assert row["adversarial_accuracy_pgd"] == pytest.approx(row["adversarial_accuracy"], abs=2 / 2000)
        assert row["theorem_bound"] == pytest.approx(P / (1 - P) * (1 - row["standard_accuracy"]))
        assert row["population_adversarial_accuracy"] <= row["population_theorem_bound"] + 1e-12
