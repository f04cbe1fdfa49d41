"""Square attack: a gradient-free oracle (a model with zero input gradients), invariants, early exit, refusals."""

import importlib
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import Attack, get_norm, pgd
from tfrobust.attacks.seeds import example_seeds
from tfrobust.attacks.square import p_schedule, square
from tfrobust.config import ConfigError
from tfrobust.registry import ATTACKS

BOUNDS = (0.0, 1.0)


def predict(model, x):
    return np.argmax(model(x, training=False).numpy(), axis=1)


def accuracy(model, x, y):
    return float(np.mean(predict(model, x) == y))


def distances(norm, x_adv, x):
    return get_norm(norm).norm(tf.constant(np.asarray(x_adv) - x)).numpy()


# --------------------------------------------------------------------------- the gradient-masking oracle


def _quantise(x):
    """Inputs rounded to eighths: the input gradient is exactly zero (connected, so PGD gets zeros, not None)."""
    return tf.stop_gradient(tf.round(x * 8.0) / 8.0) + 0.0 * x


@pytest.fixture(scope="module")
def quantised():
    """Class 1 iff the quantised image's mean exceeds 0.5; 24 points with means 0.15-0.2 from the threshold.

    A linf shift of 0.3 moves the quantised mean by 0.3 +- 1/16 and flips every point; PGD's uniform random
    start moves it by about 0.04 (one standard deviation) and flips none.
    """
    pixels = 16
    dense = keras.layers.Dense(2)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Lambda(_quantise), keras.layers.Flatten(), dense])
    scale = 40.0
    dense.set_weights([np.stack([-np.full(pixels, scale / pixels), np.full(pixels, scale / pixels)], axis=1),
                       np.array([scale / 2, -scale / 2])])
    rng = np.random.default_rng(0)
    means = np.where(np.arange(24) % 2 == 0, rng.uniform(0.3, 0.35, 24), rng.uniform(0.65, 0.7, 24))
    x = np.clip(means[:, None, None, None] + rng.uniform(-0.05, 0.05, (24, 4, 4, 1)), 0, 1).astype("float32")
    y = (np.arange(24) % 2 == 1).astype("int32")
    return model, x, y


@pytest.mark.parametrize("loss", ["margin", "ce"])
def test_square_breaks_a_model_whose_gradients_are_zero(quantised, loss):
    model, x, y = quantised
    assert accuracy(model, x, y) == 1.0
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        xent = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(xt), from_logits=True))
    np.testing.assert_array_equal(tape.gradient(xent, xt).numpy(), 0.0)  # PGD sees no signal
    eps = 0.3
    pgd_accuracy = accuracy(model, pgd(model, x, y, norm="linf", eps=eps, bounds=BOUNDS, steps=10, seed=0).numpy(), y)
    x_adv = square(model, x, y, norm="linf", eps=eps, bounds=BOUNDS, seed=0, queries=100, loss=loss).numpy()
    assert distances("linf", x_adv, x).max() <= eps * (1 + 1e-6)
    square_accuracy = accuracy(model, x_adv, y)
    assert pgd_accuracy == 1.0  # PGD never leaves its random start, which cannot flip these points
    assert square_accuracy <= 0.5 * pgd_accuracy, square_accuracy


def test_square_is_gradient_free():
    assert square.gradient_free is True
    assert "GradientTape" not in inspect.getsource(importlib.import_module("tfrobust.attacks.square"))
    assert ATTACKS["square"].load() is square
    assert {o.name: o.default for o in ATTACKS["square"].options} == {
        "queries": 5000, "p_init": 0.8, "loss": "margin", "jit_compile": None}


# --------------------------------------------------------------------------- a small MLP


