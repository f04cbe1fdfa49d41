"""Robust-accuracy tables: monotone in eps, worst case <= mean, clean column exact."""

import keras
import numpy as np
import pytest

from tfrobust.evaluation import COLUMNS, format_table, robust_accuracy_table


@pytest.fixture(scope="module")
def model_and_data():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(10, 3)).astype("float32")
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(
        3, kernel_initializer=keras.initializers.Constant(w), bias_initializer="zeros")])
    x = rng.uniform(0, 1, size=(120, 10)).astype("float32")
    y = np.argmax(x @ w, axis=1).astype("int32")
    y[:12] = (y[:12] + 1) % 3  # 10% mislabelled: clean accuracy 0.9
    return model, x, y


def test_table_columns_monotone_and_consistent(model_and_data):
    model, x, y = model_and_data
    table = robust_accuracy_table(model, (x, y), norms=["l2", "linf"], eps=[0.3, 0.0, 0.1], bounds=(0, 1),
                                  steps=5, restarts=3, seed=0)
    assert list(table.columns) == COLUMNS
    assert len(table) == 6
    assert table["clean_accuracy"].iloc[0] == pytest.approx(0.9)
    for _norm, rows in table.groupby("norm"):
        rows = rows.sort_values("eps")
        assert list(rows["eps"]) == [0.0, 0.1, 0.3]  # sorted
        assert rows["robust_accuracy_mean"].iloc[0] == pytest.approx(0.9)  # eps 0 = clean
        assert (np.diff(rows["robust_accuracy_mean"]) <= 1e-12).all()
        assert (np.diff(rows["robust_accuracy_worst"]) <= 1e-12).all()
        assert (rows["robust_accuracy_worst"] <= rows["robust_accuracy_mean"] + 1e-12).all()
        assert rows["robust_accuracy_mean"].iloc[-1] < 0.9  # the attack bites
    text = format_table(table, label="linear")
    assert "l2 0.1" in text and "linf 0.3" in text and "worst case" in text and "90.00" in text


def test_single_restart_has_zero_std_and_bad_arguments(model_and_data):
    model, x, y = model_and_data
    table = robust_accuracy_table(model, (x, y), norms=["linf"], eps=[0.05], bounds=(0, 1), steps=2)
    assert table["robust_accuracy_std"].iloc[0] == 0.0
    assert table["robust_accuracy_worst"].iloc[0] == table["robust_accuracy_mean"].iloc[0]
    with pytest.raises(ValueError, match="restarts"):
        robust_accuracy_table(model, (x, y), norms=["linf"], eps=[0.1], bounds=(0, 1), restarts=0)
    with pytest.raises(ValueError, match="eps"):
        robust_accuracy_table(model, (x, y), norms=["linf"], eps=[], bounds=(0, 1))
    with pytest.raises(ValueError, match="norm"):
        robust_accuracy_table(model, (x, y), norms=["l7"], eps=[0.1], bounds=(0, 1))


def test_radii_per_norm_and_one_clean_pass(model_and_data, monkeypatch):
    import tfrobust.evaluation.robust_accuracy as module

    model, x, y = model_and_data
    calls = []
    real = module.attacked_correct

    def counting(model_fn, data, attack, **kwargs):
        calls.append((attack.norm, attack.eps))
        return real(model_fn, data, attack, **kwargs)

    monkeypatch.setattr(module, "attacked_correct", counting)
    table = robust_accuracy_table(model, (x, y), norms=["l2", "linf"], eps={"l2": [0.5, 0.2], "linf": [0.05]},
                                  bounds=(0, 1), steps=2, restarts=2)
    assert list(zip(table["norm"], table["eps"])) == [("l2", 0.2), ("l2", 0.5), ("linf", 0.05)]
    assert [c for c in calls if c[1] == 0.0] == [("linf", 0.0)]  # the clean pass, once
    assert len(calls) == 1 + 3 * 2
    with pytest.raises(ValueError, match="every norm"):
        robust_accuracy_table(model, (x, y), norms=["l2", "linf"], eps={"l2": [0.1]}, bounds=(0, 1))
