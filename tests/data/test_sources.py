"""File formats, the restricted unpickler, corruption handling and the search order."""

from __future__ import annotations

import gzip
import os
import pickle
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from tfrobust.data import (
    CorruptDataError,
    DatasetNotFoundError,
    dataset_info,
    load_dataset,
    locate_dataset,
    sources,
)

DEBIAN = "/usr/share/datasets/fashion-mnist"

# ---------------------------------------------------------------- idx


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_idx_round_trip(tmp_path, files, gz):
    arrays = files.make_idx_dir(tmp_path, gz=gz)
    for split in ("train", "test"):
        x8, y8 = arrays[split]
        ds = load_dataset("mnist", split, data_dir=tmp_path)
        assert ds.x.shape == (len(x8), 28, 28, 1) and ds.x.dtype == np.float32
        assert ds.y.dtype == np.int32
        np.testing.assert_array_equal(ds.y, y8)
        np.testing.assert_allclose(ds.x[..., 0], x8 / 255.0, atol=1e-7)
        assert ds.source == str(tmp_path)


def test_idx_scaling_onto_bounds(tmp_path, files):
    x8, _ = files.make_idx_dir(tmp_path)["train"]
    unit = load_dataset("mnist", data_dir=tmp_path)
    kim = load_dataset("mnist", data_dir=tmp_path, bounds=(-1, 1))
    assert unit.bounds == (0.0, 1.0) and kim.bounds == (-1.0, 1.0)
    assert unit.x.min() == 0.0 and unit.x.max() == 1.0
    assert kim.x.min() == -1.0 and kim.x.max() == 1.0
    np.testing.assert_allclose(kim.x[..., 0], -1.0 + 2.0 * x8 / 255.0, atol=1e-6)
    # a pixel of 51 -> 0.2 in (0, 1), -0.6 in (-1, 1)
    i = np.argwhere(x8 == 51)[0]
    assert unit.x[tuple(i)][0] == pytest.approx(0.2) and kim.x[tuple(i)][0] == pytest.approx(-0.6)


def test_read_idx_header_and_shape(tmp_path, files):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = sources.read_idx(files.write_idx(tmp_path / "a-idx3-ubyte.gz", arr))
    np.testing.assert_array_equal(out, arr)
    assert not out.flags.writeable


