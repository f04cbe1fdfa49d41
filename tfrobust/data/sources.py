"""Dataset files: where a file-backed dataset is found, and one split read from it (cached).

This module is the data layer's entry to the original distribution files;
the work is shared by two modules whose public names it re-exports:

* :mod:`tfrobust.data.locate`: the file names and directory layouts, and the
  search order (``--data-dir``, ``$TFROBUST_DATA_DIR``, the Debian package
  path, tensorflow-datasets) behind :func:`search`, which returns a
  :class:`Location`;
* :mod:`tfrobust.data.formats`: the decoders (idx image/label pairs, CIFAR-10
  binary and python batches; the latter only through
  :class:`RestrictedUnpickler`, which refuses every global except the few
  numpy needs to rebuild an array).

Here, :func:`read_split` decodes one split of a :class:`Location` (the files,
or tensorflow-datasets) and :func:`split_size` counts its examples. Decoded
uint8 arrays are cached per process, keyed by the file paths and their size
and modification time, so loading the same split twice is cheap.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from .formats import (
    RestrictedUnpickler,
    cifar_binary_count,
    read_cifar_binary,
    read_cifar_pickle,
    read_idx_pair,
    readonly,
    restricted_loads,
)
from .idx import check_idx_pair, idx_shape, read_idx
from .locate import (
    CIFAR_BIN_DIR,
    CIFAR_BIN_FILES,
    CIFAR_PY_DIR,
    CIFAR_PY_FILES,
    DEBIAN_DIRS,
    IDX_FILES,
    Location,
    find_in_directory,
    search,
)

__all__ = [
    "IDX_FILES",
    "CIFAR_BIN_FILES",
    "CIFAR_PY_FILES",
    "CIFAR_BIN_DIR",
    "CIFAR_PY_DIR",
    "DEBIAN_DIRS",
    "SPLITS",
    "Location",
    "RestrictedUnpickler",
    "restricted_loads",
    "read_idx",
    "read_cifar_binary",
    "read_cifar_pickle",
    "find_in_directory",
    "search",
    "read_split",
    "split_size",
    "clear_cache",
]

SPLITS = ("train", "test")

# Image geometry (H, W, C) per file-backed dataset.
_IMAGE_SHAPE: dict[str, tuple[int, int, int]] = {
    "fashion_mnist": (28, 28, 1),
    "mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
}


# --------------------------------------------------------------------------
# reading a split (cached)


def _stamp(paths: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    out = []
    for p in paths:
        st = os.stat(p)
        out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


@functools.lru_cache(maxsize=8)
def _read_files_cached(
    name: str, kind: str, paths: tuple[str, ...], stamp: tuple[tuple[int, int], ...]
) -> tuple[np.ndarray, np.ndarray]:
    del stamp  # part of the cache key only: a rewritten file is read again
    if kind == "idx":
        return read_idx_pair(paths[0], paths[1], _IMAGE_SHAPE[name][:2])
    reader = read_cifar_binary if kind == "cifar_bin" else read_cifar_pickle
    parts = [reader(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return readonly(x), readonly(y)


@functools.lru_cache(maxsize=8)
def _read_tfds_cached(tfds_name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    ds = tfds.load(tfds_name, split=split, batch_size=-1, as_supervised=True, download=False)
    x, y = tfds.as_numpy(ds)
    return readonly(np.ascontiguousarray(x, dtype=np.uint8)), readonly(
        np.asarray(y, dtype=np.uint8)
    )


def read_split(location: Location, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Decoded uint8 images and labels of one split (cached per process).

    Args:
        location: from :func:`search`.
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(x, y)``: x (N, H, W, C) uint8 channels-last, y (N,) uint8 in [0, 10);
        both read-only and shared with the cache (do not modify).

    Raises:
        CorruptDataError: a file is truncated or garbled (names the file).
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    if location.kind == "tfds":
        return _read_tfds_cached(location.source.split(":", 1)[1], split)
    paths = location.files[split]
    return _read_files_cached(location.name, location.kind, paths, _stamp(paths))


def split_size(location: Location, split: str) -> int:
    """Number of examples in a split, after checking that its files are complete.

    Args:
        location: from :func:`search`.
        split: ``"train"`` or ``"test"``.

    Returns:
        The example count: from the idx headers once both files are found to
        hold exactly the data their headers announce (decompressed and
        counted, not kept) and the same number of images and labels; from the
        CIFAR binary file sizes (whole records only); tfds metadata; or the
        decoded CIFAR pickles.

    Raises:
        CorruptDataError: a file is truncated, garbled or inconsistent (one
            line naming the file and what is wrong).
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    if location.kind == "idx":  # both files decompressed and counted against their headers
        images, labels = location.files[split]
        return check_idx_pair(images, labels, idx_shape(images), idx_shape(labels),
                              _IMAGE_SHAPE[location.name][:2])
    if location.kind == "cifar_bin":
        return sum(cifar_binary_count(p) for p in location.files[split])
    if location.kind == "tfds":
        import tensorflow_datasets as tfds

        tname = location.source.split(":", 1)[1]
        return int(tfds.builder(tname).info.splits[split].num_examples)
    return int(read_split(location, split)[1].shape[0])


def clear_cache() -> None:
    """Drop the per-process cache of decoded arrays."""
    _read_files_cached.cache_clear()
    _read_tfds_cached.cache_clear()
