"""The AutoAttack-style suite and the evaluation's early exit.

Oracles: with one seed per example, a member's result on a point does not
depend on the other points, so (a) the suite breaks exactly the union of
what its members break when each attacks every point, hence never reports
more accuracy than its strongest member, and (b) attacking only the points
still standing (the evaluation's early exit) gives every point the outcome
it gets when everything is attacked.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import Attack
from tfrobust.attacks.autoattack import (
    CLEAN_WRONG,
    ROBUST,
    member_label,
    run_members,
    suite_members,
)
from tfrobust.attacks.seeds import example_seeds, fold
from tfrobust.config import ConfigError
from tfrobust.evaluation import robust_accuracy_table
from tfrobust.training import RobustAccuracy
from tfrobust.training.callbacks import attack_outcomes

BOUNDS = (0.0, 1.0)
FAST = {"version": "fast", "steps": 4, "target_classes": 2, "queries": 30}


@pytest.fixture(scope="module")
def mlp():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((3, 3, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(12, activation="tanh"), keras.layers.Dense(5)])
    rng = np.random.default_rng(4)
    x = rng.uniform(0.0, 1.0, (40, 3, 3, 1)).astype("float32")
    y = np.argmax(model(x).numpy(), axis=1).astype("int32")
    y[:4] = (y[:4] + 1) % 5  # four points misclassified before any attack
    return model, x, y


def _broken(model, x_adv, y):
    return np.argmax(model(x_adv).numpy(), axis=1) != y


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_suite_breaks_exactly_the_union_of_its_members(mlp, norm):
    model, x, y = mlp
    eps = 0.08 if norm == "linf" else 0.25
    members = suite_members(norm=norm, eps=eps, bounds=BOUNDS, **FAST)
    assert [member_label(m) for m in members] == ["apgd-ce", "apgd-t", "square"]
    seeds = example_seeds(7, tf.range(len(x)))
    x_adv, breaker = run_members(model, x, y, members, seed=seeds)
    clean_wrong = _broken(model, x, y)
    assert (breaker[clean_wrong] == CLEAN_WRONG).all() and (breaker[~clean_wrong] >= ROBUST).all()
    alone = [_broken(model, m(model, x, y, seed=fold(seeds, i)), y) & ~clean_wrong for i, m in enumerate(members)]
    union = np.logical_or.reduce(alone)
    np.testing.assert_array_equal(breaker >= 0, union)
    np.testing.assert_array_equal(_broken(model, x_adv, y), union | clean_wrong)
    for i, member_broke in enumerate(alone):  # the first member that breaks a point is credited
        earlier = np.logical_or.reduce(alone[:i]) if i else np.zeros_like(union)
        np.testing.assert_array_equal(breaker == i, member_broke & ~earlier)
    strongest = max(a.mean() for a in alone)
    assert union.mean() >= strongest  # never more accuracy than the strongest member


def test_registered_suite_matches_run_members_and_refuses_training(mlp):
    model, x, y = mlp
    attack = Attack.build("autoattack", norm="linf", eps=0.08, bounds=BOUNDS, options=FAST)
    assert attack.settings["members"] == "apgd-ce, apgd-t, square" and attack.settings["steps"] == 4
    seeds = example_seeds(1, tf.range(len(x)))
    x_adv = attack(model, x, y, seed=seeds)
    expected, _ = run_members(model, x, y, suite_members(norm="linf", eps=0.08, bounds=BOUNDS, **FAST), seed=seeds)
    np.testing.assert_allclose(x_adv.numpy(), expected.numpy())
    with pytest.raises(ConfigError, match="^attack: autoattack is an evaluation attack that runs eagerly"):
        attack.check_trainable()
    with pytest.raises(ValueError, match="option version of attack .autoattack. must be one of standard, fast"):
        Attack.build("autoattack", norm="linf", eps=0.1, bounds=BOUNDS, options={"version": "slow"})


@pytest.mark.parametrize("name, options", [("pgd", {"steps": 3, "restarts": 2}), ("autoattack", FAST)])
def test_attacking_only_standing_points_changes_no_outcome(mlp, name, options):
    model, x, y = mlp
    attack = Attack.build(name, norm="linf", eps=0.08, bounds=BOUNDS, options=options)
    everything, codes = attack_outcomes(model, (x, y), attack, seed=5, batch_size=16)
    standing = np.random.default_rng(0).random(len(x)) < 0.5
    subset, sub_codes = attack_outcomes(model, (x, y), attack, seed=5, batch_size=16, standing=standing)
    np.testing.assert_array_equal(subset, everything & standing)
    np.testing.assert_array_equal(sub_codes[standing], codes[standing])
    assert (sub_codes[~standing] == CLEAN_WRONG).all()


def test_eps_grid_table_equals_attacking_everything_at_every_radius(mlp):
    """The table skips points broken at a smaller radius; the monotone worst case over a full attack
    at every radius is the same, point by point."""
    model, x, y = mlp
    radii = [0.03, 0.06, 0.12]
    table = robust_accuracy_table(model, (x, y), norms=["linf"], eps=radii, bounds=BOUNDS,
                                  options={"steps": 3}, restarts=2, seed=2, checks="none")
    survived = np.ones((2, len(x)), bool)
    for e, row in zip(radii, table.itertuples()):
        attack = Attack.build("pgd", norm="linf", eps=e, bounds=BOUNDS, options={"steps": 3})
        for r in range(2):
            survived[r] &= attack_outcomes(model, (x, y), attack, seed=2 + r)[0]
        assert row.robust_accuracy_mean == pytest.approx(survived.mean())
        assert row.robust_accuracy_worst == pytest.approx(survived.all(axis=0).mean())


def test_robust_accuracy_callback_takes_the_suite(mlp):
    model, x, y = mlp
    callback = RobustAccuracy((x, y), "autoattack", norm="l2", eps=0.25, bounds=BOUNDS, options=FAST)
    callback.set_model(model)
    logs = {}
    callback.on_epoch_end(0, logs)
    pgd_logs = {}
    weaker = RobustAccuracy((x, y), "pgd", norm="l2", eps=0.25, bounds=BOUNDS, options={"steps": 4})
    weaker.set_model(model)
    weaker.on_epoch_end(0, pgd_logs)
    assert 0.0 <= logs["val_robust_accuracy"] <= 0.9  # the four clean mistakes count as broken
    assert logs["val_robust_accuracy"] <= pgd_logs["val_robust_accuracy"] + 1e-9
