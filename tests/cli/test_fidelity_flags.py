"""CLI flags for the Kim et al. 2019 fidelity options (docs/fidelity.md items 6, 7, 13, 14, 16, 19, 20).

Each flag must reach the library function unchanged (the library is replaced
by a recorder, so nothing trains), the defaults must be the authors' code's,
and a bad value must be refused with one line naming the flag before any
library work starts.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from tests.cli.test_saliency_cli import write_idx


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A linear classifier trained for one epoch on a 20-image MNIST in [0, 1], and a fake VAE-GAN directory."""
    from cli.main import main

    root = tmp_path_factory.mktemp("fidelity_flags")
    data_dir = write_idx(root / "mnist", n_train=20, n_test=10)
    main(["train", "--dataset", "mnist", "--data-dir", str(data_dir), "--arch", "linear", "--bounds", "0,1",
          "--epochs", "1", "--batch-size", "10", "--quiet", "--out", str(root / "model")])
    (root / "vaegan").mkdir()
    (root / "vaegan" / "vaegan.keras").write_bytes(b"")  # never read: cli.manifold.load_model is replaced
    return root, data_dir


class _Called(Exception):
    """Raised by a recorder that must not be reached."""


def _never(*args, **kwargs):
    raise _Called("the library was called despite a bad flag")


def _one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error") and fragment in err, err


# ------------------------------------------------------------------ roar
@pytest.fixture
def roar_calls(monkeypatch):
    import tfrobust.evaluation
    import tfrobust.reports

    calls: list[dict] = []

    def fake_run_roar(model, train, test, **kwargs):
        calls.append(kwargs)
        return SimpleNamespace(rows=[], scores=[], trained=0, reused=0)

    monkeypatch.setattr(tfrobust.evaluation, "run_roar", fake_run_roar)
    monkeypatch.setattr(tfrobust.evaluation, "format_scores", lambda rows, scores: "scores")
    monkeypatch.setattr(tfrobust.reports, "write_roar_figure", lambda table, figure: figure)
    return calls


def _roar(run_cli, run, out, *extra):
    root, data_dir = run
    return run_cli("roar", "--model", root / "model", "--data-dir", data_dir, "--method", "random",
                   "--fractions", "0.5", "--repeats", "1", "--epochs", "1", "--quiet", "--out", out, *extra)


def test_roar_defaults_are_the_authors(run, run_cli, roar_calls, tmp_path):
    code, text, err = _roar(run_cli, run, tmp_path / "out")
    assert code == 0, err
    (kwargs,) = roar_calls
    assert (kwargs["label"], kwargs["ties"], kwargs["end_point"]) == ("predicted", "random", "chance")
    assert "predicted class, random ties, end point chance" in text


def test_roar_flags_reach_run_roar(run, run_cli, roar_calls, tmp_path):
    code, _, err = _roar(run_cli, run, tmp_path / "out", "--label", "true", "--ties", "index",
                         "--end-point", "none")
    assert code == 0, err
    (kwargs,) = roar_calls
    assert (kwargs["label"], kwargs["ties"], kwargs["end_point"]) == ("true", "index", "none")


def test_roar_attribution_options_reach_run_roar_per_method(run, run_cli, roar_calls, tmp_path):
    code, _, err = _roar(run_cli, run, tmp_path / "out", "--method", "smoothgrad,random,gradient",
                         "--option", "smoothgrad.samples=2", "--option", "seed=3")
    assert code == 0, err
    (kwargs,) = roar_calls
    assert kwargs["methods"] == ["smoothgrad", "random", "gradient"]
    assert kwargs["method_options"] == {"smoothgrad": {"samples": 2, "seed": 3}, "random": {"seed": 3}}
    roar_calls.clear()
    code, _, err = _roar(run_cli, run, tmp_path / "out2")
    assert code == 0 and "method_options" not in roar_calls[0], err  # no options given: run_roar's defaults


@pytest.mark.parametrize("flag, value", [("--label", "guessed"), ("--label", "TRUE"), ("--ties", "first"),
                                         ("--end-point", "zero"), ("--end-point", "")])
