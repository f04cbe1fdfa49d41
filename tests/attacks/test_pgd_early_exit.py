"""PGD's early exit against an oracle, and the unchanged default path.

Oracle: with a fixed step size ``pgd(steps=k)`` is PGD's k-th iterate (k = 0: the start), so with
``early_exit=True`` a point must be reported broken iff some ``pgd(steps=k)``, k in 0..K, with the same
seed misclassifies it. Without early exit PGD must be the plain loop (an independent reference below).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import PGD, Attack, get_norm, pgd, xent
from tfrobust.attacks.early_exit import compaction_size
from tfrobust.attacks.seeds import example_seeds, fold

BOUNDS = (0.0, 1.0)
STEPS = 6
EPS = {"linf": 0.3, "l2": 1.0}


@pytest.fixture(scope="module")
def mlp():
    """A tiny 3-class MLP and 48 inputs it classifies as their labels (by definition)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    x = np.random.default_rng(0).uniform(0, 1, (48, 4, 4, 1)).astype("float32")
    y = np.argmax(model(x).numpy(), axis=1).astype("int32")
    return model, x, y


def fooled(model, x_adv, y, targeted=False):
    hit = np.argmax(model(x_adv, training=False).numpy(), axis=1) == y
    return hit if targeted else ~hit


def options(norm, **extra):
    return dict(norm=norm, eps=EPS[norm], bounds=BOUNDS, step_size=EPS[norm] / 2, seed=4, **extra)


CASES = [("linf", True, "steepest", False), ("linf", False, "steepest", False), ("l2", True, "steepest", False),
         ("l2", False, "steepest", False), ("linf", True, "momentum", False), ("linf", True, "steepest", True),
         ("l2", True, "steepest", True)]


@pytest.mark.parametrize("norm, random_start, update, jit", CASES)
def test_broken_iff_some_iterate_is_misclassified(mlp, norm, random_start, update, jit):
    model, x, y = mlp
    kw = options(norm, random_start=random_start, restarts=2, update=update, jit_compile=jit)
    iterates = [fooled(model, pgd(model, x, y, steps=k, **kw), y) for k in range(STEPS + 1)]
    oracle = np.any(iterates, axis=0)
    full = pgd(model, x, y, steps=STEPS, **kw).numpy()
    early = pgd(model, x, y, steps=STEPS, early_exit=True, **kw).numpy()
    broken = fooled(model, early, y)
    np.testing.assert_array_equal(broken, oracle)
    assert 0 < broken.sum() < len(x)  # the case tests something: some points break, some stand
    assert np.all(broken[iterates[-1]])  # never robust where the full run breaks at its last iterate
    if norm == "linf" and random_start and update == "steepest" and not jit:
        assert broken.sum() > iterates[-1].sum()  # and here it finds points the last iterate lost
    distance = get_norm(norm).norm(tf.constant(early - x)).numpy()
    assert distance.max() <= EPS[norm] * (1 + 1e-5) and early.min() >= 0 and early.max() <= 1
    # A point never broken keeps the full run's result (best final iterate over the restarts).
    np.testing.assert_allclose(early[~broken], full[~broken], atol=1e-6)


def test_targeted_early_exit_stops_at_the_target(mlp):
    model, x, y = mlp
    target = ((y + 1) % 3).astype("int32")
    kw = options("linf", targeted=True, restarts=1, jit_compile=False)
    oracle = np.any([fooled(model, pgd(model, x, target, steps=k, **kw), target, targeted=True)
                     for k in range(STEPS + 1)], axis=0)
    early = pgd(model, x, target, steps=STEPS, early_exit=True, **kw)
    np.testing.assert_array_equal(fooled(model, early, target, targeted=True), oracle)
    assert 0 < oracle.sum() < len(x)


def test_frozen_points_cost_no_gradients(mlp):
    """Graph mode compacts exactly: the model sees each point until (and including) its first success."""
    net, x, y = mlp
    seen = tf.Variable(0, dtype=tf.int64)

    def counted(inputs):
        seen.assign_add(tf.cast(tf.shape(inputs)[0], tf.int64))
        return net(inputs, training=False)

    kw = options("linf", restarts=1, jit_compile=False)
    first = np.full(len(x), STEPS + 1)  # first successful iterate; STEPS + 1: none
    for k in range(STEPS, -1, -1):
        first[fooled(net, pgd(net, x, y, steps=k, **kw), y)] = k
    seen.assign(0)
    pgd(counted, x, y, steps=STEPS, early_exit=True, **kw)
    step_rows = np.minimum(first + 1, STEPS).sum()  # steps 0..k run the model; broken at STEPS: all STEPS
    final_rows = np.sum(first >= STEPS)  # the final iterate is judged where no step succeeded
    assert int(seen.numpy()) == step_rows + final_rows
    assert step_rows < STEPS * len(x)


