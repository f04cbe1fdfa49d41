"""TensorBoard logs of a training run: scalars of every epoch log and saliency images in OUT/logs."""

import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from click.testing import CliRunner

from tfrobust.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig
from tfrobust.training import RobustAccuracy, train
from tfrobust.training.callbacks import EpochScalars
from tfrobust.training.callbacks.scalars import scalar_summary

ATTACK = {"norm": "linf", "eps": 0.1, "steps": 1, "step_size": 0.1, "random_start": False}


def toy_config(**changes):
    base = dict(data=DataConfig(name="toy2d", options={"n_per_class": 64}), model=ModelConfig(arch="kim_toy_dnn"),
                optimizer=OptimizerConfig(learning_rate=0.02), epochs=2, batch_size=32, seed=3, jit_compile=False)
    base.update(changes)
    return TrainConfig(**base)


def read_events(log_dir):
    """({tag: {step: value}} of the scalars, {tag: number of steps} of the images) in log_dir's event files."""
    scalars, images = {}, {}
    files = sorted(Path(log_dir).glob("events.out.tfevents.*"))
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == "scalars":
                    scalars.setdefault(value.tag, {})[int(event.step)] = float(tf.make_ndarray(value.tensor))
                elif plugin == "images":
                    images[value.tag] = images.get(value.tag, 0) + 1
    return scalars, images


def test_train_logs_scalars_and_saliency_images(tmp_path):
    config = toy_config(method="adversarial", method_options={"attack": ATTACK})
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(16, 2)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    robust = RobustAccuracy((x, y), {**ATTACK, "name": "pgd", "bounds": [-1.0, 1.0]})
    out = tmp_path / "run"
    train(config, out, verbose=0, callbacks=[robust])
    scalars, images = read_events(out / "logs")
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "val_robust_accuracy", "images_per_second"} <= set(scalars)
    history = pd.read_csv(out / "history.csv")
    for tag in ("loss", "val_accuracy", "val_robust_accuracy"):
        assert [scalars[tag][e + 1] for e in history["epoch"]] == pytest.approx(list(history[tag]), rel=1e-6)
    assert [scalars["val_robust_accuracy"][e + 1] for e in (0, 1)] == \
        pytest.approx([robust.values[e]["val_robust_accuracy"] for e in (0, 1)])
    assert images == {"saliency/inputs": 1, "saliency/logit_gradient": 2}
    assert all(p.name.startswith("events.out.tfevents.") for p in (out / "logs").iterdir())


def test_regularizer_terms_reach_tensorboard(tmp_path):
    train(toy_config(method="jr", epochs=1), tmp_path / "run", verbose=0)
    scalars, _ = read_events(tmp_path / "run" / "logs")
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert {"jr_penalty", "jacobian_norm"} <= set(scalars)
    assert scalars["jr_penalty"][1] == pytest.approx(float(history["jr_penalty"][0]), rel=1e-6)


def test_no_logs_when_off_or_when_logs_is_not_the_runs(tmp_path):
    train(toy_config(epochs=1), tmp_path / "off", verbose=0, tensorboard=False)
    assert not (tmp_path / "off" / "logs").exists()
    logs = tmp_path / "mine" / "logs"
    logs.mkdir(parents=True)
    (logs / "notes.txt").write_text("keep")
    with pytest.warns(UserWarning, match="no TensorBoard logs written"):
        train(toy_config(epochs=1), tmp_path / "mine", verbose=0)
    assert sorted(p.name for p in logs.iterdir()) == ["notes.txt"]
    assert (logs / "notes.txt").read_text() == "keep"


def test_cli_train_writes_tensorboard_logs(tmp_path):
    from cli.main import tfrobust

    config = tmp_path / "toy.yaml"
    config.write_text("data: {name: toy2d, options: {n_per_class: 32}}\nmodel: {arch: kim_toy_dnn}\n"
                      "epochs: 1\nbatch_size: 32\njit_compile: false\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(tfrobust, ["train", "--config", str(config), "--out", str(out), "--method", "adversarial",
                                       "--norm", "linf", "--eps", "0.1", "--steps", "1", "--robust-eval", "16",
                                       "--snapshot", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    scalars, images = read_events(out / "logs")
    assert {"loss", "accuracy", "val_accuracy", "val_robust_accuracy"} <= set(scalars)
    assert images.get("saliency/logit_gradient") == 1  # from --snapshot's callback, not a second one


def test_epoch_scalars_keys_and_non_numbers(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    class Extra(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs.update(note="text", flag=True, half=0.5)

    board = EpochScalars(tmp_path, keys=["loss", "half", "note"])
    model.fit(np.zeros((4, 2), "float32"), np.zeros(4, "int32"), epochs=2, verbose=0, callbacks=[Extra(), board])
    scalars, _ = read_events(tmp_path)
    assert set(scalars) == {"loss", "half"} and scalars["half"] == {1: 0.5, 2: 0.5}
    assert board.steps == [1, 2]
    with pytest.raises(ValueError, match="log_dir must be a directory path"):
        EpochScalars("")


def test_scalar_summary_without_tensorboard_package(tmp_path, monkeypatch):
    """The fallback record reads back like tf.summary.scalar's."""
    from tensorflow.python.summary.tb_summary import TBNotInstalledError

    def missing(*args, **kwargs):
        raise TBNotInstalledError("summary")

    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        scalar_summary("a", 1.5, 3)
        monkeypatch.setattr(tf.summary, "scalar", missing)
        scalar_summary("b", 2.5, 3)
    writer.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scalars, _ = read_events(tmp_path)
    assert scalars == {"a": {3: 1.5}, "b": {3: 2.5}}
