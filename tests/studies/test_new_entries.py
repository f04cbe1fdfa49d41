"""Entries added as one module each (TRADES, Integrated Gradients, momentum PGD) run through a study config."""

import numpy as np
import pytest

from tests.cli.test_saliency_cli import write_idx
from tfrobust.config import ConfigError
from tfrobust.studies import Ledger, check_study, run_study, study_spec_from_dict


def study(root, *, ig_options):
    data = {"name": "mnist", "data_dir": str(write_idx(root / "mnist", n_train=32, n_test=16)), "bounds": [0, 1]}
    return {
        "name": "new_entries",
        "stages": [
            {"name": "train", "kind": "train",
             "params": {"data": data, "model": {"arch": "linear"}, "epochs": 1, "batch_size": 8, "seed": 0,
                        "method": "trades", "method_options": {"beta": 2.0, "eps": 0.1, "steps": 2}}},
            {"name": "saliency", "kind": "saliency", "needs": ["train"],
             "params": {"methods": "integrated_gradients,gradient", "split": "test", "batch_size": 8,
                        "options": {"integrated_gradients": ig_options}}},
            {"name": "attack", "kind": "attack", "needs": ["train"],
             "params": {"norms": "linf", "eps": [0.1], "limit": 16,
                        "options": {"steps": 3, "update": "momentum", "momentum": 0.5}}},
        ],
    }


def test_trades_integrated_gradients_and_momentum_pgd_run_in_a_study(tmp_path):
    out = tmp_path / "out"
    summary = run_study(study_spec_from_dict(study(tmp_path, ig_options={"steps": 4})), out, progress=False)
    assert summary.ok and summary.ran == 3, summary
    ledger = Ledger(out, create=False)
    try:
        rows = {r["stage"]: r for r in ledger.rows("done")}
    finally:
        ledger.close()
    assert rows["train"]["metrics"]["test_accuracy"] is not None
    cell = next((out / "cells").glob("saliency*"))
    ig = np.load(cell / "integrated_gradients.npy")
    assert ig.shape == (16, 28, 28, 1) and np.isfinite(ig).all() and np.abs(ig).sum() > 0
    assert rows["saliency"]["metrics"]["mean_abs_integrated_gradients"] > 0
    assert 0.0 <= rows["attack"]["metrics"]["robust_linf_0.1"] <= rows["attack"]["metrics"]["clean_accuracy"]


@pytest.mark.parametrize(("options", "message"), [
    ({"step": 4}, "has no option 'step'"),
    ({"steps": "many"}, "option steps of attribution 'integrated_gradients' must be int"),
])
def test_a_wrong_option_of_a_new_entry_is_refused_before_anything_runs(tmp_path, options, message):
    spec = study_spec_from_dict(study(tmp_path, ig_options=options))
    with pytest.raises(ConfigError, match=message):
        check_study(spec)
    assert not (tmp_path / "out").exists()
