"""Linear classifiers on binary tasks (Tsipras et al. 2019 sec. 2.3, 3.1-3.2) with analytic oracles."""

import numpy as np
import pytest

from tfrobust.attacks import pgd
from tfrobust.data import Dataset
from tfrobust.models import linear
from tfrobust.theory.linear_features import (
    accuracy_top_k,
    accuracy_vs_eps_train,
    accuracy_vs_train_size,
    exact_robust_accuracy,
    feature_correlation,
    format_linear_table,
    interpolate,
    large_eps_examples,
    linear_binary_weights,
    linear_table,
    linf_worst_case,
    plot_accuracy_curves,
    plot_large_eps,
    plot_linear_features,
    top_k_features,
    train_linear,
)

FAST = {"epochs": 20, "batch_size": 100, "lr": 0.3}


def make_dataset(x, y, split="train"):
    return Dataset(name="synthetic", split=split, x=x.astype(np.float32), y=y.astype(np.int32),
                   bounds=(0.0, 1.0), num_classes=2, class_names=("a", "b"), source="synthetic")


def planted(n_per_class, seed, split="train"):
    """(2n, 4, 4, 1): pixel 0 equals the label; every other pixel has the same values in both
    classes (shuffled), so its correlation with the label is exactly 0."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.0, 1.0, size=(n_per_class, 15))
    other = np.concatenate([noise, rng.permuted(noise, axis=0)])
    y = np.repeat([0, 1], n_per_class)
    x = np.concatenate([y[:, None].astype(float), other], axis=1).reshape(-1, 4, 4, 1)
    return make_dataset(x, y, split)


def weak_and_robust(n, seed, split="train", d_weak=40, eta=0.08, p=0.85):
    """Tsipras-like task in [0, 1] (their eq. 3, shifted and scaled): one robust feature (right
    w.p. p, distance 0.35 from the midpoint) and ``d_weak`` weakly correlated Gaussian
    features (mean shift +-eta, sd 0.15); an adversary with eps >= 2 eta owns the weak ones."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = 2.0 * y - 1.0
    agree = np.where(rng.uniform(size=n) < p, 1.0, -1.0)
    robust = 0.5 + 0.35 * s * agree
    weak = 0.5 + eta * s[:, None] + rng.normal(0.0, 0.15, size=(n, d_weak))
    return make_dataset(np.clip(np.column_stack([robust, weak]), 0.0, 1.0), y, split)


@pytest.fixture(scope="module")
def task():
    return weak_and_robust(1000, 0), weak_and_robust(1000, 1, "test")


@pytest.fixture(scope="module")
def models(task):
    train, _ = task
    return {e: train_linear(train, eps=e, seed=0, **FAST) for e in (0.0, 0.2)}


def test_planted_feature_has_correlation_one_and_top_1_is_exact():
    train, test = planted(100, 0), planted(100, 1, "test")
    corr = feature_correlation(train)
    assert corr.shape == (16,)
    assert corr[0] == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(corr[1:], 0.0, atol=1e-9)
    assert top_k_features(corr, 1).tolist() == [True] + [False] * 15
    rows = accuracy_top_k(train, test, [1, 16], eps_test_list=(0.6,), **FAST)
    one, full = rows
    assert one["k"] == 1 and one["min_abs_corr"] == pytest.approx(1.0)
    assert full["min_abs_corr"] == pytest.approx(0.0, abs=1e-9)
    assert one["standard_train"] == 1.0 and one["standard_test"] == 1.0
    # eps 0.6 moves the only used pixel past the midpoint of {0, 1} for every example:
    # no threshold classifies both classes, so at most the 50% of one class survives.
    assert one["adversarial_test@0.6"] <= 0.5


def test_feature_correlation_guards_constant_features():
    x = np.zeros((6, 3), np.float32)
    x[:, 1] = [0, 0, 0, 1, 1, 1]
    corr = feature_correlation(make_dataset(x, np.array([0, 0, 0, 1, 1, 1])))
    assert corr.tolist() == [0.0, pytest.approx(1.0), 0.0]
    single = feature_correlation(make_dataset(x, np.zeros(6, int)))
    assert np.all(single == 0.0)


