"""What several stage kinds share: checking params, reading attribution options, writing results atomically.

Opening a dependency's trained run is :func:`tfrobust.training.rundir.dependency_run`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, parse_number

__all__ = ["attribution_options", "check_known", "names_param", "plain", "predict", "radii", "save_npz",
           "write_rows"]


def radii(value: Any, name: str) -> list[float]:
    """One radius or a list of them (``8/255`` allowed), each a number >= 0; ConfigError naming ``name``."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ConfigError(f"{name}: give one or more radii >= 0, got {value!r}")
    return [parse_number(v, name=name, minimum=0.0, float32=True) for v in items]


def check_known(kind: str, params: Mapping[str, Any], known: tuple[str, ...]) -> None:
    """Refuses keys of ``params`` not in ``known`` (a nested mapping a signature cannot type)."""
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ConfigError(f"{kind}: unknown param(s) {', '.join(unknown)}; known: {', '.join(known)}")


def names_param(kind: str, name: str, value: Any, choices: Sequence[str]) -> list[str]:
    """A list of names from a list or a comma-separated string, each one of ``choices``, no repeats."""
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if (not isinstance(items, (list, tuple)) or not items or any(v not in choices for v in items)
            or len(set(items)) != len(items)):
        raise ConfigError(f"{kind}.{name}: choose from {', '.join(choices)} (a list or comma-separated, "
                          f"no repeats), got {value!r}")
    return [str(v) for v in items]


def attribution_options(where: str, value: Any) -> dict[str, dict[str, Any]]:
    """A stage's ``options`` of attribution methods, ``{method: {option: value}}``, each checked
    (and converted) by the method's signature (:data:`tfrobust.registry.ATTRIBUTIONS`).

    Raises:
        ConfigError: not a mapping, an unknown method, or options the method does not take.
    """
    from tfrobust.registry import ATTRIBUTIONS

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: give a mapping of attribution method -> its options, got {value!r}")
    out: dict[str, dict[str, Any]] = {}
    for name, options in value.items():
        if name not in ATTRIBUTIONS:
            raise ConfigError(f"{where}: unknown attribution {name!r}; choose from: {', '.join(ATTRIBUTIONS)}")
        out[str(name)] = ATTRIBUTIONS[name].parse(options, prefix=f"{where}.{name}")
    return out


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


def predict(model: Any, x: Any, batch_size: int = 256) -> Any:
    import numpy as np

    from tfrobust.attribution.gradient import call_model

    parts = [np.argmax(np.asarray(call_model(model, x[i:i + batch_size])), axis=-1)
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
