"""The contract of every registered attack and norm (a new entry is covered by being registered).

Attacks (``ATTACKS.names()`` x ``NORMS.names()``, default options except smaller budgets for the
slow evaluation attacks, a tiny MLP): the result lies in the eps-ball (float32 tolerance) and within
the bounds, the inputs are not modified, eps 0 returns ``x``, with one seed per example a row's
result does not depend on the rest of the batch, and restarts never help the model (the worst case over restarts of ``robust_accuracy_table``
is at most each single restart's accuracy). Norms: projection is the Euclidean projection onto the
ball, the step direction is a unit steepest-ascent direction, random starts lie in the ball.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import Attack, get_norm
from tfrobust.attacks.seeds import example_seeds
from tfrobust.config import ConfigError
from tfrobust.evaluation import robust_accuracy_table
from tfrobust.registry import ATTACKS, NORMS, options_of

BOUNDS = (0.0, 1.0)
EPS = 0.25
#: In-tree attacks must take every norm; another entry may refuse one, up front, with a ConfigError.
EVERY_NORM = {"pgd", "fgsm"}
#: Smaller budgets for the evaluation attacks whose defaults take thousands of model calls (their
#: defaults are checked by tests/test_registry.py and their own tests).
QUICK = {"square": {"queries": 200}, "apgd": {"steps": 20},
         "autoattack": {"version": "fast", "steps": 10, "queries": 100}}
PAIRS = [(attack, norm) for attack in ATTACKS.names() for norm in NORMS.names()]


def _ids(pair: tuple[str, str]) -> str:
    return "-".join(pair)


@pytest.fixture(scope="module")
def mlp():
    """A tiny 3-class MLP on 3x3 images, and 12 inputs in [0, 1] (some on the bounds)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3, 3, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)])
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (12, 3, 3, 1)).astype("float32")
    x[0, 0, 0, 0], x[1, 1, 1, 0] = 0.0, 1.0
    y = np.argmax(model(x).numpy(), axis=1).astype("int32")  # every clean prediction is right
    return model, x, y


def build(attack: str, norm: str, eps: float = EPS) -> Attack:
    try:
        return Attack.build(attack, norm=norm, eps=eps, bounds=BOUNDS, options=QUICK.get(attack))
    except ConfigError as err:
        if attack in EVERY_NORM or "norm" not in str(err):
            raise
        pytest.skip(f"{attack} refuses {norm}: {err}")


@pytest.mark.parametrize("name", ATTACKS.names())
def test_entry_follows_the_protocol(name):
    entry = ATTACKS[name]
    assert {"norm", "eps", "bounds", "seed"} <= set(entry.keywords), entry.keywords
    # Options read from the source (ast) are those of the loaded signature: simple annotations, literal defaults.
    loaded = {o.name: (o.default, o.type) for o in options_of(entry.load(), ATTACKS.protocol)}
    assert {o.name: (o.default, o.type) for o in entry.options} == loaded
    assert all(o.type.kind != "any" for o in entry.options), [o.describe() for o in entry.options]


@pytest.mark.parametrize("attack, norm", PAIRS, ids=map(_ids, PAIRS))
def test_result_in_ball_and_bounds_and_inputs_untouched(mlp, attack, norm):
    model, x, y = mlp
    x_copy, y_copy = x.copy(), y.copy()
    x_adv = build(attack, norm)(model, x, y, seed=1)
    x_adv = np.asarray(x_adv)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32 and np.isfinite(x_adv).all()
    distance = get_norm(norm).norm(tf.constant(x_adv - x)).numpy()
    assert distance.max() <= EPS * (1 + 1e-5) + 1e-7, distance.max()
    assert x_adv.min() >= BOUNDS[0] and x_adv.max() <= BOUNDS[1]
    assert distance.max() > 0.1 * EPS  # it moved


@pytest.mark.parametrize("attack, norm", PAIRS, ids=map(_ids, PAIRS))
def test_eps_zero_returns_x(mlp, attack, norm):
    model, x, y = mlp
    np.testing.assert_array_equal(np.asarray(build(attack, norm, eps=0.0)(model, x, y, seed=3)), x)


@pytest.mark.parametrize("attack, norm", PAIRS, ids=map(_ids, PAIRS))
def test_per_example_seeds_make_a_row_independent_of_the_batch(mlp, attack, norm):
    """With (N, 2) seeds, attacking some rows gives those rows what attacking the whole batch gives
    them (what the evaluation's early exit relies on; tfrobust.attacks.seeds)."""
    model, x, y = mlp
    configured = build(attack, norm)
    seeds = example_seeds(11, tf.range(len(x)))
    whole = np.asarray(configured(model, x, y, seed=seeds))
    rows = [1, 4, 5, 10]
    part = np.asarray(configured(model, x[rows], y[rows], seed=tf.gather(seeds, rows)))
    np.testing.assert_allclose(part, whole[rows], atol=1e-4)
    wrong = np.argmax(model(whole).numpy(), axis=1) != y
    np.testing.assert_array_equal(np.argmax(model(part).numpy(), axis=1) != y[rows], wrong[rows])


