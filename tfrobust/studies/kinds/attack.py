"""Robust accuracy of a train cell's model (a study stage kind)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, DataConfig, load_yaml, parse_number
from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    count_param,
    radii,
)

__all__ = ["attack_kind"]


ATTACK_PARAMS = ("norms", "eps", "steps", "step_size", "restarts", "objective", "l2_step", "limit",
                 "split", "batch_size", "seed", "step_size_factor", "long_steps")


@register("kinds", "attack")
def attack_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Robust accuracy under PGD of the model trained by the one dependency ``train`` cell.

    Params: ``norms`` (``l2``, ``linf``, a list, or ``"l2,linf"``), ``eps`` (a
    radius, a list, or a mapping norm -> list; ``8/255`` allowed; data units),
    ``steps`` (40), ``step_size`` (default 2.5 eps/steps), ``step_size_factor``
    (the 2.5 of that default: a number, or a mapping norm -> number for per-norm
    rules such as Noack et al.'s code, l2 5.1 and linf 10 on CIFAR-10; not with
    ``step_size``), ``restarts`` (1),
    ``objective`` (xent), ``l2_step`` (normalized), ``long_steps`` (refuse |
    cut: a step longer than the ball's diameter), ``limit`` (examples, None:
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
        eps = {n: radii(eps_value[n], f"attack.eps.{n}") for n in norms}
    else:
        eps = radii(eps_value, "attack.eps")
    steps = count_param(params, "steps", 40, 0)
    restarts = count_param(params, "restarts", 1, 1)
    limit = count_param(params, "limit", None, 1)
    batch_size = count_param(params, "batch_size", 256, 1)
    seed = count_param(params, "seed", 0, 0)
    split = params.get("split", "test")
    if split not in ("train", "test"):
        raise ConfigError(f"attack.split: train or test, got {split!r}")
    step_size = params.get("step_size")
    size = None if step_size is None else parse_number(step_size, name="attack.step_size")
    factor_value = params.get("step_size_factor", 2.5)
    if step_size is not None and "step_size_factor" in params:
        raise ConfigError("attack: give step_size or step_size_factor, not both")
    if isinstance(factor_value, Mapping):
        if sorted(factor_value) != sorted(norms):
            raise ConfigError(f"attack.step_size_factor: give one factor per norm ({', '.join(norms)}), "
                              f"got {', '.join(map(str, factor_value)) or 'none'}")
        factors = {n: parse_number(factor_value[n], name=f"attack.step_size_factor.{n}") for n in norms}
    else:
        factors = dict.fromkeys(norms, parse_number(factor_value, name="attack.step_size_factor"))
    if any(f <= 0 for f in factors.values()):
        raise ConfigError(f"attack.step_size_factor must be > 0, got {factor_value!r}")

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
    # One table per distinct factor (norms sharing a factor share the clean pass).
    groups: dict[float, list[str]] = {}
    for n in norms:
        groups.setdefault(factors[n], []).append(n)
    import pandas as pd

    table = pd.concat([robust_accuracy_table(
        model, ds.pipeline(int(batch_size or 256)), norms=group,
        eps=eps if not isinstance(eps, dict) else {n: eps[n] for n in group}, bounds=ds.bounds,
        steps=int(steps or 0), step_size=size, step_size_factor=factor,
        objective=params.get("objective", "xent"), restarts=int(restarts or 1),
        l2_step=params.get("l2_step", "normalized"), seed=int(seed or 0),
        long_steps=params.get("long_steps", "refuse"),
    ) for factor, group in groups.items()], ignore_index=True)
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
