"""CLI: teacher -> `saliency --split train` -> `train --method ir --option targets=DIR`, `train --method jr`."""

import csv

import pytest
import yaml

from tests.cli.test_saliency_cli import write_idx

COMMON = ["--dataset", "mnist", "--arch", "linear", "--bounds", "0,1", "--epochs", "2",
          "--batch-size", "8", "--seed", "0", "--quiet"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    from cli.main import main

    root = tmp_path_factory.mktemp("ir")
    data_dir = write_idx(root / "mnist")
    main(["train", *COMMON, "--data-dir", str(data_dir), "--out", str(root / "teacher")])
    main(["saliency", "--model", str(root / "teacher"), "--dataset", "mnist", "--data-dir",
          str(data_dir), "--method", "smoothgrad", "--option", "samples=3", "--threshold", "1",
          "--split", "train", "--out", str(root / "targets"), "--grid", "0", "--quiet"])
    return root, data_dir


def history(path):
    with open(path / "history.csv") as f:
        return list(csv.DictReader(f))


def test_ir_trains_on_the_teachers_targets(teacher, run_cli):
    root, data_dir = teacher
    out = root / "ir"
    code, text, err = run_cli("train", *COMMON, "--data-dir", data_dir, "--method", "ir",
                              "--option", f"targets={root / 'targets'}", "--option", "lambda_d=2",
                              "--option", "lambda_m=1/10",
                              "--jacobian-eval", "5", "--out", out)
    assert code == 0, err
    rows = history(out)
    assert len(rows) == 2
    for key in ("ir_penalty", "target_cosine", "label_jacobian_norm", "jacobian_label_norm",
                "jacobian_other_norm", "val_accuracy"):
        assert key in rows[0], key
    assert -1.0 <= float(rows[-1]["target_cosine"]) <= 1.0
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["method"] == "ir"
    assert config["method_options"]["lambda_d"] == 2.0 and config["method_options"]["lambda_m"] == 0.1
    assert config["method_options"]["targets"] == str((root / "targets").resolve())
    code, text, err = run_cli("attack", "--model", out, "--dataset", "mnist", "--data-dir", data_dir,
                              "--norm", "linf", "--eps", "0.1", "--steps", "3", "--limit", "6")
    assert code == 0, err


def test_jr_trains_with_projections(teacher, run_cli):
    root, data_dir = teacher
    out = root / "jr"
    code, text, err = run_cli("train", *COMMON, "--data-dir", data_dir, "--method", "jr",
                              "--option", "lambda_j=0.5", "--option", "n_proj=2", "--snapshot", "4", "--out", out)
    assert code == 0, err
    snapshots = sorted((out / "snapshots").glob("saliency_epoch*.png"))
    assert [p.name for p in snapshots] == ["saliency_epoch001.png", "saliency_epoch002.png"]
    assert snapshots[0].read_bytes().startswith(b"\x89PNG")
    assert any((out / "logs").iterdir())  # TensorBoard event file
    rows = history(out)
    assert float(rows[0]["jr_penalty"]) > 0 and float(rows[0]["jacobian_norm"]) > 0
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["method_options"] == {"lambda_j": 0.5, "n_proj": 2, "seed": 0}


@pytest.mark.parametrize("args, message", [
    (["--method", "ir"], "targets"),
    (["--method", "jr", "--option", "lambda_d=1"], "--option: method 'jr' has no option 'lambda_d'; its options:"),
    (["--method", "ir", "--option", "targets=TARGETS", "--option", "n_proj=2"], "method 'ir' has no option 'n_proj'"),
    (["--method", "jr", "--option", "n_proj=two"], "option n_proj of method 'jr' must be int or one of exact"),
    (["--method", "jr", "--option", "lambda_j=-1"], "lambda_j"),
    (["--method", "ir", "--option", "targets=TARGETS", "--limit", "12"], "has 12 examples"),
    (["--method", "ir", "--option", "targets"], "--option: write key=value, got 'targets'"),
    (["--method", "jr", "--norm", "linf", "--eps", "0.1"], "method 'jr' has none"),
])
def test_bad_regularization_flags(teacher, run_cli, tmp_path, args, message):
    root, data_dir = teacher
    args = [a.replace("TARGETS", str(root / "targets")) for a in args]
    code, _, err = run_cli("train", *COMMON, "--data-dir", data_dir, *args, "--out", tmp_path / "x")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # bad input touches nothing


def test_adversarial_options_merge_config_option_and_shorthands(teacher, run_cli, tmp_path):
    """--config's method_options, then --option (nested into attack), then --norm/--eps/--steps."""
    root, data_dir = teacher
    config = tmp_path / "adv.yaml"
    config.write_text(yaml.safe_dump({"method": "adversarial", "method_options": {
        "attack": {"norm": "l2", "eps": 1.0, "steps": 3, "random_start": False}, "adversarial_fraction": 1.0}}))
    out = tmp_path / "adv"
    code, text, err = run_cli("train", *COMMON, "--epochs", "1", "--config", config, "--data-dir", data_dir,
                              "--option", "attack.step_size=1/10", "--option", "adversarial_fraction=0.5",
                              "--eps", "0.5", "--steps", "2", "--out", out)
    assert code == 0, err
    options = yaml.safe_load((out / "config.yaml").read_text())["method_options"]
    assert options["adversarial_fraction"] == 0.5
    attack = options["attack"]
    assert (attack["norm"], attack["eps"], attack["steps"]) == ("l2", 0.5, 2)  # the flags win over the file
    assert attack["step_size"] == pytest.approx(0.1) and attack["random_start"] is False  # the file's key kept