@pytest.fixture(scope="module")
def mlp():
    """A random 3-class MLP on 6x6 images; labels are its clean predictions (all correct)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(3)])
    x = np.random.default_rng(1).uniform(0.0, 1.0, (32, 6, 6, 1)).astype("float32")
    x[0, 0, 0, 0], x[1, 1, 1, 0] = 0.0, 1.0
    return model, x, predict(model, x).astype("int32")


@pytest.mark.parametrize("norm, grid", [("linf", (0.005, 0.03, 0.2)), ("l2", (0.02, 0.2, 1.5))])
def test_robust_accuracy_falls_with_eps_and_results_stay_in_ball(mlp, norm, grid):
    model, x, y = mlp
    x_copy = x.copy()
    accuracies = []
    for eps in grid:
        x_adv = square(model, x, y, norm=norm, eps=eps, bounds=BOUNDS, seed=3, queries=150)
        x_adv = np.asarray(x_adv)
        assert x_adv.shape == x.shape and x_adv.dtype == np.float32
        assert distances(norm, x_adv, x).max() <= eps * (1 + 1e-5)
        assert x_adv.min() >= BOUNDS[0] and x_adv.max() <= BOUNDS[1]
        accuracies.append(accuracy(model, x_adv, y))
    np.testing.assert_array_equal(x, x_copy)
    assert accuracies[0] > accuracies[-1], accuracies
    assert all(a >= b for a, b in zip(accuracies, accuracies[1:], strict=False)), accuracies
    assert accuracies[-1] <= 0.25, accuracies


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_eps_zero_returns_x(mlp, norm):
    model, x, y = mlp
    np.testing.assert_array_equal(np.asarray(square(model, x, y, norm=norm, eps=0.0, bounds=BOUNDS, queries=5)), x)


@pytest.mark.parametrize("norm, eps", [("linf", 0.05), ("l2", 0.3)])
def test_each_example_depends_on_its_own_seed_only(mlp, norm, eps):
    model, x, y = mlp
    seeds = tf.random.experimental.stateless_split(tf.constant([7, 1], tf.int64), len(x))
    whole = np.asarray(square(model, x, y, norm=norm, eps=eps, bounds=BOUNDS, seed=seeds, queries=60))
    idx = np.array([2, 5, 6, 17, 30])
    part = np.asarray(square(model, x[idx], y[idx], norm=norm, eps=eps, bounds=BOUNDS, seed=tf.gather(seeds, idx),
                             queries=60))
    np.testing.assert_allclose(part, whole[idx], atol=1e-6)
    other = np.asarray(square(model, x, y, norm=norm, eps=eps, bounds=BOUNDS, seed=seeds[::-1], queries=60))
    assert np.abs(other - whole).max() > 0.1 * eps  # the seeds decide the draws
    # One int seed: example n uses the per-example seed example_seeds(seed, [n]).
    from_int = np.asarray(square(model, x, y, norm=norm, eps=eps, bounds=BOUNDS, seed=4, queries=60))
    rows = example_seeds(4, tf.range(len(x)))
    np.testing.assert_allclose(from_int, np.asarray(square(model, x, y, norm=norm, eps=eps, bounds=BOUNDS,
                                                           seed=rows, queries=60)), atol=1e-6)


class Counting(tf.Module):
    """Forwards to a model and counts the examples it is called on (also inside tf.function)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)

    def __call__(self, x):
        self.count.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
        return self.model(x, training=False)


@pytest.mark.parametrize("norm, eps, many", [("linf", 0.01, False), ("l2", 2.0, True)])
def test_query_budget_and_early_exit(mlp, norm, eps, many):
    model, x, y = mlp
    y = y.copy()
    y[:4] = (y[:4] + 1) % 3  # misclassified on the clean input: returned unchanged
    counted = Counting(model)
    queries = 40
    x_adv = np.asarray(square(counted, x, y, norm=norm, eps=eps, bounds=BOUNDS, seed=0, queries=queries,
                              jit_compile=False))
    n = len(x)
    count = int(counted.count.numpy())
    assert n < count <= n * (queries + 1)
    np.testing.assert_array_equal(x_adv[:4], x[:4])
    fooled = predict(model, x_adv) != y
    if many:  # a large radius fools nearly every point at once: early exit saves most of the budget
        assert fooled[4:].mean() >= 0.9
        assert count < n * (queries + 1) / 4, count
    else:  # a small radius leaves most points standing: they use the whole budget
        assert count >= n + (n - 4) * queries * 0.5, count


