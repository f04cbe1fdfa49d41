"""Where the files of a file-backed dataset are found: the layouts and the search order.

File names (docs/architecture.md, Data; the formats are read by
:mod:`tfrobust.data.formats`):

* MNIST / Fashion-MNIST idx files: ``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
  ``t10k-labels-idx1-ubyte[.gz]`` (:data:`IDX_FILES`).
* CIFAR-10 binary version: ``cifar-10-batches-bin/`` holding
  ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``
  (:data:`CIFAR_BIN_FILES`).
* CIFAR-10 python version: ``cifar-10-batches-py/`` holding
  ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` (:data:`CIFAR_PY_FILES`).
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
   ``$TFROBUST_TFDS_DOWNLOAD=1`` (the CLI's ``--download`` sets it, see
   :func:`enable_download`; off by default: without a network its retries
   take minutes, and a load should fail fast with a clear message).

Within a directory ``D`` the files may lie in ``D/<name>/`` (also the Debian
spelling ``D/fashion-mnist/`` and ``D/cifar-10/``) or in ``D`` itself; for
CIFAR-10 also in ``D[/<name>]/cifar-10-batches-bin`` or
``D[/<name>]/cifar-10-batches-py``. The per-dataset sub-directory is tried first,
because MNIST and Fashion-MNIST use the same file names.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import DatasetNotFoundError
from .formats import one_line

__all__ = [
    "IDX_FILES",
    "CIFAR_BIN_FILES",
    "CIFAR_PY_FILES",
    "CIFAR_BIN_DIR",
    "CIFAR_PY_DIR",
    "DEBIAN_DIRS",
    "DOWNLOAD_ENV",
    "Location",
    "enable_download",
    "find_in_directory",
    "search",
]

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

#: The environment variable that lets tensorflow-datasets download a dataset (set by the CLI's ``--download``).
DOWNLOAD_ENV = "TFROBUST_TFDS_DOWNLOAD"


def enable_download() -> None:
    """Lets :func:`search` download a dataset through tensorflow-datasets in this process (and its children).

    The same as ``$TFROBUST_TFDS_DOWNLOAD=1``; what the CLI's ``--download`` does.
    """
    os.environ[DOWNLOAD_ENV] = "1"


#: Debian package directories (searched after ``$TFROBUST_DATA_DIR``).
#: Module-level so that tests can point them elsewhere.
DEBIAN_DIRS: dict[str, str] = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}

# Per dataset: on-disk formats (in preference order), sub-directory spellings,
# tfds name.
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
_TFDS_NAMES: dict[str, str] = {
    "fashion_mnist": "fashion_mnist",
    "mnist": "mnist",
    "cifar10": "cifar10",
}


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
# one directory


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


# --------------------------------------------------------------------------
# the search order


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
    return text + (f", or pass --download (or set ${DOWNLOAD_ENV}=1) to fetch it through tensorflow-datasets "
                   "(needs the package and a network)")


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
        return None, f"tensorflow-datasets (unavailable: {type(e).__name__}: {one_line(e)})"
    try:
        builder = tfds.builder(tname)
        if not builder.is_prepared():
            if not _env_flag(DOWNLOAD_ENV, False):
                return (
                    None,
                    f"tensorflow-datasets {tname} (not prepared; pass --download or set ${DOWNLOAD_ENV}=1 "
                    "to download)",
                )
            builder.download_and_prepare()
    except Exception as e:
        return (
            None,
            f"tensorflow-datasets {tname} (failed: {type(e).__name__}: {one_line(e)[:200]})",
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