def test_per_example_seeds_give_each_row_its_own_result(mlp):
    model, x, y = mlp
    seeds = example_seeds(9, tf.range(len(x)))
    rows = np.arange(3, len(x), 2)
    for jit in (False, True):
        kw = options("l2", restarts=2, steps=STEPS, early_exit=True, jit_compile=jit)
        whole = pgd(model, x, y, **{**kw, "seed": seeds}).numpy()
        part = pgd(model, x[rows], y[rows], **{**kw, "seed": tf.gather(seeds, rows)}).numpy()
        np.testing.assert_allclose(part, whole[rows], atol=1e-6)


def reference_pgd(model, x, y, *, norm, eps, steps, step_size, seed, random_start, lo=0.0, hi=1.0):
    """The plain PGD loop from the norm's public methods."""
    geometry = get_norm(norm)
    x = tf.constant(x)
    x_adv = x
    if random_start:
        x_adv = tf.clip_by_value(x + geometry.random_start(tf.shape(x), eps, fold(seed, 0)), lo, hi)

    @tf.function
    def step(x_adv, eps, step_size):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            total = tf.reduce_sum(xent(model(x_adv, training=False), y))
        moved = x_adv + step_size * geometry.normalize_step(tape.gradient(total, x_adv))
        return tf.clip_by_value(x + geometry.project(moved - x, eps), lo, hi)

    for _ in range(steps):
        x_adv = step(x_adv, tf.constant(eps, tf.float32), tf.constant(step_size, tf.float32))
    return x_adv.numpy()


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("seed", ["int", "rows"])
def test_without_early_exit_pgd_is_the_plain_loop(mlp, norm, seed):
    model, x, y = mlp
    seed = 4 if seed == "int" else example_seeds(4, tf.range(len(x)))
    kw = dict(norm=norm, eps=EPS[norm], steps=STEPS, step_size=EPS[norm] / 2, seed=seed, random_start=True)
    expected = reference_pgd(model, x, y, **kw)
    for jit in (None, False):
        np.testing.assert_array_equal(pgd(model, x, y, bounds=BOUNDS, jit_compile=jit, **kw).numpy(), expected)
    np.testing.assert_array_equal(pgd(model, x, y, bounds=BOUNDS, early_exit=False, jit_compile=False, **kw).numpy(),
                                  expected)


def test_early_exit_is_ignored_inside_a_traced_function(mlp):
    model, x, y = mlp
    kw = options("linf", steps=STEPS, jit_compile=False)
    traced = tf.function(lambda xx, yy: pgd(model, xx, yy, early_exit=True, **kw))(x, y).numpy()
    np.testing.assert_allclose(traced, pgd(model, x, y, **kw).numpy(), atol=1e-6)


def test_option_is_configured_and_checked(mlp):
    model, x, y = mlp
    attack = Attack.build("pgd", norm="linf", eps=0.3, bounds=BOUNDS, options={"early_exit": True, "steps": 3})
    assert attack.options["early_exit"] is True
    np.testing.assert_array_equal(attack(model, x, y, seed=1).numpy(),
                                  pgd(model, x, y, norm="linf", eps=0.3, bounds=BOUNDS, steps=3, seed=1,
                                      early_exit=True).numpy())
    config = PGD(eps=0.3, steps=3, early_exit=True)
    assert config.to_dict()["early_exit"] is True and "early_exit" not in PGD(eps=0.3).to_dict()
    assert PGD(**config.to_dict()) == config
    with pytest.raises(ValueError, match="early_exit"):
        pgd(model, x, y, norm="linf", eps=0.3, bounds=BOUNDS, early_exit="yes")
    with pytest.raises(ValueError, match="early_exit"):
        PGD(early_exit=1)


def test_compaction_sizes():
    assert [compaction_size(c, 64, exact=True) for c in (1, 17, 63)] == [1, 17, 63]
    assert [compaction_size(c, 64, exact=False) for c in (1, 2, 3, 17, 32, 33, 63)] == [1, 2, 4, 32, 32, 64, 64]
    assert compaction_size(40, 48, exact=False) == 48  # never larger than the batch
