"""TrainConfig.model_selection: Noack's best-after-half checkpoint, on a held-out split or (named) the test set."""

import json

import numpy as np
import pandas as pd
import pytest

from tfrobust.config import ConfigError, DataConfig, ModelConfig, OptimizerConfig, TrainConfig
from tfrobust.training import load_data, load_model, train
from tfrobust.training.callbacks import holdout_split


def config(**changes):
    base = dict(
        data=DataConfig(name="toy2d", options={"n_per_class": 96}),
        model=ModelConfig(arch="kim_toy_dnn", options={"hidden": [8]}),
        optimizer=OptimizerConfig(learning_rate=0.05),
        epochs=4,
        batch_size=32,
        seed=1,
        jit_compile=False,
    )
    base.update(changes)
    return TrainConfig(**base)


def test_best_validation_keeps_the_best_epoch_of_the_second_half(tmp_path):
    out = tmp_path / "run"
    result = train(config(model_selection="best_validation", validation_size=48), out, verbose=0)
    metrics = json.loads((out / "metrics.json").read_text())
    history = pd.read_csv(out / "history.csv")
    # 192 toy points, the first 48 held out; epochs 3 and 4 (1-based) are candidates.
    assert metrics["train_examples"] == 192 - 48
    assert metrics["selection"] == "validation" and metrics["selection_start_epoch"] == 3
    candidates = history[history["epoch"] >= 2]
    best = candidates["val_accuracy"].to_numpy()
    expected = int(candidates["epoch"].to_numpy()[int(np.argmax(best))]) + 1  # first strict best
    assert metrics["selected_epoch"] == expected
    assert metrics["selected_val_accuracy"] == pytest.approx(best.max())
    # The saved model carries the selected weights: its accuracy on the held-out split is the selected value.
    train_ds, _ = load_data(config(model_selection="best_validation", validation_size=48))
    _, val_ds, _ = holdout_split(train_ds, 48)
    saved = load_model(out / "model.keras")
    accuracy = float(np.mean(np.argmax(saved.predict(val_ds.x, verbose=0), axis=-1) == val_ds.y))
    assert accuracy == pytest.approx(metrics["selected_val_accuracy"], abs=1e-6)
    for a, b in zip(saved.weights, result.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_best_test_set_is_named_as_test_set_selection(tmp_path):
    train(config(model_selection="best_test_set", epochs=2), tmp_path / "run", verbose=0)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["selection"] == "test_set" and metrics["selected_epoch"] == 2
    assert metrics["train_examples"] == 192


def test_last_is_the_default_and_bad_values_are_refused():
    assert TrainConfig().model_selection == "last"
    with pytest.raises(ConfigError, match="model_selection"):
        config(model_selection="best")
    with pytest.raises(ConfigError, match="validation_size"):
        config(validation_size=1.5)
    with pytest.raises(ConfigError, match="selection_start"):
        config(selection_start=1.0)
