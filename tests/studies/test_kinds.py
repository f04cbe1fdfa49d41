"""Study kinds saliency, roar, tsipras and toy, each on tiny settings through ``run_study``."""

import csv
import json

import numpy as np
import pytest
import yaml

from tests.cli.test_saliency_cli import write_idx
from tfrobust.config import ConfigError
from tfrobust.studies import KINDS, Ledger, run_study, study_spec_from_dict


def metrics_of(out, cell_id):
    ledger = Ledger(out, create=False)
    try:
        rows = {r["id"]: r for r in ledger.rows("done")}
    finally:
        ledger.close()
    return rows[cell_id]["metrics"]


def run(values, out):
    summary = run_study(study_spec_from_dict(values), out, progress=False)
    assert summary.ok, (summary.failed, summary.skipped,
                        [p.read_text() for p in sorted((out / "cells").glob("*/error.txt"))])
    return summary


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """train -> saliency -> train_ir (targets from the saliency cell) and train -> roar, on 40 tiny images."""
    root = tmp_path_factory.mktemp("kinds")
    data = {"name": "mnist", "data_dir": str(write_idx(root / "mnist", n_train=40, n_test=20)), "bounds": [0, 1]}
    train = {"data": data, "model": {"arch": "linear"}, "epochs": 1, "batch_size": 8, "seed": 0}
    study = {
        "name": "kinds",
        "stages": [
            {"name": "train", "kind": "train", "params": train},
            {"name": "saliency", "kind": "saliency", "needs": ["train"],
             "params": {"methods": "gradient", "threshold": 1, "batch_size": 16}},
            {"name": "train_ir", "kind": "train", "needs": ["saliency"],
             "params": {**train, "method": "ir", "method_options": {"targets": "saliency", "lambda_d": 1.0}}},
            {"name": "roar", "kind": "roar", "needs": ["train"],
             "params": {"methods": ["gradient", "random"], "fractions": [0.5], "repeats": 1, "epochs": 1,
                        "batch_size": 16, "test_limit": 10}},
        ],
    }
    out = root / "out"
    summary = run(study, out)
    assert summary.ran == 4
    return out


def test_saliency_writes_maps_used_as_ir_targets(images):
    cell = images / "cells" / "saliency"
    maps = np.load(cell / "gradient.npy", allow_pickle=False)
    assert maps.shape == (40, 28, 28, 1)
    index = json.loads((cell / "saliency.json").read_text())
    assert index["dataset"]["split"] == "train" and index["maps"]["gradient"]["threshold"] == 1.0
    metrics = metrics_of(images, "saliency")
    assert metrics["count"] == 40
    assert metrics["mean_abs_gradient"] == pytest.approx(float(np.abs(maps).mean()), rel=1e-5)
    assert metrics["mean_abs_gradient"] > 0
    # The ir cell trained against these maps: its config records the resolved directory.
    config = yaml.safe_load((images / "cells" / "train_ir" / "config.yaml").read_text())
    assert config["method"] == "ir" and config["method_options"]["targets"] == str(cell)
    assert (images / "cells" / "train_ir" / "model.keras").is_file()
    assert 0 <= metrics_of(images, "train_ir")["test_accuracy"] <= 1


