"""Opening a finished training run: its model file, its config, the data it was trained on.

One place for what every command and study stage that reads a trained run
needs (docs/architecture.md, Results): :func:`open_run` takes a run directory
(``model.keras``, ``config.yaml``) or a ``.keras`` file and returns a
:class:`Run`; :func:`dependency_run` finds the one run among a study cell's
dependencies. The model is loaded in Keras safe mode, only when asked for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, DataConfig, load_yaml

__all__ = ["Run", "dependency_run", "open_run"]


@dataclass(frozen=True)
class Run:
    """A trained run: ``model_file`` and the ``config.yaml`` next to it (``{}`` when there is none)."""

    model_file: Path
    config: dict[str, Any]

    @property
    def directory(self) -> Path:
        return self.model_file.parent

    @property
    def data_section(self) -> dict[str, Any]:
        """The ``data`` mapping of the run's config (bounds, classes, dataset options)."""
        section = self.config.get("data") or {}
        if not isinstance(section, Mapping):
            raise ConfigError(f"{self.directory / 'config.yaml'}: data must be a mapping, "
                              f"got {type(section).__name__}")
        return dict(section)

    @property
    def data(self) -> DataConfig:
        """The data the model was trained on (``fashion_mnist`` when the run records none)."""
        return self.data_for(keep_limit=True)

    def data_for(self, *, dataset: str | None = None, data_dir: str | None = None, classes: Any = None,
                 limit: int | None = None, bounds: Any = None, keep_limit: bool = False) -> DataConfig:
        """The data to run the model on: the trained data with the given fields replaced.

        Bounds default to the ones the model was trained with; classes, dataset
        options, the data directory and (with ``keep_limit``) the limit carry over
        only when ``dataset`` is the trained one (or None).

        Raises:
            ConfigError: the run's data section or a given field is invalid (one
                line naming the file or field).
        """
        trained = self.data_section
        same = trained if dataset in (None, trained.get("name")) else {}
        values: dict[str, Any] = {
            "name": dataset or trained.get("name") or "fashion_mnist",
            "data_dir": data_dir or same.get("data_dir"),
            "classes": classes if classes is not None else same.get("classes"),
            "limit": limit if limit is not None else (same.get("limit") if keep_limit else None),
            "bounds": bounds if bounds is not None else trained.get("bounds"),
            "options": same.get("options") or {},
        }
        known = {f.name for f in dataclasses.fields(DataConfig)}
        try:
            return DataConfig(**{k: v for k, v in values.items() if k in known})
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{self.directory / 'config.yaml'}: {' '.join(str(err).split())}") from err

    def load_split(self, split: str, *, seed: int = 0, limit: int | None = None,
                   data: DataConfig | None = None) -> Any:
        """One split of ``data`` (default: the trained data); ``limit`` overrides the config's."""
        from tfrobust.data import load_dataset

        data = self.data if data is None else data
        return load_dataset(data.name, split, data_dir=data.data_dir, classes=data.classes,
                            limit=data.limit if limit is None else limit, bounds=data.bounds, seed=seed,
                            **data.options)

    def load_model(self, input_shape: tuple[int, ...] | None = None, *, data_name: str = "the data") -> Any:
        """The model (Keras safe mode); with ``input_shape``, checked to take such inputs.

        Raises:
            FileNotFoundError, ValueError: the file is missing or not a loadable
                model, or its input shape differs from ``input_shape`` (one line).
        """
        from tfrobust.training.artifacts import load_model

        model = load_model(self.model_file)
        if input_shape is not None:
            try:
                shape = tuple(model.inputs[0].shape[1:])
            except (AttributeError, IndexError, TypeError, ValueError) as err:
                raise ValueError(f"{self.model_file}: the model has no fixed input shape") from err
            if shape != tuple(input_shape):
                raise ValueError(f"the model takes inputs {shape}, {data_name} has {tuple(input_shape)}")
        return model


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        values = load_yaml(path)
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from err
    if not isinstance(values, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {type(values).__name__}")
    return dict(values)


def open_run(path: str | Path, *, filename: str = "model.keras", what: str = "trained model",
             directory: str = "a run directory") -> Run:
    """The run of a directory (``filename`` in it) or of a ``.keras`` file (its directory's config).

    Raises:
        FileNotFoundError: no model file there (one line naming the path).
        ConfigError: the run's ``config.yaml`` is not readable YAML.
    """
    model_file = Path(path)
    if model_file.is_dir():
        model_file = model_file / filename
    if not model_file.is_file():
        raise FileNotFoundError(f"no {what} at {model_file} (expected {directory} or a .keras file)")
    return Run(model_file, _read_config(model_file.parent / "config.yaml"))


def dependency_run(kind: str, deps: Mapping[str, Path]) -> Run:
    """The one dependency directory of a study cell that holds a ``model.keras``.

    Raises:
        ValueError: none or several of them (one line naming ``kind``).
    """
    runs = [path for path in deps.values() if (Path(path) / "model.keras").is_file()]
    if len(runs) != 1:
        raise ValueError(f"{kind} needs exactly one dependency with a model.keras, got {len(runs)} "
                         f"({', '.join(deps) or 'no dependencies'})")
    return open_run(runs[0])