def test_roar_bad_flag_is_one_line(run, run_cli, monkeypatch, tmp_path, flag, value):
    import tfrobust.evaluation

    monkeypatch.setattr(tfrobust.evaluation, "run_roar", _never)
    code, _, err = _roar(run_cli, run, tmp_path / "out", flag, value)
    _one_line_error(code, err, flag)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------- manifold distance
class _FakeVAEGAN:
    """What `manifold distance` needs of a VAE-GAN: its input shape and ``project``; records sampled calls."""

    def __init__(self) -> None:
        self.encoder = SimpleNamespace(inputs=[SimpleNamespace(shape=(None, 28, 28, 1))])
        self.sampled: list[int] = []

    def project(self, x, *, sample=False, seed=0, **kwargs):
        if sample:
            self.sampled.append(seed)
        return np.asarray(x)

    def __call__(self, x):
        return np.asarray(x)


@pytest.fixture
def manifold_calls(monkeypatch):
    import cli.manifold
    import tfrobust.evaluation.manifold as library

    vaegan = _FakeVAEGAN()
    calls: list[dict] = []

    def fake_study(classifier, projector, data, **kwargs):
        projector(np.asarray(data.x[:2]))  # which projection the CLI built
        calls.append({"projector": projector, **kwargs})
        n = len(data.x)
        return {"clean": np.ones(n), "adversarial": np.ones(1), "adversarial_index": np.zeros(1, int), "n": n,
                "success": np.zeros(n, bool), "success_rate": 1 / n, "clean_accuracy": 0.5,
                "adversarial_accuracy": 0.4, "examples": {}}

    monkeypatch.setattr(cli.manifold, "load_model", lambda path: vaegan)
    monkeypatch.setattr(library, "manifold_study", fake_study)
    monkeypatch.setattr(library, "plot_manifold_histogram", lambda results, path, title: path)
    return vaegan, calls


def _distance(run_cli, run, out, *extra):
    root, data_dir = run
    return run_cli("manifold", "distance", "--vaegan", root / "vaegan", "--model", root / "model",
                   "--data-dir", data_dir, "--bounds", "0,1", "--limit", "4", "--examples", "0",
                   "--out", out, *extra)


def test_distance_defaults_are_the_authors(run, run_cli, manifold_calls, tmp_path):
    # 2.3 FMNIST Gradient Analysis: GM(eps=12, step_size=2, n_steps=40, norm='2'), no random start; CW cap 500.
    vaegan, calls = manifold_calls
    code, text, err = _distance(run_cli, run, tmp_path / "out")
    assert code == 0, err
    (kwargs,) = calls
    assert kwargs["eps"] == 12 and kwargs["norm"] == "l2" and kwargs["attack"] == "pgd" and kwargs["options"] == {}
    assert kwargs["projector"] is vaegan and not vaegan.sampled  # dec(enc_mean(x))
    assert "pgd (steps=40, random_start=False, kappa=500, step_size=2, objective=xent), l2 eps 12" in text
    record = json.loads((tmp_path / "out" / "manifold.json").read_text())
    assert record["options"] == {"steps": 40, "random_start": False, "kappa": 500.0, "step_size": 2.0}
    assert record["settings"]["step_size"] == 2.0 and record["projection"] == "mean"


def test_distance_default_step_is_cut_to_the_diameter(run, run_cli, manifold_calls, tmp_path):
    code, _, err = _distance(run_cli, run, tmp_path / "out", "--eps", "0.25")
    assert code == 0, err
    record = json.loads((tmp_path / "out" / "manifold.json").read_text())
    assert record["options"]["step_size"] == 0.5  # min(2, 2 * eps)


def test_distance_flags_reach_manifold_study(run, run_cli, manifold_calls, tmp_path):
    vaegan, calls = manifold_calls
    code, text, err = _distance(run_cli, run, tmp_path / "out", "--eps", "3", "--steps", "5", "--option",
                                "step_size=0.3", "--option", "random_start=true", "--objective", "cw", "--option",
                                "kappa=0", "--projection", "sample", "--seed", "7")
    assert code == 0, err
    (kwargs,) = calls
    assert kwargs["options"] == {"step_size": pytest.approx(0.3), "random_start": True, "kappa": 0.0, "steps": 5,
                                 "objective": "cw"}
    assert kwargs["seed"] == 7 and kwargs["eps"] == 3
    assert kwargs["projector"] is not vaegan and vaegan.sampled  # sampled_projection: project(sample=True)
    assert "random_start=True" in text and "kappa=0" in text


