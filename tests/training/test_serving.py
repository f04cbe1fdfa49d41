"""export_serving: the exported signatures compute what tfrobust's own attributions compute."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attribution import gradient, logit_gradient, smoothgrad
from tfrobust.attribution.classifier import as_classifier
from tfrobust.training.artifacts import EXPORT_MARKER
from tfrobust.training.robust_model import RobustModel
from tfrobust.training.serving import SERVING_INFO, SIGNATURES, export_serving


def tiny_cnn(seed: int = 0) -> keras.Model:
    """Non-linear (tanh), so gradients depend on x and SmoothGrad differs from the plain gradient."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, activation="tanh"),
                             keras.layers.Flatten(), keras.layers.Dense(3)])


def batch(n: int = 5, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 4, 4, 1)).astype("float32"), rng.integers(0, 3, n)


def call(loaded, name: str, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    fn = loaded.signatures[name]
    out = fn(x=tf.constant(x)) if y is None else fn(x=tf.constant(x), y=tf.constant(y, tf.int64))
    (value,) = out.values()
    return value.numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = tiny_cnn()
    path = export_serving(model, tmp_path_factory.mktemp("serving") / "sm", smoothgrad_samples=6,
                          smoothgrad_noise=0.1, bounds=(-1.0, 1.0), smoothgrad_seed=7)
    return model, path, tf.saved_model.load(str(path))


def test_signatures_equal_tfrobust_attributions(exported):
    model, _, loaded = exported
    assert set(SIGNATURES) <= set(loaded.signatures)
    for n in (1, 5):  # the batch size is free
        x, y = batch(n)
        np.testing.assert_allclose(call(loaded, "serving_default", x), model(x).numpy(), atol=1e-5)
        np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), model(x).numpy(), atol=1e-5)
        np.testing.assert_allclose(call(loaded, "loss_gradient", x, y), gradient(model, x, y).numpy(), atol=1e-6)
        np.testing.assert_allclose(call(loaded, "logit_gradient", x, y), logit_gradient(model, x, y).numpy(),
                                   atol=1e-6)
        # sigma = noise * (hi - lo) = 0.1 * 2; the same seed draws the same noise.
        expected = smoothgrad(model, x, y, samples=6, sigma=0.2, seed=7).numpy()
        np.testing.assert_allclose(call(loaded, "smoothgrad", x, y), expected, atol=1e-6)


def test_smoothgrad_is_the_mean_over_its_documented_noise(exported):
    """Independent of tfrobust's loop: noise of sample s = stateless_normal(shape, fold_in(seed, s))."""
    model, _, loaded = exported
    x, y = batch(4, seed=3)
    seed = tf.constant([7, 0], tf.int64)
    maps = [logit_gradient(model, x + 0.2 * tf.random.stateless_normal(
        x.shape, seed=tf.random.experimental.stateless_fold_in(seed, s)).numpy(), y).numpy() for s in range(6)]
    served = call(loaded, "smoothgrad", x, y)
    np.testing.assert_allclose(served, np.mean(maps, axis=0), atol=1e-5)
    # The noise matters for this non-linear model: SmoothGrad is not the plain gradient.
    assert np.abs(served - logit_gradient(model, x, y).numpy()).max() > 1e-4
    np.testing.assert_array_equal(call(loaded, "smoothgrad", x, y), served)  # reproducible


def test_linear_model_analytic_oracle(tmp_path, linear_model):
    """For z = x W + b: logit gradient = W[:, y] whatever the noise; loss gradient = W (p - onehot(y))."""
    w = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], "float32")
    b = np.array([0.1, 0.0, -0.2], "float32")
    loaded = tf.saved_model.load(str(export_serving(linear_model(w, b), tmp_path / "sm", smoothgrad_samples=3)))
    x = np.array([[0.2, 0.4], [1.0, -1.0]], "float32")
    y = np.array([2, 0])
    np.testing.assert_allclose(call(loaded, "logit_gradient", x, y), w[:, y].T, atol=1e-6)
    np.testing.assert_allclose(call(loaded, "smoothgrad", x, y), w[:, y].T, atol=1e-5)
    z = x @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(call(loaded, "loss_gradient", x, y), (p - np.eye(3)[y]) @ w.T, atol=1e-5)


