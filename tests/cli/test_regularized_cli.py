"""CLI: teacher -> `saliency --split train` -> `train --method ir --targets`, `train --method jr`."""

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
          str(data_dir), "--method", "smoothgrad", "--samples", "3", "--threshold", "1",
          "--split", "train", "--out", str(root / "targets"), "--grid", "0", "--quiet"])
    return root, data_dir


def history(path):
    with open(path / "history.csv") as f:
        return list(csv.DictReader(f))


def test_ir_trains_on_the_teachers_targets(teacher, run_cli):
    root, data_dir = teacher
    out = root / "ir"
    code, text, err = run_cli("train", *COMMON, "--data-dir", data_dir, "--method", "ir",
                              "--targets", root / "targets", "--lambda-d", "2", "--lambda-m", "1/10",
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
                              "--lambda-j", "0.5", "--n-proj", "2", "--snapshot", "4", "--out", out)
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
    (["--method", "ir"], "--targets"),
    (["--method", "jr", "--lambda-d", "1"], "--method ir only"),
    (["--method", "ir", "--targets", "TARGETS", "--n-proj", "2"], "--method jr only"),
    (["--method", "jr", "--n-proj", "two"], "--n-proj"),
    (["--method", "jr", "--lambda-j", "-1"], "lambda_j"),
    (["--method", "ir", "--targets", "TARGETS", "--limit", "12"], "has 12 examples"),
])
def test_bad_regularization_flags(teacher, run_cli, tmp_path, args, message):
    root, data_dir = teacher
    args = [str(root / "targets") if a == "TARGETS" else a for a in args]
    code, _, err = run_cli("train", *COMMON, "--data-dir", data_dir, *args, "--out", tmp_path / "x")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # bad input touches nothing
