"""CLI: `tfrobust saliency --option clip=true --option include_clean=true --threshold-mode` (Noack et al.'s code).

The options reach the library as given, per method.

The model and data loading is replaced by a tiny Keras model on
toy2d (bounds (-1, 1)), so no run directory has to be trained.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import cli.runs
import tfrobust.training
from tfrobust.attribution import smoothgrad
from tfrobust.data import load_dataset
from tfrobust.training.targets import threshold_upper


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)])
    return model, load_dataset("toy2d", "train", limit=12, seed=0)


@pytest.fixture
def loaded(tiny, monkeypatch, tmp_path):
    """`model_and_data` returns the tiny model and toy2d (or ``loaded.ds`` when a test sets it)."""
    class Loaded:
        model, ds = tiny

    def fake(model_path, **kwargs):
        return tmp_path / "model.keras", Loaded.model, Loaded.ds

    monkeypatch.setattr(cli.runs, "model_and_data", fake)
    return Loaded


@pytest.fixture
def calls(loaded, monkeypatch):
    """compute_maps replaced by a recorder (the index it would write is faked too)."""
    seen = []

    def compute_maps(model, ds, *, method, out_dir, **kwargs):
        seen.append({"method": method, **kwargs})
        return out_dir / f"{method}.npy"

    def saliency_index(out):
        return {"maps": {c["method"]: {"shape": [12, 2], "mean_abs": 0.0} for c in seen}}

    monkeypatch.setattr(tfrobust.training, "compute_maps", compute_maps)
    monkeypatch.setattr(tfrobust.training, "saliency_index", saliency_index)
    return seen


BASE = ("saliency", "--model", "unused", "--dataset", "toy2d", "--grid", "0", "--quiet")


def test_options_reach_compute_maps(calls, run_cli, tmp_path):
    code, text, err = run_cli(*BASE, "--out", tmp_path / "o", "--method", "smoothgrad,gradient",
                              "--option", "smoothgrad.clip=true", "--option", "include_clean=yes",
                              "--threshold", "1", "--threshold-mode", "upper")
    assert code == 0, err
    smooth, grad = calls
    assert smooth["method"] == "smoothgrad" and grad["method"] == "gradient"
    assert smooth["options"] == {"clip": True, "include_clean": True}
    assert grad["options"] is None  # include_clean is smoothgrad's only: the bare key goes there alone
    assert smooth["threshold_mode"] == grad["threshold_mode"] == "upper"
    assert smooth["threshold"] == 1.0
    assert "(upper)" in text and "smoothgrad: clip=True, include_clean=True" in text


def test_defaults_are_the_papers_text(calls, run_cli, tmp_path):
    code, _, err = run_cli(*BASE, "--out", tmp_path / "o", "--method", "smoothgrad", "--threshold", "1")
    assert code == 0, err
    (call,) = calls
    assert call["options"] is None  # smoothgrad's own defaults: Noack's N = 50, sigma 0.15, logit gradients
    assert call["threshold_mode"] == "two_sided"


def test_the_maps_are_noacks_upper_tail_of_clipped_smoothgrad_with_the_clean_map(loaded, run_cli, tmp_path):
    """End to end through the real compute_maps: the map equals the library calls it stands for."""
    model, ds = loaded.model, loaded.ds
    out = tmp_path / "maps"
    code, _, err = run_cli(*BASE, "--out", out, "--method", "smoothgrad", "--option", "samples=4",
                           "--option", "clip=true", "--option", "include_clean=true", "--threshold", "0.5",
                           "--threshold-mode", "upper", "--batch-size", "16")
    assert code == 0, err
    entry = json.loads((out / "saliency.json").read_text())["maps"]["smoothgrad"]
    assert entry["options"]["include_clean"] is True and entry["options"]["clip"] is True
    assert entry["threshold_mode"] == "upper"
    maps = np.load(out / "smoothgrad.npy", allow_pickle=False)
    raw = np.asarray(smoothgrad(model, ds.x, ds.y, samples=4, sigma=0.15, seed=(0, 0), bounds=(-1.0, 1.0),
                                clip=True, include_clean=True))  # one batch: compute_maps' seed (seed, 0)
    np.testing.assert_allclose(maps, threshold_upper(raw, 0.5), rtol=1e-5, atol=1e-7)
    plain = np.asarray(smoothgrad(model, ds.x, ds.y, samples=4, sigma=0.15, seed=(0, 0)))
    assert not np.allclose(raw, plain)  # the two options change the map


@pytest.mark.parametrize("args, message", [
    (("--method", "smoothgrad", "--threshold", "1", "--threshold-mode", "lower"), "--threshold-mode"),
    (("--method", "smoothgrad", "--threshold-mode", "upper"), "--threshold-mode upper needs --threshold"),
    (("--method", "gradient", "--option", "clip=true"), "--option clip: none of the chosen attributions"),
    (("--method", "gradient", "--option", "smoothgrad.include_clean=true"), "smoothgrad is not one of the chosen"),
    (("--method", "smoothgrad", "--option", "include_clean=maybe"), "option include_clean of attribution "
                                                                    "'smoothgrad' must be bool, got 'maybe'"),
    (("--method", "smoothgrad", "--option", "clip=true", "--option", "clip=false"), "--option: clip is given twice"),
    (("--method", "smoothgrad", "--option", "=true"), "--option: write key=value"),
])
def test_bad_values_are_one_line_errors(calls, loaded, run_cli, tmp_path, args, message):
    code, _, err = run_cli(*BASE, "--out", tmp_path / "o", *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert calls == [] and not (tmp_path / "o").exists()
