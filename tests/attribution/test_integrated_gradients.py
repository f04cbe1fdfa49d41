"""Integrated Gradients against analytic oracles.

- linear model ``z = W^T x + b``: IG = ``W[:, y] * (x - baseline)`` exactly;
- quadratic logit ``z_0 = sum_i w_i x_i^2``: the path gradient is linear in
  the path parameter, so the midpoint rule is exact for any ``steps``:
  IG = ``w * (x^2 - baseline^2)``;
- completeness on a smooth nonlinear model: ``sum_i IG_i = z_y(x) - z_y(b)``
  up to the midpoint rule's error, which falls about 16-fold when ``steps``
  grows 4-fold.
"""

import keras
import numpy as np
import pytest

from tfrobust.attribution import ATTRIBUTIONS, attribute
from tfrobust.attribution.integrated_gradients import integrated_gradients
from tfrobust.config import ConfigError

RNG = np.random.default_rng(21)
W = RNG.normal(size=(4, 3)).astype(np.float32)
B = RNG.normal(size=(3,)).astype(np.float32)
Y = np.array([0, 1, 2, 2, 1])


@pytest.mark.parametrize("shape", [(4,), (2, 2, 1)], ids=["flat", "image"])
@pytest.mark.parametrize("baseline, bounds, start", [
    (None, None, 0.0),           # no bounds: 0
    (None, (-1.0, 1.0), -1.0),   # the data's lower bound
    (0.25, (-1.0, 1.0), 0.25),   # an explicit baseline wins
    (None, (-np.inf, np.inf), 0.0),
])
def test_linear_model_is_weight_times_displacement(linear_model, shape, baseline, bounds, start):
    model = linear_model(W, B, input_shape=shape)
    x = RNG.uniform(-1, 1, size=(5, *shape)).astype(np.float32)
    out = attribute("integrated_gradients", model, x, Y, bounds=bounds, baseline=baseline, steps=3).numpy()
    assert out.shape == x.shape and out.dtype == np.float32
    oracle = W[:, Y].T * (x.reshape(5, -1) - start)
    np.testing.assert_allclose(out.reshape(5, -1), oracle, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("steps", [1, 4])
def test_quadratic_logit_is_exact_for_any_steps(steps):
    w = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    inp = keras.Input((4,))
    dense = keras.layers.Dense(2, use_bias=False)
    model = keras.Model(inp, dense(keras.layers.Multiply()([inp, inp])))
    dense.set_weights([np.stack([w, np.zeros_like(w)], axis=1)])
    x = RNG.normal(size=(6, 4)).astype(np.float32)
    out = integrated_gradients(model, x, np.zeros(6, int), steps=steps, baseline=0.5).numpy()
    np.testing.assert_allclose(out, w * (x**2 - 0.25), rtol=1e-5, atol=1e-5)


def test_completeness_error_shrinks_with_steps():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="tanh",
                              kernel_initializer=keras.initializers.RandomNormal(stddev=1.5)),
                              keras.layers.Dense(3)])
    x = RNG.uniform(0, 1, size=(8, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    logits = np.asarray(model(x)).astype(np.float64)
    at_zero = np.asarray(model(np.zeros_like(x))).astype(np.float64)
    gap = logits[np.arange(8), y] - at_zero[np.arange(8), y]
    errors = []
    for steps in (2, 8, 32):
        total = integrated_gradients(model, x, y, steps=steps).numpy().astype(np.float64).sum(axis=1)
        errors.append(np.abs(total - gap).max())
    assert errors[0] > 1e-3  # the model is curved enough for the test to mean something
    assert errors[1] < errors[0] / 8 and errors[2] < errors[1] / 8, errors
    assert errors[2] < 1e-3 * max(1.0, np.abs(gap).max())


def test_registered_with_its_options():
    entry = ATTRIBUTIONS["integrated_gradients"]
    assert [o.name for o in entry.options] == ["steps", "baseline"]
    assert entry.accepts("bounds")
    assert entry.parse({"steps": 10.0, "baseline": "1/2"}) == {"steps": 10, "baseline": 0.5}


def test_bad_options(linear_model):
    model = linear_model(W, B)
    x = RNG.uniform(size=(5, 4)).astype(np.float32)
    with pytest.raises(ValueError, match=r"^steps must be an integer >= 1, got 0"):
        integrated_gradients(model, x, Y, steps=0)
    with pytest.raises(ValueError, match=r"^baseline must be a finite number"):
        integrated_gradients(model, x, Y, baseline=float("nan"))
    with pytest.raises(ValueError, match=r"^baseline must be a number or None"):
        integrated_gradients(model, x, Y, baseline="black")
    with pytest.raises(ValueError, match=r"^bounds must satisfy lo < hi"):
        integrated_gradients(model, x, Y, bounds=(1.0, 0.0))
    with pytest.raises(ConfigError, match=r"^option steps of attribution 'integrated_gradients' must be int"):
        attribute("integrated_gradients", model, x, Y, steps="many")