@pytest.mark.parametrize("objective", ["cw", "xent"])
def test_closed_form_worst_case_is_what_pgd_reaches(objective):
    """PGD (random start, 20 steps; CW margin uncapped) converges to the closed-form corner."""
    rng = np.random.default_rng(0)
    model = linear((6, 6, 1), 2)
    kernel = rng.normal(0.0, 0.05, size=(36, 2)).astype(np.float32)  # small: softmax not saturated
    kernel[:4] = 0.0  # zero-weight pixels are left alone by the closed form
    model.get_layer("logits").set_weights([kernel, np.array([0.1, -0.1], np.float32)])
    x = rng.uniform(0.0, 1.0, size=(64, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 2, 64)
    used = np.ones(36, bool)
    used[:4] = False
    for eps in (0.05, 0.2):
        closed = linf_worst_case(model, x, y, eps=eps, bounds=(0, 1))
        assert np.abs(closed - x).max() <= eps + 1e-6 and closed.min() >= 0 and closed.max() <= 1
        searched = np.asarray(pgd(model, x, y, norm="linf", eps=eps, steps=20, bounds=(0, 1),
                                  objective=objective, kappa=1e6, seed=1))
        np.testing.assert_allclose(searched.reshape(64, 36)[:, used], closed.reshape(64, 36)[:, used],
                                   atol=1e-5)
        pred = np.argmax(np.asarray(model(searched)), axis=-1)
        assert exact_robust_accuracy(model, x, y, eps=eps, bounds=(0, 1)) == np.mean(pred == y)
    w, b = linear_binary_weights(model)
    assert w.shape == (36,) and b == pytest.approx(-0.2)


def test_adversarial_training_drops_weakly_correlated_features(task, models):
    train, _ = task
    corr = feature_correlation(train)
    assert abs(corr[0]) > np.abs(corr[1:]).max() + 0.1  # theory: 0.70 against 0.47 each
    ratios = {}
    for eps, model in models.items():
        w, _ = linear_binary_weights(model)
        ratios[eps] = np.abs(w[1:]).mean() / abs(w[0])
    # Standard training leans on the weak features; against eps = 0.2 > 2 * eta they are
    # the adversary's, and adversarial training (nearly) zeroes them.
    assert ratios[0.0] > 0.05
    assert ratios[0.2] < 0.02 * ratios[0.0]


def test_pgd_training_agrees_with_closed_form_training(task, models):
    train, test = task
    with_pgd = train_linear(train, eps=0.2, seed=0, attack="pgd", pgd_steps=5, **FAST)
    for eps in (0.0, 0.2):
        a = exact_robust_accuracy(with_pgd, test.x, test.y, eps=eps, bounds=test.bounds)
        b = exact_robust_accuracy(models[0.2], test.x, test.y, eps=eps, bounds=test.bounds)
        assert abs(a - b) < 0.03


def test_linear_table_layout_and_trade_off(task, models):
    train, test = task
    rows = linear_table(train, test, eps_train_list=(0.0, 0.2), eps_test_list=(0.2,), models=models)
    assert [r["eps_train"] for r in rows] == [0.0, 0.2]
    assert list(rows[0]) == ["eps_train", "standard_train", "standard_test", "adversarial_train@0.2",
                             "adversarial_test@0.2", "w_l1"]
    standard, robust = rows
    assert standard["standard_test"] > robust["standard_test"] + 0.05  # the price of robustness
    # The robust model relies on the robust feature alone: right w.p. 0.85, and eps 0.2 < 0.35.
    assert robust["adversarial_test@0.2"] == robust["standard_test"]
    assert robust["standard_test"] == pytest.approx(0.85, abs=0.04)
    assert standard["adversarial_test@0.2"] < 0.1
    assert robust["w_l1"] < standard["w_l1"]
    text = format_linear_table(rows)
    assert "adversarial_test@0.2" in text and "%" in text
    curve = accuracy_vs_eps_train(train, test, eps_train_list=(0.0, 0.2), models=models)
    assert curve[1]["adversarial_test"] == robust["adversarial_test@0.2"]
    with pytest.raises(ValueError, match="no model for eps_train 0.1"):
        linear_table(train, test, eps_train_list=(0.1,), models=models)


def test_accuracy_vs_train_size_rows(task):
    train, test = task
    rows = accuracy_vs_train_size(train, test, sizes=(20, 200), eps_train_list=(0.0, 0.2),
                                  epochs=2, batch_size=100, lr=0.3)
    assert [(r["n_train"], r["eps_train"]) for r in rows] == [(20, 0.0), (20, 0.2), (200, 0.0), (200, 0.2)]
    assert all(0.0 <= r["standard_test"] <= 1.0 for r in rows)
    with pytest.raises(ValueError, match="exceed"):
        accuracy_vs_train_size(train, test, sizes=(5000,))


def test_interpolation_endpoints_are_exact():
    rng = np.random.default_rng(0)
    x, x_adv = rng.uniform(size=(2, 3, 4, 4, 1)).astype(np.float32)
    path = interpolate(x, x_adv, 5)
    assert path.shape == (5, 3, 4, 4, 1)
    assert np.array_equal(path[0], x) and np.array_equal(path[-1], x_adv)
    np.testing.assert_allclose(path[2], (x + x_adv) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="steps"):
        interpolate(x, x_adv, 1)
    with pytest.raises(ValueError, match="same shape"):
        interpolate(x, x_adv[:1], 3)


def test_large_eps_examples_and_figures(tmp_path):
    train = planted(50, 0)
    model = train_linear(train, eps=0.0, seed=0, **FAST)
    x, y = train.x[:2], train.y[:2]
    x_linf = large_eps_examples(model, x, y, eps=0.3, bounds=(0, 1), norm="linf", steps=10)
    np.testing.assert_allclose(x_linf, linf_worst_case(model, x, y, eps=0.3, bounds=(0, 1)), atol=1e-5)
    x_l2 = large_eps_examples(model, x, y, eps=4.0, bounds=(0, 1), norm="l2", steps=10)
    assert np.all(np.linalg.norm((x_l2 - x).reshape(2, -1), axis=1) <= 4.0 + 1e-4)
    pngs = [
        plot_linear_features({"standard": model}, feature_correlation(train), tmp_path / "f.png"),
        plot_accuracy_curves([{"k": 1.0, "standard_test": 1.0}, {"k": 2.0, "standard_test": 0.9}],
                             tmp_path / "c.png", x="k", y=["standard_test"], logx=True),
        plot_large_eps({"linf 0.3": (x, x_linf), "l2 4": (x, x_l2)}, tmp_path / "l.png", steps=4),
    ]
    for png in pngs:
        assert png.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "f.png", "l.png"]  # no temp files


