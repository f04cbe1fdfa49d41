"""What several stage kinds share: reading a dependency run, parsing params, writing results atomically."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, DataConfig, load_yaml, parse_number

__all__ = ["check_known", "choice_param", "count_param", "first_images", "int_param", "integers_param", "load_split", "model_run", "names_param", "numbers_param", "plain", "predict", "radii", "radius_param", "real_param", "run_config", "run_data", "save_npz", "split_param", "write_rows"]


def count_param(params: Mapping[str, Any], name: str, default: int | None, minimum: int) -> int | None:
    value = params.get(name, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"attack.{name} must be an integer >= {minimum}, got {value!r}")
    return value


def radii(value: Any, name: str) -> list[float]:
    items = value if isinstance(value, (list, tuple)) else [value]
    radii = [parse_number(v, name=name) for v in items]
    if not radii or any(r < 0 for r in radii):
        raise ConfigError(f"{name}: give one or more radii >= 0, got {value!r}")
    return radii


def check_known(kind: str, params: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ConfigError(f"{kind}: unknown param(s) {', '.join(unknown)}; known: {', '.join(known)}")


def int_param(kind: str, params: Mapping[str, Any], name: str, default: int | None, minimum: int) -> int | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{kind}.{name} must be an integer >= {minimum}, got {value!r}")
    return value


def real_param(kind: str, params: Mapping[str, Any], name: str, default: float | None) -> float | None:
    value = params.get(name, default)
    return None if value is None else parse_number(value, name=f"{kind}.{name}")


def names_param(kind: str, name: str, value: Any, choices: Sequence[str]) -> list[str]:
    """A list of names from a list or a comma-separated string, each one of ``choices``, no repeats."""
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if (not isinstance(items, (list, tuple)) or not items or any(v not in choices for v in items)
            or len(set(items)) != len(items)):
        raise ConfigError(f"{kind}.{name}: choose from {', '.join(choices)} (a list or comma-separated, "
                          f"no repeats), got {value!r}")
    return [str(v) for v in items]


def model_run(kind: str, deps: Mapping[str, Path]) -> Path:
    """The one dependency directory holding a ``model.keras``."""
    runs = [path for path in deps.values() if (path / "model.keras").is_file()]
    if len(runs) != 1:
        raise ValueError(f"{kind} needs exactly one dependency with a model.keras, got {len(runs)} "
                         f"({', '.join(deps) or 'no dependencies'})")
    return runs[0]


def run_config(run: Path) -> dict[str, Any]:
    return load_yaml(run / "config.yaml") if (run / "config.yaml").is_file() else {}


def run_data(trained: Mapping[str, Any]) -> DataConfig:
    data = dict(trained.get("data") or {})
    return DataConfig(name=data.get("name", "fashion_mnist"), data_dir=data.get("data_dir"),
                      classes=data.get("classes"), limit=data.get("limit"), bounds=data.get("bounds"),
                      options=data.get("options") or {})


def load_split(data: DataConfig, split: str, *, limit: int | None, seed: int) -> Any:
    from tfrobust.data import load_dataset

    return load_dataset(data.name, split, data_dir=data.data_dir, classes=data.classes, limit=limit,
                        bounds=data.bounds, seed=seed, **data.options)


def write_rows(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Rows as a CSV, atomically (temp file + ``os.replace``)."""
    import pandas as pd

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pd.DataFrame(list(rows)).to_csv(tmp, index=False)
    os.replace(tmp, path)


def plain(value: Any) -> Any:
    """A JSON-safe scalar: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    number = float(value)
    if not math.isfinite(number):
        return None
    return int(value) if isinstance(value, int) else number


def save_npz(path: Path, /, **arrays: Any) -> Path:
    """Arrays as an ``.npz`` (no pickles), atomically (temp file + ``os.replace``)."""
    import numpy as np

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        values: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
        np.savez(handle, **values)
    os.replace(tmp, path)
    return path


def choice_param(kind: str, params: Mapping[str, Any], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = params.get(name, default)
    if value not in choices:
        raise ConfigError(f"{kind}.{name}: choose from {', '.join(choices)}, got {value!r}")
    return str(value)


def split_param(kind: str, params: Mapping[str, Any]) -> str:
    return choice_param(kind, params, "split", "test", ("train", "test"))


def radius_param(kind: str, params: Mapping[str, Any], name: str, default: float | None) -> float:
    value = real_param(kind, params, name, default)
    if value is None:
        raise ConfigError(f"{kind}.{name}: give a radius in data units")
    if value < 0:
        raise ConfigError(f"{kind}.{name} must be >= 0, got {params.get(name)!r}")
    return value


def first_images(kind: str, deps: Mapping[str, Path], split: str, n: int) -> tuple[Any, Any, Path]:
    """(model, the first ``n`` images of the train cell's ``split``, run directory)."""
    from tfrobust.training import load_model

    run = model_run(kind, deps)
    trained = run_config(run)
    ds = load_split(run_data(trained), split, limit=n, seed=int(trained.get("seed") or 0))
    return load_model(run / "model.keras"), ds, run


def predict(model: Any, x: Any, batch_size: int = 256) -> Any:
    import numpy as np

    from tfrobust.attacks import call_model

    parts = [np.argmax(np.asarray(call_model(model, x[i:i + batch_size])), axis=-1)
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def numbers_param(kind: str, params: Mapping[str, Any], name: str, default: list[float]) -> list[float]:
    value = params.get(name, default)
    items = value if isinstance(value, (list, tuple)) else [value]
    out = [parse_number(v, name=f"{kind}.{name}") for v in items]
    if not out or any(v < 0 for v in out):
        raise ConfigError(f"{kind}.{name}: give one or more numbers >= 0, got {value!r}")
    return out


def integers_param(kind: str, params: Mapping[str, Any], name: str, default: list[int]) -> list[int]:
    value = params.get(name, default)
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in items):
        raise ConfigError(f"{kind}.{name}: give one or more integers >= 1, got {value!r}")
    return [int(v) for v in items]
