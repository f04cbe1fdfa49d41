"""CLI: `tfrobust manifold train` (resumable) and `manifold distance` end to end, and bad input."""

import csv
import json

import pytest

from tests.cli.test_saliency_cli import write_idx


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A VAE-GAN (1 epoch, then resumed to 2) and a linear classifier on a 20-image MNIST."""
    from cli.main import main

    root = tmp_path_factory.mktemp("manifold")
    data_dir = write_idx(root / "mnist")
    main(["train", "--dataset", "mnist", "--data-dir", str(data_dir), "--arch", "linear",
          "--bounds", "-1,1", "--epochs", "1", "--batch-size", "8", "--quiet", "--out", str(root / "linear")])
    args = ["manifold", "train", "--dataset", "mnist", "--data-dir", str(data_dir), "--batch-size", "10",
            "--quiet", "--out", str(root / "vaegan")]
    main([*args, "--epochs", "1"])
    return root, data_dir, args


def test_train_writes_model_config_history_png_and_resumes(runs, run_cli):
    root, _, args = runs
    out = root / "vaegan"
    for name in ("vaegan.keras", "config.yaml", "history.csv", "reconstructions.png", "metrics.json",
                 "checkpoint/last.weights.h5", "checkpoint/state.json"):
        assert (out / name).is_file(), name
    code, text, err = run_cli(*args, "--epochs", "1")
    assert code == 0, err
    assert "nothing to do" in text
    code, text, err = run_cli(*args, "--epochs", "2")
    assert code == 0, err
    assert "resuming" in text and "after epoch 1" in text
    with (out / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["recon_l1"]) > 0 for r in rows)
    assert json.loads((out / "checkpoint/state.json").read_text())["epoch"] == 2
    assert (out / "reconstructions.png").read_bytes().startswith(b"\x89PNG")
    config = (out / "config.yaml").read_text()
    assert "zdim: 10" in config and "epochs: 2" in config and "learning_rate: 0.0005" in config
    # Other settings into the same directory are refused.
    code, _, err = run_cli(*args, "--epochs", "3", "--seed", "5")
    assert code == 2 and "other settings" in err and len(err.strip().splitlines()) == 1


def test_distance_writes_csvs_and_figures(runs, run_cli, tmp_path):
    root, data_dir, _ = runs
    code, text, err = run_cli("manifold", "distance", "--vaegan", root / "vaegan", "--model", root / "linear",
                              "--data-dir", data_dir, "--eps", "12", "--steps", "3", "--limit", "6",
                              "--examples", "2", "--out", tmp_path)
    assert code == 0, err
    with (tmp_path / "manifold.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert set(rows[0]) == {"model", "kind", "index", "distance"}
    clean = [r for r in rows if r["kind"] == "clean"]
    adversarial = [r for r in rows if r["kind"] == "adversarial"]
    assert len(clean) == 6 and {r["model"] for r in rows} == {"linear"}
    with (tmp_path / "summary.csv").open() as f:
        (summary,) = list(csv.DictReader(f))
    assert int(summary["n"]) == 6 and int(summary["n_adversarial"]) == len(adversarial)
    assert float(summary["attack_success_rate"]) == pytest.approx(len(adversarial) / 6)
    assert float(summary["clean_mean"]) > 0
    for name in ("histogram.png", "grid.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG"), name
    assert "linear" in text and "summary" in text
    # PGD as the authors' code unless told otherwise; --steps is --option steps=3.
    record = json.loads((tmp_path / "manifold.json").read_text())
    assert record["attack"] == "pgd" and record["norm"] == "l2" and record["eps"] == 12
    assert record["options"] == {"steps": 3, "random_start": False, "kappa": 500.0, "step_size": 2.0}
    assert summary["attack"] == "pgd" and float(summary["step_size"]) == 2.0
    assert "pgd (steps=3, random_start=False, kappa=500, step_size=2" in text


def test_distance_takes_any_registered_attack(runs, run_cli, tmp_path):
    root, data_dir, _ = runs
    code, text, err = run_cli("manifold", "distance", "--vaegan", root / "vaegan", "--model", root / "linear",
                              "--data-dir", data_dir, "--attack", "fgsm", "--norm", "linf", "--eps", "0.5",
                              "--objective", "cw", "--option", "kappa=2", "--limit", "4", "--examples", "0",
                              "--out", tmp_path)
    assert code == 0, err
    record = json.loads((tmp_path / "manifold.json").read_text())
    assert (record["attack"], record["norm"], record["eps"]) == ("fgsm", "linf", 0.5)
    assert record["options"] == {"objective": "cw", "kappa": 2.0}   # no PGD defaults for another attack
    assert "fgsm (kappa=2, objective=cw" in text and "linf eps 0.5" in text
    assert not (tmp_path / "grid.png").exists()


@pytest.mark.parametrize("extra, message", [
    (["--eps", "-1"], "--eps"),
    (["--steps", "-2"], "--steps"),
    (["--model", "{root}/nowhere"], "no trained model"),
    (["--vaegan", "{root}/linear"], "no VAE-GAN"),
    (["--vaegan", "{root}/linear/model.keras"], "not a VAE-GAN"),
    (["--bounds", "0,1"], "bounds"),
    (["--attack", "deepfool"], "--attack"),
    (["--attack", "fgsm"], "--option: attack 'fgsm' has no option 'steps'"),   # --steps 1 is PGD's
    (["--norm", "l3"], "--norm"),
    (["--option", "step_size=3"], "--option: step_size"),   # longer than the diameter 2 * eps = 2
    (["--option", "steps=2"], "given twice"),
    (["--option", "radius=1"], "no option 'radius'"),
    (["--option", "steps"], "--option"),
])
def test_distance_bad_input_is_one_line(runs, run_cli, tmp_path, extra, message):
    root, data_dir, _ = runs
    options = {"--vaegan": str(root / "vaegan"), "--model": str(root / "linear"), "--eps": "1", "--steps": "2"}
    for flag, value in zip(extra[::2], extra[1::2]):
        options[flag] = value.format(root=root)
    args = [a for pair in options.items() for a in pair]
    code, _, err = run_cli("manifold", "distance", *args, "--data-dir", data_dir, "--limit", "2",
                           "--out", tmp_path)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1


def test_train_bad_input_is_one_line(run_cli, tmp_path):
    code, _, err = run_cli("manifold", "train", "--dataset", "toy2d", "--epochs", "1", "--out", tmp_path)
    assert code == 2 and "28x28 or 32x32" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("manifold", "train", "--epochs", "0", "--out", tmp_path)
    assert code == 2 and "--epochs" in err and len(err.strip().splitlines()) == 1
