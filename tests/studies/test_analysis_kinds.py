"""Study kinds examples, gradients, jacobian, vaegan, manifold and linear, on tiny settings through ``run_study``."""

import csv
import subprocess
import sys

import numpy as np
import pytest
import yaml

from tests.cli.test_saliency_cli import write_idx
from tests.cli.test_theory_linear_cli import write_tiny_mnist
from tests.studies.test_kinds import metrics_of, run
from tfrobust.config import ConfigError
from tfrobust.registry import KINDS, options_of
from tfrobust.studies.kinds import run_kind


def _kernel(cell):
    from tfrobust.training import load_model

    model = load_model(cell / "model.keras")
    (dense,) = [layer for layer in model.layers if layer.get_weights()]
    kernel, bias = dense.get_weights()
    return model, kernel.astype(np.float64), bias.astype(np.float64)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A linear model on a 64-image MNIST and every analysis of it; an eps=0 adversarial cell; an ir cell."""
    root = tmp_path_factory.mktemp("analysis")
    data = {"name": "mnist", "data_dir": str(write_idx(root / "mnist", n_train=64, n_test=32)), "bounds": [0, 1]}
    train = {"data": data, "model": {"arch": "linear"}, "epochs": 1, "batch_size": 16, "seed": 0}
    values = {
        "name": "analysis",
        "stages": [
            {"name": "train", "kind": "train", "params": train},
            {"name": "adv0", "kind": "train", "params": {
                **train, "method": "adversarial",
                "method_options": {"attack": {"norm": "l2", "eps": "0/255", "steps": 3}}}},
            {"name": "examples", "kind": "examples", "needs": ["train"], "params": {
                "norm": "l2", "eps": 2, "options": {"steps": 5}, "n": 4, "interpolation": 3}},
            {"name": "examples_linf", "kind": "examples", "needs": ["train"], "params": {
                "norm": "linf", "eps": "8/255", "options": {"steps": 3, "objective": "cw"}, "n": 5}},
            {"name": "examples_fgsm", "kind": "examples", "needs": ["train"], "params": {
                "norm": "linf", "eps": 0.1, "attack": "fgsm", "n": 4}},
            {"name": "gradients", "kind": "gradients", "needs": ["train"], "params": {
                "methods": "gradient,logit_gradient,smoothgrad", "n": 4,
                "options": {"smoothgrad": {"base": "gradient", "sigma": 0.0, "samples": 2}}}},
            {"name": "jacobian", "kind": "jacobian", "needs": ["train"], "params": {"n": 16, "batch_size": 8}},
            {"name": "saliency", "kind": "saliency", "needs": ["train"], "params": {"methods": "gradient"}},
            {"name": "train_ir", "kind": "train", "needs": ["saliency"], "params": {
                **train, "method": "ir", "method_options": {"targets": "saliency", "lambda_d": 1.0}}},
            {"name": "jacobian_ir", "kind": "jacobian", "needs": ["train_ir"], "params": {"n": 8, "cosine_n": 10}},
        ],
    }
    out = root / "out"
    assert run(values, out).ran == len(values["stages"])
    return out


def test_examples_stay_in_the_ball_and_bounds(study):
    for cell, norm, eps, n in (("examples", "l2", 2.0, 4), ("examples_linf", "linf", 8 / 255, 5),
                               ("examples_fgsm", "linf", 0.1, 4)):
        with np.load(study / "cells" / cell / "images.npz", allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        x, x_adv = arrays["x"], arrays["x_adv"]
        assert x.shape == x_adv.shape == (n, 28, 28, 1) and x.dtype == np.float32
        assert arrays["y"].shape == arrays["pred"].shape == (n,)
        np.testing.assert_array_equal(arrays["bounds"], [0, 1])
        assert x_adv.min() >= 0 and x_adv.max() <= 1
        delta = (x_adv.astype(np.float64) - x).reshape(n, -1)
        size = np.linalg.norm(delta, axis=1) if norm == "l2" else np.abs(delta).max(axis=1)
        assert np.all(size <= eps + 1e-5), size
        metrics = metrics_of(study, cell)
        assert metrics["n"] == n and 0 <= metrics["fooled"] <= 1
        assert metrics["fooled"] == pytest.approx(np.mean(arrays["pred"] != arrays["y"]))
        assert metrics[f"mean_{norm}"] == pytest.approx(size.mean(), rel=1e-5)
    with np.load(study / "cells" / "examples" / "images.npz", allow_pickle=False) as f:
        path, x, x_adv = f["path"], f["x"], f["x_adv"]
        pred_path, pred_x, pred_x_adv = f["pred_path"], f["pred_x"], f["pred_x_adv"]
        assert "path" not in np.load(study / "cells" / "examples_linf" / "images.npz").files
    assert pred_path.shape == (4, 3)  # the prediction at every step: the ends are those on x and x_adv
    np.testing.assert_array_equal(pred_path[:, 0], pred_x)
    np.testing.assert_array_equal(pred_path[:, -1], pred_x_adv)
    assert path.shape == (4, 3, 28, 28, 1)
    np.testing.assert_array_equal(path[:, 0], x)
    np.testing.assert_array_equal(path[:, -1], x_adv)
    np.testing.assert_allclose(path[:, 1], (x + x_adv) / 2, atol=1e-6)


def test_examples_run_the_chosen_attack(study):
    # FGSM linf on logits W^T x + b: one step eps * sign(W (p - onehot(y))) from x, clipped to [0, 1].
    _, kernel, bias = _kernel(study / "cells" / "train")
    with np.load(study / "cells" / "examples_fgsm" / "images.npz", allow_pickle=False) as f:
        x, x_adv, y = f["x"].astype(np.float64), f["x_adv"].astype(np.float64), f["y"]
    logits = x.reshape(4, -1) @ kernel + bias
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    grad = (p - np.eye(kernel.shape[1])[y]) @ kernel.T
    expected = np.clip(x.reshape(4, -1) + 0.1 * np.sign(grad), 0, 1)
    clear = np.abs(grad) > 1e-4 * np.abs(grad).max()  # signs float32 agrees on
    assert clear.mean() > 0.9
    np.testing.assert_allclose(x_adv.reshape(4, -1)[clear], expected[clear], atol=1e-6)


def test_examples_pgd_defaults_under_the_given_options():
    from tfrobust.studies.kinds.examples import EXAMPLES_CW_KAPPA, attack_options

    assert attack_options("pgd", None, kind="examples") == {"steps": 100, "random_start": False}
    cw = attack_options("pgd", {"objective": "cw", "steps": 7, "step_size": "1/10"}, kind="examples")
    assert cw == {"steps": 7, "random_start": False, "objective": "cw", "step_size": 0.1, "kappa": EXAMPLES_CW_KAPPA}
    assert attack_options("pgd", {"objective": "cw", "kappa": 0, "random_start": True}, kind="examples")["kappa"] == 0
    assert "steps" not in attack_options("fgsm", {}, kind="examples")  # PGD's defaults are PGD's only
    with pytest.raises(ConfigError, match="examples.options") as err:
        attack_options("pgd", {"radius": 1}, kind="examples")
    assert len(str(err.value).splitlines()) == 1


def test_gradients_of_a_linear_model_are_analytic(study):
    model, kernel, bias = _kernel(study / "cells" / "train")
    with np.load(study / "cells" / "gradients" / "images.npz", allow_pickle=False) as f:
        x, y, pred, grad, logit_grad = f["x"], f["y"], f["pred"], f["gradient"], f["logit_gradient"]
        smooth = f["smoothgrad"]
    assert grad.shape == logit_grad.shape == x.shape == (4, 28, 28, 1) and grad.dtype == np.float32
    logits = x.reshape(4, -1).astype(np.float64) @ kernel + bias
    np.testing.assert_array_equal(pred, logits.argmax(axis=1))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    # d CE / dx of logits W^T x + b is W (p - onehot(y)); d z_y / dx is column y of W.
    expected = (p - np.eye(kernel.shape[1])[y]) @ kernel.T
    np.testing.assert_allclose(grad.reshape(4, -1), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(logit_grad.reshape(4, -1), kernel[:, y].T, rtol=1e-5, atol=1e-7)
    # The stage's options reached SmoothGrad: noise-free with the loss gradient as base it is that gradient
    # (its default base, the logit gradient, would give the kernel column instead).
    np.testing.assert_allclose(smooth.reshape(4, -1), expected, rtol=1e-4, atol=1e-6)
    metrics = metrics_of(study, "gradients")
    assert metrics["mean_abs_gradient"] == pytest.approx(float(np.abs(grad).mean()), rel=1e-5)
    assert metrics["mean_abs_smoothgrad"] == pytest.approx(float(np.abs(smooth).mean()), rel=1e-5)


def test_jacobian_norms_are_weight_column_norms(study):
    _, kernel, _ = _kernel(study / "cells" / "train")
    with open(study / "cells" / "jacobian" / "jacobian.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16
    columns = np.linalg.norm(kernel, axis=0)
    for row in rows:
        c = int(row["label"])
        assert float(row["label_norm"]) == pytest.approx(columns[c], rel=1e-4)
        assert float(row["other_norm"]) == pytest.approx((columns.sum() - columns[c]) / 9, rel=1e-4)
    metrics = metrics_of(study, "jacobian")
    assert metrics["n"] == 16 and "target_cosine" not in metrics
    labels = np.array([int(r["label"]) for r in rows])
    assert metrics["jacobian_label_norm"] == pytest.approx(columns[labels].mean(), rel=1e-4)


def test_jacobian_target_cosine_of_an_ir_cell(study):
    from tfrobust.data import load_dataset

    _, kernel, _ = _kernel(study / "cells" / "train_ir")
    maps = np.load(study / "cells" / "saliency" / "gradient.npy", allow_pickle=False)[:10]
    config = yaml.safe_load((study / "cells" / "train_ir" / "config.yaml").read_text())
    train = load_dataset("mnist", "train", data_dir=config["data"]["data_dir"], limit=10, bounds=(0, 1))
    grads = kernel[:, train.y].T  # label-logit gradients of the linear ir model
    flat = maps.reshape(10, -1).astype(np.float64)
    norms = np.linalg.norm(grads, axis=1) * np.linalg.norm(flat, axis=1)
    expected = np.where(norms > 0, np.sum(grads * flat, axis=1) / np.where(norms > 0, norms, 1), 0.0)
    metrics = metrics_of(study, "jacobian_ir")
    assert metrics["cosine_n"] == 10
    assert metrics["target_cosine"] == pytest.approx(expected.mean(), abs=1e-4)


def test_zero_eps_adversarial_cell_trains_standard(study):
    config = yaml.safe_load((study / "cells" / "adv0" / "config.yaml").read_text())
    assert config["method"] == "standard" and "attack" not in (config.get("method_options") or {})
    assert metrics_of(study, "adv0")["trained_as"] == "standard"
    assert "trained_as" not in metrics_of(study, "train")


def test_zero_eps_rule():
    from tfrobust.studies.kinds.train import zero_eps_adversarial

    def cell(eps, method="adversarial"):
        return {"method": method, "method_options": {"attack": {"norm": "linf", "eps": eps}}}

    assert zero_eps_adversarial(cell(0)) and zero_eps_adversarial(cell("0/255")) and zero_eps_adversarial(cell(0.0))
    assert not zero_eps_adversarial(cell(0.1)) and not zero_eps_adversarial(cell("8/255"))
    assert not zero_eps_adversarial(cell(0, method="jr")) and not zero_eps_adversarial({"method": "adversarial"})
    assert not zero_eps_adversarial(cell("abc"))  # left to the config's validation


@pytest.fixture(scope="module")
def manifold_study(tmp_path_factory):
    """A 1-epoch VAE-GAN on 128 images and a linear classifier, both on [-1, 1]; the manifold cell."""
    root = tmp_path_factory.mktemp("manifold")
    data = {"name": "mnist", "data_dir": str(write_idx(root / "mnist", n_train=128, n_test=16)), "bounds": [-1, 1]}
    values = {
        "name": "manifold",
        "stages": [
            {"name": "vaegan", "kind": "vaegan", "params": {"data": data, "epochs": 1, "batch_size": 32,
                                                             "vaegan": {"zdim": 4}}},
            {"name": "train", "kind": "train", "params": {"data": data, "model": {"arch": "linear"},
                                                          "epochs": 1, "batch_size": 16}},
            {"name": "manifold", "kind": "manifold", "needs": ["vaegan", "train"],
             "params": {"options": {"steps": 3}, "limit": 12, "examples": 2}},
        ],
    }
    out = root / "out"
    run(values, out)
    return out


@pytest.mark.slow  # the fixture trains a VAE-GAN (about 20 s on 2 CPU cores)
def test_vaegan_cell_writes_the_cli_files(manifold_study):
    cell = manifold_study / "cells" / "vaegan"
    for name in ("vaegan.keras", "config.yaml", "history.csv", "reconstructions.png", "metrics.json",
                 "checkpoint/last.weights.h5", "checkpoint/state.json"):
        assert (cell / name).is_file(), name
    config = yaml.safe_load((cell / "config.yaml").read_text())
    assert config["vaegan"]["zdim"] == 4 and config["data"]["bounds"] == [-1.0, 1.0] and config["epochs"] == 1
    metrics = metrics_of(manifold_study, "vaegan")
    assert metrics["epochs"] == 1 and metrics["recon_l1"] > 0 and metrics["test_d_pi_mean"] > 0
    # A re-run into the same directory finds the finished run.
    data = {"name": "mnist", "data_dir": config["data"]["data_dir"], "bounds": [-1, 1]}
    again = run_kind("vaegan", {"data": data, "epochs": 1, "batch_size": 32, "vaegan": {"zdim": 4}}, {}, cell)
    assert again["recon_l1"] == pytest.approx(metrics["recon_l1"])


@pytest.mark.slow
def test_manifold_distances(manifold_study):
    cell = manifold_study / "cells" / "manifold"
    with open(cell / "distances.csv") as f:
        rows = list(csv.DictReader(f))
    clean = [r for r in rows if r["kind"] == "clean"]
    adversarial = [r for r in rows if r["kind"] == "adversarial"]
    assert len(clean) == 12 and len(adversarial) <= 12 and len(clean) + len(adversarial) == len(rows)
    assert all(float(r["distance"]) >= 0 for r in rows)
    metrics = metrics_of(manifold_study, "manifold")
    assert metrics["n"] == 12 and metrics["attack_success"] == pytest.approx(len(adversarial) / 12)
    assert metrics["median_clean"] == pytest.approx(np.median([float(r["distance"]) for r in clean]))
    with np.load(cell / "images.npz", allow_pickle=False) as f:
        assert f["x"].shape == f["x_adv"].shape == f["x_proj"].shape == f["x_adv_proj"].shape == (2, 28, 28, 1)
        assert f["y"].shape == f["pred"].shape == (2,)
        np.testing.assert_array_equal(f["bounds"], [-1, 1])
        assert np.linalg.norm((f["x_adv"] - f["x"]).reshape(2, -1), axis=1).max() <= 12 + 1e-4
    assert (cell / "histogram.png").read_bytes().startswith(b"\x89PNG")


def test_manifold_refuses_other_bounds(tmp_path):
    vaegan, model = tmp_path / "vaegan", tmp_path / "train"
    for path, name, bounds in ((vaegan, "vaegan.keras", [-1, 1]), (model, "model.keras", [0, 1])):
        path.mkdir()
        (path / name).write_bytes(b"")
        (path / "config.yaml").write_text(yaml.safe_dump({"data": {"name": "mnist", "bounds": bounds}}))
    with pytest.raises(ValueError, match="bounds") as err:
        run_kind("manifold", {}, {"vaegan": vaegan, "train": model}, tmp_path)
    assert len(str(err.value).splitlines()) == 1
    with pytest.raises(ValueError, match="vaegan.keras"):
        run_kind("manifold", {}, {"train": model}, tmp_path)
    with pytest.raises(ValueError, match="exactly one dependency with a model.keras"):
        run_kind("manifold", {}, {"vaegan": vaegan}, tmp_path)


def test_manifold_checks_its_attack_before_loading_a_model(tmp_path):
    # Both model files are empty (unloadable): the attack, with Kim's defaults merged, is refused first.
    data = {"name": "mnist", "data_dir": str(write_idx(tmp_path / "mnist", n_train=4, n_test=4)), "bounds": [-1, 1]}
    deps = {"vaegan": tmp_path / "vaegan", "train": tmp_path / "train"}
    for path, name in ((deps["vaegan"], "vaegan.keras"), (deps["train"], "model.keras")):
        path.mkdir()
        (path / name).write_bytes(b"")
        (path / "config.yaml").write_text(yaml.safe_dump({"data": data}))
    out = tmp_path / "out"
    out.mkdir()
    for params, message in (({"eps": 1.0, "options": {"step_size": 3.0}}, r"^manifold.options: step_size: .*diameter"),
                            ({"eps": 0.5, "norm": "l2", "options": {"objective": "cw", "kappa": -1}},
                             "^manifold.options: kappa")):
        with pytest.raises(ValueError, match=message) as err:
            run_kind("manifold", params, deps, out)
        assert len(str(err.value).splitlines()) == 1
    assert not any(out.iterdir())


def test_linear_parts_subset(tmp_path):
    data_dir = write_tiny_mnist(tmp_path / "mnist")
    values = {"name": "linear", "stages": [{"name": "linear", "kind": "linear", "params": {
        "dataset": "mnist", "data_dir": str(data_dir), "limit": None, "eps_train": [0, 0.2], "eps_test": ["1/10"],
        "top_k": [1, 36, 5000], "sizes": [10], "epochs": 2, "batch_size": 32, "lr": 0.05,
        "parts": "table,top_k"}}]}
    run(values, tmp_path / "out")
    cell = tmp_path / "out" / "cells" / "linear"
    assert sorted(p.name for p in cell.iterdir()) == ["linear_table.csv", "top_k.csv", "top_k.png"]
    with open(cell / "linear_table.csv") as f:
        table = list(csv.DictReader(f))
    metrics = metrics_of(tmp_path / "out", "linear")
    assert metrics["standard_test_0"] == pytest.approx(float(table[0]["standard_test"])) == 1.0  # planted square
    assert metrics["adversarial_test_0.2@0.1"] == pytest.approx(float(table[1]["adversarial_test@0.1"]))
    assert metrics["l1_weight_0.2"] == pytest.approx(float(table[1]["w_l1"]))
    assert metrics["l1_weight_0.2"] > 0
    assert {"standard_test_top1", "standard_test_top36"} <= set(metrics)  # 5000 > 784 dropped
    assert not any(k.startswith("standard_test_n") for k in metrics)


@pytest.mark.parametrize("kind, params, message", [
    ("examples", {"norm": "l2"}, r"needs option\(s\) eps"),
    ("examples", {"eps": -1}, "examples.eps"),
    ("examples", {"eps": "x"}, "option eps of kind 'examples'"),
    ("examples", {"eps": 1, "norm": "l3"}, "unknown norm 'l3'"),
    ("examples", {"eps": 1, "interpolation": 1}, "examples.interpolation"),
    ("examples", {"eps": 1, "n": 0}, "examples.n"),
    ("examples", {"eps": 1, "attack": "deepfool"}, "unknown attack 'deepfool'"),
    ("examples", {"eps": 1, "options": {"radius": 2}}, "examples.options"),
    ("examples", {"eps": 1, "options": {"steps": "many"}}, "examples.options"),
    ("examples", {"eps": 1, "radius": 2}, r"no option 'radius'|unknown param\(s\) radius"),
    ("gradients", {"methods": "saliency"}, "gradients.methods"),
    ("gradients", {"methods": ["gradient", "gradient"]}, "gradients.methods"),
    ("gradients", {"n": 0}, "gradients.n"),
    ("gradients", {"options": {"smoothgrad": {"samples": 2}}}, "gradients.options: smoothgrad not in methods"),
    ("gradients", {"methods": ["smoothgrad"], "options": {"smoothgrad": {"noise": 1}}},
     "gradients.options.smoothgrad"),
    ("gradients", {"methods": ["smoothgrad"], "options": {"smoothgrad": 3}}, "gradients.options.smoothgrad"),
    ("jacobian", {"split": "val"}, "option split of kind 'jacobian'"),
    ("jacobian", {"cosine_n": 0}, "jacobian.cosine_n"),
    ("jacobian", {"batch_size": 1.5}, "option batch_size of kind 'jacobian'"),
    ("vaegan", {"epochs": 0}, "vaegan.epochs"),
    ("vaegan", {"seed": -1}, "vaegan.seed"),
    ("vaegan", {"data": {"nam": "mnist"}}, "vaegan.data"),
    ("vaegan", {"data": "mnist"}, "option data of kind 'vaegan'"),
    ("vaegan", {"config": "nowhere.yaml"}, "vaegan.config"),
    ("vaegan", {"vaegan": {"zdim": -1}}, "zdim"),
    ("manifold", {"eps": "x"}, "option eps of kind 'manifold'"),
    ("manifold", {"eps": -1}, "manifold.eps"),
    ("manifold", {"steps": 40}, r"no option 'steps'|unknown param\(s\) steps"),   # PGD's: under options
    ("manifold", {"norm": "l3"}, "manifold.norm: unknown norm 'l3'"),
    ("manifold", {"attack": "deepfool"}, "manifold.attack: unknown attack 'deepfool'"),
    ("manifold", {"options": {"steps": "ten"}}, "manifold.options: option steps of attack 'pgd'"),
    ("manifold", {"options": {"random_start": "no"}}, "manifold.options: option random_start of attack 'pgd'"),
    ("manifold", {"attack": "fgsm", "options": {"steps": 3}}, "manifold.options: attack 'fgsm' has no option"),
    ("manifold", {"options": 3}, "option options of kind 'manifold'"),
    ("manifold", {"limit": 0}, "manifold.limit"),
    ("linear", {"classes": [5]}, "option classes of kind 'linear'"),
    ("linear", {"classes": [5, 5]}, "linear.classes"),
    ("linear", {"parts": "table,plots"}, "linear.parts"),
    ("linear", {"eps_train": [0, -0.1]}, "linear.eps_train"),
    ("linear", {"top_k": []}, "linear.top_k"),
    ("linear", {"lr": 0}, "linear.lr"),
    ("linear", {"attack": "fgsm"}, "option attack of kind 'linear'"),
])
def test_bad_params_name_the_field(kind, params, message, tmp_path):
    from tfrobust.studies.check import check_params

    with pytest.raises(ConfigError, match=message) as err:
        run_kind(kind, params, {}, tmp_path)
    assert len(str(err.value).splitlines()) == 1
    assert not any(tmp_path.iterdir())  # refused before anything was written
    if not (kind == "vaegan" and ("config" in params or "vaegan" in params)):  # checked when the cell runs
        with pytest.raises(ConfigError, match=message):  # the study check refuses it before any cell runs
            check_params(kind, params)


def test_model_kinds_need_one_trained_dependency(tmp_path):
    for kind, params in (("examples", {"eps": 1}), ("gradients", {}), ("jacobian", {})):
        with pytest.raises(ValueError, match="exactly one dependency with a model.keras"):
            run_kind(kind, params, {}, tmp_path)


KINDS_HERE = ("examples", "gradients", "jacobian", "vaegan", "manifold", "linear")


@pytest.mark.parametrize("kind", KINDS_HERE)
def test_listed_params_are_the_signature(kind):
    # The params listed without importing the kind (read from its source) are those its signature takes.
    entry = KINDS[kind]
    assert entry.options and entry.options == options_of(entry.load())
    assert all(not option.required for option in entry.options if option.name != "eps")
    from tfrobust.studies.check import check_params

    full = check_params(kind, {"eps": 1} if kind == "examples" else {})  # the defaults pass the kind's own check
    assert set(full) == {option.name for option in entry.options}


def test_linear_defaults_are_the_quick_preset():
    from tfrobust.theory.linear_features import LINEAR_FEATURES_CONFIG, LINEAR_PARTS

    quick = LINEAR_FEATURES_CONFIG["quick"]
    defaults = {o.name: o.default for o in KINDS["linear"].options}
    for name in ("dataset", "classes", "limit", "eps_train", "eps_test", "top_k", "sizes", "epochs", "batch_size",
                 "lr"):
        expected, got = quick[name], defaults[name]
        assert (tuple(got) if isinstance(expected, tuple) else got) == expected, name
    from tfrobust.studies.kinds.linear import LINEAR_KIND_PARTS

    assert defaults["parts"] == LINEAR_KIND_PARTS == LINEAR_PARTS


def test_importing_studies_does_not_import_tensorflow():
    code = "import sys, tfrobust.studies; assert 'tensorflow' not in sys.modules; assert 'manifold' in tfrobust.studies.KINDS"
    subprocess.run([sys.executable, "-c", code], check=True)
