"""The DLR losses (Croce & Hein 2020, eq. 6 and its targeted form): a numpy formula, invariances, refusals."""

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import get_objective
from tfrobust.attacks.objectives import dlr, dlr_targeted
from tfrobust.registry import OBJECTIVES


def np_dlr(z, y):
    top = -np.sort(-z, axis=1)
    label = z[np.arange(len(y)), y]
    other = np.max(np.where(np.arange(z.shape[1]) == y[:, None], -np.inf, z), axis=1)
    return -(label - other) / (top[:, 0] - top[:, 2] + 1e-12)


def np_dlr_targeted(z, y, t):
    top = -np.sort(-z, axis=1)
    rows = np.arange(len(y))
    return -(z[rows, y] - z[rows, t]) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def logits(seed, n=64, k=6, scale=3.0):
    rng = np.random.default_rng(seed)
    z = (rng.normal(size=(n, k)) * scale).astype("float32")
    y = rng.integers(0, k, size=n).astype("int32")
    t = (y + rng.integers(1, k, size=n)) % k  # a target other than y
    return z, y, t.astype("int32")


@pytest.mark.parametrize("k", [3, 5, 10])
def test_dlr_matches_the_formula(k):
    z, y, _ = logits(k, k=k)
    np.testing.assert_allclose(dlr(z, y).numpy(), np_dlr(z.astype(np.float64), y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [4, 10])
def test_targeted_dlr_matches_the_formula(k):
    z, y, t = logits(k + 1, k=k)
    np.testing.assert_allclose(dlr_targeted(z, y, t).numpy(), np_dlr_targeted(z.astype(np.float64), y, t),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("a, shift", [(0.25, 0.0), (4.0, 7.5), (1.0, -20.0), (2.5, "rows")])
def test_invariant_to_positive_scaling_and_shifting(a, shift):
    z, y, t = logits(2, k=8)
    b = np.random.default_rng(3).normal(size=(len(y), 1)).astype("float32") * 5 if shift == "rows" else shift
    moved = (a * z + b).astype("float32")
    np.testing.assert_allclose(dlr(moved, y).numpy(), dlr(z, y).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dlr_targeted(moved, y, t).numpy(), dlr_targeted(z, y, t).numpy(),
                               rtol=1e-4, atol=1e-5)
    # ... which the cross-entropy is not (a control: the check can fail)
    ce = get_objective("xent")
    assert not np.allclose(ce(moved, y).numpy(), ce(z, y).numpy(), rtol=1e-3) or a == 1.0


def test_sign_tells_success():
    z, y, t = logits(4, n=256, k=5)
    wrong = np.argmax(z, axis=1) != y
    value = dlr(z, y).numpy()
    assert wrong.any() and (~wrong).any()
    np.testing.assert_array_equal(value > 0, wrong)
    rows = np.arange(len(y))
    np.testing.assert_array_equal(dlr_targeted(z, y, t).numpy() > 0, z[rows, t] > z[rows, y])


def test_registered_and_kappa_ignored():
    assert "dlr" in OBJECTIVES.names() and get_objective("dlr") is dlr
    z, y, _ = logits(5)
    np.testing.assert_array_equal(dlr(z, y, kappa=5.0).numpy(), dlr(z, y).numpy())


def test_gradient_is_finite_at_ties():
    z = tf.zeros([3, 5])  # every logit equal: the spread is 0
    y = tf.constant([0, 1, 2])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        untargeted = dlr(z, y)
        targeted = dlr_targeted(z, y, tf.constant([1, 2, 3]))
    np.testing.assert_array_equal(untargeted.numpy(), 0.0)
    np.testing.assert_array_equal(targeted.numpy(), 0.0)
    for value in (untargeted, targeted):
        assert np.isfinite(tape.gradient(value, z).numpy()).all()


def one_line(err):
    text = str(err.value)
    assert "\n" not in text, text
    return text


@pytest.mark.parametrize("call, words", [
    (lambda: dlr(np.zeros((2, 2), "float32"), [0, 1]), "at least 3"),
    (lambda: dlr_targeted(np.zeros((2, 3), "float32"), [0, 1], [1, 2]), "at least 4"),
    (lambda: dlr(np.zeros((2, 4), "float32"), [0, 1], targeted=True), "dlr_targeted"),
    (lambda: dlr(np.array([[0, np.nan, 1]], "float32"), [0]), "non-finite"),
    (lambda: dlr(np.zeros((2, 4), "float32"), [0, 4]), "y must"),
    (lambda: dlr_targeted(np.zeros((2, 4), "float32"), [0, 1], [1, 7]), "target must"),
    (lambda: dlr(np.zeros((4,), "float32"), [0]), "shape"),
])
def test_refusals_are_one_line(call, words):
    with pytest.raises(ValueError) as err:
        call()
    assert words in one_line(err)