def test_metadata_is_recorded(exported):
    _, path, loaded = exported
    info = json.loads((path / "assets" / SERVING_INFO).read_text())
    assert sorted(info["signatures"]) == sorted(SIGNATURES)
    assert info["smoothgrad"] == {"base": "logit_gradient", "samples": 6, "noise": 0.1, "sigma": 0.2, "seed": 7,
                                  "clip": False, "include_clean": False}
    assert info["bounds"] == [-1.0, 1.0] and info["input_shape"] == [4, 4, 1] and info["num_classes"] == 3
    assert json.loads((path / EXPORT_MARKER).read_text())["serving"] == info
    assert loaded.info_file.asset_path.numpy().decode().endswith(SERVING_INFO)


def test_bad_labels_are_refused_when_served(exported):
    _, _, loaded = exported
    x, _ = batch(2)
    for y in ([0, 3], [-1, 0], [0]):
        with pytest.raises(tf.errors.InvalidArgumentError):
            call(loaded, "logit_gradient", x, np.array(y))


def test_wrapper_exports_its_base(tmp_path):
    base = tiny_cnn(2)
    loaded = tf.saved_model.load(str(export_serving(RobustModel(base), tmp_path / "sm", smoothgrad_samples=2)))
    x, y = batch(3)
    np.testing.assert_allclose(call(loaded, "serving_default", x), base(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(call(loaded, "logit_gradient", x, y), logit_gradient(base, x, y).numpy(), atol=1e-6)


def test_dict_input_two_outputs_and_softmax(tmp_path):
    keras.utils.set_random_seed(3)
    img = keras.Input((4,), name="img")
    meta = keras.Input((2,), name="meta")
    hidden = keras.layers.Dense(5, activation="relu")(img)
    cls = keras.layers.Dense(3, name="cls")(hidden)
    probs = keras.layers.Softmax(name="probs")(cls)
    aux = keras.layers.Dense(1, name="aux")(meta)
    model = keras.Model({"img": img, "meta": meta}, {"probs": probs, "aux": aux})
    with pytest.raises(ValueError, match="logits="):
        export_serving(model, tmp_path / "refused", inputs="img")
    assert not (tmp_path / "refused").exists()
    loaded = tf.saved_model.load(str(export_serving(model, tmp_path / "sm", logits="probs", inputs="img",
                                                    smoothgrad_samples=2)))
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    y = np.array([0, 1, 2])
    logits_model = as_classifier(model, logits="probs", inputs="img")
    logits = call(loaded, "serving_default", x)
    np.testing.assert_allclose(logits, logits_model(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), model({"img": x, "meta": x[:, :2]})["probs"].numpy(),
                               atol=1e-5)  # logits, not probabilities
    np.testing.assert_allclose(call(loaded, "loss_gradient", x, y), gradient(logits_model, x, y).numpy(), atol=1e-6)


@pytest.mark.parametrize("kwargs, field", [({"smoothgrad_samples": 0}, "smoothgrad_samples"),
                                           ({"smoothgrad_noise": -0.1}, "smoothgrad_noise"),
                                           ({"smoothgrad_noise": float("nan")}, "smoothgrad_noise"),
                                           ({"bounds": (1.0, 0.0)}, "bounds"),
                                           ({"bounds": (0.0, float("inf"))}, "bounds")])
def test_bad_settings_are_one_line(tmp_path, kwargs, field):
    with pytest.raises(ValueError, match=field) as info:
        export_serving(tiny_cnn(), tmp_path / "sm", **kwargs)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "sm").exists()


def test_foreign_directory_is_never_replaced(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not empty"):
        export_serving(tiny_cnn(), target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
