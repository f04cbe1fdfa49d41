"""CLI: `tfrobust saliency` end to end on a tiny MNIST-format run, and bad input."""

import gzip
import json

import numpy as np
import pytest

from tfrobust.data import load_dataset
from tfrobust.training import load_targets

N_TRAIN, N_TEST = 20, 10


def write_idx(path, n_train=N_TRAIN, n_test=N_TEST):
    """A tiny MNIST in its original idx.gz format."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        with gzip.open(path / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(np.array([0x803, count, 28, 28], ">u4").tobytes() + images.tobytes())
        with gzip.open(path / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(np.array([0x801, count], ">u4").tobytes() + labels.tobytes())
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A linear model trained for one epoch on 20 images through `tfrobust train`."""
    from cli.main import main

    root = tmp_path_factory.mktemp("saliency")
    data_dir = write_idx(root / "mnist")
    main(["train", "--dataset", "mnist", "--data-dir", str(data_dir), "--arch", "linear",
          "--bounds", "-1,1", "--epochs", "1", "--batch-size", "8", "--seed", "0", "--quiet",
          "--out", str(root / "run")])
    return root / "run", data_dir


def test_saliency_writes_maps_json_and_grid(run, run_cli, tmp_path):
    run_dir, data_dir = run
    out = tmp_path / "maps"
    code, text, err = run_cli("saliency", "--model", run_dir, "--dataset", "mnist",
                              "--method", "smoothgrad,gradient", "--out", out, "--option", "smoothgrad.samples=4",
                              "--threshold", "1", "--limit", "15", "--batch-size", "4",
                              "--grid", "3", "--quiet")
    assert code == 0, err
    index = json.loads((out / "saliency.json").read_text())
    assert set(index["maps"]) == {"smoothgrad", "gradient"}
    ds_meta = index["dataset"]
    assert ds_meta["name"] == "mnist" and ds_meta["split"] == "train" and ds_meta["limit"] == 15
    assert ds_meta["bounds"] == [-1.0, 1.0]  # read from the run's config.yaml
    smooth = index["maps"]["smoothgrad"]
    assert smooth["options"]["samples"] == 4 and smooth["threshold"] == 1.0
    assert index["maps"]["gradient"]["options"] in ({}, None)  # smoothgrad.samples is smoothgrad's only
    assert smooth["model_source"].endswith("model.keras")
    for method in ("smoothgrad", "gradient"):
        maps = np.load(out / f"{method}.npy", allow_pickle=False)
        assert maps.shape == (15, 28, 28, 1) and maps.dtype == np.float32
        line = next(row for row in text.splitlines() if row.startswith(method))
        assert "(15, 28, 28, 1)" in line and "mean |map|" in line
    png = (out / "grid.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    # The maps are usable as IR targets for the same training data.
    train = load_dataset("mnist", "train", data_dir=data_dir, limit=15, bounds=(-1, 1))
    targets = load_targets(out / "gradient.npy", train)
    assert targets.shape == train.x.shape
    with pytest.raises(ValueError, match="has 20 examples"):
        load_targets(out / "gradient.npy", load_dataset("mnist", "train", data_dir=data_dir,
                                                          bounds=(-1, 1)))
    # A re-run with the same arguments finds the maps complete (--dataset defaults to the run's: mnist).
    stamp = (out / "gradient.npy").stat().st_mtime_ns
    code, text, err = run_cli("saliency", "--model", run_dir,
                              "--method", "gradient", "--out", out, "--threshold", "1",
                              "--limit", "15", "--batch-size", "4", "--grid", "0")
    assert code == 0, err
    assert index == json.loads((out / "saliency.json").read_text())
    assert (out / "gradient.npy").stat().st_mtime_ns == stamp  # not recomputed
    assert "on mnist train" in text


def test_saliency_test_split_with_permutation(run, run_cli, tmp_path):
    run_dir, _ = run
    out = tmp_path / "perm"
    code, text, err = run_cli("saliency", "--model", run_dir, "--dataset", "mnist", "--split", "test",
                              "--method", "gradient", "--permute", "1", "--out", out, "--grid", "2",
                              "--quiet")
    assert code == 0, err
    entry = json.loads((out / "saliency.json").read_text())["maps"]["gradient"]
    assert entry["permute"] == 1.0 and entry["shape"] == [N_TEST, 28, 28, 1]
    assert (out / "grid.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--method", "occlusion"], "occlusion"),
    (["--method", "gradient", "--threshold", "-1"], "--threshold"),
    (["--method", "gradient", "--permute", "1.5"], "--permute"),
    (["--method", "gradient", "--option", "samples=10"], "--option samples: none of the chosen attributions"),
    (["--method", "smoothgrad", "--option", "samples=many"], "option samples of attribution 'smoothgrad' must be int"),
    (["--method", "smoothgrad", "--option", "sigma"], "--option: write key=value, got 'sigma'"),
    (["--method", "gradient", "--option", "smoothgrad.samples=3"], "smoothgrad is not one of the chosen"),
    (["--method", "gradient", "--dataset", "cifar10", "--data-dir", "{tmp}/empty"], "cifar10"),
    (["--method", "gradient", "--model", "{tmp}/nothing"], "nothing"),
    (["--method", "gradient", "--limit", "0"], "limit"),
])
def test_saliency_bad_input(run, run_cli, tmp_path, args, message):
    run_dir, _ = run
    (tmp_path / "empty").mkdir()
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    base = {"--model": str(run_dir), "--dataset": "mnist", "--out": str(tmp_path / "out")}
    for flag in list(base):
        if flag in args:
            del base[flag]
    code, _, err = run_cli("saliency", *[v for kv in base.items() for v in kv], *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert not (tmp_path / "out" / "saliency.json").exists()


def test_grid_draws_vectors_and_unbounded_data(tmp_path):
    from cli.saliency import write_grid

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5)).astype("float32")  # tsipras-like: (N, F), infinite bounds
    png = write_grid(tmp_path / "grid.png", x, np.array([0, 1, 0]), (-np.inf, np.inf),
                     {"gradient": rng.normal(size=(3, 5)).astype("float32")}, ("y=-1", "y=+1"))
    assert png.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temp file left