def test_distance_step_size_none_is_pgds_default(run, run_cli, manifold_calls, tmp_path):
    code, _, err = _distance(run_cli, run, tmp_path / "out", "--option", "step_size=none")
    assert code == 0, err
    record = json.loads((tmp_path / "out" / "manifold.json").read_text())
    assert record["options"]["step_size"] is None and record["settings"]["step_size"] == pytest.approx(2.5 * 12 / 40)


@pytest.mark.parametrize("extra, fragment", [
    (["--option", "step_size=nan"], "--option"),
    (["--option", "step_size=inf"], "--option"),
    (["--option", "step_size=1e39"], "--option"),
    (["--option", "step_size=-1"], "--option"),
    (["--option", "step_size=two"], "--option"),
    (["--eps", "1", "--steps", "2", "--option", "step_size=3"], "--option: step_size"),  # longer than 2 * eps
    (["--objective", "cw", "--option", "kappa=-1"], "--option: kappa"),
    (["--objective", "cw", "--option", "kappa=nan"], "--option"),
    (["--objective", "cw", "--option", "kappa=inf"], "--option"),
    (["--attack", "fgsm", "--steps", "3"], "no option 'steps'"),
    (["--projection", "median"], "--projection"),
    (["--projection", "sample", "--optimize-steps", "3"], "--projection"),
])
def test_distance_bad_flag_is_one_line(run, run_cli, monkeypatch, tmp_path, extra, fragment):
    import cli.manifold
    import tfrobust.evaluation.manifold as library

    monkeypatch.setattr(cli.manifold, "load_model", _never)
    monkeypatch.setattr(library, "manifold_study", _never)
    code, _, err = _distance(run_cli, run, tmp_path / "out", *extra)
    _one_line_error(code, err, fragment)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ theory toy
@pytest.fixture
def toy_calls(monkeypatch):
    import tfrobust.theory.toy

    calls: list[dict] = []

    def fake_experiment(**kwargs):
        calls.append(kwargs)
        return [{"train_eps": 0.0, "tilt_degrees": 1.0, "clean_accuracy": 1.0, "robust_accuracy": 0.5,
                 "perturbation_angle_degrees": 2.0}]

    monkeypatch.setattr(tfrobust.theory.toy, "toy_experiment", fake_experiment)
    return calls


def test_toy_defaults_are_the_authors(run_cli, toy_calls, tmp_path):
    code, _, err = run_cli("theory", "toy", "--out", tmp_path / "out")
    assert code == 0, err
    (kwargs,) = toy_calls
    assert kwargs["geometry"] == "kim_notebook" and kwargs["step_size"] == 2.0 and kwargs["random_start"] is False


def test_toy_flags_reach_toy_experiment(run_cli, toy_calls, tmp_path):
    code, _, err = run_cli("theory", "toy", "--geometry", "tilted", "--step-size", "0.1", "--random-start",
                           "--out", tmp_path / "a")
    assert code == 0, err
    code, _, err = run_cli("theory", "toy", "--step-size", "auto", "--no-random-start", "--out", tmp_path / "b")
    assert code == 0, err
    first, second = toy_calls
    assert first["geometry"] == "tilted" and first["step_size"] == pytest.approx(0.1) and first["random_start"]
    assert second["step_size"] is None and second["random_start"] is False


@pytest.mark.parametrize("flag, value", [("--geometry", "round"), ("--geometry", "KIM"), ("--step-size", "nan"),
                                         ("--step-size", "-inf"), ("--step-size", "0"), ("--step-size", "-0.5"),
                                         ("--step-size", "3e38x"), ("--step-size", "1e300")])
def test_toy_bad_flag_is_one_line(run_cli, monkeypatch, tmp_path, flag, value):
    import tfrobust.theory.toy

    monkeypatch.setattr(tfrobust.theory.toy, "toy_experiment", _never)
    code, _, err = run_cli("theory", "toy", flag, value, "--out", tmp_path / "out")
    _one_line_error(code, err, flag)
    assert not (tmp_path / "out").exists()
