"""The contract every registered attribution keeps, parametrised over ``ATTRIBUTIONS.names()``.

A new attribution (a decorated function in ``tfrobust/attribution/``) is
tested here without being named: called through ``attribute`` with its
default options and the data's bounds, it must give float32 maps of the
shape of ``x`` that are finite, leave its inputs alone, repeat exactly, treat
the examples of a batch independently and agree between eager execution and
a ``tf.function``.

Batch invariance: a method without a ``seed`` promises that the maps of a
batch are the maps of its halves, concatenated. A method with a ``seed``
(smoothgrad, random) draws its noise for the whole batch shape at once, so an
example's noise depends on the batch it sits in; for those the test fixes
the seed and the batch shape and checks per-example independence instead:
changing one example's input or label leaves every other example's map
unchanged (that is checked for every method).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attribution import ATTRIBUTIONS, attribute

NAMES = ATTRIBUTIONS.names()
BOUNDS = (0.0, 1.0)
K = 3
RNG = np.random.default_rng(11)
X = RNG.uniform(0.05, 0.95, size=(6, 3, 3, 1)).astype(np.float32)
Y = np.array([0, 1, 2, 2, 1, 0], np.int32)


@pytest.fixture(scope="module")
def model():
    """A small nonlinear classifier (tanh hidden layer), so maps depend on the input."""
    keras.utils.set_random_seed(5)
    return keras.Sequential([keras.Input((3, 3, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(K)])


def maps_of(name, model, x, y):
    return np.asarray(attribute(name, model, x, y, bounds=BOUNDS))


def seeded(name):
    return ATTRIBUTIONS[name].accepts("seed")


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_finite_and_inputs_untouched(model, name):
    x, y = X.copy(), Y.copy()
    out = attribute(name, model, x, y, bounds=BOUNDS)
    assert tuple(out.shape) == X.shape and np.asarray(out).dtype == np.float32, (out.shape, out.dtype)
    assert np.isfinite(np.asarray(out)).all()
    assert np.asarray(out).std() > 0  # a map, not a constant
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, Y)
    tensor = tf.constant(X)
    np.testing.assert_array_equal(maps_of(name, model, tensor, Y), np.asarray(out))
    np.testing.assert_array_equal(tensor.numpy(), X)


@pytest.mark.parametrize("name", NAMES)
def test_repeatable(model, name):
    np.testing.assert_array_equal(maps_of(name, model, X, Y), maps_of(name, model, X, Y))


@pytest.mark.parametrize("name", NAMES)
def test_examples_are_independent(model, name):
    """Changing one example (input and label) changes no other example's map (same batch shape and seed)."""
    ref = maps_of(name, model, X, Y)
    for i in range(len(X)):
        x, y = X.copy(), Y.copy()
        x[i] = 1.0 - x[i]
        y[i] = (y[i] + 1) % K
        others = np.arange(len(X)) != i
        out = maps_of(name, model, x, y)
        np.testing.assert_allclose(out[others], ref[others], rtol=1e-5, atol=1e-6, err_msg=f"changed example {i}")


@pytest.mark.parametrize("name", [n for n in NAMES if not seeded(n)])
def test_batch_is_its_halves(model, name):
    whole = maps_of(name, model, X, Y)
    halves = np.concatenate([maps_of(name, model, X[:3], Y[:3]), maps_of(name, model, X[3:], Y[3:])])
    np.testing.assert_allclose(whole, halves, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_graph_equals_eager(model, name):
    eager = maps_of(name, model, X, Y)

    @tf.function
    def traced(x, y):
        return attribute(name, model, x, y, bounds=BOUNDS)

    graph = traced(tf.constant(X), tf.constant(Y)).numpy()
    np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-6)
