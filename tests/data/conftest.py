"""Fixtures for tests/data: tiny dataset files in the ORIGINAL distribution formats.

Every test here runs with tensorflow-datasets disabled (no network downloads),
``$TFROBUST_DATA_DIR`` unset and an empty decoded-array cache.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tfrobust.data import sources


def write_idx(path: Path, arr: np.ndarray) -> Path:
    """Write a uint8 array as an idx file (gzip-compressed when the name ends in .gz)."""
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def make_idx_dir(
    directory: Path, *, n_train: int = 20, n_test: int = 10, gz: bool = True, seed: int = 0
):
    """MNIST-layout idx files; returns {split: (x uint8 (N,28,28), y uint8 (N,))}."""
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        x[0, 0, 0], x[0, 0, 1] = 0, 255  # both ends of the range present
        y = (np.arange(n) % 10).astype(np.uint8)
        images, labels = sources.IDX_FILES[split]
        write_idx(directory / (images + suffix), x)
        write_idx(directory / (labels + suffix), y)
        out[split] = (x, y)
    return out


def _cifar_arrays(rng: np.random.Generator, n: int):
    x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=n).astype(np.uint8)
    return x, y


def _planes(x: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> (N, 3072) as R, G, B planes (the CIFAR-10 storage order)."""
    return x.transpose(0, 3, 1, 2).reshape(len(x), 3072)


def make_cifar_bin_dir(directory: Path, *, n_per_batch: int = 4, seed: int = 0):
    """cifar-10-batches-bin layout; returns {split: (x (N,32,32,3), y (N,))}."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, names in sources.CIFAR_BIN_FILES.items():
        xs, ys = [], []
        for name in names:
            x, y = _cifar_arrays(rng, n_per_batch)
            records = np.concatenate([y[:, None], _planes(x)], axis=1).astype(np.uint8)
            (directory / name).write_bytes(records.tobytes())
            xs.append(x)
            ys.append(y)
        out[split] = (np.concatenate(xs), np.concatenate(ys))
    return out


def make_cifar_py_dir(
    directory: Path, *, n_per_batch: int = 4, seed: int = 0, protocol: int = 2, str_keys=False
):
    """cifar-10-batches-py layout (pickled dicts, as the original); returns {split: (x, y)}."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, names in sources.CIFAR_PY_FILES.items():
        xs, ys = [], []
        for name in names:
            x, y = _cifar_arrays(rng, n_per_batch)
            batch = {
                b"batch_label": b"training batch 1 of 5",
                b"labels": [int(v) for v in y],
                b"data": _planes(x),
                b"filenames": [f"img_{i}.png".encode() for i in range(n_per_batch)],
            }
            if str_keys:
                batch = {k.decode(): v for k, v in batch.items()}
            (directory / name).write_bytes(pickle.dumps(batch, protocol=protocol))
            xs.append(x)
            ys.append(y)
        out[split] = (np.concatenate(xs), np.concatenate(ys))
    return out


@pytest.fixture(autouse=True)
def _isolated_data_env(monkeypatch):
    monkeypatch.setenv("TFROBUST_NO_TFDS", "1")
    monkeypatch.delenv("TFROBUST_DATA_DIR", raising=False)
    sources.clear_cache()
    yield
    sources.clear_cache()


@pytest.fixture
def files():
    """The fixture-file writers above, as attributes."""
    return SimpleNamespace(
        write_idx=write_idx,
        make_idx_dir=make_idx_dir,
        make_cifar_bin_dir=make_cifar_bin_dir,
        make_cifar_py_dir=make_cifar_py_dir,
        planes=_planes,
    )


@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    """Point the Debian Fashion-MNIST path at a directory that does not exist."""
    monkeypatch.setitem(sources.DEBIAN_DIRS, "fashion_mnist", str(tmp_path / "no-debian"))
