"""Registry, Dataset, load_dataset options (classes, limit, bounds) and dataset_info."""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest

import tfrobust.data as data
from tfrobust.data import DATASETS, Dataset, DatasetSpec, dataset_info, load_dataset, locate_dataset

DEBIAN = "/usr/share/datasets/fashion-mnist"


def test_registry_contract():
    assert set(DATASETS) == {"fashion_mnist", "mnist", "cifar10", "toy2d", "tsipras"}
    assert all(isinstance(s, DatasetSpec) and s.name == k for k, s in DATASETS.items())
    assert DATASETS["fashion_mnist"].input_shape == (28, 28, 1)
    assert DATASETS["mnist"].input_shape == (28, 28, 1)
    assert DATASETS["cifar10"].input_shape == (32, 32, 3)
    assert DATASETS["toy2d"].input_shape == (2,)
    assert DATASETS["tsipras"].input_shape == (1001,)
    assert DATASETS["toy2d"].default_bounds == (-1.0, 1.0)
    assert DATASETS["tsipras"].default_bounds == (-math.inf, math.inf)
    for name in ("fashion_mnist", "mnist", "cifar10"):
        spec = DATASETS[name]
        assert spec.default_bounds == (0.0, 1.0) and not spec.synthetic and spec.num_classes == 10
        assert len(spec.class_names) == 10
    assert DATASETS["toy2d"].synthetic and DATASETS["tsipras"].num_classes == 2
    assert set(data.__all__) >= {
        "DATASETS",
        "DatasetSpec",
        "Dataset",
        "load_dataset",
        "locate_dataset",
        "dataset_info",
        "augment_pair",
        "DatasetNotFoundError",
        "CorruptDataError",
    }
    assert issubclass(data.DatasetNotFoundError, FileNotFoundError)
    assert issubclass(data.CorruptDataError, ValueError)


def test_classes_subset_remaps_in_given_order(tmp_path, files):
    x8, y8 = files.make_idx_dir(tmp_path, n_train=40)["train"]
    ds = load_dataset("mnist", data_dir=tmp_path, classes=(7, 5))
    keep = np.flatnonzero((y8 == 7) | (y8 == 5))
    np.testing.assert_array_equal(ds.y, np.where(y8[keep] == 7, 0, 1))
    np.testing.assert_allclose(ds.x[..., 0], x8[keep] / 255.0, atol=1e-7)
    assert ds.num_classes == 2 and ds.classes == (7, 5) and ds.class_names == ("7", "5")


def test_classes_names_follow(tmp_path, files):
    files.make_idx_dir(tmp_path / "fashion_mnist")
    ds = load_dataset("fashion_mnist", data_dir=tmp_path, classes=[5, 7])
    assert ds.class_names == ("Sandal", "Sneaker")
    assert load_dataset("fashion_mnist", data_dir=tmp_path).classes is None


@pytest.mark.parametrize(
    "classes,match",
    [
        ((5, 5), "duplicate class 5"),
        ((3, 10), "unknown class 10"),
        ((-1,), "unknown class -1"),
        ((), "at least one"),
        ("57", "sequence"),
        ((1.0, 2), "integers"),
    ],
)
def test_classes_errors(classes, match):
    with pytest.raises(ValueError, match=match):  # checked before any file is looked for
        load_dataset("mnist", classes=classes)


