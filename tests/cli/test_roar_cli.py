"""CLI: `tfrobust roar` and `tfrobust roar --keep` into one directory, resumable, bad input."""

import csv

import pytest

from tests.cli.test_saliency_cli import write_idx


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from cli.main import main

    root = tmp_path_factory.mktemp("roar")
    data_dir = write_idx(root / "mnist", n_train=40, n_test=20)
    main(["train", "--dataset", "mnist", "--data-dir", str(data_dir), "--arch", "linear", "--bounds", "0,1",
          "--epochs", "1", "--batch-size", "8", "--quiet", "--out", str(root / "model")])
    return root, data_dir


def test_roar_then_kar_share_one_table(run, run_cli, tmp_path):
    root, data_dir = run
    args = ["roar", "--model", root / "model", "--data-dir", data_dir, "--method",
            "gradient,gradient_input,random", "--fractions", "0.5", "--repeats", "1", "--epochs", "1",
            "--batch-size", "16", "--quiet", "--out", tmp_path]
    code, text, err = run_cli(*args)
    assert code == 0, err
    assert "trained 4 classifier(s), reused 0" in text
    code, text, err = run_cli(*args, "--keep")
    assert code == 0, err
    assert "trained 3 classifier(s), reused 1" in text          # the unoccluded one is shared
    with open(tmp_path / "roar.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["mode"], r["method"]) for r in rows} == {
        (mode, m) for mode in ("roar", "kar") for m in ("gradient", "gradient_input", "random")}
    with open(tmp_path / "scores.csv") as f:
        scores = {(r["mode"], r["method"]): float(r["mu"]) for r in csv.DictReader(f)}
    assert scores[("roar", "random")] == 0.0 and scores[("kar", "random")] == 0.0
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    code, text, err = run_cli(*args)
    assert code == 0 and "trained 0 classifier(s), reused 4" in text


@pytest.mark.parametrize("extra, message", [
    (["--method", "saliency"], "--method"),
    (["--method", "random", "--fractions", "0.5,x"], "--fractions"),
    (["--method", "random", "--fractions", "1.5"], "fractions"),
    (["--method", "random", "--repeats", "0"], "--repeats"),
    (["--method", "random", "--fill", "grey"], "--fill"),
    (["--method", "random", "--option", "samples=3"], "--option samples: none of the chosen attributions"),
    (["--method", "random", "--option", "smoothgrad.samples=3"], "smoothgrad is not one of the chosen"),
    (["--method", "random,smoothgrad", "--option", "seed=x"], "option seed of attribution 'random' must be"),
    (["--method", "random", "--option", "seed"], "--option: write key=value"),
])
def test_bad_input_is_one_line(run, run_cli, tmp_path, extra, message):
    root, data_dir = run
    code, _, err = run_cli("roar", "--model", root / "model", "--data-dir", data_dir, *extra,
                           "--out", tmp_path / "x")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_model(run_cli, tmp_path):
    code, _, err = run_cli("roar", "--model", tmp_path / "nothing", "--method", "random", "--out", tmp_path / "x")
    assert code == 2 and "no trained model" in err