@pytest.mark.parametrize("attack, norm", PAIRS, ids=map(_ids, PAIRS))
def test_restarts_never_help_the_model(mlp, attack, norm):
    model, x, y = mlp
    build(attack, norm)  # skips an attack that refuses this norm
    common = dict(norms=[norm], eps=[EPS], bounds=BOUNDS, attack=attack, options=QUICK.get(attack), checks="none")
    table = robust_accuracy_table(model, (x, y), restarts=3, seed=5, **common).iloc[0]
    singles = [robust_accuracy_table(model, (x, y), restarts=1, seed=5 + r, **common).iloc[0]["robust_accuracy_mean"]
               for r in range(3)]  # restart r of the table is the single run with seed 5 + r
    assert table["robust_accuracy_worst"] <= min(singles) + 1e-12, (table["robust_accuracy_worst"], singles)
    assert table["robust_accuracy_mean"] == pytest.approx(np.mean(singles))
    assert max(singles) <= table["clean_accuracy"] == 1.0
    assert table["attack"] == attack


# --------------------------------------------------------------------------- norms


def _batch(seed: int, n: int = 16, shape: tuple[int, ...] = (2, 3, 2)) -> tf.Tensor:
    return tf.constant(np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32"))


@pytest.mark.parametrize("norm", NORMS.names())
def test_projection_is_the_nearest_point_of_the_ball(norm):
    geometry = get_norm(norm)
    v = _batch(0) * 2.0
    p = geometry.project(v, EPS)
    assert geometry.norm(p).numpy().max() <= EPS * (1 + 1e-5)
    small = geometry.project(v, 1e-3) * 100  # a point strictly inside: unchanged
    np.testing.assert_allclose(geometry.project(small, EPS).numpy(), small.numpy(), rtol=1e-6, atol=1e-7)
    gap = tf.norm(tf.reshape(v - p, [16, -1]), axis=1).numpy()
    for seed in range(20):  # no point of the ball is closer (Euclidean projection onto a convex set)
        q = geometry.random_start(tf.shape(v), EPS, tf.constant([seed, 1]))
        other = tf.norm(tf.reshape(v - q, [16, -1]), axis=1).numpy()
        assert (gap <= other + 1e-5).all()


@pytest.mark.parametrize("norm", NORMS.names())
def test_step_direction_is_a_unit_steepest_ascent_direction(norm):
    geometry = get_norm(norm)
    grad = _batch(1)
    d = geometry.normalize_step(grad)
    np.testing.assert_allclose(geometry.norm(d).numpy(), geometry.unit_length(), rtol=1e-5)
    gain = tf.reduce_sum(tf.reshape(grad * d, [16, -1]), axis=1).numpy()
    for seed in range(20):  # <grad, d> = the dual norm of grad >= <grad, q> for q in the unit ball
        q = geometry.random_start(tf.shape(grad), 1.0, tf.constant([seed, 2]))
        assert (gain >= tf.reduce_sum(tf.reshape(grad * q, [16, -1]), axis=1).numpy() - 1e-5).all()
    np.testing.assert_array_equal(geometry.normalize_step(tf.zeros_like(grad)).numpy(), 0.0)  # no NaN


@pytest.mark.parametrize("norm", NORMS.names())
def test_random_start_lies_in_the_ball_and_spreads(norm):
    geometry = get_norm(norm)
    start = geometry.random_start(tf.constant([256, 3, 2]), EPS, tf.constant([4, 5]))
    length = geometry.norm(start).numpy()
    assert length.max() <= EPS * (1 + 1e-5) and length.min() > 0
    same = geometry.random_start(tf.constant([256, 3, 2]), EPS, tf.constant([4, 5]))
    np.testing.assert_array_equal(start.numpy(), same.numpy())  # stateless: the seed decides
    assert np.abs(start.numpy().mean()) < 0.05 * EPS  # symmetric around 0


def test_l1_geometry_by_hand():
    l1 = get_norm("l1")
    # Duchi et al.: soft-threshold by theta so that the l1 norm is eps.
    np.testing.assert_allclose(l1.project(tf.constant([[3.0, -1.0, 0.0]]), 2.0).numpy(), [[2.0, 0.0, 0.0]])
    np.testing.assert_allclose(l1.project(tf.constant([[1.0, -1.0]]), 1.0).numpy(), [[0.5, -0.5]])
    np.testing.assert_allclose(l1.project(tf.constant([[0.2, -0.3]]), 1.0).numpy(), [[0.2, -0.3]])
    np.testing.assert_allclose(l1.project(tf.constant([[0.2, -0.3]]), 0.0).numpy(), [[0.0, 0.0]])
    # Steepest ascent: the whole step on the largest |grad| coordinate; ties share it.
    np.testing.assert_allclose(l1.normalize_step(tf.constant([[0.5, -2.0, 1.0]])).numpy(), [[0.0, -1.0, 0.0]])
    np.testing.assert_allclose(l1.normalize_step(tf.constant([[2.0, -2.0, 1.0]])).numpy(), [[0.5, -0.5, 0.0]])
