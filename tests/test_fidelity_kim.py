"""Kim et al. 2019: the choices that follow the authors' code (docs/fidelity.md), pinned with numbers.

Each test names the place in 1202kbs/Robustness-and-Interpretability it follows.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from tfrobust.data import Dataset, synthetic
from tfrobust.evaluation.roar_scores import scores

# ---------------------------------------------------------------- mu: curves end at (1, 1/K)

X = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9]          # fraction 0 and Kim's five fractions
ROAR = {"random": [0.74, 0.70, 0.60, 0.50, 0.40, 0.30], "gradient": [0.74, 0.50, 0.35, 0.25, 0.15, 0.12]}
KAR = {"random": [0.74, 0.70, 0.60, 0.50, 0.40, 0.30], "gradient": [0.74, 0.72, 0.70, 0.65, 0.55, 0.40]}


def _rows():
    return [{"method": m, "mode": mode, "fraction": f, "repeat": 0, "accuracy": a}
            for mode, curves in (("roar", ROAR), ("kar", KAR)) for m, curve in curves.items()
            for f, a in zip(X, curve)]


def test_mu_with_the_chance_end_point_is_the_hand_trapezoid():
    # 3.5 CIFAR-10 Result Analysis, get_scores: auc([0, .1, .3, .5, .7, .9, 1], baseline - v), both ending at 0.1.
    got = {(s["method"], s["mode"]): s for s in scores(_rows(), num_classes=10)}
    # ROAR gaps random - gradient: 0, .2, .25, .25, .25, .18, then 0 at (1, 0.1):
    # .1*.2/2 + .2*(.2+.25)/2 + .2*.25 + .2*.25 + .2*(.25+.18)/2 + .1*.18/2 = 0.207
    assert got[("gradient", "roar")]["mu"] == pytest.approx(0.207, abs=1e-12)
    # KAR gaps gradient - random: 0, .02, .1, .15, .15, .1, 0 -> .001 + .012 + .025 + .03 + .025 + .005 = 0.098
    assert got[("gradient", "kar")]["mu"] == pytest.approx(0.098, abs=1e-12)
    # the random curve's AUC with the end point: .072 + .13 + .11 + .09 + .07 + .1*(.3+.1)/2 = 0.492; AOC over [0, 1]
    assert got[("random", "roar")]["area"] == pytest.approx(1.0 - 0.492, abs=1e-12)
    assert got[("random", "roar")]["mu"] == 0.0 and got[("random", "kar")]["mu"] == 0.0
    # without the end point the last trapezoid (0.009 for ROAR, 0.005 for KAR) is missing
    none = {(s["method"], s["mode"]): s["mu"] for s in scores(_rows(), end_point="none")}
    assert none[("gradient", "roar")] == pytest.approx(0.198, abs=1e-12)
    assert none[("gradient", "kar")] == pytest.approx(0.093, abs=1e-12)


def test_end_point_options_and_errors():
    # a curve measured at fraction 1 keeps its own last point
    rows = [{"method": m, "mode": "kar", "fraction": f, "repeat": 0, "accuracy": a}
            for m, curve in (("random", (0.8, 0.5, 0.3)), ("g", (0.8, 0.7, 0.6))) for f, a in zip((0, 0.5, 1), curve)]
    mu = scores(rows, num_classes=2)[1]["mu"]
    assert mu == pytest.approx(0.5 * (0 + 0.2) / 2 + 0.5 * (0.2 + 0.3) / 2)
    with pytest.raises(ValueError, match="^num_classes"):
        scores(rows)
    with pytest.raises(ValueError, match="^end_point"):
        scores(rows, end_point="zero", num_classes=2)


# ---------------------------------------------------------------- the 2-D toy of the notebook


def test_toy2d_default_is_the_notebooks_data():
    # 4.1 Mixture Gaussian Training: N(+-(1.2, 0.1), [[0.1, -0.01], [-0.01, 0.002]]), 3000 per class,
    # min-max scaled together into [-1, 1].
    x, y = synthetic.toy2d(seed=0)
    assert x.shape == (6000, 2) and np.bincount(y).tolist() == [3000, 3000]
    assert x.min() == -1.0 and x.max() == 1.0        # the train split spans the bounds exactly
    d = x[y == 0].mean(0).astype(np.float64) - x[y == 1].mean(0)
    scale = np.linalg.norm(d) / np.hypot(2.4, 0.2)   # one scalar for both axes (aspect ratio kept)
    np.testing.assert_allclose(d / scale, [2.4, 0.2], atol=0.02)
    for label in (0, 1):
        cov = np.cov(x[y == label].astype(np.float64).T) / scale**2
        np.testing.assert_allclose(cov, [[0.1, -0.01], [-0.01, 0.002]], rtol=0.1)
        assert cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]) == pytest.approx(-1 / math.sqrt(2), abs=0.03)
    # the test split is mapped with the train split's scale (not its own) and clipped into the bounds
    xt, _ = synthetic.toy2d("test", seed=0)
    assert -1.0 <= xt.min() and xt.max() <= 1.0 and not np.array_equal(xt, x)
    # the earlier substitute stays available
    tilted, _ = synthetic.toy2d(seed=0, geometry="tilted")
    assert abs(tilted[:, 1].mean()) < 0.05 and tilted[:, 1].std() > 0.5
    with pytest.raises(ValueError, match="^geometry"):
        synthetic.toy2d(geometry="printed")
    with pytest.raises(ValueError, match="^bounds"):
        synthetic.toy2d(bounds=(-math.inf, math.inf))


def test_toy_attacks_cut_the_notebook_step_to_the_diameter():
    from tfrobust.theory.toy import TOY_STEP_SIZE, toy_split, toy_step_size

    assert TOY_STEP_SIZE == 2.0                       # GM(step_size=2) for every toy attack
    assert toy_step_size(2.0, 0.25) == 0.5 and toy_step_size(2.0, 0.5) == 1.0 and toy_step_size(2.0, 1.0) == 2.0
    assert toy_step_size(None, 0.25) is None
    split = toy_split("train", n=50, seed=0, geometry="tilted")
    assert isinstance(split, Dataset) and split.bounds == (-1.0, 1.0) and len(split) == 100


# ---------------------------------------------------------------- ROAR ranks the predicted class's map


def _linear_three_class():
    """Logits z = 5 * (x0, x1, x2) of a 2x2x1 image (pixel 3 unused)."""
    inputs = keras.Input((2, 2, 1))
    dense = keras.layers.Dense(3, use_bias=False)
    out = dense(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, out)
    dense.set_weights([5.0 * np.eye(4, 3, dtype=np.float32)])
    return model


def _images(n, label):
    x = np.zeros((n, 2, 2, 1), np.float32)
    x[:, 0, 0, 0] = 0.2                               # z = (1, 0, 0): the model predicts class 0
    x[:, 1, 1, 0] = np.linspace(0.1, 0.9, n)          # an unused pixel, so the images differ
    return Dataset(name="tiny", split="train", x=x, y=np.full(n, label, np.int32), bounds=(0.0, 1.0),
                   num_classes=3, class_names=("a", "b", "c"), source="synthetic")


@pytest.mark.parametrize("label, top_pixel", [("predicted", 0), ("true", 1)])
def test_roar_ranks_follow_the_predicted_class(tmp_path, label, top_pixel):
    # 3.4 CIFAR-10 ROAR KAR: loss = xent(one_hot(DNN.yi), logits), DNN.yi = argmax of the logits.
    # Every image is predicted 0 but labelled 1. p = softmax(1, 0, 0) = (.576, .212, .212) and the
    # loss gradient 5 (p - e_c) ranks pixel 0 first for c = 0 (|-.424| > .212) and pixel 1 for c = 1.
    from tfrobust.evaluation.occlusion import importance_ranks
    from tfrobust.evaluation.roar import run_roar
    from tfrobust.training.targets import load_targets

    model = _linear_three_class()
    train, test = _images(6, 1), _images(3, 1)
    run_roar(model, train, test, out_dir=tmp_path, methods=["gradient", "random"], arch="linear",
             fractions=[0.25], repeats=1, epochs=1, batch_size=6, label=label, progress=False, jit_compile=False)
    folder = tmp_path / "maps" / ("train-predicted" if label == "predicted" else "train") / "gradient"
    maps = load_targets(folder, _images(6, 0 if label == "predicted" else 1))
    p = np.exp([1.0, 0, 0]) / np.exp([1.0, 0, 0]).sum()
    expected = 5 * (p - np.eye(3)[0 if label == "predicted" else 1])
    np.testing.assert_allclose(maps[0, :, :, 0].reshape(-1)[:3], expected, rtol=1e-4)
    ranks = importance_ranks(maps)
    assert (ranks.reshape(len(ranks), -1).argmin(1) == top_pixel).all()   # rank 0: the most important pixel


def test_random_ties_are_seeded_and_chunk_invariant(monkeypatch):
    from tfrobust.evaluation import occlusion

    maps = np.zeros((5, 4, 4, 1), np.float32)
    maps[:, 0, 0] = 1.0                               # one clear winner, 15 tied pixels
    a = occlusion.importance_ranks(maps, ties="random", seed=3)
    assert (a[:, 0, 0] == 0).all()
    assert not (a[0] == np.arange(16).reshape(4, 4)).all()   # not reading order
    monkeypatch.setattr(occlusion, "_CHUNK_VALUES", 16)       # one image per chunk
    np.testing.assert_array_equal(occlusion.importance_ranks(maps, ties="random", seed=3), a)
    with pytest.raises(ValueError, match="ties"):
        occlusion.importance_ranks(maps, ties="noise")


# ---------------------------------------------------------------- d_pi: the manifold stage's attack


@pytest.fixture(scope="module")
def manifold_deps(tmp_path_factory):
    """An untrained VAE-GAN and a linear MNIST classifier on [-1, 1]: the two dependencies of a manifold cell."""
    from tests.cli.test_saliency_cli import write_idx
    from tfrobust.models import VAEGANConfig, build_vaegan
    from tfrobust.training import save_model

    root = tmp_path_factory.mktemp("kim_manifold")
    data = {"name": "mnist", "data_dir": str(write_idx(root / "mnist", n_train=16, n_test=8)), "bounds": [-1, 1]}
    vaegan_dir, train_dir = root / "vaegan", root / "train"
    vaegan_dir.mkdir()
    train_dir.mkdir()
    save_model(build_vaegan((28, 28, 1), VAEGANConfig(zdim=4), seed=0), vaegan_dir / "vaegan.keras")
    (vaegan_dir / "config.yaml").write_text(yaml.safe_dump({"data": data}))
    inputs = keras.Input((28, 28, 1))
    save_model(keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs))), train_dir / "model.keras")
    (train_dir / "config.yaml").write_text(yaml.safe_dump({"data": data, "model": {"arch": "linear"}, "seed": 0}))
    return {"vaegan": vaegan_dir, "train": train_dir}


def _recorded_manifold(monkeypatch, deps, params, out):
    from tfrobust.evaluation import manifold
    from tfrobust.studies.kinds import run_kind

    real, calls = manifold.manifold_study, []

    def recording(classifier, projector, data, **kwargs):
        result = real(classifier, projector, data, **kwargs)
        calls.append((projector, kwargs, result))
        return result

    monkeypatch.setattr(manifold, "manifold_study", recording)
    out.mkdir()
    options = {"steps": 2, **params.pop("options", {})}
    run_kind("manifold", {"limit": 4, "examples": 1, "options": options, **params}, deps, out)
    return calls[0]


def test_manifold_stage_attacks_as_the_authors(manifold_deps, monkeypatch, tmp_path):
    # 2.3 FMNIST Gradient Analysis: GM(eps=12, step_size=2, n_steps=40, norm='2'), random_start False by default.
    from tfrobust.models import VAEGAN

    projector, kwargs, result = _recorded_manifold(monkeypatch, manifold_deps, {}, tmp_path / "default")
    assert kwargs["attack"] == "pgd" and kwargs["eps"] == 12.0 and result["attack"] == "pgd"
    ran = result["options"]   # the options PGD ran with: Kim's code's values under the cell's
    assert ran["random_start"] is False and ran["step_size"] == 2.0 and result["settings"]["step_size"] == 2.0
    assert ran["kappa"] == 500.0 and ran["steps"] == 2 and isinstance(projector, VAEGAN)   # projection: mean
    projector, _, result = _recorded_manifold(
        monkeypatch, manifold_deps, {"eps": 0.5, "options": {"random_start": True}, "projection": "sample"},
        tmp_path / "set")
    assert result["options"]["random_start"] is True and result["options"]["step_size"] == 1.0  # 2 cut to 2 * 0.5
    assert not isinstance(projector, VAEGAN)
    _, kwargs, result = _recorded_manifold(monkeypatch, manifold_deps,
                                           {"norm": "linf", "eps": "8/255", "options": {"objective": "cw"}},
                                           tmp_path / "linf")
    assert result["options"]["step_size"] == 0.02 and result["options"]["objective"] == "cw"
    assert kwargs["norm"] == "linf" and kwargs["eps"] == pytest.approx(8 / 255)
    _, _, result = _recorded_manifold(monkeypatch, manifold_deps, {"eps": 1.0, "options": {"step_size": None}},
                                      tmp_path / "pgd-own")
    assert result["settings"]["step_size"] == pytest.approx(2.5 * 1.0 / 2)   # PGD's own 2.5 * eps / steps


def test_manifold_stage_defaults_are_the_authors():
    # The defaults the stage lists (read from its signature, without importing it) are Kim's constants, and the
    # PGD it runs without options is Kim's code's (manifold_attack_options).
    from tfrobust.evaluation.manifold import KIM_EPS, KIM_KAPPA, KIM_STEPS, manifold_attack_options
    from tfrobust.registry import KINDS

    defaults = {o.name: o.default for o in KINDS["manifold"].options}
    assert (defaults["eps"], defaults["norm"], defaults["attack"]) == (KIM_EPS, "l2", "pgd")
    assert defaults["options"] is None and defaults["projection"] == "mean"
    assert manifold_attack_options(norm="l2", eps=KIM_EPS) == {"steps": KIM_STEPS, "random_start": False,
                                                               "kappa": KIM_KAPPA, "step_size": 2.0}


def test_sampled_projection_is_the_codes_noisy_reconstruction(manifold_deps):
    from tfrobust.evaluation.manifold import sampled_projection
    from tfrobust.training import load_model

    vaegan = load_model(manifold_deps["vaegan"] / "vaegan.keras")
    x = np.random.default_rng(0).uniform(-1, 1, (3, 28, 28, 1)).astype(np.float32)
    mean = vaegan.project(x)
    first = vaegan.project(x, sample=True, seed=1)
    np.testing.assert_array_equal(first, vaegan.project(x, sample=True, seed=1))
    assert np.abs(first - mean).max() > 1e-4
    draw = sampled_projection(vaegan, seed=1)
    assert np.abs(draw(x) - draw(x)).max() > 1e-4      # fresh latents at every call
    with pytest.raises(ValueError, match="sample"):
        vaegan.project(x, sample=True, optimize_steps=2)


# ---------------------------------------------------------------- VAE-GAN values and the presets


def test_vaegan_reconstruction_weights_of_the_notebooks():
    from tfrobust.models.vaegan import KIM_RECON_WEIGHTS, kim_vaegan_config

    assert KIM_RECON_WEIGHTS == {"mnist": 5e-3, "fashion_mnist": 5e-4, "cifar10": 1e-2}
    assert kim_vaegan_config((28, 28, 1), "mnist").recon_weight == 5e-3
    assert kim_vaegan_config((28, 28, 1)).recon_weight == 5e-4
    assert kim_vaegan_config((32, 32, 3), "cifar10").recon_weight == 1e-2
    for name, weight, beta_2, kernel in (("mnist", 5e-3, 0.9, 4), ("fmnist", 5e-4, 0.9, 4), ("cifar10", 1e-2, 0.9, 5)):
        values = yaml.safe_load(Path(f"configs/kim_vaegan_{name}.yaml").read_text())
        vaegan = values["vaegan"]
        assert (vaegan["recon_weight"], vaegan["beta_2"], vaegan.get("encoder_kernel", 4)) == (weight, beta_2, kernel)
        assert values["batch_size"] == 100


KIM_PRESETS = sorted(Path("configs/studies").glob("kim2019_*.yaml")) + [Path("configs/studies/demo.yaml")]


@pytest.mark.parametrize("path", KIM_PRESETS, ids=lambda p: p.stem)
def test_kim_presets_train_as_the_authors(path):
    # attacks.py (random_start=False, CW -relu(c - w + 500)); 1.2 / 2.2 / 3.2 / 3.4 notebooks (step 2 l2, 0.02 linf);
    # trainers.py (batch_size=100).
    from tfrobust.studies import load_study_spec
    from tfrobust.studies.kinds.examples import EXAMPLES_PGD_DEFAULTS

    assert path.read_text().startswith("# see docs/fidelity.md")
    for cell in load_study_spec(path).cells("paper"):
        attack = (cell.params.get("method_options") or {}).get("attack")
        if cell.kind == "train" and attack:
            assert attack["random_start"] is False and cell.params["batch_size"] == 100
            assert attack["step_size"] == {"l2": 2.0, "linf": 0.02}[attack["norm"]]
            assert attack.get("kappa", 500) == 500
        if cell.kind == "roar":
            assert cell.params.get("label", "predicted") == "predicted"
            assert cell.params.get("end_point", "chance") == "chance"
        if cell.kind == "toy":
            assert (cell.params["step_size"], cell.params["random_start"], cell.params["geometry"]) == \
                (2.0, False, "kim_notebook")
        if cell.kind == "manifold":
            options = cell.params.get("options") or {}
            assert cell.params.get("attack", "pgd") == "pgd" and cell.params["eps"] == 12
            assert (options["step_size"], options["random_start"], options["steps"]) == (2.0, False, 40)
        if cell.kind == "examples":  # Fig. 2: the analysis attack of 2.3 FMNIST Gradient Analysis, no random start
            options = {**EXAMPLES_PGD_DEFAULTS, **(cell.params.get("options") or {})}
            assert cell.params.get("attack", "pgd") == "pgd" and options["random_start"] is False
            assert (options["step_size"], options["steps"], cell.params["eps"]) == (2.0, 40, 12)