def test_limit_semantics(tmp_path, files):
    x8, y8 = files.make_idx_dir(tmp_path, n_train=40)["train"]
    ds = load_dataset("mnist", data_dir=tmp_path, limit=7)
    np.testing.assert_array_equal(ds.y, y8[:7])
    assert len(load_dataset("mnist", data_dir=tmp_path, limit=1000)) == 40
    # limit counts after class filtering, in file order
    sub = load_dataset("mnist", data_dir=tmp_path, classes=(3, 4), limit=3)
    keep = np.flatnonzero((y8 == 3) | (y8 == 4))[:3]
    np.testing.assert_allclose(sub.x[..., 0], x8[keep] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(sub.y, (y8[keep] == 4).astype(np.int32))


@pytest.mark.parametrize("limit", [0, -3, 2.5, True])
def test_limit_errors(limit):
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        load_dataset("toy2d", limit=limit)
    if limit == -3:
        with pytest.raises(ValueError, match=r"^limit must be a positive integer, got -3$"):
            load_dataset("toy2d", limit=-3)


@pytest.mark.parametrize("bounds", [(1.0, 1.0), (1.0, 0.0), (0.0,), (0.0, float("nan")), "01"])
def test_bad_bounds(bounds):
    with pytest.raises(ValueError, match="bounds"):
        load_dataset("toy2d", bounds=bounds)


def test_image_bounds_must_be_finite(tmp_path, files):
    files.make_idx_dir(tmp_path)
    with pytest.raises(ValueError, match="finite"):
        load_dataset("mnist", data_dir=tmp_path, bounds=(0.0, math.inf))


def test_unknown_name_split_option():
    with pytest.raises(ValueError, match="fashion_mnist, mnist, cifar10, toy2d, tsipras"):
        load_dataset("svhn")
    with pytest.raises(ValueError, match="split"):
        load_dataset("toy2d", "validation")
    with pytest.raises(ValueError, match="'dd'"):
        load_dataset("tsipras", dd=3)
    with pytest.raises(ValueError, match="'n_per_class'.*mnist"):
        load_dataset("mnist", n_per_class=3)
    with pytest.raises(ValueError, match="seed"):
        load_dataset("toy2d", seed=-1)


def test_dataset_is_read_only_and_validated():
    x = np.zeros((4, 2), np.float32)
    ds = Dataset(
        "toy2d", "train", x, np.array([0, 1, 0, 1]), (-1.0, 1.0), 2, ("a", "b"), "synthetic", None
    )
    assert len(ds) == 4 and ds.input_shape == (2,) and ds.y.dtype == np.int32
    with pytest.raises(ValueError):
        ds.x[0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"
    x[0, 0] = 0.5  # the caller's array stays writable
    with pytest.raises(ValueError, match="x: values"):
        Dataset("t", "train", x + 5, np.zeros(4, int), (-1.0, 1.0), 2, ("a", "b"), "synthetic")
    with pytest.raises(ValueError, match="y: labels"):
        Dataset("t", "train", x, np.full(4, 2), (-1.0, 1.0), 2, ("a", "b"), "synthetic")
    with pytest.raises(ValueError, match="class_names"):
        Dataset("t", "train", x, np.zeros(4, int), (-1.0, 1.0), 2, ("a",), "synthetic")
    with pytest.raises(ValueError, match="y: expected shape"):
        Dataset("t", "train", x, np.zeros(3, int), (-1.0, 1.0), 2, ("a", "b"), "synthetic")
    assert "n=4" in repr(ds)


def test_loaded_arrays_read_only_and_independent_of_cache(tmp_path, files):
    files.make_idx_dir(tmp_path)
    a = load_dataset("mnist", data_dir=tmp_path)
    b = load_dataset("mnist", data_dir=tmp_path, bounds=(-1, 1))
    assert not a.x.flags.writeable and not a.y.flags.writeable
    assert a.x.min() == 0.0 and b.x.min() == -1.0


def test_dataset_info_and_locate(tmp_path, files):
    files.make_idx_dir(tmp_path / "mnist", n_train=20, n_test=10)
    files.make_cifar_bin_dir(tmp_path / "cifar-10-batches-bin", n_per_batch=3)
    info = dataset_info("mnist", data_dir=tmp_path)
    assert info["source"] == str(tmp_path / "mnist") == locate_dataset("mnist", tmp_path)
    assert (info["train_size"], info["test_size"]) == (20, 10)
    assert (
        info["input_shape"] == (28, 28, 1)
        and info["num_classes"] == 10
        and info["bounds"] == (0.0, 1.0)
    )
    cinfo = dataset_info("cifar10", data_dir=tmp_path)
    assert (cinfo["train_size"], cinfo["test_size"]) == (15, 3)
    tinfo = dataset_info("tsipras", d=15)
    assert tinfo["input_shape"] == (16,) and tinfo["source"] == "synthetic"
    assert tinfo["options"]["eta"] == pytest.approx(3 / math.sqrt(15))
    assert dataset_info("toy2d", n_per_class=5)["train_size"] == 10
    assert locate_dataset("toy2d") == "synthetic"


@pytest.mark.skipif(not os.path.isdir(DEBIAN), reason="dataset-fashion-mnist not installed")
def test_real_debian_fashion_mnist():
    train = load_dataset("fashion_mnist")
    test = load_dataset("fashion_mnist", "test")
    assert train.source == DEBIAN == test.source
    assert (len(train), len(test)) == (60000, 10000)
    assert train.x.shape == (60000, 28, 28, 1) and train.x.dtype == np.float32
    assert 0.0 == train.x.min() and train.x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(train.y), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(test.y), np.full(10, 1000))
    info = dataset_info("fashion_mnist")
    assert (info["train_size"], info["test_size"]) == (60000, 10000)
