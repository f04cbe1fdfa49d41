"""Study kinds saliency, roar, tsipras and toy, each on tiny settings through ``run_study``."""

import csv
import json

import numpy as np
import pytest
import yaml

from tests.cli.test_saliency_cli import write_idx
from tfrobust.config import ConfigError
from tfrobust.studies import KINDS, Ledger, run_kind, run_study, study_spec_from_dict


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
    """train -> saliency -> train_ir (targets from the saliency cell), train -> roar and train -> attack,
    on 40 tiny images."""
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
            {"name": "attack", "kind": "attack", "needs": ["train"],
             "params": {"norms": "l2,linf", "eps": {"l2": [0.5], "linf": ["8/255", 0.1]}, "limit": 12, "restarts": 2,
                        "options": {"steps": 2}, "norm_options": {"linf": {"step_size_factor": 1.0}}}},
        ],
    }
    out = root / "out"
    summary = run(study, out)
    assert summary.ran == 5
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


def test_attack_kind_options_per_norm(images):
    with open(images / "cells" / "attack" / "robust_accuracy.csv") as f:
        rows = list(csv.DictReader(f))
    # options: steps 2 for every norm; norm_options: linf steps of 1.0 * eps / 2, l2 the default 2.5 * eps / 2
    steps = {(r["norm"], round(float(r["eps"]), 6)): float(r["step_size"]) for r in rows}
    assert steps == pytest.approx({("l2", 0.5): 0.625, ("linf", round(8 / 255, 6)): 4 / 255, ("linf", 0.1): 0.05})
    assert {r["attack"] for r in rows} == {"pgd"} and {int(r["steps"]) for r in rows} == {2}
    # long format: the tidy columns first, the older ones kept
    assert list(rows[0])[:6] == ["norm", "eps", "attack", "robust_accuracy", "worst_case", "flags"]
    assert all(r["robust_accuracy"] == r["robust_accuracy_mean"] and r["worst_case"] == r["robust_accuracy_worst"]
               for r in rows)
    metrics = metrics_of(images, "attack")
    assert metrics["n"] == 12 and set(metrics) == {
        "clean_accuracy", "n", "robust_l2_0.5", "robust_linf_0.0313725", "robust_linf_0.1",
        "robust_worst_l2_0.5", "robust_worst_linf_0.0313725", "robust_worst_linf_0.1", "flags", "flagged"}
    with open(images / "cells" / "attack" / "checks.csv") as f:
        checks = list(csv.DictReader(f))
    assert {c["check"] for c in checks} == {"blackbox", "monotone", "chance", "convergence", "zero_gradients"}
    raised = [c for c in checks if c["status"] == "raised"]
    assert metrics["flags"] == len(raised)
    assert metrics["flagged"] == "; ".join(" ".join(filter(None, (c["check"], c["norm"], c["eps"]))) for c in raised)
    for key in ("l2_0.5", "linf_0.0313725", "linf_0.1"):
        assert 0 <= metrics[f"robust_worst_{key}"] <= metrics[f"robust_{key}"] <= metrics["clean_accuracy"] <= 1
    assert metrics["robust_linf_0.1"] <= metrics["robust_linf_0.0313725"]  # survivors of the larger radius: fewer


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
    ("toy", {"eps": [0, -1]}, r"^toy\.eps must be >= 0, got -1$"),
    ("toy", {"epoch": 1}, r"^toy: kind 'toy' has no option 'epoch'; its options: eps, epochs,"),
    ("tsipras", {"trainings": "robust"}, r"^tsipras\.trainings: choose from standard, adversarial"),
    ("roar", {"fractions": [0.5]}, r"^roar: kind 'roar' needs option\(s\) methods"),
    ("roar", {"methods": "gradient", "modes": "both"}, r"^roar\.modes: choose from roar, kar"),
    ("saliency", {"methods": "gradient", "samples": 4}, r"^saliency: kind 'saliency' has no option 'samples'"),
    ("saliency", {"methods": "gradient", "options": {"smoothgrad": {"samples": 0.5}}},
     r"^saliency\.options\.smoothgrad: option samples of attribution 'smoothgrad' must be int, got 0\.5$"),
    ("saliency", {"methods": "gradient,gradient"}, r"^saliency\.methods: choose from .*no repeats"),
    ("saliency", {"split": "val"}, r"^saliency: option split of kind 'saliency' must be one of train, test"),
    ("attack", {"eps": 0.5, "norms": "l2", "norm_options": {"linf": {"steps": 3}}}, r"^attack\.norm_options: "),
])
def test_bad_params_name_the_field(kind, params, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        run_kind(kind, params, {}, tmp_path)


def test_model_kinds_need_one_trained_dependency(tmp_path):
    with pytest.raises(ValueError, match="exactly one dependency with a model.keras"):
        run_kind("saliency", {"methods": "gradient"}, {}, tmp_path)


def test_kind_defaults_are_the_library_defaults():
    """The kinds' literal defaults (read without importing them) are those of the functions they run."""
    import dataclasses
    import inspect

    from tfrobust.config import TrainConfig
    from tfrobust.theory import linear_tsipras_experiment, toy_experiment

    train = {o.name: o.default for o in KINDS["train"].options}
    fields = dataclasses.fields(TrainConfig)
    assert set(train) == {f.name for f in fields}
    for field in fields:  # the sections (default factories) default to None: the config's own defaults
        assert train[field.name] == (None if field.default is dataclasses.MISSING else field.default), field.name
    for kind, fn, renamed in (("toy", toy_experiment, {"eps": "eps_list"}),
                              ("tsipras", linear_tsipras_experiment, {})):
        library = {k: p.default for k, p in inspect.signature(fn).parameters.items()}
        options = {o.name: o.default for o in KINDS[kind].options if o.name != "theorem"}
        assert {k: library[renamed.get(k, k)] for k in options} == options, kind


def test_ir_targets_reference_resolution(tmp_path):
    from tfrobust.studies.kinds.train import resolve_targets

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
        resolve_targets(params, deps)
        assert params["method_options"]["targets"] == expected
    params = {"method": "standard", "method_options": {"targets": "sal"}}
    resolve_targets(params, deps)
    assert params["method_options"]["targets"] == "sal"  # only ir cells are rewritten


def test_roar_passes_the_options_of_its_methods(monkeypatch, tmp_path):
    import tfrobust.evaluation as evaluation
    import tfrobust.reports as reports
    from tfrobust.training.rundir import Run

    seen = []

    class Result:
        trained, reused, scores = 1, 0, []

    monkeypatch.setattr(evaluation, "run_roar", lambda *a, **kw: seen.append(kw) or Result())
    monkeypatch.setattr(reports, "write_roar_figure", lambda *a: None)
    monkeypatch.setattr(Run, "load_split", lambda self, *a, **k: None)
    monkeypatch.setattr(Run, "load_model", lambda self, *a, **k: None)
    run = tmp_path / "train"
    run.mkdir()
    (run / "model.keras").write_text("")
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"arch": "linear"}}))
    options = {"smoothgrad": {"samples": 4, "sigma": "1/10"}}
    for methods, expected in (("smoothgrad,random", {"smoothgrad": {"samples": 4, "sigma": pytest.approx(0.1)}}),
                              ("gradient,random", None)):  # options of a method not computed: checked, ignored
        run_kind("roar", {"methods": methods, "options": options, "fill": "1/2"}, {"train": run}, tmp_path)
        assert seen[-1]["method_options"] == expected and seen[-1]["methods"] == methods.split(",")
        assert seen[-1]["fill"] == 0.5 and seen[-1]["fractions"] == [0.1, 0.3, 0.5, 0.7, 0.9]
