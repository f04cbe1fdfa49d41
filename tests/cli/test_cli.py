"""The tfrobust CLI: train on Fashion-MNIST, export, data info, bad input."""

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

from tfrobust.data import DatasetNotFoundError, locate_dataset
from tfrobust.training import load_model


def fashion_mnist_available():
    try:
        locate_dataset("fashion_mnist")
        return True
    except DatasetNotFoundError:
        return False


needs_fmnist = pytest.mark.skipif(
    not fashion_mnist_available(),
    reason="Fashion-MNIST not installed (make installs Debian's dataset-fashion-mnist as root)",
)


@pytest.fixture(scope="module")
def fmnist_run(tmp_path_factory):
    """One epoch of kim_mnist_cnn on 512 Fashion-MNIST images through the CLI."""
    from cli.main import main

    out = tmp_path_factory.mktemp("cli") / "run"
    main(["train", "--dataset", "fashion_mnist", "--arch", "kim_mnist_cnn", "--bounds", "-1,1",
          "--epochs", "1", "--limit", "512", "--batch-size", "64", "--seed", "1",
          "--quiet", "--out", str(out)])
    return out


@needs_fmnist
def test_train_writes_every_artifact(fmnist_run):
    out = fmnist_run
    for name in ("model.keras", "saved_model/saved_model.pb", "history.csv", "config.yaml",
                 "metrics.json", "checkpoints/last.weights.h5", "report.html", "curves.png"):
        assert (out / name).is_file(), name
    assert len(pd.read_csv(out / "history.csv")) == 1
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["seed"] == 1 and config["data"]["limit"] == 512
    assert config["data"]["bounds"] == [-1.0, 1.0]
    assert config["model"]["arch"] == "kim_mnist_cnn"
    assert {"tensorflow", "keras", "numpy", "tfrobust"} <= set(config["versions"])
    assert config["resolved"]["train_examples"] == 512
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_examples"] == 512
    assert metrics["test_accuracy"] > 0.3  # chance is 0.1; one epoch on 512 images learns


@needs_fmnist
def test_saved_model_and_keras_file_agree(fmnist_run):
    model = load_model(fmnist_run / "model.keras")
    x = np.random.default_rng(0).uniform(-1, 1, size=(4, 28, 28, 1)).astype("float32")
    served = tf.saved_model.load(str(fmnist_run / "saved_model"))
    np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(), model(x).numpy(), atol=1e-4)
    sig = served.signatures["serving_default"]
    (logits,) = sig(tf.constant(x)).values()
    assert logits.shape == (4, 10)


@needs_fmnist
def test_export_command(fmnist_run, tmp_path, run_cli):
    code, out, err = run_cli("export", "--model", fmnist_run, "--out", tmp_path / "exported")
    assert code == 0, err
    assert "serving_default" in out
    served = tf.saved_model.load(str(tmp_path / "exported"))
    x = np.zeros((2, 28, 28, 1), "float32")
    model = load_model(fmnist_run / "model.keras")
    np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(), model(x).numpy(), atol=1e-4)


@needs_fmnist
def test_data_info_reports_the_debian_copy(run_cli):
    code, out, err = run_cli("data", "info", "--dataset", "fashion_mnist", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["train_size"] == 60000 and row["test_size"] == 10000
    assert list(row["bounds"]) == [0.0, 1.0]
    assert row["source"]


def write_idx_dir(path: Path, n=12):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", n), ("t10k", n // 2)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        with gzip.open(path / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(np.array([0x803, count, 28, 28], ">u4").tobytes() + images.tobytes())
        with gzip.open(path / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(np.array([0x801, count], ">u4").tobytes() + labels.tobytes())
    return path


def test_data_info_table_with_data_dir(tmp_path, run_cli):
    data_dir = write_idx_dir(tmp_path / "mnist")
    code, out, err = run_cli("data", "info", "--dataset", "mnist", "--data-dir", data_dir)
    assert code == 0, err
    assert "mnist" in out and "12" in out and "(0, 1)" in out and str(data_dir) in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--dataset", "imagenet", "--out", "{tmp}/x"], "imagenet"),
        (["train", "--arch", "vgg99", "--out", "{tmp}/x"], "vgg99"),
        (["train", "--dataset", "mnist", "--data-dir", "{tmp}/nowhere", "--out", "{tmp}/x"], "nowhere"),
        (["train", "--limit", "-5", "--out", "{tmp}/x"], "limit"),
        (["train", "--config", "{tmp}/missing.yaml", "--out", "{tmp}/x"], "missing.yaml"),
        (["train", "--config", "{tmp}/garbage.yaml", "--out", "{tmp}/x"], "garbage.yaml"),
        (["train", "--dataset", "mnist", "--data-dir", "{tmp}/corrupt", "--out", "{tmp}/x"], "corrupt"),
        (["train", "--bounds", "1,0", "--out", "{tmp}/x"], "bounds"),
        (["export", "--model", "{tmp}/garbage.keras", "--out", "{tmp}/e"], "garbage.keras"),
        (["export", "--model", "{tmp}/nothing", "--out", "{tmp}/e"], "nothing"),
        (["data", "info", "--dataset", "cifar10", "--data-dir", "{tmp}/empty"], "cifar10"),
    ],
)
def test_bad_input_is_one_line_no_traceback(args, message, tmp_path, run_cli):
    (tmp_path / "garbage.yaml").write_text("data: [unclosed\n")
    (tmp_path / "garbage.keras").write_bytes(b"\x00" * 64)
    (tmp_path / "empty").mkdir()
    corrupt = write_idx_dir(tmp_path / "corrupt")
    raw = gzip.decompress((corrupt / "train-images-idx3-ubyte.gz").read_bytes())
    (corrupt / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:1000]))  # truncated
    env_before = os.environ.pop("TFROBUST_DATA_DIR", None)
    try:
        code, out, err = run_cli(*[a.format(tmp=tmp_path) for a in args])
    finally:
        if env_before is not None:
            os.environ["TFROBUST_DATA_DIR"] = env_before
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "x" / "model.keras").exists()


def test_console_script_bad_input_exits_2_with_one_line(tmp_path):
    exe = shutil.which("tfrobust") or str(Path(os.sys.executable).with_name("tfrobust"))
    if not Path(exe).exists():
        pytest.skip("tfrobust console script not installed (run make install)")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user runs it
    proc = subprocess.run([exe, "train", "--dataset", "nope", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "nope" in lines[0], proc.stderr


def test_help_lists_commands(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for command in ("train", "data", "export"):
        assert command in out
