"""tfrobust.training.train: resume only the same run, bit-exact resume, safe final save, divergence."""

import hashlib
import json

import h5py
import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from tfrobust.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig
from tfrobust.data.pipeline import make_pipeline
from tfrobust.models import MODELS
from tfrobust.training import load_model
from tfrobust.training import run as run_module
from tfrobust.training.resume import TrainingDiverged, describe_differences
from tfrobust.training.run import train


def toy_config(**changes):
    base = dict(
        data=DataConfig(name="toy2d", options={"n_per_class": 64}),
        model=ModelConfig(arch="kim_toy_dnn", options={"hidden": [8]}),
        optimizer=OptimizerConfig(learning_rate=0.02),
        epochs=3,
        batch_size=32,
        seed=3,
        jit_compile=False,
    )
    base.update(changes)
    return TrainConfig(**base)


def tiny_dropout_cnn(input_shape, num_classes, *, dropout=0.5):
    """A few hundred weights with a Dropout layer (its seed generator is state outside the weights)."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(2, 5, strides=4, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x), name="tiny_dropout_cnn")


class CrashAt(keras.callbacks.Callback):
    """Raises in the middle of an epoch, like a kill."""

    def __init__(self, epoch, batch=1):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise KeyboardInterrupt("simulated kill")


def snapshot(directory):
    """Every file below ``directory`` with its content hash."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def test_epoch_pipeline_depends_on_seed_and_epoch_only():
    x = np.random.default_rng(0).random((10, 6, 6, 1)).astype("float32")
    y = np.arange(10, dtype="int32")

    def batches(first, stop, seed=3):
        ds = make_pipeline(x, y, 4, shuffle=True, seed=seed, augment="crop_flip", epochs=(first, stop))
        return [(bx.numpy(), by.numpy()) for bx, by in ds]

    whole, resumed = batches(0, 3), batches(1, 3)
    assert len(whole) == 9 and len(resumed) == 6  # 3 batches per epoch, none straddles two epochs
    for (ax, ay), (bx, by) in zip(whole[3:], resumed):
        np.testing.assert_array_equal(ax, bx)
        np.testing.assert_array_equal(ay, by)
    orders = [np.concatenate([by for _, by in whole[3 * e:3 * e + 3]]) for e in range(3)]
    assert all(sorted(o) == list(range(10)) for o in orders)  # each epoch is a permutation
    assert not np.array_equal(orders[0], orders[1])  # ... a new one every epoch
    assert not np.array_equal(np.concatenate([by for _, by in batches(0, 1, seed=4)]), orders[0])


@pytest.mark.parametrize("case", ["dropout_crop_flip", "adversarial_random_start"])
def test_resumed_run_equals_uninterrupted_bit_for_bit(tmp_path, monkeypatch, case):
    monkeypatch.setitem(MODELS, "tiny_dropout_cnn", tiny_dropout_cnn)
    if case == "dropout_crop_flip":  # dropout masks, shuffles and crops all continue where they were
        config = TrainConfig(data=DataConfig(name="fashion_mnist", limit=128, augment="crop_flip"),
                             model=ModelConfig(arch="tiny_dropout_cnn"), epochs=3, batch_size=32, seed=7,
                             jit_compile=False, validate=False)
    else:  # random starts of PGD are seeded by the optimizer's step counter
        config = toy_config(method="adversarial", validate=False, method_options={
            "attack": {"norm": "linf", "eps": 0.1, "steps": 2, "random_start": True}})
    reference = weights(train(config, tmp_path / "whole", verbose=0).model)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        train(config, out, verbose=0, callbacks=[CrashAt(epoch=1)])  # killed in the middle of epoch 2
    assert json.loads((out / "backup" / "state.json").read_text())["epoch"] == 1
    result = train(config, out, verbose=0)
    assert result.metrics["epochs_run_in_this_call"] == 2
    for a, b in zip(reference, weights(result.model)):
        assert np.array_equal(a, b)
    assert list(pd.read_csv(out / "history.csv")["epoch"]) == [0, 1, 2]
    assert not (out / "backup").exists()


