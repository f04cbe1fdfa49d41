"""Saving, exporting and safely loading trained classifiers; atomic writes."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import keras

import tfrobust.training.robust_model  # noqa: F401  (registers RobustModel for loading)

__all__ = ["atomic_json", "save_model", "export_saved_model", "load_model"]


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


def export_saved_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Exports a TensorFlow SavedModel whose ``serve`` endpoint returns logits.

    The export goes to a temporary directory first and replaces ``path`` only
    when complete, so an interrupted export never leaves a half-written model.
    The SavedModel also carries the ``serving_default`` signature.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    old = path.with_name(f".{path.name}.old{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.export(str(tmp), format="tf_saved_model", verbose=False)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def load_model(path: str | os.PathLike) -> keras.Model:
    """Loads a ``.keras`` model in Keras safe mode (no arbitrary code runs).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable ``.keras`` archive, or it needs
            unsafe deserialization (e.g. a Lambda layer).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .keras model archive (corrupt or wrong file)")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"cannot load model {path}: {first}") from err
