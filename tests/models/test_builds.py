"""Every registered model: logits out, built-in layers, .keras and SavedModel round trips,
seeded initialisation, dropout only in training mode. Large models use small options."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.models import MODELS, build_model

# name -> (natural input shape, num_classes, small options)
SMALL = {
    "kim_toy_dnn": ((2,), 2, {}),
    "kim_mnist_cnn": ((28, 28, 1), 10, {}),
    "kim_cifar_cnn": ((32, 32, 3), 10, {}),
    "tf_tutorial_mnist_cnn": ((28, 28, 1), 10, {}),
    "madry_cifar_resnet": ((32, 32, 3), 10, {"units": 1}),
    "wrn_28_10": ((32, 32, 3), 10, {"depth": 10, "width": 1}),
    "linear": ((28, 28, 1), 2, {}),
}
BATCH = 4


def test_every_registered_model_is_covered():
    assert set(SMALL) == set(MODELS)


def build(name: str) -> keras.Model:
    input_shape, num_classes, options = SMALL[name]
    return build_model(name, input_shape=input_shape, num_classes=num_classes, **options)


def inputs_for(name: str, seed: int = 0) -> np.ndarray:
    input_shape = SMALL[name][0]
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(BATCH, *input_shape)).astype("float32")


@pytest.fixture(scope="module", params=sorted(SMALL))
def built(request):
    keras.utils.set_random_seed(1)
    name = request.param
    return name, build(name)


def test_outputs_are_float_logits_without_softmax(built):
    name, model = built
    num_classes = SMALL[name][1]
    assert model.name == name
    assert not model.compiled  # uncompiled: the caller compiles
    last = model.layers[-1]
    assert isinstance(last, keras.layers.Dense)
    assert last.activation is keras.activations.linear
    logits = keras.ops.convert_to_numpy(model(inputs_for(name), training=False))
    assert logits.shape == (BATCH, num_classes)
    assert logits.dtype == np.float32
    assert np.isfinite(logits).all()
    # Not probabilities: rows are not constrained to be positive or sum to one.
    assert not np.allclose(logits.sum(axis=1), 1.0)


def test_only_built_in_keras_layers(built):
    _, model = built
    for layer in model.layers:
        assert type(layer).__module__.startswith("keras."), type(layer)
        assert not isinstance(layer, keras.layers.Lambda)


def test_keras_file_round_trip_with_safe_mode(built, tmp_path):
    name, model = built
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # default safe_mode=True
    assert loaded.name == name
    x = inputs_for(name)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_saved_model_export_round_trip(built, tmp_path):
    name, model = built
    path = str(tmp_path / "saved_model")
    model.export(path, verbose=False)
    served = tf.saved_model.load(path)
    x = inputs_for(name)
    np.testing.assert_allclose(
        served.serve(tf.constant(x)).numpy(),
        keras.ops.convert_to_numpy(model(x, training=False)),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_gives_identical_initial_weights(name):
    keras.utils.set_random_seed(123)
    first = [keras.ops.convert_to_numpy(w) for w in build(name).weights]
    keras.utils.set_random_seed(123)
    second = [keras.ops.convert_to_numpy(w) for w in build(name).weights]
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    keras.utils.set_random_seed(124)
    third = [keras.ops.convert_to_numpy(w) for w in build(name).weights]
    assert any(not np.array_equal(a, c) for a, c in zip(first, third, strict=True))


@pytest.mark.parametrize("name", ["tf_tutorial_mnist_cnn", "wrn_28_10"])
def test_dropout_acts_only_in_training_mode(name):
    keras.utils.set_random_seed(7)
    model = build(name)
    x = inputs_for(name, seed=1)
    eval_a = keras.ops.convert_to_numpy(model(x, training=False))
    eval_b = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_array_equal(eval_a, eval_b)
    train_a = keras.ops.convert_to_numpy(model(x, training=True))
    train_b = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(train_a, train_b)
