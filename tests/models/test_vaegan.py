"""VAE-GAN of Kim et al. 2019 A.3: shapes, one training step, safe-mode round trip, projections."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfrobust.models import VAEGAN, VAEGANConfig, build_vaegan, kim_vaegan_config
from tfrobust.training import load_model, save_model


@pytest.fixture(scope="module")
def mnist_vaegan():
    return build_vaegan((28, 28, 1), seed=0)


def images(shape, n=4, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, *shape)).astype("float32")


def test_paper_hyper_parameters():
    small, cifar = kim_vaegan_config((28, 28, 1)), kim_vaegan_config((32, 32, 3))
    assert (small.architecture, small.zdim, small.learning_rate, small.beta_1, small.beta_2,
            small.disc_updates) == ("larsen", 10, 5e-4, 0.5, 0.999, 1)
    assert (cifar.architecture, cifar.zdim, cifar.learning_rate, cifar.beta_1, cifar.beta_2,
            cifar.disc_updates, cifar.leaky_slope) == ("miyato", 128, 2e-4, 0.0, 0.9, 5, 0.1)
    with pytest.raises(ValueError, match="28x28 or 32x32"):
        kim_vaegan_config((64, 64, 3))
    with pytest.raises(ValueError, match="vaegan.zdim"):
        VAEGANConfig(zdim=0)
    with pytest.raises(ValueError, match="unknown field"):
        VAEGANConfig.from_dict({"z_dim": 3})


def test_output_shapes_28(mnist_vaegan):
    x = images((28, 28, 1))
    mean, logvar = mnist_vaegan.encoder(x)
    assert mean.shape == logvar.shape == (4, 10)
    assert mnist_vaegan.decoder(mean).shape == (4, 28, 28, 1)
    assert mnist_vaegan.discriminator(x).shape == (4, 1)
    out = mnist_vaegan.project(x, batch_size=3)
    assert out.shape == x.shape and np.all(np.abs(out) <= 1.0)  # tanh range


def test_output_shapes_32_spectral_discriminator():
    vaegan = build_vaegan((32, 32, 3), seed=0)
    x = images((32, 32, 3), n=2)
    mean, logvar = vaegan.encoder(x)
    assert mean.shape == logvar.shape == (2, 128)
    assert vaegan(x).shape == (2, 32, 32, 3)
    assert vaegan.discriminator(x).shape == (2, 1)
    layers = vaegan.discriminator.layers
    assert sum(isinstance(layer, keras.layers.SpectralNormalization) for layer in layers) == 7
    assert {layer.negative_slope for layer in layers if isinstance(layer, keras.layers.LeakyReLU)} == {0.1}
    assert vaegan.disc_updates == 5
    with pytest.raises(ValueError, match=r"\(32, 32, C\)"):
        build_vaegan((28, 28, 1), VAEGANConfig(architecture="miyato"))


def test_one_training_step_is_finite_and_moves_every_part():
    vaegan = build_vaegan((28, 28, 1), seed=1)
    vaegan.compile(run_eagerly=True)
    x = images((28, 28, 1), n=8)
    before = {name: [w.copy() for w in part.get_weights()] for name, part in
              (("enc", vaegan.encoder), ("dec", vaegan.decoder), ("disc", vaegan.discriminator))}
    logs = vaegan.train_on_batch(x, return_dict=True)
    assert set(VAEGAN.METRIC_NAMES) <= set(logs)
    assert all(np.isfinite(v) for v in logs.values())
    for name, part in (("enc", vaegan.encoder), ("dec", vaegan.decoder), ("disc", vaegan.discriminator)):
        assert any(not np.allclose(a, b) for a, b in zip(before[name], part.get_weights())), name
    assert all(int(opt.iterations.numpy()) == 1 for opt in vaegan.optimizers.values())


def test_keras_round_trip_in_safe_mode(mnist_vaegan, tmp_path):
    path = save_model(mnist_vaegan, tmp_path / "vaegan.keras")
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert isinstance(loaded, VAEGAN) and isinstance(load_model(path), VAEGAN)
    x = images((28, 28, 1))
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(mnist_vaegan(x)), atol=1e-6)
    assert (loaded.zdim, loaded.learning_rate, loaded.disc_updates) == (10, 5e-4, 1)


def test_optimised_projection_never_increases_the_error(mnist_vaegan):
    x = images((28, 28, 1), n=6, seed=3)

    def error(p):
        return np.linalg.norm((x - p).reshape(len(x), -1), axis=1)

    encoder_error = error(mnist_vaegan.project(x))
    optimised_error = error(mnist_vaegan.project(x, optimize_steps=15, learning_rate=0.05, batch_size=4))
    assert np.all(optimised_error <= encoder_error + 1e-4)
    assert np.mean(optimised_error) < np.mean(encoder_error)
    with pytest.raises(ValueError, match="optimize_steps"):
        mnist_vaegan.project(x, optimize_steps=-1)
