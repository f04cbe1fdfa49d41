"""CLI: `theory linear` (Tsipras et al. 2019 sec. 2.3, 3) on a tiny MNIST-format data set."""

import csv
import gzip

import numpy as np
import pytest
from click.testing import CliRunner

from cli.theory_linear import linear


def write_tiny_mnist(root, n_train=120, n_test=40):
    """Original idx.gz files; classes 5 and 7 differ in a planted bright square."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", n_train), ("t10k", n_test)):
        labels = np.resize(np.array([5, 7, 1], np.uint8), count)
        images = rng.integers(0, 120, size=(count, 28, 28), dtype=np.uint8)
        images[labels == 7, 10:16, 10:16] = 250
        header = np.array([0x803, count, 28, 28], ">u4").tobytes()
        with gzip.open(root / f"{prefix}-images-idx3-ubyte.gz", "wb") as handle:
            handle.write(header + images.tobytes())
        with gzip.open(root / f"{prefix}-labels-idx1-ubyte.gz", "wb") as handle:
            handle.write(np.array([0x801, count], ">u4").tobytes() + labels.tobytes())
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_tiny_mnist(tmp_path_factory.mktemp("tiny") / "mnist")


def invoke(*args):
    return CliRunner().invoke(linear, [str(a) for a in args])


def test_linear_writes_tables_and_figures(data_dir, tmp_path):
    out = tmp_path / "run"
    result = invoke("--dataset", "mnist", "--data-dir", data_dir, "--classes", "5,7",
                    "--eps-train", "0,0.2", "--eps-test", "0.1,0.2", "--top-k", "1,36,5000",
                    "--sizes", "10,80,500", "--epochs", "3", "--batch-size", "32", "--lr", "0.05",
                    "--out", out)
    assert result.exit_code == 0, result.output
    for name in ("linear_table.csv", "top_k.csv", "eps_train.csv", "train_size.csv"):
        assert (out / name).stat().st_size > 0
    for name in ("features.png", "eps_train.png", "top_k.png", "train_size.png", "large_eps.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    with open(out / "linear_table.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [float(r["eps_train"]) for r in table] == [0.0, 0.2]
    assert {"standard_test", "adversarial_test@0.1", "adversarial_test@0.2", "w_l1"} <= set(table[0])
    # The planted square separates the classes: the standard model is right on every test image.
    assert float(table[0]["standard_test"]) == 1.0
    with open(out / "top_k.csv") as handle:
        assert [int(float(r["k"])) for r in csv.DictReader(handle)] == [1, 36]  # 5000 > 784 dropped
    with open(out / "train_size.csv") as handle:
        sizes = [(float(r["n_train"]), float(r["eps_train"])) for r in csv.DictReader(handle)]
    assert sizes == [(10, 0.0), (10, 0.2), (80, 0.0), (80, 0.2)]  # 500 > 80 train images dropped
    assert "adversarial_test@0.2" in result.output and "%" in result.output


@pytest.mark.parametrize("args, message", [
    (("--classes", "5"), "--classes"),
    (("--classes", "5,5"), "--classes"),
    (("--eps-train", "0,-0.1"), "--eps-train"),
    (("--eps-test", "abc"), "--eps-test"),
    (("--top-k", "0"), "--top-k"),
    (("--epochs", "0"), "--epochs"),
    (("--classes", "5,12"), "classes"),
])
def test_bad_input_is_one_line(data_dir, tmp_path, args, message):
    result = invoke("--dataset", "mnist", "--data-dir", data_dir, "--out", tmp_path / "bad", *args)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output


def test_missing_dataset_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("TFROBUST_DATA_DIR", raising=False)
    result = invoke("--dataset", "mnist", "--data-dir", tmp_path / "nowhere", "--out", tmp_path / "o")
    assert result.exit_code != 0
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