def test_truncated_idx_gz_is_corrupt(tmp_path, files):
    files.make_idx_dir(tmp_path, n_train=50)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(CorruptDataError) as info:
        load_dataset("mnist", data_dir=tmp_path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg


def test_truncated_raw_idx_is_corrupt(tmp_path, files):
    files.make_idx_dir(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match="truncated") as info:
        load_dataset("mnist", "test", data_dir=tmp_path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_garbled_idx_is_corrupt(tmp_path, files):
    files.make_idx_dir(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x12\x34\x56\x78" + path.read_bytes()[4:])  # bad magic
    with pytest.raises(CorruptDataError, match="magic"):
        load_dataset("mnist", data_dir=tmp_path)
    (tmp_path / "x.gz").write_bytes(b"not gzip at all")
    with pytest.raises(CorruptDataError, match="x.gz"):
        sources.read_idx(tmp_path / "x.gz")


def test_idx_label_range_and_count_checked(tmp_path, files):
    files.make_idx_dir(tmp_path)
    files.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(20, 10, np.uint8))
    with pytest.raises(CorruptDataError, match="labels outside"):
        load_dataset("mnist", data_dir=tmp_path)
    files.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(CorruptDataError, match="19 labels for 20 images"):
        load_dataset("mnist", data_dir=tmp_path)


# ---------------------------------------------------------------- CIFAR-10


def test_cifar_binary(tmp_path, files):
    arrays = files.make_cifar_bin_dir(tmp_path / "cifar-10-batches-bin")
    for split in ("train", "test"):
        x8, y8 = arrays[split]
        ds = load_dataset("cifar10", split, data_dir=tmp_path)
        assert ds.x.shape == (len(x8), 32, 32, 3)
        np.testing.assert_array_equal(ds.y, y8)
        np.testing.assert_allclose(ds.x, x8 / 255.0, atol=1e-7)
        assert ds.source == str(tmp_path / "cifar-10-batches-bin")
    assert len(load_dataset("cifar10", data_dir=tmp_path)) == 5 * 4


def test_cifar_binary_bad_size(tmp_path, files):
    files.make_cifar_bin_dir(tmp_path)
    path = tmp_path / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(CorruptDataError, match="3073") as info:
        load_dataset("cifar10", "test", data_dir=tmp_path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("protocol,str_keys", [(2, False), (4, True), (5, False)])
def test_cifar_python_pickle(tmp_path, files, protocol, str_keys):
    arrays = files.make_cifar_py_dir(
        tmp_path / "cifar10" / "cifar-10-batches-py", protocol=protocol, str_keys=str_keys
    )
    ds = load_dataset("cifar10", "test", data_dir=tmp_path)
    x8, y8 = arrays["test"]
    np.testing.assert_array_equal(ds.y, y8)
    np.testing.assert_allclose(ds.x, x8 / 255.0, atol=1e-7)
    assert ds.source == str(tmp_path / "cifar10" / "cifar-10-batches-py")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvilEval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("evil_cls", [_Evil, _EvilEval])
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_malicious_pickle_is_refused(tmp_path, files, evil_cls, protocol):
    files.make_cifar_py_dir(tmp_path)
    marker = tmp_path / "PWNED"
    payload = {b"data": evil_cls(marker), b"labels": [0]}
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(CorruptDataError, match="forbidden global") as info:
        load_dataset("cifar10", "test", data_dir=tmp_path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_restricted_unpickler_allows_plain_data_only():
    plain = {b"a": [1, 2.5, "s", b"b", None, True, (1,)], "arr": np.arange(3, dtype=np.uint8)}
    out = sources.restricted_loads(pickle.dumps(plain, protocol=2))
    assert out[b"a"] == plain[b"a"]
    np.testing.assert_array_equal(out["arr"], plain["arr"])
    with pytest.raises(CorruptDataError, match="forbidden global collections.OrderedDict"):
        sources.restricted_loads(pickle.dumps(__import__("collections").OrderedDict(a=1)))
    with pytest.raises(CorruptDataError, match="malformed pickle"):
        sources.restricted_loads(b"\x80\x04garbage")


def test_cifar_pickle_wrong_content(tmp_path, files):
    files.make_cifar_py_dir(tmp_path)
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 11]}))
    with pytest.raises(CorruptDataError, match="labels outside"):
        load_dataset("cifar10", "test", data_dir=tmp_path)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CorruptDataError, match="expected a pickled dict"):
        load_dataset("cifar10", "test", data_dir=tmp_path)


# ---------------------------------------------------------------- search order


def test_search_order_data_dir_then_env(tmp_path, files, monkeypatch):
    arg, env = tmp_path / "arg", tmp_path / "env"
    files.make_idx_dir(arg / "fashion_mnist", n_train=12, seed=1)
    files.make_idx_dir(env / "fashion_mnist", n_train=14, seed=2)
    monkeypatch.setenv("TFROBUST_DATA_DIR", str(env))
    assert locate_dataset("fashion_mnist", data_dir=arg) == str(arg / "fashion_mnist")
    assert len(load_dataset("fashion_mnist", data_dir=arg)) == 12
    # env beats the Debian path (which exists on this machine if the package is installed)
    assert locate_dataset("fashion_mnist") == str(env / "fashion_mnist")
    assert len(load_dataset("fashion_mnist")) == 14
    # a data_dir without the files falls through to the next place
    (tmp_path / "empty").mkdir()
    assert locate_dataset("fashion_mnist", data_dir=tmp_path / "empty") == str(
        env / "fashion_mnist"
    )


@pytest.mark.skipif(not os.path.isdir(DEBIAN), reason="dataset-fashion-mnist not installed")
def test_search_falls_back_to_debian(tmp_path, monkeypatch):
    monkeypatch.setenv("TFROBUST_DATA_DIR", str(tmp_path))  # exists, holds nothing
    assert locate_dataset("fashion_mnist") == DEBIAN


def test_subdirectory_beats_files_in_dir(tmp_path, files):
    files.make_idx_dir(tmp_path, n_train=11)  # files in D itself
    files.make_idx_dir(tmp_path / "fashion-mnist", n_train=13)  # Debian spelling
    assert len(load_dataset("mnist", data_dir=tmp_path)) == 11
    assert len(load_dataset("fashion_mnist", data_dir=tmp_path)) == 13