def test_xla_iterations_give_the_same_points(mlp):
    model, x, y = mlp
    x, y = x[:11], y[:11]  # under XLA 8 or fewer standing rows are padded to a power of two (here: 8)
    plain = np.asarray(square(model, x, y, norm="linf", eps=0.1, bounds=BOUNDS, seed=2, queries=20,
                              jit_compile=False))
    xla = np.asarray(square(model, x, y, norm="linf", eps=0.1, bounds=BOUNDS, seed=2, queries=20, jit_compile=True))
    np.testing.assert_allclose(xla, plain, atol=1e-6)
    assert (predict(model, plain) != y).sum() >= 4  # so at most 7 stood at the end: padded batches ran


def test_flat_inputs():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(3)])
    x = np.random.default_rng(2).uniform(0, 1, (8, 20)).astype("float32")
    y = predict(model, x).astype("int32")
    for norm, eps in [("linf", 0.1), ("l2", 0.5)]:
        x_adv = np.asarray(square(model, x, y, norm=norm, eps=eps, bounds=BOUNDS, seed=1, queries=30))
        assert x_adv.shape == x.shape
        d = distances(norm, x_adv, x)
        assert d.max() <= eps * (1 + 1e-5) and d.min() > 0.5 * eps
        assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_p_schedule():
    assert p_schedule(0, 10000, 0.8) == 0.8
    assert p_schedule(10, 10000, 0.8) == 0.8
    assert p_schedule(11, 10000, 0.8) == 0.4
    assert p_schedule(500, 10000, 0.8) == 0.1
    assert p_schedule(9999, 10000, 0.8) == pytest.approx(0.8 / 512)
    assert p_schedule(5, 100, 0.5) == 0.5 / 8  # rescaled: iteration 500 of 10000
    assert p_schedule(6, 100, 0.5) == 0.5 / 16


# --------------------------------------------------------------------------- refusals


def test_l1_is_refused_up_front():
    with pytest.raises(ConfigError, match="norm") as err:
        Attack.build("square", norm="l1", eps=1.0, bounds=BOUNDS)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("options, field", [
    ({"queries": 0}, "queries"), ({"queries": 2.5}, "queries"), ({"p_init": 0.0}, "p_init"),
    ({"p_init": 1.5}, "p_init"), ({"loss": "dlr"}, "loss")])
def test_bad_options_are_refused(mlp, options, field):
    with pytest.raises(ValueError, match=field) as err:
        Attack.build("square", norm="linf", eps=0.1, bounds=BOUNDS, options=options)
    assert "\n" not in str(err.value)
    model, x, y = mlp
    with pytest.raises(ValueError, match=field):
        square(model, x, y, norm="linf", eps=0.1, bounds=BOUNDS, **options)


def test_bad_inputs_and_traced_calls_are_refused(mlp):
    model, x, y = mlp
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        square(model, bad, y, norm="linf", eps=0.1, bounds=BOUNDS, queries=2)
    with pytest.raises(ValueError, match="bounds"):
        square(model, x + 2.0, y, norm="linf", eps=0.1, bounds=BOUNDS, queries=2)
    with pytest.raises(ValueError):
        square(model, x, np.full_like(y, 3), norm="linf", eps=0.1, bounds=BOUNDS, queries=2)
    with pytest.raises(ValueError, match="seed"):
        square(model, x, y, norm="linf", eps=0.1, bounds=BOUNDS, seed=tf.zeros([3, 2], tf.int64), queries=2)

    @tf.function
    def traced(x):
        return square(model, x, y, norm="linf", eps=0.1, bounds=BOUNDS, queries=2)

    with pytest.raises(ValueError, match="square runs eagerly"):
        traced(tf.constant(x))
