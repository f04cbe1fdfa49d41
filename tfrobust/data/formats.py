"""Decoders for the original distribution files of the file-backed datasets.

* MNIST / Fashion-MNIST idx files (LeCun et al.; Xiao et al. 2017): the format
  itself is read by :mod:`tfrobust.data.idx`; :func:`read_idx_pair` checks an
  image file and a label file against each other.
* CIFAR-10 binary version (Krizhevsky 2009): ``data_batch_1.bin`` ..
  ``data_batch_5.bin`` and ``test_batch.bin``, each a sequence of 3073-byte
  records (1 label byte, 3072 pixel bytes in R, G, B planes of 32x32
  row-major pixels); see :func:`read_cifar_binary`.
* CIFAR-10 python version: pickled dicts ``data_batch_1`` .. ``data_batch_5``
  and ``test_batch``. They are read ONLY through :class:`RestrictedUnpickler`,
  which refuses every global except the few numpy needs to rebuild an array; a
  pickle asking for anything else raises :class:`CorruptDataError` before any
  of it runs.

Every reader returns read-only uint8 arrays, channels-last, with labels checked
to lie in ``[0, 10)``, and raises :class:`CorruptDataError` with one
line naming the file when a file is truncated, garbled or of the wrong format.
Where the files are looked for is :mod:`tfrobust.data.locate`.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import CorruptDataError
from .idx import check_idx_pair, read_idx

__all__ = [
    "one_line",
    "readonly",
    "read_idx_pair",
    "read_cifar_binary",
    "cifar_binary_count",
    "RestrictedUnpickler",
    "restricted_loads",
    "read_cifar_pickle",
]

_NUM_CLASSES = 10  # of every file-backed dataset
_CIFAR_RECORD = 1 + 32 * 32 * 3  # 3073 bytes: label + R, G, B planes


# --------------------------------------------------------------------------
# small helpers


def one_line(text: object) -> str:
    """``str(text)`` with every run of whitespace (newlines included) made one space."""
    return " ".join(str(text).split())


def _corrupt(path: str, reason: object) -> CorruptDataError:
    return CorruptDataError(f"corrupt data file {path}: {one_line(reason)}")


def readonly(a: np.ndarray) -> np.ndarray:
    """Mark ``a`` read-only (in place) and return it."""
    a.flags.writeable = False
    return a


def _check_labels(path: str, y: np.ndarray) -> None:
    if y.size and (int(y.min()) < 0 or int(y.max()) >= _NUM_CLASSES):
        raise _corrupt(
            path, f"labels outside [0, {_NUM_CLASSES}): min {int(y.min())}, max {int(y.max())}"
        )


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


def _record_error(path: str, size: int) -> CorruptDataError:
    return _corrupt(
        path, f"size {size} bytes is not a positive multiple of the {_CIFAR_RECORD}-byte record"
    )


# --------------------------------------------------------------------------
# idx (MNIST / Fashion-MNIST); the format itself is read by tfrobust.data.idx


def read_idx_pair(
    images: str, labels: str, image_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Read an idx image file and its idx label file as one split.

    Args:
        images: path of the ``*-images-idx3-ubyte[.gz]`` file.
        labels: path of the matching ``*-labels-idx1-ubyte[.gz]`` file.
        image_hw: the expected image height and width.

    Returns:
        ``(x, y)``: x (N, H, W, 1) uint8, y (N,) uint8 in [0, 10); read-only.

    Raises:
        CorruptDataError: a file is corrupt (see :func:`tfrobust.data.idx.read_idx`),
            the shapes disagree with ``image_hw`` or with each other, or a
            label is out of range.
    """
    x = read_idx(images)
    y = read_idx(labels)
    check_idx_pair(images, labels, x.shape, y.shape, image_hw)
    _check_labels(labels, y)
    return readonly(x.reshape(*x.shape, 1)), y


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
        raise _record_error(p, len(data))
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    y = np.ascontiguousarray(rec[:, 0])
    _check_labels(p, y)
    x = np.ascontiguousarray(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return readonly(x), readonly(y)


def cifar_binary_count(path: str | os.PathLike[str]) -> int:
    """Number of records in a CIFAR-10 binary batch, from its size alone (nothing is read).

    Raises:
        CorruptDataError: empty file, or size not a multiple of 3073.
    """
    p = os.fspath(path)
    size = os.path.getsize(p)
    if size == 0 or size % _CIFAR_RECORD:
        raise _record_error(p, size)
    return size // _CIFAR_RECORD


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
        raise CorruptDataError(f"malformed pickle ({type(e).__name__}: {one_line(e)})") from e


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
    return readonly(x), readonly(y.astype(np.uint8))