def test_roar_scores_and_figure(images):
    cell = images / "cells" / "roar"
    with open(cell / "roar.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == {"gradient", "random"}
    assert {float(r["fraction"]) for r in rows} == {0.0, 0.5}
    assert (cell / "scores.csv").is_file() and (cell / "curves.png").read_bytes().startswith(b"\x89PNG")
    metrics = metrics_of(images, "roar")
    assert metrics["mu_roar_random"] == 0.0
    assert set(metrics) == {"members", "mu_roar_random", "area_roar_random", "mu_roar_gradient", "area_roar_gradient"}
    assert metrics["mu_roar_gradient"] == pytest.approx(metrics["area_roar_gradient"] - metrics["area_roar_random"])
    assert metrics["members"] == 3  # unoccluded + 2 methods at one fraction
    with open(images / "results.csv") as f:
        results = {r["id"]: r for r in csv.DictReader(f)}
    assert float(results["roar"]["mu_roar_random"]) == 0.0


def test_tsipras_kind(tmp_path):
    study = {"name": "tsipras", "stages": [{"name": "tsipras", "kind": "tsipras", "params": {
        "d": 100, "n_train": 200, "n_test": 300, "epochs": 1, "attack_steps": 1, "batch_size": 100}}]}
    run(study, tmp_path)
    cell = tmp_path / "cells" / "tsipras"
    with open(cell / "tsipras.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["training"] for r in rows] == ["standard", "adversarial"]
    metrics = metrics_of(tmp_path, "tsipras")
    for training, row in zip(("standard", "adversarial"), rows):
        assert metrics[f"standard_accuracy_{training}"] == pytest.approx(float(row["standard_accuracy"]))
        assert 0 <= metrics[f"adversarial_accuracy_{training}"] <= 1
    with open(cell / "theorem.csv") as f:
        assert len(list(csv.DictReader(f))) == metrics["theorem_classifiers"] > 0
    assert metrics["theorem_holds"] == metrics["theorem_classifiers"]  # exact: Theorem 2.1 holds


def test_toy_kind(tmp_path):
    study = {"name": "toy", "stages": [{"name": "toy", "kind": "toy", "params": {
        "eps": [0, 0.5], "epochs": 1, "n": 50, "steps": 2}}]}
    run(study, tmp_path)
    cell = tmp_path / "cells" / "toy"
    with open(cell / "tilt.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["train_eps"]) for r in rows] == [0.0, 0.5]
    assert (cell / "toy.png").read_bytes().startswith(b"\x89PNG")
    metrics = metrics_of(tmp_path, "toy")
    assert {k for k in metrics if k.startswith("tilt_")} == {"tilt_0", "tilt_0.5"}
    assert metrics["tilt_0.5"] == pytest.approx(float(rows[1]["tilt_degrees"]))
    assert 0 <= metrics["robust_accuracy_0"] <= metrics["clean_accuracy_0"] <= 1


@pytest.mark.parametrize("kind, params, message", [
    ("toy", {"eps": [0, -1]}, "toy.eps"),
    ("toy", {"epoch": 1}, "unknown param"),
    ("tsipras", {"trainings": "robust"}, "tsipras.trainings"),
    ("roar", {"fractions": [0.5]}, "roar.methods"),
    ("roar", {"methods": "gradient", "modes": "both"}, "roar.modes"),
    ("saliency", {"methods": "gradient", "samples": 4}, "smoothgrad"),
    ("saliency", {"split": "val"}, "saliency.split"),
])
def test_bad_params_name_the_field(kind, params, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        KINDS[kind](params, {}, tmp_path)


def test_model_kinds_need_one_trained_dependency(tmp_path):
    with pytest.raises(ValueError, match="exactly one dependency with a model.keras"):
        KINDS["saliency"]({"methods": "gradient"}, {}, tmp_path)


def test_ir_targets_reference_resolution(tmp_path):
    from tfrobust.studies.kinds import _resolve_targets

    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "saliency.json").write_text("{}")
    deps = {"sal": maps, "train": tmp_path / "run"}
    cases = [
        ({"targets": "sal"}, str(maps)),
        ({"targets": "sal/smoothgrad.npy"}, str(maps / "smoothgrad.npy")),
        ({"targets": "other/x.npy"}, "other/x.npy"),  # not a dependency: a path, untouched
        ({}, str(maps)),  # no targets: the one saliency dependency
    ]
    for options, expected in cases:
        params = {"method": "ir", "method_options": dict(options)}
        _resolve_targets(params, deps)
        assert params["method_options"]["targets"] == expected
    params = {"method": "standard", "method_options": {"targets": "sal"}}
    _resolve_targets(params, deps)
    assert params["method_options"]["targets"] == "sal"  # only ir cells are rewritten
