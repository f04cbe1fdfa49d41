"""Readers for the original distribution files and the dataset search order.

Supported on-disk formats (docs/architecture.md, Data):

* MNIST / Fashion-MNIST idx files (LeCun et al.; Xiao et al. 2017):
  ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
  ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``.
* CIFAR-10 binary version (Krizhevsky 2009): ``cifar-10-batches-bin/``
  holding ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``,
  each a sequence of 3073-byte records (1 label byte, 3072 pixel bytes in
  R, G, B planes of 32x32 row-major pixels).
* CIFAR-10 python version: ``cifar-10-batches-py/`` holding pickled dicts
  ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``. They are read ONLY
  through :class:`RestrictedUnpickler`, which refuses every global except the
  few numpy needs to rebuild an array; a pickle asking for anything else
  raises :class:`CorruptDataError` before any of it runs.
* tensorflow-datasets as the last resort (imported lazily; any failure is
  caught and reported in the not-found message).

Search order for a file-backed dataset (first hit wins):

1. the ``data_dir`` argument (the CLI's ``--data-dir``); if given but missing,
   :class:`DatasetNotFoundError` at once;
2. ``$TFROBUST_DATA_DIR`` (several directories may be joined with ``os.pathsep``);
3. the Debian package path (``/usr/share/datasets/fashion-mnist`` for
   ``fashion_mnist``, installed by ``apt-get install dataset-fashion-mnist``);
4. tensorflow-datasets, unless ``$TFROBUST_NO_TFDS=1``. Data already prepared
   under the tfds data dir is used; tfds downloads only when
   ``$TFROBUST_TFDS_DOWNLOAD=1`` (off by default: without a network its
   retries take minutes, and a load should fail fast with a clear message).

Within a directory ``D`` the files may lie in ``D/<name>/`` (also the Debian
spelling ``D/fashion-mnist/`` and ``D/cifar-10/``) or in ``D`` itself; for
CIFAR-10 also in ``D[/<name>]/cifar-10-batches-bin`` or
``D[/<name>]/cifar-10-batches-py``. The per-dataset sub-directory is tried first,
because MNIST and Fashion-MNIST use the same file names.

Decoded uint8 arrays are cached per process, keyed by the file paths and their
size and modification time, so loading the same split twice is cheap.
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import pickle
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import CorruptDataError, DatasetNotFoundError
from .idx import check_idx_pair, idx_shape, read_idx

__all__ = [
    "IDX_FILES",
    "CIFAR_BIN_FILES",
    "CIFAR_PY_FILES",
    "DEBIAN_DIRS",
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

#: idx base names per split (images, labels); ``.gz`` or uncompressed.
IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: CIFAR-10 binary batch files per split.
CIFAR_BIN_FILES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
#: CIFAR-10 python (pickle) batch files per split.
CIFAR_PY_FILES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
CIFAR_BIN_DIR = "cifar-10-batches-bin"
CIFAR_PY_DIR = "cifar-10-batches-py"

#: Debian package directories (searched after ``$TFROBUST_DATA_DIR``).
#: Module-level so that tests can point them elsewhere.
DEBIAN_DIRS: dict[str, str] = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}

# Per dataset: on-disk formats (in preference order), sub-directory spellings,
# image geometry, number of classes, tfds name.
_FORMATS: dict[str, tuple[str, ...]] = {
    "fashion_mnist": ("idx",),
    "mnist": ("idx",),
    "cifar10": ("cifar_bin", "cifar_py"),
}
_SUBDIRS: dict[str, tuple[str, ...]] = {
    "fashion_mnist": ("fashion_mnist", "fashion-mnist"),
    "mnist": ("mnist",),
    "cifar10": ("cifar10", "cifar-10"),
}
_IMAGE_SHAPE: dict[str, tuple[int, int, int]] = {
    "fashion_mnist": (28, 28, 1),
    "mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
}
_NUM_CLASSES = 10
_TFDS_NAMES: dict[str, str] = {
    "fashion_mnist": "fashion_mnist",
    "mnist": "mnist",
    "cifar10": "cifar10",
}

_CIFAR_RECORD = 1 + 32 * 32 * 3  # 3073 bytes: label + R, G, B planes


@dataclass(frozen=True)
class Location:
    """Where a file-backed dataset was found.

    Attributes:
        name: dataset name (``"mnist"``, ...).
        kind: ``"idx"``, ``"cifar_bin"``, ``"cifar_py"`` or ``"tfds"``.
        source: the directory holding the files, or ``"tfds:<name>"``.
        files: per split, the absolute file paths (empty for tfds).
    """

    name: str
    kind: str
    source: str
    files: Mapping[str, tuple[str, ...]]


# --------------------------------------------------------------------------
# small helpers


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _corrupt(path: str, reason: object) -> CorruptDataError:
    return CorruptDataError(f"corrupt data file {path}: {_one_line(reason)}")


def _read_bytes(path: str) -> bytes:
    """Whole file content, transparently gunzipped for ``*.gz``.

    Raises:
        CorruptDataError: the gzip stream is truncated or garbled.
    """
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise _corrupt(path, f"cannot decompress ({type(e).__name__}: {e})") from e


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------
# idx (MNIST / Fashion-MNIST); the format itself is read by tfrobust.data.idx


def _read_idx_split(
    images: str, labels: str, image_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images)
    y = read_idx(labels)
    check_idx_pair(images, labels, x.shape, y.shape, image_hw)
    _check_labels(labels, y)
    return _readonly(x.reshape(*x.shape, 1)), y


def _check_labels(path: str, y: np.ndarray) -> None:
    if y.size and (int(y.min()) < 0 or int(y.max()) >= _NUM_CLASSES):
        raise _corrupt(
            path, f"labels outside [0, {_NUM_CLASSES}): min {int(y.min())}, max {int(y.max())}"
        )


# --------------------------------------------------------------------------
# CIFAR-10 binary


def read_cifar_binary(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch (``data_batch_i.bin`` / ``test_batch.bin``).

    Args:
        path: file path; a sequence of 3073-byte records.

    Returns:
        ``(x, y)``: x (N, 32, 32, 3) uint8 channels-last, y (N,) uint8 in [0, 10).

    Raises:
        CorruptDataError: empty file, size not a multiple of 3073, bad labels.
    """
    p = os.fspath(path)
    data = _read_bytes(p)
    if not data or len(data) % _CIFAR_RECORD:
        raise _corrupt(
            p,
            f"size {len(data)} bytes is not a positive multiple of the {_CIFAR_RECORD}-byte record",
        )
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    y = np.ascontiguousarray(rec[:, 0])
    _check_labels(p, y)
    x = np.ascontiguousarray(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return _readonly(x), _readonly(y)


# --------------------------------------------------------------------------
# CIFAR-10 python (pickle), restricted


def _latin1_encode(obj: object, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """Stand-in for ``_codecs.encode`` as used by protocol-0..2 pickles of bytes.

    Python 3 pickles ``bytes`` (e.g. the raw buffer of a numpy array) with
    protocols 0-2 as ``_codecs.encode(text, "latin1")``. Only that use is allowed.
    """
    if not isinstance(obj, str) or encoding.replace("_", "-").lower() not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only allowed as encode(str, 'latin1')")
    return obj.encode("latin-1", errors)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    scalar = np.int64(0).__reduce__()[0]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    # numpy < 2 writes numpy.core.*, numpy >= 2 writes numpy._core.*
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


_ALLOWED_GLOBALS = _numpy_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and plain data, nothing else.

    Dicts, lists, tuples, strings, bytes, numbers, booleans and None need no
    globals. The only globals resolved are those numpy uses to pickle arrays,
    dtypes and scalars (``numpy[._]core.multiarray._reconstruct``,
    ``numpy[._]core.multiarray.scalar``, ``numpy[._]core.numeric._frombuffer``,
    ``numpy.ndarray``, ``numpy.dtype``) and ``_codecs.encode(str, 'latin1')``
    (protocol-2 bytes). They are returned from a fixed table; no module is
    imported. Everything else (``os.system``, ``builtins.eval``, arbitrary
    classes, persistent ids, out-of-band buffers) is refused before it runs.
    """

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED_GLOBALS.get((module, name))
        if obj is None:
            raise CorruptDataError(f"pickle refers to the forbidden global {module}.{name}")
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise CorruptDataError("pickle uses persistent ids, which are not allowed")


def restricted_loads(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (``encoding="bytes"``).

    Python-2 ``str`` objects come back as ``bytes``, as in the CIFAR-10 files.

    Raises:
        CorruptDataError: a forbidden global, or a malformed pickle.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except CorruptDataError:
        raise
    except Exception as e:  # malformed pickles raise many types; all mean "corrupt"
        raise CorruptDataError(f"malformed pickle ({type(e).__name__}: {_one_line(e)})") from e


def _get(d: Mapping[Any, Any], key: str) -> Any:
    if key.encode() in d:
        return d[key.encode()]
    return d.get(key)


def read_cifar_pickle(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch through the restricted unpickler.

    The pickle must hold a dict with ``data`` ((N, 3072) uint8, R, G, B planes
    of 32x32 row-major pixels) and ``labels`` (N ints in [0, 10)); keys may be
    bytes (Python-2 original) or str.

    Args:
        path: file path.

    Returns:
        ``(x, y)``: x (N, 32, 32, 3) uint8 channels-last, y (N,) uint8.

    Raises:
        CorruptDataError: forbidden pickle content, malformed pickle, wrong
            keys, shapes, dtypes or label range. Names the file.
    """
    p = os.fspath(path)
    raw = _read_bytes(p)
    try:
        obj = restricted_loads(raw)
    except CorruptDataError as e:
        raise _corrupt(p, e) from e
    if not isinstance(obj, dict):
        raise _corrupt(p, f"expected a pickled dict, got {type(obj).__name__}")
    data, labels = _get(obj, "data"), _get(obj, "labels")
    if not isinstance(data, np.ndarray) or labels is None:
        raise _corrupt(p, "expected keys 'data' (numpy array) and 'labels'")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise _corrupt(p, f"'data' must be (N, 3072) uint8, got {data.shape} {data.dtype}")
    try:
        y = np.asarray(labels)
    except Exception as e:
        raise _corrupt(p, f"'labels' is not a sequence of integers ({e})") from e
    if y.ndim != 1 or y.shape[0] != data.shape[0] or (y.size and y.dtype.kind not in "iu"):
        raise _corrupt(
            p, f"'labels' must be {data.shape[0]} integers, got shape {y.shape} dtype {y.dtype}"
        )
    _check_labels(p, y)
    x = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return _readonly(x), _readonly(y.astype(np.uint8))


# --------------------------------------------------------------------------
# locating


def _idx_files(directory: str) -> dict[str, tuple[str, ...]] | None:
    files: dict[str, tuple[str, ...]] = {}
    for split, names in IDX_FILES.items():
        found = []
        for base in names:
            for candidate in (base + ".gz", base):
                path = os.path.join(directory, candidate)
                if os.path.isfile(path):
                    found.append(path)
                    break
            else:
                return None
        files[split] = tuple(found)
    return files


def _listed_files(
    directory: str, table: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]] | None:
    files = {
        split: tuple(os.path.join(directory, n) for n in names) for split, names in table.items()
    }
    if all(os.path.isfile(p) for paths in files.values() for p in paths):
        return files
    return None


def find_in_directory(name: str, directory: str | os.PathLike[str]) -> Location | None:
    """Look for dataset ``name`` in ``directory`` (see module docstring for the layout).

    Args:
        name: ``"fashion_mnist"``, ``"mnist"`` or ``"cifar10"``.
        directory: the directory ``D`` to search.

    Returns:
        The :class:`Location`, or None when no complete set of files is there.
    """
    root = os.path.abspath(os.fspath(directory))
    bases = [os.path.join(root, sub) for sub in _SUBDIRS[name]] + [root]
    for base in bases:
        if not os.path.isdir(base):
            continue
        for kind in _FORMATS[name]:
            if kind == "idx":
                candidates = [(base, _idx_files)]
            elif kind == "cifar_bin":
                candidates = [
                    (
                        os.path.join(base, CIFAR_BIN_DIR),
                        functools.partial(_listed_files, table=CIFAR_BIN_FILES),
                    ),
                    (base, functools.partial(_listed_files, table=CIFAR_BIN_FILES)),
                ]
            else:
                candidates = [
                    (
                        os.path.join(base, CIFAR_PY_DIR),
                        functools.partial(_listed_files, table=CIFAR_PY_FILES),
                    ),
                    (base, functools.partial(_listed_files, table=CIFAR_PY_FILES)),
                ]
            for d, finder in candidates:
                if os.path.isdir(d):
                    files = finder(d)
                    if files is not None:
                        return Location(name=name, kind=kind, source=d, files=files)
    return None


def _how_to_provide(name: str) -> str:
    if _FORMATS[name] == ("idx",):
        names = ", ".join(f"{b}.gz" for pair in IDX_FILES.values() for b in pair)
        what = f"the files {names} (or uncompressed)"
    else:
        what = (
            f"{CIFAR_BIN_DIR}/ (data_batch_1.bin .. data_batch_5.bin, test_batch.bin) or "
            f"{CIFAR_PY_DIR}/ (data_batch_1 .. data_batch_5, test_batch) from "
            "https://www.cs.toronto.edu/~kriz/cifar.html"
        )
    text = f"put {what} in DIR or DIR/{name}/ and pass --data-dir DIR or set $TFROBUST_DATA_DIR=DIR"
    if name == "fashion_mnist":
        text += ", or run `apt-get install dataset-fashion-mnist`"
    return text


def _env_flag(var: str, default: bool) -> bool:
    value = os.environ.get(var)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def _tfds_locate(name: str) -> tuple[Location | None, str]:
    """Try tensorflow-datasets; return (location or None, description for the error)."""
    tname = _TFDS_NAMES[name]
    if _env_flag("TFROBUST_NO_TFDS", False):
        return None, "tensorflow-datasets (skipped: $TFROBUST_NO_TFDS is set)"
    try:
        import tensorflow_datasets as tfds  # lazy: heavy, optional
    except Exception as e:
        return None, f"tensorflow-datasets (unavailable: {type(e).__name__}: {_one_line(e)})"
    try:
        builder = tfds.builder(tname)
        if not builder.is_prepared():
            if not _env_flag("TFROBUST_TFDS_DOWNLOAD", False):
                return (
                    None,
                    f"tensorflow-datasets {tname} (not prepared; set $TFROBUST_TFDS_DOWNLOAD=1 to download)",
                )
            builder.download_and_prepare()
    except Exception as e:
        return (
            None,
            f"tensorflow-datasets {tname} (failed: {type(e).__name__}: {_one_line(e)[:200]})",
        )
    return Location(name=name, kind="tfds", source=f"tfds:{tname}", files={}), ""


def search(name: str, data_dir: str | os.PathLike[str] | None = None) -> Location:
    """Find a file-backed dataset following the search order of the module docstring.

    Args:
        name: ``"fashion_mnist"``, ``"mnist"`` or ``"cifar10"``.
        data_dir: directory given by the user (``--data-dir``), or None.

    Returns:
        The first :class:`Location` found.

    Raises:
        DatasetNotFoundError: ``data_dir`` does not exist, or the dataset was
            found nowhere. One line: where it looked and how to provide files.
    """
    if name not in _FORMATS:
        raise ValueError(
            f"name: {name!r} is not a file-backed dataset (expected one of {sorted(_FORMATS)})"
        )
    looked: list[str] = []
    if data_dir is not None:
        d = os.path.expanduser(os.fspath(data_dir))
        if not os.path.isdir(d):
            raise DatasetNotFoundError(
                f"{name}: data directory {d} does not exist; {_how_to_provide(name)}"
            )
        loc = find_in_directory(name, d)
        if loc is not None:
            return loc
        looked.append(f"--data-dir {d}")
    env = os.environ.get("TFROBUST_DATA_DIR", "")
    env_dirs = [os.path.expanduser(e) for e in env.split(os.pathsep) if e]
    if not env_dirs:
        looked.append("$TFROBUST_DATA_DIR (unset)")
    for d in env_dirs:
        if os.path.isdir(d):
            loc = find_in_directory(name, d)
            if loc is not None:
                return loc
            looked.append(f"$TFROBUST_DATA_DIR {d}")
        else:
            looked.append(f"$TFROBUST_DATA_DIR {d} (missing)")
    debian = DEBIAN_DIRS.get(name)
    if debian is not None:
        if os.path.isdir(debian):
            loc = find_in_directory(name, debian)
            if loc is not None:
                return loc
            looked.append(debian)
        else:
            looked.append(f"{debian} (missing)")
    loc, why = _tfds_locate(name)
    if loc is not None:
        return loc
    looked.append(why)
    raise DatasetNotFoundError(
        f"dataset {name} not found; looked in: {'; '.join(looked)}. To provide it, {_how_to_provide(name)}"
    )


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
        return _read_idx_split(paths[0], paths[1], _IMAGE_SHAPE[name][:2])
    reader = read_cifar_binary if kind == "cifar_bin" else read_cifar_pickle
    parts = [reader(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return _readonly(x), _readonly(y)


@functools.lru_cache(maxsize=8)
def _read_tfds_cached(tfds_name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    ds = tfds.load(tfds_name, split=split, batch_size=-1, as_supervised=True, download=False)
    x, y = tfds.as_numpy(ds)
    return _readonly(np.ascontiguousarray(x, dtype=np.uint8)), _readonly(
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
        total = 0
        for p in location.files[split]:
            size = os.path.getsize(p)
            if size == 0 or size % _CIFAR_RECORD:
                raise _corrupt(
                    p,
                    f"size {size} bytes is not a positive multiple of the {_CIFAR_RECORD}-byte record",
                )
            total += size // _CIFAR_RECORD
        return total
    if location.kind == "tfds":
        import tensorflow_datasets as tfds

        tname = location.source.split(":", 1)[1]
        return int(tfds.builder(tname).info.splits[split].num_examples)
    return int(read_split(location, split)[1].shape[0])


def clear_cache() -> None:
    """Drop the per-process cache of decoded arrays."""
    _read_files_cached.cache_clear()
    _read_tfds_cached.cache_clear()
