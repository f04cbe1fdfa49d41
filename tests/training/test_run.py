"""tfrobust.training.train: artifacts, determinism, resume after a crash."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

from tfrobust.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig
from tfrobust.registry import METHODS
from tfrobust.training import RobustModel, load_model, train


def toy_config(**changes):
    base = dict(
        data=DataConfig(name="toy2d", options={"n_per_class": 128}),
        model=ModelConfig(arch="kim_toy_dnn"),
        optimizer=OptimizerConfig(learning_rate=0.02),
        epochs=2,
        batch_size=32,
        seed=3,
        jit_compile=False,
    )
    base.update(changes)
    return TrainConfig(**base)


def weights(model):
    return [w.numpy() for w in model.weights]


def test_train_writes_artifacts_and_learns(tmp_path):
    result = train(toy_config(epochs=3), tmp_path / "run", verbose=0)
    out = tmp_path / "run"
    for name in ("model.keras", "config.yaml", "history.csv", "metrics.json",
                 "checkpoints/last.weights.h5", "saved_model/saved_model.pb"):
        assert (out / name).exists(), name
    assert not (out / "backup").exists()  # removed after a finished run
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == [0, 1, 2]
    assert {"loss", "accuracy", "val_accuracy", "images_per_second"} <= set(history.columns)
    metrics = json.loads((out / "metrics.json").read_text())
    # toy2d's classes are separated by 7 standard deviations: near-perfect accuracy.
    assert metrics["test_accuracy"] >= 0.95
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["seed"] == 3 and config["versions"]["tensorflow"] == tf.__version__
    assert config["data"]["bounds"] == [-1.0, 1.0]
    assert config["model"]["options"]["hidden"] in ([128], (128,))
    assert config["resolved"]["train_examples"] == 256
    # The record re-runs the run: it loads as a config equal to the one used.
    from tfrobust.config import load_train_config

    again = load_train_config(out / "config.yaml")
    assert again.seed == 3 and again.data.bounds == (-1.0, 1.0) and again.model.arch == "kim_toy_dnn"
    assert again.optimizer == toy_config().optimizer and again.epochs == 3
    # The saved classifier and the SavedModel both reproduce the trained model.
    x = np.random.default_rng(0).uniform(-1, 1, size=(16, 2)).astype("float32")
    expected = result.model(x, training=False).numpy()
    np.testing.assert_allclose(load_model(out / "model.keras")(x).numpy(), expected, atol=1e-5)
    loaded = tf.saved_model.load(str(out / "saved_model"))  # keep a reference: it owns the variables
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, atol=1e-5)


def test_same_seed_same_weights_other_seed_different(tmp_path):
    a = train(toy_config(epochs=1), tmp_path / "a", verbose=0).model
    b = train(toy_config(epochs=1), tmp_path / "b", verbose=0).model
    c = train(toy_config(epochs=1, seed=4), tmp_path / "c", verbose=0).model
    for wa, wb in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(weights(a), weights(c)))


class Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt("simulated crash")


def test_killed_run_resumes_from_last_finished_epoch(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(toy_config(epochs=4), out, verbose=0, callbacks=[Crash()])
    assert (out / "backup").exists() and not (out / "model.keras").exists()
    assert len(pd.read_csv(out / "history.csv")) == 2
    result = train(toy_config(epochs=4), out, verbose=0)
    assert result.metrics["epochs_run_in_this_call"] == 2  # epochs 0-1 were not redone
    assert list(pd.read_csv(out / "history.csv")["epoch"]) == [0, 1, 2, 3]
    assert (out / "model.keras").exists() and not (out / "backup").exists()


def test_unknown_method_and_arch_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown method 'magic'; choose from: .*standard"):
        train(toy_config(method="magic"), tmp_path / "x", verbose=0)
    with pytest.raises(ValueError, match="arch"):
        train(toy_config(model=ModelConfig(arch="nope")), tmp_path / "y", verbose=0)
    assert not (tmp_path / "x").exists()


class LogitPenalty(RobustModel):
    """Cross-entropy plus scale * mean squared logit (a method added at run time)."""

    extra_loss_names = ("logit_penalty",)

    def __init__(self, base, *, scale: float = 0.0, seed: int = 0, **kwargs):
        super().__init__(base, **kwargs)
        self.scale = scale
        self.seed = seed

    def regularization(self, x, y, logits, **context):
        return {"logit_penalty": self.scale * tf.reduce_mean(tf.square(logits))}


@pytest.fixture
def logit_penalty():
    """The method ``logit_penalty`` in METHODS for one test."""
    METHODS.add("logit_penalty", LogitPenalty)
    yield "logit_penalty"
    METHODS.remove("logit_penalty")


def test_a_registered_method_trains_with_its_options_checked(tmp_path, logit_penalty):
    """train() reads the registry: nothing else needs to know a new method."""
    with pytest.raises(ValueError, match=r"method_options: method 'logit_penalty' has no option 'scal'; "
                                         r"its options: scale, seed"):
        train(toy_config(method=logit_penalty, method_options={"scal": 1}), tmp_path / "bad", verbose=0)
    with pytest.raises(ValueError, match="option scale of method 'logit_penalty' must be float"):
        train(toy_config(method=logit_penalty, method_options={"scale": "big"}), tmp_path / "bad", verbose=0)
    assert not (tmp_path / "bad").exists()  # refused before anything is written
    train(toy_config(method=logit_penalty, method_options={"scale": "1/100"}, epochs=1), tmp_path / "run",
          verbose=0)
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    # The option parsed ("1/100" is a float), the run's seed filled in (the wrapper takes a seed).
    assert config["method"] == "logit_penalty"
    assert config["method_options"] == {"scale": 0.01, "seed": 3}
    assert "logit_penalty" in pd.read_csv(tmp_path / "run" / "history.csv").columns


def test_load_model_refuses_corrupt_files(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="not a .keras model archive"):
        load_model(bad)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.keras")


def test_every_shipped_config_builds_its_method():
    from pathlib import Path

    import yaml

    from tfrobust.config import load_train_config
    from tfrobust.models import MODELS, VAEGANConfig
    from tfrobust.training.run import method_options

    for path in sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if "vaegan" in raw:  # a VAE-GAN config (tfrobust manifold train), not a classifier run
            assert VAEGANConfig.from_dict(raw["vaegan"]).zdim > 0, path
            continue
        config = load_train_config(path)
        assert config.method in METHODS, path
        assert config.model.arch in MODELS, path
        base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        wrapper = METHODS[config.method](base, **method_options(config, (0.0, 1.0)))
        assert isinstance(wrapper, RobustModel), path
        record = wrapper.run_record()
        assert yaml.safe_load(yaml.safe_dump(record)) == record, path  # plain YAML, as config.yaml holds it


def test_test_limit_trains_on_a_subset_and_tests_on_more():
    from tfrobust.config import ConfigError
    from tfrobust.training.run import load_data

    config = TrainConfig(data=DataConfig(name="fashion_mnist", limit=30, test_limit=70))
    train_ds, test_ds = load_data(config)
    assert (len(train_ds), len(test_ds)) == (30, 70)
    same = load_data(TrainConfig(data=DataConfig(name="fashion_mnist", limit=30)))
    assert (len(same[0]), len(same[1])) == (30, 30)  # None: the test split follows limit
    with pytest.raises(ConfigError, match="data.test_limit"):
        DataConfig(test_limit=0)
