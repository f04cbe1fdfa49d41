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
                                  options={"steps": 5}, restarts=3, seed=0)
    assert list(table.columns) == COLUMNS
    assert (table["attack"] == "pgd").all() and (table["steps"] == 5).all() and (table["objective"] == "xent").all()
    np.testing.assert_allclose(table["step_size"], 2.5 * table["eps"] / 5)  # the default rule
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
    table = robust_accuracy_table(model, (x, y), norms=["linf"], eps=[0.05], bounds=(0, 1), options={"steps": 2})
    assert table["robust_accuracy_std"].iloc[0] == 0.0
    assert table["robust_accuracy_worst"].iloc[0] == table["robust_accuracy_mean"].iloc[0]
    with pytest.raises(ValueError, match="restarts"):
        robust_accuracy_table(model, (x, y), norms=["linf"], eps=[0.1], bounds=(0, 1), restarts=0)
    with pytest.raises(ValueError, match="eps"):
        robust_accuracy_table(model, (x, y), norms=["linf"], eps=[], bounds=(0, 1))
    with pytest.raises(ValueError, match="^unknown norm 'l7'; choose from: linf, l2, l1"):
        robust_accuracy_table(model, (x, y), norms=["l7"], eps=[0.1], bounds=(0, 1))
    with pytest.raises(ValueError, match="^unknown attack 'deepfool'; choose from: (\\w+, )*fgsm, pgd\\b"):
        robust_accuracy_table(model, (x, y), norms=["l2"], eps=[0.1], bounds=(0, 1), attack="deepfool")
    with pytest.raises(ValueError, match="^options: option steps of attack 'pgd' must be int, got 'ten'"):
        robust_accuracy_table(model, (x, y), norms=["l2"], eps=[0.1], bounds=(0, 1), options={"steps": "ten"})


def test_radii_per_norm_and_one_clean_pass(model_and_data, monkeypatch):
    import tfrobust.evaluation.robust_accuracy as module

    model, x, y = model_and_data
    calls = []
    real, real_outcomes = module.attacked_correct, module.attack_outcomes

    def counting(model_fn, data, attack, **kwargs):
        calls.append((attack.norm, attack.eps))
        return real(model_fn, data, attack, **kwargs)

    def counting_outcomes(model_fn, data, attack, **kwargs):
        calls.append((attack.norm, attack.eps))
        return real_outcomes(model_fn, data, attack, **kwargs)

    monkeypatch.setattr(module, "attacked_correct", counting)
    monkeypatch.setattr(module, "attack_outcomes", counting_outcomes)
    table = robust_accuracy_table(model, (x, y), norms=["l2", "linf"], eps={"l2": [0.5, 0.2], "linf": [0.05]},
                                  bounds=(0, 1), options={"steps": 2}, restarts=2, checks="none")
    assert list(zip(table["norm"], table["eps"])) == [("l2", 0.2), ("l2", 0.5), ("linf", 0.05)]
    assert [c for c in calls if c[1] == 0.0] == [("l2", 0.0)]  # the clean pass, once
    assert len(calls) == 1 + 3 * 2
    with pytest.raises(ValueError, match="every norm"):
        robust_accuracy_table(model, (x, y), norms=["l2", "linf"], eps={"l2": [0.1]}, bounds=(0, 1))


def test_norm_options_override_per_norm_with_one_clean_pass(model_and_data, monkeypatch):
    """Noack's per-norm step rules: l2 5.1 * eps / steps, linf 10 * eps / steps, in one table."""
    import tfrobust.evaluation.robust_accuracy as module

    model, x, y = model_and_data
    calls = []
    real = module.attacked_correct

    def counting(model_fn, data, attack, **kwargs):
        calls.append(attack.eps)
        return real(model_fn, data, attack, **kwargs)

    monkeypatch.setattr(module, "attacked_correct", counting)
    table = robust_accuracy_table(model, (x, y), norms=["l2", "linf"], eps={"l2": [0.4], "linf": [0.02]},
                                  bounds=(0, 1), options={"steps": 10, "step_size_factor": 2.5},
                                  norm_options={"l2": {"step_size_factor": 5.1}, "linf": {"step_size_factor": 10}})
    assert table["step_size"].tolist() == pytest.approx([5.1 * 0.4 / 10, 10 * 0.02 / 10])
    assert calls.count(0.0) == 1


def test_any_registered_attack_makes_a_table(model_and_data):
    """FGSM is one step of size eps; a run-time entry is used by name like a built-in one."""
    from tfrobust.attacks import fgsm
    from tfrobust.registry import ATTACKS

    model, x, y = model_and_data
    table = robust_accuracy_table(model, (x, y), norms=["linf"], eps=[0.2], bounds=(0, 1), attack="fgsm")
    row = table.iloc[0]
    assert row["attack"] == "fgsm" and row["steps"] == 1 and row["step_size"] == pytest.approx(0.2)
    assert row["robust_accuracy_mean"] < row["clean_accuracy"]

    def halfway(model_fn, x, y, *, norm, eps, bounds, seed=0, objective: str = "xent"):
        """FGSM at half the radius."""
        return fgsm(model_fn, x, y, norm=norm, eps=eps / 2, bounds=bounds, objective=objective)

    ATTACKS.add("halfway", halfway)
    try:
        half = robust_accuracy_table(model, (x, y), norms=["linf"], eps=[0.4], bounds=(0, 1), attack="halfway")
    finally:
        ATTACKS.remove("halfway")
    assert half["robust_accuracy_mean"].iloc[0] == row["robust_accuracy_mean"]
    assert half[["steps", "step_size", "objective"]].isna().all(axis=None)  # no checker: nothing reported