def test_bad_input_raises_value_error(task):
    train, _ = task
    three = Dataset(name="s", split="train", x=np.zeros((3, 2), np.float32), y=np.arange(3),
                    bounds=(0.0, 1.0), num_classes=3, class_names=("a", "b", "c"), source="synthetic")
    with pytest.raises(ValueError, match="binary"):
        train_linear(three)
    with pytest.raises(ValueError, match="attack"):
        train_linear(train, eps=0.2, attack="fgsm")
    with pytest.raises(ValueError, match="eps"):
        train_linear(train, eps=-0.1)
    with pytest.raises(ValueError, match="at most"):
        top_k_features(np.zeros(4), 5)


def test_integer_options_use_the_one_validator():
    from tfrobust.theory.linear_features.maths import check_positive_ints

    assert check_positive_ints("sizes", np.array([30, 10, 30])) == (30, 10)  # arrays too; unique, in order
    assert check_positive_ints("top_k", [5, 2.0]) == (5, 2)
    for bad in ([], [0], [1.5], [True], "12", np.zeros((1, 2), int)):
        with pytest.raises(ValueError, match="^top_k must be"):
            check_positive_ints("top_k", bad)
    with pytest.raises(ValueError, match="^k must be an integer >= 1"):
        top_k_features(np.zeros(4), 1.5)
    with pytest.raises(ValueError, match="^steps must be an integer >= 2"):
        interpolate(np.zeros(2), np.ones(2), 1)


def test_the_package_api_is_the_theory_api():
    import tfrobust.theory as theory
    import tfrobust.theory.linear_features as linear_features

    for name in linear_features.__all__:
        assert getattr(theory, name) is getattr(linear_features, name), name
