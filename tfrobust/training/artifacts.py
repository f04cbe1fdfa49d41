"""Saving, exporting and safely loading trained classifiers; atomic writes; library versions."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import secrets
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import tfrobust.training.robust_model  # noqa: F401  (registers RobustModel for loading)
from tfrobust import __version__

__all__ = ["EXPORT_MARKER", "atomic_json", "check_export_target", "export_saved_model", "library_versions",
           "load_model", "save_model", "write_export"]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a result depends on (recorded with runs and map caches)."""
    return {
        "tfrobust": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def atomic_json(values: dict[str, Any], path: str | os.PathLike) -> Path:
    """Writes ``values`` as JSON via a temp file and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Saves a model as ``.keras`` atomically (temp file + ``os.replace``)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model files end in .keras, got {path}")
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.keras")
    model.save(tmp)
    os.replace(tmp, path)
    return path


#: Name of the marker file :func:`export_saved_model` writes into every SavedModel it makes.
EXPORT_MARKER = ".tfrobust-export"

_SAVED_MODEL_FILES = frozenset({"saved_model.pb", "fingerprint.pb"})
_SAVED_MODEL_DIRS = frozenset({"variables", "assets"})
_VARIABLE_FILE = re.compile(r"^variables\.(index|data-\d{5}-of-\d{5})$")


def _resolved(path: str | os.PathLike) -> Path:
    """``path`` made absolute with every symlink resolved (also if it does not exist)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _has_marker(directory: Path) -> bool:
    """Whether ``directory`` holds a readable tfrobust export marker."""
    try:
        values = json.loads((directory / EXPORT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(values, dict) and values.get("tool") == "tfrobust"


def _unexpected_entries(directory: Path, *, marked: bool) -> list[str]:
    """Entries of ``directory`` that a SavedModel written by :func:`export_saved_model` never has.

    Expected: ``saved_model.pb`` (required), ``fingerprint.pb``, the marker,
    ``variables/`` holding only ``variables.index`` / ``variables.data-*``
    files, and ``assets/`` (which must be empty when there is no marker: Keras
    writes it empty for the classifiers tfrobust builds).
    """
    bad: list[str] = []
    names = {entry.name: entry for entry in directory.iterdir()}
    if "saved_model.pb" not in names or not names["saved_model.pb"].is_file():
        bad.append("saved_model.pb (missing)")
    for name, entry in sorted(names.items()):
        if entry.is_symlink():
            bad.append(name)
        elif name in _SAVED_MODEL_FILES or (marked and name == EXPORT_MARKER):
            if not entry.is_file():
                bad.append(name)
        elif name == "variables" and entry.is_dir():
            bad += [f"variables/{v.name}" for v in entry.iterdir()
                    if v.is_symlink() or not v.is_file() or not _VARIABLE_FILE.match(v.name)]
        elif name == "assets" and entry.is_dir():
            if not marked:
                bad += [f"assets/{a.name}" for a in entry.iterdir()]
        else:
            bad.append(name)
    return bad


def check_export_target(path: str | os.PathLike,
                        protect: Iterable[str | os.PathLike] = ()) -> Path:
    """Checks that a SavedModel may be written to ``path``, before anything is loaded or written.

    ``path`` (symlinks resolved) may be absent, an empty directory, or an
    earlier export: a directory holding the :data:`EXPORT_MARKER` file, or,
    for runs written before the marker existed, a directory that holds exactly
    what Keras writes for a SavedModel (``saved_model.pb``,
    ``fingerprint.pb``, ``variables/`` with variable files only, an empty
    ``assets/``). Anything else would be lost on replacement and is refused.
    A target that equals or contains one of ``protect`` (e.g. the model file
    being exported and its run directory) is refused too. Its parent directory
    must be writable: a temporary directory is created and removed there to
    find out, nothing else is written.

    Args:
        path: the SavedModel directory to write.
        protect: paths the export must never replace (symlinks resolved).

    Returns:
        ``path`` with symlinks resolved: the directory the export will replace.

    Raises:
        ValueError: one line saying why the target is refused.
    """
    target = _resolved(path)
    kept = [(p, _resolved(p)) for p in protect]
    for relation, hit in (("is", lambda s: target == s), ("contains", lambda s: target in s.parents)):
        for given, source in kept:
            if hit(source):
                raise ValueError(f"export target {path} {relation} the model source {given}; "
                                 "choose a new directory for the SavedModel")
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise ValueError(f"export target {path} exists and is not a directory")
        try:
            empty = not any(target.iterdir())
            bad = [] if empty else _unexpected_entries(target, marked=_has_marker(target))
        except OSError as err:
            raise ValueError(f"cannot read export target {path}: {err.strerror or err}") from err
        if bad:
            shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise ValueError(
                f"export target {path} is not empty and is not an earlier tfrobust export "
                f"(it holds {shown}); choose a new or empty directory")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"cannot create export target {path}: {parent} is not a directory")
    try:
        shutil.rmtree(tempfile.mkdtemp(prefix=f".{target.name}.probe-", dir=parent))
    except OSError as err:
        raise ValueError(f"cannot write export target {path}: cannot create a directory in {parent} "
                         f"({err.strerror or type(err).__name__})") from err
    return target


def _remove_export(directory: Path) -> None:
    """Removes an earlier export entry by entry, only names a SavedModel has; keeps anything else."""
    marked = _has_marker(directory)
    if _unexpected_entries(directory, marked=marked):
        return  # changed since it was checked: leave it alone
    for sub in ("variables", "assets"):
        if (directory / sub).is_dir():
            if sub == "assets" and marked:
                shutil.rmtree(directory / sub)
                continue
            for entry in (directory / sub).iterdir():
                entry.unlink()
            (directory / sub).rmdir()
    for name in (*_SAVED_MODEL_FILES, EXPORT_MARKER):
        (directory / name).unlink(missing_ok=True)
    directory.rmdir()


def export_saved_model(model: keras.Model, path: str | os.PathLike, *,
                       protect: Iterable[str | os.PathLike] = ()) -> Path:
    """Exports a TensorFlow SavedModel whose ``serve`` endpoint returns logits.

    The target is checked first (see :func:`check_export_target`): it is
    written only if absent, empty or an earlier export, and never if it
    equals or contains one of ``protect``. The export goes to a new temporary
    sibling directory, gets the :data:`EXPORT_MARKER` file (a small JSON), and
    then takes the target's place by renames; an earlier export is removed
    only after the new one is complete, and only the entries a SavedModel has.
    Nothing this function did not create is deleted. The SavedModel also
    carries the ``serving_default`` signature.

    Args:
        model: the classifier to export.
        path: the SavedModel directory (symlinks resolved).
        protect: paths the export must not replace or contain.

    Returns:
        The SavedModel directory (symlinks resolved).

    Raises:
        ValueError: the target is refused (one line, see :func:`check_export_target`).
        OSError: writing failed (one line); the target is unchanged.
    """
    def write(tmp: Path) -> None:
        model.export(str(tmp), format="tf_saved_model", verbose=False)

    return write_export(write, path, protect=protect)


def write_export(write: Callable[[Path], None], path: str | os.PathLike, *,
                 protect: Iterable[str | os.PathLike] = (),
                 metadata: Mapping[str, Any] | None = None) -> Path:
    """Runs ``write(tmp)`` into a new temporary sibling of ``path`` and moves the result into place.

    The guarantees of :func:`export_saved_model` (which uses this): the
    target is checked before and after writing (:func:`check_export_target`),
    the :data:`EXPORT_MARKER` file (a small JSON, ``metadata`` merged in) is
    added, an earlier export is replaced by renames and removed only after
    the new one is complete, and nothing this function did not create is
    deleted. ``write`` must write a SavedModel into the (existing, empty)
    directory it is given.

    Returns:
        The SavedModel directory (symlinks resolved).

    Raises:
        ValueError: the target is refused (one line).
        OSError: writing failed (one line); the target is unchanged.
    """
    target = check_export_target(path, protect)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_dir(target.parent, f".{target.name}.tmp-")
    try:
        try:
            write(tmp)
        except tf.errors.OpError as err:
            raise OSError(f"cannot export a SavedModel to {path}: {type(err).__name__}: "
                          f"{' '.join(str(err.message).split())}") from err
        marker = {**(metadata or {}), "tool": "tfrobust", "format": "tf_saved_model", "version": _version(),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (tmp / EXPORT_MARKER).write_text(json.dumps(marker, sort_keys=True) + "\n", encoding="utf-8")
        check_export_target(target, protect)  # unchanged since the first check?
        if target.is_dir() and any(target.iterdir()):
            old = _fresh_dir(target.parent, f".{target.name}.old-")
            try:
                os.replace(target, old)  # replaces the empty directory ``old``
            except OSError:
                old.rmdir()
                raise
            try:
                os.replace(tmp, target)
            except OSError:
                os.replace(old, target)  # put the earlier export back
                raise
            try:
                _remove_export(old)
            except OSError:
                pass  # a leftover hidden .old directory; the new export is in place
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)  # our own temporary directory
    return target


def _fresh_dir(parent: Path, prefix: str) -> Path:
    """Creates a new, empty directory ``parent/prefix<random>`` with the usual permissions (umask)."""
    for _ in range(100):
        path = parent / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"cannot create a temporary directory in {parent}")


def _version() -> str:
    try:
        return importlib.metadata.version("tfrobust")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def load_model(path: str | os.PathLike) -> keras.Model:
    """Loads a ``.keras`` model in Keras safe mode (no arbitrary code runs).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable ``.keras`` archive (any error
            while deserializing it becomes one line naming the file), or it
            needs unsafe deserialization (e.g. a Lambda layer).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .keras model archive (corrupt or wrong file)")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # a damaged archive fails in many ways deep inside Keras and h5py
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        kind = "" if isinstance(err, ValueError) else f"{type(err).__name__}: "
        raise ValueError(f"cannot load model {path}: {kind}{first}".rstrip(": ")) from err
