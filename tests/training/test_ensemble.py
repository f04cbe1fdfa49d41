"""Ensemble: per-member gradients (analytic), input functions, modes, batched == sequential, bad inputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.training import Ensemble, fit_members, member_accuracies

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3)).astype("float32")
Y = np.array([0, 1, 2, 1, 0, 2, 2, 1], dtype="int32")
W0 = RNG.normal(size=(3, 3)).astype("float32") * 0.5
B0 = np.array([0.1, -0.2, 0.05], dtype="float32")
LR = 0.5


def tiny_cnn():
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(2, 3, activation="relu")(inputs)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(3)(h))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def hand_sgd_step(x):
    """One SGD step of mean softmax cross-entropy of the linear model on x, by hand."""
    g_logits = (softmax(x @ W0 + B0) - np.eye(3)[Y]) / len(x)
    return W0 - LR * x.T @ g_logits, B0 - LR * g_logits.sum(axis=0)


def double(x):
    return 2.0 * x


def zeros(x):
    return tf.zeros_like(x)


def compile_(ensemble, mode, optimizer=None):
    ensemble.compile(
        optimizer=optimizer or keras.optimizers.SGD(learning_rate=LR),
        run_eagerly=mode == "eager",
        jit_compile=mode == "jit",
    )


@pytest.mark.parametrize("mode", ["eager", "graph", "jit"])
def test_each_member_gets_the_gradient_of_its_own_loss(mode, linear_model):
    ensemble = Ensemble([linear_model(W0, B0), linear_model(W0, B0)], [lambda x: x, double])
    compile_(ensemble, mode)
    logs = ensemble.train_on_batch(X, Y, return_dict=True)
    for member, x in zip(ensemble.members, (X, 2.0 * X)):
        w, b = hand_sgd_step(x)
        np.testing.assert_allclose(member.get_weights()[0], w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(member.get_weights()[1], b, rtol=1e-5, atol=1e-6)
    assert set(logs) == {"loss", "m0_loss", "m0_accuracy", "m1_loss", "m1_accuracy"}
    np.testing.assert_allclose(logs["loss"], logs["m0_loss"] + logs["m1_loss"], rtol=1e-6)


def test_input_fns_are_applied_per_member(linear_model):
    ensemble = Ensemble([linear_model(W0, B0), linear_model(W0, B0)], [lambda x: x, zeros])
    compile_(ensemble, "graph")
    ensemble.train_on_batch(X, Y)
    (w0, b0), (w1, b1) = (m.get_weights() for m in ensemble.members)
    assert not np.allclose(w0, W0)
    np.testing.assert_array_equal(w1, W0)  # zero inputs: the kernel gets no gradient
    _, b_expected = hand_sgd_step(np.zeros_like(X))
    np.testing.assert_allclose(b1, b_expected, rtol=1e-5, atol=1e-6)
    # the loss of member 1 is that of constant logits B0, as evaluate reports
    logs = ensemble.evaluate(X, Y, verbose=0, return_dict=True)
    expected = -np.log(softmax(np.tile(b1, (len(X), 1)))[np.arange(len(X)), Y]).mean()
    np.testing.assert_allclose(logs["m1_loss"], expected, rtol=1e-5)


def test_member_accuracies_match_evaluate_and_the_members(linear_model):
    ensemble = Ensemble([linear_model(W0, B0), linear_model(W0, B0)], [lambda x: x, lambda x: -x])
    compile_(ensemble, "graph")
    data = tf.data.Dataset.from_tensor_slices((X, Y)).batch(3)
    accuracies = member_accuracies(ensemble, data)
    logs = ensemble.evaluate(data, verbose=0, return_dict=True)
    np.testing.assert_allclose(accuracies, [logs["m0_accuracy"], logs["m1_accuracy"]], atol=1e-6)
    for member, x, acc in zip(ensemble.members, (X, -X), accuracies):
        assert acc == np.mean(np.argmax(member.predict(x, verbose=0), axis=1) == Y)


def dict_data(n, batch, seed=0):
    """Features {"x", "scale"}: member m sees x * scale[:, m] (a stand-in for per-member occlusion)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, n).astype("int32")
    scale = rng.uniform(0, 1, size=(n, 2)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(({"x": x, "scale": scale}, y))
    return ds.shuffle(n, seed=seed, reshuffle_each_iteration=False).batch(batch)


def member_fns(flat):
    def make(m):
        def fn(features):
            x = features["x"] * features["scale"][:, m, None, None, None]
            return tf.reshape(x, (-1, 36)) if flat else x

        return fn

    return [make(0), make(1)]


@pytest.mark.parametrize("build", [
    lambda: keras.Sequential([keras.Input((36,)), keras.layers.Dense(3)]),
    tiny_cnn,
], ids=["linear", "cnn"])
def test_batched_and_sequential_fits_agree(build):
    keras.utils.set_random_seed(1)
    reference = [build() for _ in range(2)]
    flat = len(reference[0].inputs[0].shape) == 2
    weights = {}
    accuracies = {}
    for batched in (True, False):
        members = [keras.models.clone_model(m) for m in reference]
        for member, ref in zip(members, reference):
            member.set_weights(ref.get_weights())
        accuracies[batched] = fit_members(
            members, member_fns(flat), dict_data(40, 8), dict_data(24, 8, seed=1), epochs=2,
            optimizer=lambda: keras.optimizers.Adam(1e-2), batched=batched, jit_compile=False,
        )
        weights[batched] = [w for member in members for w in member.get_weights()]
    assert accuracies[True].shape == (2,)
    np.testing.assert_array_equal(accuracies[True], accuracies[False])
    for batched_w, sequential_w in zip(weights[True], weights[False]):
        np.testing.assert_allclose(batched_w, sequential_w, rtol=1e-5, atol=1e-6)
    initial = [w for member in reference for w in member.get_weights()]
    assert not any(np.allclose(a, b) for a, b in zip(weights[True], initial) if a.ndim > 1)  # kernels trained


def test_reshuffling_pipelines_change_order_between_iterators():
    """Pins the fact fit_members documents: a new iterator draws the next permutation."""
    ds = tf.data.Dataset.range(16).shuffle(16, seed=3, reshuffle_each_iteration=True)
    assert list(ds.as_numpy_iterator()) != list(ds.as_numpy_iterator())
    fixed = tf.data.Dataset.range(16).shuffle(16, seed=3, reshuffle_each_iteration=False)
    assert list(fixed.as_numpy_iterator()) == list(fixed.as_numpy_iterator())


def one_line(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("members", "fns", "match"), [
    ([], None, "empty"),
    ("factory", None, "members\\[0\\] must be a keras.Model"),
    ("model", None, "sequence of keras.Model"),
    ("linear", [lambda x: x], "len\\(input_fns\\) = 1 != len\\(members\\) = 2"),
    ("same", None, "distinct"),
    ("linear", [lambda x: x, 3], "input_fns\\[1\\] must be callable"),
])
def test_bad_members_raise_one_line_value_errors(members, fns, match, linear_model):
    if members == "factory":  # the model-building function itself, not a model
        members = [linear_model]
    elif members == "linear":
        members = [linear_model(W0, B0), linear_model(W0, B0)]
    elif members == "same":
        model = linear_model(W0, B0)
        members = [model, model]
    elif members == "model":
        members = linear_model(W0, B0)
    with pytest.raises(ValueError, match=match) as excinfo:
        Ensemble(members, fns)
    one_line(excinfo)
    data = tf.data.Dataset.from_tensor_slices((X, Y)).batch(4)
    with pytest.raises(ValueError, match=match):
        fit_members(members, fns, data, data, epochs=1, optimizer=keras.optimizers.SGD)


def test_compile_refuses_what_would_couple_or_confuse_members(linear_model):
    ensemble = Ensemble([linear_model(W0, B0), linear_model(W0, B0)])
    with pytest.raises(ValueError, match="global_clipnorm") as excinfo:
        ensemble.compile(optimizer=keras.optimizers.Adam(global_clipnorm=1.0))
    one_line(excinfo)
    with pytest.raises(ValueError, match="no metrics"):
        ensemble.compile(optimizer="sgd", metrics=["accuracy"])
    with pytest.raises(ValueError, match="keras.losses.Loss"):
        ensemble.compile(optimizer="sgd", loss=lambda y, p: p)
    data = tf.data.Dataset.from_tensor_slices((X, Y)).batch(4)
    with pytest.raises(ValueError, match="epochs"):
        fit_members([linear_model(W0, B0)], None, data, data, epochs=0, optimizer=keras.optimizers.SGD)
    with pytest.raises(ValueError, match="optimizer\\(\\) must return"):
        fit_members([linear_model(W0, B0)], None, data, data, epochs=1, optimizer=lambda: "sgd")
