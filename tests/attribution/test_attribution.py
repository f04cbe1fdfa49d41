"""Attributions against analytic oracles: linear and quadratic models; the registry and ``attribute``."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attribution import (
    ATTRIBUTIONS,
    attribute,
    get_attribution,
    gradient,
    gradient_input,
    logit_gradient,
    random_map,
    smoothgrad,
)
from tfrobust.attribution.gradient import cached_functions
from tfrobust.config import ConfigError

RNG = np.random.default_rng(0)
W4 = RNG.normal(size=(4, 3)).astype(np.float32)
B3 = RNG.normal(size=(3,)).astype(np.float32)


def quadratic_model(w):
    """Logits [sum_i w_i x_i^2, 0]: the class-0 logit gradient is 2 w x."""
    inp = keras.Input((4,))
    sq = keras.layers.Multiply()([inp, inp])
    dense = keras.layers.Dense(2, use_bias=False)
    out = dense(sq)
    dense.set_weights([np.stack([w, np.zeros_like(w)], axis=1).astype(np.float32)])
    return keras.Model(inp, out)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(params=[(4,), (2, 2, 1)], ids=["flat", "image"])
def linear(request, linear_model):
    """z = W4^T flatten(x) + B3 on inputs of a flat or an image shape."""
    shape = request.param
    x = RNG.uniform(0, 1, size=(6, *shape)).astype(np.float32)
    y = np.array([0, 1, 2, 2, 1, 0])
    return linear_model(W4, B3, input_shape=shape), x, y


def test_registry_entries_follow_the_protocol():
    """Every registered attribution loads as fn(model, x, y, *, options) whose options all have defaults."""
    names = ATTRIBUTIONS.names()
    assert {"gradient", "gradient_input", "logit_gradient", "smoothgrad", "random"} <= set(names)
    for name in names:
        entry = ATTRIBUTIONS[name]
        fn = get_attribution(name)
        params = list(inspect.signature(fn).parameters.values())
        assert [p.name for p in params[:3]] == ["model", "x", "y"], name
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[3:]), name
        assert entry.description, name
        assert all(not option.required for option in entry.options), (name, entry.options)
        assert "bounds" not in {option.name for option in entry.options}, name  # a protocol keyword
    assert get_attribution("smoothgrad") is smoothgrad
    with pytest.raises(ConfigError, match=r"^unknown attribution 'saliency'; choose from: gradient"):
        get_attribution("saliency")


def test_attribute_validates_options_and_passes_bounds(linear):
    model, x, y = linear
    with pytest.raises(ConfigError, match=r"^attribution 'smoothgrad' has no option 'sigmaa'; its options: base"):
        attribute("smoothgrad", model, x, y, sigmaa=0.1)
    with pytest.raises(ConfigError, match=r"option samples of attribution 'smoothgrad' must be int"):
        attribute("smoothgrad", model, x, y, samples="many")
    with pytest.raises(ConfigError, match=r"^attribution 'gradient' has no option 'seed'; it takes no options"):
        attribute("gradient", model, x, y, seed=1)
    # bounds reach an attribution only through its protocol keyword, never as an option
    with pytest.raises(ConfigError, match="no option 'bounds'"):
        ATTRIBUTIONS["smoothgrad"].parse({"bounds": (0, 1)})
    np.testing.assert_array_equal(attribute("gradient", model, x, y, bounds=(0, 1)), gradient(model, x, y))
    wide = dict(sigma=1.0, samples=2, seed=1)
    clipped = attribute("smoothgrad", model, x, y, bounds=(0.0, 1.0), clip=True, base="gradient_input", **wide)
    np.testing.assert_array_equal(
        clipped, smoothgrad(model, x, y, bounds=(0.0, 1.0), clip=True, base="gradient_input", **wide))
    unclipped = attribute("smoothgrad", model, x, y, bounds=(0.0, 1.0), base="gradient_input", **wide)
    assert not np.allclose(clipped, unclipped)
    # YAML/CLI values are converted: an integral float is an int, a list a seed pair
    np.testing.assert_array_equal(attribute("random", model, x, y, seed=[3, 4]), random_map(model, x, y, seed=(3, 4)))


def test_logit_gradient_is_weight_column(linear):
    model, x, y = linear
    out = logit_gradient(model, x, y)
    assert out.shape == x.shape and out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy().reshape(len(x), -1), W4[:, y].T, rtol=1e-6, atol=1e-7)


def test_loss_gradient_and_gradient_input(linear):
    model, x, y = linear
    z = x.reshape(len(x), -1) @ W4 + B3
    oracle = (softmax(z) - np.eye(3)[y]) @ W4.T  # per example W (softmax(z) - onehot(y))
    g = gradient(model, x, y).numpy()
    np.testing.assert_allclose(g.reshape(len(x), -1), oracle, rtol=1e-5, atol=1e-6)
    gx = gradient_input(model, tf.constant(x), tf.constant(y)).numpy()
    np.testing.assert_allclose(gx, x * oracle.reshape(x.shape), rtol=1e-5, atol=1e-6)


def test_quadratic_logit_gradient():
    w = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    out = logit_gradient(quadratic_model(w), x, np.zeros(5, int)).numpy()
    np.testing.assert_allclose(out, 2 * w * x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("base", ["gradient", "gradient_input", "logit_gradient"])
def test_smoothgrad_sigma_zero_is_base(linear, base):
    model, x, y = linear
    out = smoothgrad(model, x, y, base=base, sigma=0.0, samples=3, chunk=2)
    np.testing.assert_allclose(out, ATTRIBUTIONS[base](model, x, y), rtol=1e-5, atol=1e-6)


def test_smoothgrad_of_linear_logit_gradient_is_constant(linear):
    model, x, y = linear
    out = smoothgrad(model, x, y, sigma=0.7, samples=5, seed=3).numpy()
    np.testing.assert_allclose(out.reshape(len(x), -1), W4[:, y].T, rtol=1e-5, atol=1e-6)


def test_smoothgrad_noise_has_absolute_sigma():
    # logits [0.5 sum x^2, 0]: the class-0 logit gradient is the input itself.
    model = quadratic_model(np.full(4, 0.5, np.float32))
    x = np.full((2000, 4), 0.5, np.float32)
    y = np.zeros(2000, int)
    out = smoothgrad(model, x, y, sigma=0.15, samples=1, seed=1).numpy()
    spread = out - x
    assert abs(spread.std() / 0.15 - 1) < 0.03
    assert abs(spread.mean()) < 0.01
    wide = smoothgrad(model, x, y, sigma=1.0, samples=1, seed=1).numpy()
    assert wide.min() < 0.0 and wide.max() > 1.0  # not clipped by default
    assert np.array_equal(wide, smoothgrad(model, x, y, sigma=1.0, samples=1, seed=1, bounds=(0, 1)).numpy())
    clipped = smoothgrad(model, x, y, sigma=1.0, samples=1, seed=1, bounds=(0, 1), clip=True).numpy()
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    with pytest.raises(ValueError, match=r"^clip: smoothgrad clips the noisy copies to the data's bounds"):
        smoothgrad(model, x, y, sigma=1.0, samples=1, clip=True)


def test_smoothgrad_independent_of_chunk():
    model = quadratic_model(np.array([1.0, -1.0, 2.0, 0.5], np.float32))
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    y = np.array([0, 1, 0])
    ref = smoothgrad(model, x, y, sigma=0.3, samples=7, seed=5, chunk=7).numpy()
    for chunk in (1, 3, 4, 100):
        out = smoothgrad(model, x, y, sigma=0.3, samples=7, seed=5, chunk=chunk).numpy()
        np.testing.assert_array_equal(out, ref)
    # averaging: 7 samples of 2 w (x + e) have mean 2 w x + O(sigma / sqrt(7))
    other = smoothgrad(model, x, y, sigma=0.3, samples=7, seed=6).numpy()
    assert not np.array_equal(other, ref)
    # a nonlinear base: chunk-independent up to batch-size rounding of the kernels
    a = smoothgrad(model, x, y, base="gradient", sigma=0.3, samples=5, seed=5, chunk=2)
    b = smoothgrad(model, x, y, base="gradient", sigma=0.3, samples=5, seed=5, chunk=5)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_compiled_once_per_model(linear):
    model, x, y = linear
    smoothgrad(model, x, y, sigma=0.1, samples=4, chunk=2)
    fn = cached_functions(model)[("smoothgrad", "logit_gradient", 2, None)]
    before = fn.experimental_get_tracing_count()
    for seed in range(3):
        smoothgrad(model, x, y, sigma=0.1 * (seed + 1), samples=4 + 2 * seed, chunk=2, seed=seed)
    assert fn.experimental_get_tracing_count() == before


@pytest.mark.parametrize("options, name", [
    ({"samples": 0}, "samples"),
    ({"samples": 2.5}, "samples"),
    ({"sigma": -0.1}, "sigma"),
    ({"sigma": float("nan")}, "sigma"),
    ({"chunk": 0}, "chunk"),
    ({"base": "smoothgrad"}, "base"),
    ({"base": "random"}, "base"),
    ({"base": "nope"}, "base"),
    ({"bounds": (1, 0), "clip": True}, "bounds"),
    ({"clip": 1}, "clip"),
    ({"seed": "abc"}, "seed"),
])
def test_smoothgrad_bad_options(linear, options, name):
    model, x, y = linear
    with pytest.raises(ValueError, match=name):
        smoothgrad(model, x, y, **options)


def test_bad_inputs(linear):
    model, x, y = linear
    with pytest.raises(ValueError, match="y must"):
        gradient(model, x, y[:-1])
    with pytest.raises(ValueError, match="x must"):
        logit_gradient(model, x[0, ...].reshape(-1), y)


def test_random_map():
    x = np.zeros((3, 5, 5, 2), np.float32)
    a = random_map(None, x, None, seed=1).numpy()
    assert a.shape == x.shape and a.dtype == np.float32
    assert a.min() >= -1 and a.max() <= 1 and a.std() > 0.4
    np.testing.assert_array_equal(a, ATTRIBUTIONS["random"]("any model", x, np.zeros(3), seed=1))
    assert not np.array_equal(a, random_map(None, x, seed=2))


def test_inputs_not_mutated_and_inference_mode():
    inp = keras.Input((2, 2, 1))
    h = keras.layers.Dense(8, activation="relu")(keras.layers.Flatten()(inp))
    out = keras.layers.Dense(3)(keras.layers.Dropout(0.5)(h))
    model = keras.Model(inp, out)
    x = RNG.uniform(size=(4, 2, 2, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    x0, y0 = x.copy(), y.copy()
    for name in ATTRIBUTIONS.names():
        first = np.asarray(attribute(name, model, x, y, bounds=(0, 1)))
        second = np.asarray(attribute(name, model, x, y, bounds=(0, 1)))
        np.testing.assert_array_equal(first, second, err_msg=name)
        assert first.shape == x.shape and np.isfinite(first).all()
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
