"""ROAR / KAR of attribution methods (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, parse_number
from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    check_known,
    int_param,
    load_split,
    model_run,
    names_param,
    plain,
    real_param,
    run_config,
    run_data,
)

__all__ = ["roar_kind"]



ROAR_PARAMS = ("methods", "fractions", "repeats", "modes", "epochs", "batch_size", "limit", "test_limit",
               "group_size", "fill", "rank_mode", "learning_rate", "seed", "label", "ties", "end_point")


@register("kinds", "roar")
def roar_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """ROAR / KAR of attribution methods for the one dependency ``train`` cell's model.

    Params: ``methods`` (required; list or ``"a,b"``; include ``random``, the
    baseline of mu), ``fractions`` (default 0.1 ... 0.9), ``repeats`` (3),
    ``modes`` (``roar``, ``kar`` or both; default ``roar``), ``epochs`` (5),
    ``batch_size`` (128), ``limit`` / ``test_limit`` (first N train / test
    images; default the train cell's ``data.limit``), ``group_size`` (8),
    ``fill`` (``mean`` or a number), ``rank_mode`` (``abs``/``signed``),
    ``label`` (``predicted``: maps of the model's predicted class, Kim's code;
    or ``true``), ``ties`` (``random``, Kim's code, or ``index``),
    ``end_point`` (``chance``: curves end at (1, 1/K), Kim's code; or ``none``),
    ``learning_rate`` (Adam, 1e-3), ``seed`` (0). The retrained architecture,
    the dataset, bounds and classes are the train cell's (its ``config.yaml``).

    Writes (:func:`tfrobust.evaluation.run_roar`, resumable) ``roar.csv``,
    ``scores.csv``, ``maps/``, ``members/`` and ``curves.png``
    (:func:`tfrobust.reports.write_roar_figure`) into ``out_dir``.

    Returns:
        ``mu_<mode>_<method>`` and ``area_<mode>_<method>`` per (mode, method)
        (mu None where it is undefined), and ``members`` (retrained classifiers).
    """
    from tfrobust.attribution import ATTRIBUTIONS

    check_known("roar", params, ROAR_PARAMS)
    if "methods" not in params:
        raise ConfigError("roar.methods: give the attribution methods (include random, the baseline)")
    methods = names_param("roar", "methods", params["methods"], list(ATTRIBUTIONS))
    modes = names_param("roar", "modes", params.get("modes", "roar"), ["roar", "kar"])
    fractions_value = params.get("fractions", [0.1, 0.3, 0.5, 0.7, 0.9])
    items = fractions_value if isinstance(fractions_value, (list, tuple)) else [fractions_value]
    fractions = [parse_number(v, name="roar.fractions") for v in items]
    repeats = int(int_param("roar", params, "repeats", 3, 1) or 3)
    epochs = int(int_param("roar", params, "epochs", 5, 1) or 5)
    batch_size = int(int_param("roar", params, "batch_size", 128, 1) or 128)
    group_size = int(int_param("roar", params, "group_size", 8, 1) or 8)
    seed = int(int_param("roar", params, "seed", 0, 0) or 0)
    fill = params.get("fill", "mean")
    fill_value: str | float = fill if fill == "mean" else parse_number(fill, name="roar.fill")
    rank_mode = params.get("rank_mode", "abs")
    if rank_mode not in ("abs", "signed"):
        raise ConfigError(f"roar.rank_mode: abs or signed, got {rank_mode!r}")
    choices = {"label": ("predicted", "true"), "ties": ("random", "index"), "end_point": ("chance", "none")}
    chosen = {name: params.get(name, options[0]) for name, options in choices.items()}
    for name, value in chosen.items():
        if value not in choices[name]:
            raise ConfigError(f"roar.{name}: {' or '.join(choices[name])}, got {value!r}")
    learning_rate = real_param("roar", params, "learning_rate", None)

    from tfrobust.config import OptimizerConfig
    from tfrobust.evaluation import run_roar
    from tfrobust.reports import write_roar_figure
    from tfrobust.training import load_model

    run = model_run("roar", deps)
    trained = run_config(run)
    model_section = dict(trained.get("model") or {})
    if not model_section.get("arch"):
        raise ValueError(f"roar: {run / 'config.yaml'} names no model.arch to retrain")
    data = run_data(trained)
    train_ds = load_split(data, "train", limit=int_param("roar", params, "limit", data.limit, 1), seed=seed)
    test_ds = load_split(data, "test", limit=int_param("roar", params, "test_limit", data.limit, 1), seed=seed)
    optimizer = OptimizerConfig() if learning_rate is None else OptimizerConfig(learning_rate=learning_rate)
    result = run_roar(load_model(run / "model.keras"), train_ds, test_ds, out_dir=out_dir, methods=methods,
                      arch=str(model_section["arch"]), arch_options=dict(model_section.get("options") or {}),
                      fractions=fractions, repeats=repeats, modes=modes, epochs=epochs, batch_size=batch_size,
                      optimizer=optimizer, fill=fill_value, rank_mode=rank_mode, group_size=group_size,
                      seed=seed, progress=False, **chosen)
    write_roar_figure(out_dir / "roar.csv", out_dir / "curves.png")
    metrics: dict[str, Any] = {"members": result.trained + result.reused}
    for row in result.scores:
        metrics[f"mu_{row['mode']}_{row['method']}"] = plain(row["mu"])
        metrics[f"area_{row['mode']}_{row['method']}"] = plain(row["area"])
    return metrics