def test_other_settings_are_refused_before_anything_is_touched(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(toy_config(seed=0), out, verbose=0, callbacks=[CrashAt(epoch=1)])
    before = snapshot(out)
    changed = toy_config(seed=5, optimizer=OptimizerConfig(learning_rate=0.01))
    with pytest.raises(ValueError, match="other settings") as err:
        train(changed, out, verbose=0)
    message = str(err.value)
    assert "seed 0 -> 5" in message and "optimizer.learning_rate 0.02 -> 0.01" in message
    assert "--overwrite" in message and "\n" not in message
    assert snapshot(out) == before  # config.yaml, history.csv, backup/ untouched
    # The same settings resume; --overwrite starts over with the new ones.
    result = train(changed, out, verbose=0, overwrite=True)
    assert result.metrics["epochs_run_in_this_call"] == 3
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == 5
    assert list(pd.read_csv(out / "history.csv")["epoch"]) == [0, 1, 2]


def test_finished_run_is_refused_unless_overwrite_which_keeps_unknown_files(tmp_path):
    out = tmp_path / "run"
    train(toy_config(epochs=1), out, verbose=0)
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    for config in (toy_config(epochs=1), toy_config(epochs=1, model=ModelConfig(arch="linear"))):
        with pytest.raises(ValueError, match="already holds a finished run"):
            train(config, out, verbose=0)
    assert snapshot(out) == before
    result = train(toy_config(epochs=2, model=ModelConfig(arch="linear")), out, verbose=0, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert len(pd.read_csv(out / "history.csv")) == 2
    x = np.zeros((2, 2), "float32")
    np.testing.assert_allclose(load_model(out / "model.keras")(x), result.model(x), atol=1e-6)


@pytest.mark.parametrize("overwrite", [False, True])
def test_directory_that_is_not_a_run_is_refused_even_with_overwrite(tmp_path, overwrite):
    for name, content in (("data.csv", "a,b\n"), ("config.yaml", "seed: 1\n")):  # a user's own config too
        out = tmp_path / f"{name}-{overwrite}"
        out.mkdir()
        (out / name).write_text(content)
        with pytest.raises(ValueError, match="not a tfrobust run"):
            train(toy_config(epochs=1), out, verbose=0, overwrite=overwrite)
        assert sorted(p.name for p in out.iterdir()) == [name] and (out / name).read_text() == content


def test_kill_during_the_final_save_is_finished_by_a_rerun(tmp_path, monkeypatch):
    out = tmp_path / "run"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed while exporting")

    monkeypatch.setattr(run_module, "export_saved_model", killed)
    with pytest.raises(KeyboardInterrupt):
        train(toy_config(), out, verbose=0)
    assert (out / "model.keras").exists() and (out / "backup" / "state.json").exists()
    trained = weights(load_model(out / "model.keras"))
    monkeypatch.undo()
    with pytest.raises(KeyboardInterrupt):  # a finalize step (the CLI's report) killed too
        train(toy_config(), out, verbose=0, finalize=lambda path: killed())
    assert (out / "metrics.json").exists() and (out / "backup" / "state.json").exists()
    result = train(toy_config(), out, verbose=0)
    assert result.metrics["epochs_run_in_this_call"] == 0  # finished, not retrained
    for a, b in zip(trained, weights(result.model)):
        assert np.array_equal(a, b)
    assert (out / "saved_model" / "saved_model.pb").exists() and not (out / "backup").exists()
    assert list(pd.read_csv(out / "history.csv")["epoch"]) == [0, 1, 2]
    assert not [p for p in out.rglob(".*") if ".tmp" in p.name]


class PoisonWeights(keras.callbacks.Callback):
    """Sets one weight to NaN at the end of an epoch; the loss of that epoch was finite."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            kernel = self.model.base.weights[0]
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_nan_weights_with_a_finite_loss_fail_the_run_and_keep_the_last_finite_epoch(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"became NaN or infinite .* in epoch 2") as err:
        train(toy_config(), out, verbose=0, callbacks=[PoisonWeights(epoch=1)])
    assert "epoch 1" in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()
    assert len(pd.read_csv(out / "history.csv")) == 1
    saved = json.loads((out / "backup" / "state.json").read_text())
    assert saved["epoch"] == 1
    with h5py.File(out / "checkpoints" / "last.weights.h5") as f:
        arrays = []
        f.visititems(lambda name, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None)
    floats = [a for a in arrays if np.asarray(a).dtype.kind == "f"]
    assert floats and all(np.isfinite(a).all() for a in floats)


def test_nan_loss_fails_the_run_at_the_cli(tmp_path, capsys):
    from cli.main import main

    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--dataset", "toy2d", "--arch", "kim_toy_dnn", "--epochs", "2", "--batch-size", "32",
              "--optimizer", "sgd", "--lr", "1e30", "--no-jit", "--quiet", "--out", str(out)])
    assert exit_.value.code != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: training diverged:") and "\n" not in err
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()


def test_describe_differences_names_changed_fields():
    old = {"seed": 0, "optimizer": {"learning_rate": 0.001}, "resolved": {"parameters": 10}}
    new = {"seed": 5, "optimizer": {"learning_rate": 0.01}, "resolved": {"parameters": 12}}
    assert describe_differences(old, new) == "seed 0 -> 5, optimizer.learning_rate 0.001 -> 0.01"
    assert describe_differences({"resolved": {"a": 1}}, {"resolved": {"a": 2}}) == "resolved.a 1 -> 2"


def test_cli_refuses_a_finished_run_and_overwrite_starts_over(tmp_path, capsys):
    from cli.main import main

    out = tmp_path / "run"
    args = ["train", "--dataset", "toy2d", "--arch", "kim_toy_dnn", "--epochs", "1", "--batch-size", "64",
            "--no-jit", "--quiet", "--out", str(out)]
    main(args)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--seed", "4"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "\n" not in err
    assert err.startswith("error: ") and "already holds a finished run with other settings (seed 0 -> 4)" in err
    main([*args, "--seed", "4", "--overwrite"])
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == 4 and (out / "report.html").exists()
