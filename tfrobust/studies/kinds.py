"""Stage kinds: what a study cell does, by name.

:data:`KINDS` maps a stage's ``kind`` to a function
``fn(params, deps, out_dir) -> metrics``:

- ``params``: the cell's resolved params (a fresh copy; plain YAML types);
- ``deps``: dependency key -> artifact directory of that dependency cell (the
  key is the needed stage's name when it contributes one cell, else the
  dependency's cell id);
- ``out_dir``: the cell's own artifact directory ``cells/<id>/`` (exists);
- returns a flat mapping of JSON-serializable metrics (the ledger and
  ``results.csv`` columns).

Users and tests may register their own kinds (``KINDS["mine"] = fn``) before
loading a spec that uses them. TensorFlow is imported only when a kind runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, DataConfig, load_yaml, parse_number, train_config_from_dict

__all__ = ["KINDS", "Kind", "attack_kind", "train_kind"]

Kind = Callable[[dict[str, Any], dict[str, Path], Path], Mapping[str, Any]]


def train_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Trains one model: ``params`` is a training config (the layout of ``configs/*.yaml``).

    Writes the artifacts of :func:`tfrobust.training.train` (``model.keras``,
    ``history.csv``, ``metrics.json``, ...) into ``out_dir``; a killed cell
    re-run into the same directory resumes from its last finished epoch.

    Returns:
        The values of the run's ``metrics.json`` (test accuracy and loss, throughput).
    """
    from tfrobust.training import train

    config = train_config_from_dict(params)  # validates; errors name the field
    return dict(train(config, out_dir, verbose=2).metrics)


ATTACK_PARAMS = ("norms", "eps", "steps", "step_size", "restarts", "objective", "l2_step", "limit",
                 "split", "batch_size", "seed")


def _count(params: Mapping[str, Any], name: str, default: int | None, minimum: int) -> int | None:
    value = params.get(name, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"attack.{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _radii(value: Any, name: str) -> list[float]:
    items = value if isinstance(value, (list, tuple)) else [value]
    radii = [parse_number(v, name=name) for v in items]
    if not radii or any(r < 0 for r in radii):
        raise ConfigError(f"{name}: give one or more radii >= 0, got {value!r}")
    return radii


def attack_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Robust accuracy under PGD of the model trained by the one dependency ``train`` cell.

    Params: ``norms`` (``l2``, ``linf``, a list, or ``"l2,linf"``), ``eps`` (a
    radius, a list, or a mapping norm -> list; ``8/255`` allowed; data units),
    ``steps`` (40), ``step_size`` (default 2.5 eps/steps), ``restarts`` (1),
    ``objective`` (xent), ``l2_step`` (normalized), ``limit`` (examples, None:
    all), ``split`` (test), ``batch_size`` (256), ``seed`` (0). The dataset,
    its bounds and classes are those the model was trained on (its ``config.yaml``).

    Writes ``robust_accuracy.csv`` (the table of
    :func:`tfrobust.evaluation.robust_accuracy_table`) into ``out_dir``.

    Returns:
        ``clean_accuracy``, ``n`` and ``robust_<norm>_<eps>`` (mean over
        restarts) per (norm, eps); with restarts > 1 also ``robust_worst_<norm>_<eps>``.
    """
    unknown = sorted(set(params) - set(ATTACK_PARAMS))
    if unknown:
        raise ConfigError(f"attack: unknown param(s) {', '.join(unknown)}; known: {', '.join(ATTACK_PARAMS)}")
    runs = [path for path in deps.values() if (path / "model.keras").is_file()]
    if len(runs) != 1:
        raise ValueError(f"attack needs exactly one dependency with a model.keras, got {len(runs)} "
                         f"({', '.join(deps) or 'no dependencies'})")
    norms_value = params.get("norms", "l2")
    norms = [n.strip() for n in norms_value.split(",")] if isinstance(norms_value, str) else list(norms_value)
    if not norms or any(n not in ("l2", "linf") for n in norms):
        raise ConfigError(f"attack.norms: choose from l2, linf, got {norms_value!r}")
    if "eps" not in params:
        raise ConfigError("attack.eps: give the radii to attack with")
    eps_value = params["eps"]
    eps: list[float] | dict[str, list[float]]
    if isinstance(eps_value, Mapping):
        missing = [n for n in norms if n not in eps_value]
        if missing:
            raise ConfigError(f"attack.eps: no radii for {', '.join(missing)}")
        eps = {n: _radii(eps_value[n], f"attack.eps.{n}") for n in norms}
    else:
        eps = _radii(eps_value, "attack.eps")
    steps = _count(params, "steps", 40, 0)
    restarts = _count(params, "restarts", 1, 1)
    limit = _count(params, "limit", None, 1)
    batch_size = _count(params, "batch_size", 256, 1)
    seed = _count(params, "seed", 0, 0)
    split = params.get("split", "test")
    if split not in ("train", "test"):
        raise ConfigError(f"attack.split: train or test, got {split!r}")
    step_size = params.get("step_size")
    size = None if step_size is None else parse_number(step_size, name="attack.step_size")

    from tfrobust.data import load_dataset
    from tfrobust.evaluation import robust_accuracy_table
    from tfrobust.training import load_model

    run = runs[0]
    trained = dict(load_yaml(run / "config.yaml").get("data") or {}) if (run / "config.yaml").is_file() else {}
    data = DataConfig(name=trained.get("name", "fashion_mnist"), data_dir=trained.get("data_dir"),
                      classes=trained.get("classes"), bounds=trained.get("bounds"),
                      options=trained.get("options") or {})
    ds = load_dataset(data.name, split, data_dir=data.data_dir, classes=data.classes, limit=limit,
                      bounds=data.bounds, seed=int(seed or 0), **data.options)
    model = load_model(run / "model.keras")
    table = robust_accuracy_table(
        model, ds.pipeline(int(batch_size or 256)), norms=norms, eps=eps, bounds=ds.bounds, steps=int(steps or 0),
        step_size=size, objective=params.get("objective", "xent"), restarts=int(restarts or 1),
        l2_step=params.get("l2_step", "normalized"), seed=int(seed or 0),
    )
    tmp = out_dir / f".robust_accuracy.csv.tmp{os.getpid()}"
    table.to_csv(tmp, index=False)
    os.replace(tmp, out_dir / "robust_accuracy.csv")
    metrics: dict[str, Any] = {"clean_accuracy": float(table["clean_accuracy"].iloc[0]),
                               "n": int(table["n"].iloc[0])}
    for _, row in table.iterrows():
        metrics[f"robust_{row['norm']}_{row['eps']:g}"] = float(row["robust_accuracy_mean"])
        if row["restarts"] > 1:
            metrics[f"robust_worst_{row['norm']}_{row['eps']:g}"] = float(row["robust_accuracy_worst"])
    return metrics


KINDS: dict[str, Kind] = {
    "train": train_kind,
    "attack": attack_kind,
}