def test_missing_data_dir(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", data_dir=tmp_path / "nope")
    msg = str(info.value)
    assert "\n" not in msg and str(tmp_path / "nope") in msg and "does not exist" in msg
    assert isinstance(info.value, FileNotFoundError)


def test_not_found_message_is_one_helpful_line(tmp_path, no_debian, monkeypatch):
    monkeypatch.setenv("TFROBUST_DATA_DIR", str(tmp_path / "missing-env"))
    (tmp_path / "d").mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        locate_dataset("fashion_mnist", data_dir=tmp_path / "d")
    msg = str(info.value)
    assert "\n" not in msg
    for needle in (
        str(tmp_path / "d"),
        str(tmp_path / "missing-env"),
        str(tmp_path / "no-debian"),
        "TFROBUST_NO_TFDS",
        "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "--data-dir DIR",
        "$TFROBUST_DATA_DIR",
        "apt-get install dataset-fashion-mnist",
    ):
        assert needle in msg, needle
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-bin.*cifar-10-batches-py"):
        load_dataset("cifar10")


def test_partial_file_set_is_not_found(tmp_path, files):
    files.make_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError):
        load_dataset("mnist", data_dir=tmp_path)


def test_decoded_arrays_are_cached(tmp_path, files):
    files.make_idx_dir(tmp_path)
    loc = sources.search("mnist", tmp_path)
    first = sources.read_split(loc, "train")
    assert sources.read_split(loc, "train")[0] is first[0]
    # rewriting a file invalidates its entry (size and mtime are part of the key)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    with gzip.open(path, "rb") as f:
        raw = f.read()
    files.write_idx(path, np.frombuffer(raw[8:], np.uint8)[::-1])
    os.utime(path, ns=(1, 1))
    again = sources.read_split(loc, "train")
    np.testing.assert_array_equal(again[1], first[1][::-1])


# ---------------------------------------------------------------- tfds fallback (stubbed, no network)


def _stub_tfds(monkeypatch, *, prepared=True, fail=None):
    rng = np.random.default_rng(0)
    arrays = {
        "train": (rng.integers(0, 256, (6, 28, 28, 1), dtype=np.uint8), np.arange(6) % 10),
        "test": (rng.integers(0, 256, (4, 28, 28, 1), dtype=np.uint8), np.arange(4) % 10),
    }
    calls = []

    class Builder:
        def __init__(self, name):
            self.name = name
            splits = {s: SimpleNamespace(num_examples=len(a[1])) for s, a in arrays.items()}
            self.info = SimpleNamespace(splits=splits)

        def is_prepared(self):
            return prepared

        def download_and_prepare(self):
            calls.append(("download", self.name))
            if fail is not None:
                raise fail

    def load(name, *, split, batch_size, as_supervised, download):
        calls.append(("load", name, split, download))
        assert batch_size == -1 and as_supervised
        return arrays[split]

    stub = SimpleNamespace(builder=Builder, load=load, as_numpy=lambda x: x)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", stub)
    monkeypatch.delenv("TFROBUST_NO_TFDS")
    return arrays, calls


def test_tfds_is_the_last_resort(tmp_path, monkeypatch):
    arrays, calls = _stub_tfds(monkeypatch)
    ds = load_dataset("mnist", "test")
    assert ds.source == "tfds:mnist" and len(ds) == 4
    np.testing.assert_allclose(ds.x, arrays["test"][0] / 255.0, atol=1e-7)
    assert ("load", "mnist", "test", False) in calls and not any(c[0] == "download" for c in calls)
    info = dataset_info("mnist")
    assert (info["source"], info["train_size"], info["test_size"]) == ("tfds:mnist", 6, 4)


def test_tfds_failure_is_reported(monkeypatch):
    _, calls = _stub_tfds(monkeypatch, prepared=False, fail=ConnectionError("no network"))
    monkeypatch.setenv("TFROBUST_TFDS_DOWNLOAD", "1")
    with pytest.raises(
        DatasetNotFoundError, match="tensorflow-datasets mnist .failed: ConnectionError: no network"
    ):
        locate_dataset("mnist")
    assert ("download", "mnist") in calls
    monkeypatch.delenv("TFROBUST_TFDS_DOWNLOAD")  # the default: never download
    calls.clear()
    with pytest.raises(DatasetNotFoundError, match="TFROBUST_TFDS_DOWNLOAD=1 to download"):
        locate_dataset("mnist")
    assert calls == []


def test_env_var_may_list_several_directories(tmp_path, files, monkeypatch):
    files.make_idx_dir(tmp_path / "b" / "mnist", n_train=9)
    (tmp_path / "a").mkdir()
    monkeypatch.setenv(
        "TFROBUST_DATA_DIR", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    )
    assert locate_dataset("mnist") == str(tmp_path / "b" / "mnist")
