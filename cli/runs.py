"""What the commands that read a trained run share: its model file, its data, the model."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from tfrobust.config import ConfigError, DataConfig, load_yaml

__all__ = ["data_config", "load_checked_model", "load_split", "model_and_data", "model_file", "parse_methods",
           "run_config",
           "run_data"]


def model_file(model: str, *, filename: str = "model.keras", what: str = "trained model",
               directory: str = "a run directory") -> Path:
    """The .keras file of a directory (``filename`` in it) or a path to one; FileNotFoundError if absent."""
    path = Path(model)
    if path.is_dir():
        path = path / filename
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path} (expected {directory} or a .keras file)")
    return path


def parse_methods(text: str) -> list[str]:
    """``--method a,b``: attribution names from ``tfrobust.attribution.ATTRIBUTIONS``, no repeats."""
    from tfrobust.attribution import ATTRIBUTIONS

    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in ATTRIBUTIONS]
    if bad or not names:
        raise click.BadParameter(f"choose from {', '.join(ATTRIBUTIONS)} (comma-separated), got {text!r}",
                                 param_hint="--method")
    if len(set(names)) != len(names):
        raise click.BadParameter(f"a method is named twice in {text!r}", param_hint="--method")
    return names


def run_data(model_dir: Path) -> dict[str, Any]:
    """The data section of the run's config.yaml (bounds, classes), if any.

    Raises:
        ConfigError: config.yaml is unreadable, not YAML, or its data section
            is not a valid data config (one line naming the file and field).
    """
    path = model_dir / "config.yaml"
    if not path.is_file():
        return {}
    section = _run_yaml(path).get("data") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: data must be a mapping, got {type(section).__name__}")
    known = {f.name for f in dataclasses.fields(DataConfig)}
    try:
        DataConfig(**{k: v for k, v in section.items() if k in known})
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{path}: {' '.join(str(err).split())}") from err
    return dict(section)


def run_config(model_dir: Path) -> dict[str, Any]:
    """The whole config.yaml of a run directory ({} if absent)."""
    path = model_dir / "config.yaml"
    return _run_yaml(path) if path.is_file() else {}


def _run_yaml(path: Path) -> dict[str, Any]:
    """A run's config.yaml as a dict; ConfigError (one line naming the file) if unreadable."""
    try:
        return dict(load_yaml(path))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from err


def data_config(path: Path, *, dataset: str | None, data_dir: str | None, classes: str | None,
                limit: int | None, bounds: str | None) -> DataConfig:
    """The data to run the model of ``path`` on, defaults taken from its run's config.yaml.

    Bounds default to the ones the model was trained with; classes, dataset
    options and the data directory carry over only when ``dataset`` is the one
    the model was trained on (or None).
    """
    trained = run_data(path.parent)
    same = trained if dataset in (None, trained.get("name")) else {}
    return DataConfig(
        name=dataset or trained.get("name") or "fashion_mnist",
        data_dir=data_dir or same.get("data_dir"),
        classes=classes if classes is not None else same.get("classes"),  # type: ignore[arg-type]  # parsed in DataConfig
        limit=limit,
        bounds=bounds if bounds is not None else trained.get("bounds"),  # type: ignore[arg-type]  # parsed in DataConfig
        options=same.get("options") or {},
    )


def load_split(data: DataConfig, split: str, *, seed: int, limit: int | None = None) -> Any:
    """One split of ``data`` (``limit`` overrides the config's)."""
    from tfrobust.data import load_dataset

    return load_dataset(data.name, split, data_dir=data.data_dir, classes=data.classes,
                        limit=data.limit if limit is None else limit, bounds=data.bounds, seed=seed,
                        **data.options)


def load_checked_model(path: Path, input_shape: tuple[int, ...], name: str) -> Any:
    """Loads a model (safe mode); UsageError if it does not take ``input_shape`` inputs.

    Raises:
        FileNotFoundError, ValueError: the file is missing or not a loadable
            model (one line naming it).
        click.UsageError: the input shape differs from ``input_shape``.
    """
    from tfrobust.training import load_model

    model = load_model(path)
    try:
        shape = tuple(model.inputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: the model has no fixed input shape") from err
    if shape != tuple(input_shape):
        raise click.UsageError(f"the model takes inputs {shape}, {name} has {tuple(input_shape)}")
    return model


def model_and_data(model_path: str, *, dataset: str | None, split: str, data_dir: str | None,
                   classes: str | None, limit: int | None, bounds: str | None, seed: int) -> tuple[Path, Any, Any]:
    """Loads a trained model (safe mode) and the data to run it on (see :func:`data_config`).

    Returns:
        ``(model_file, model, dataset)``.

    Raises:
        click.UsageError: the model's input shape does not fit the data.
    """
    path = model_file(model_path)
    data = data_config(path, dataset=dataset, data_dir=data_dir, classes=classes, limit=limit, bounds=bounds)
    ds = load_split(data, split, seed=seed)
    return path, load_checked_model(path, tuple(ds.input_shape), data.name), ds
