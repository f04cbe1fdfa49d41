"""ROAR / KAR of attribution methods (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from tfrobust.config import ConfigError, check_int
from tfrobust.registry import ATTRIBUTIONS, register
from tfrobust.studies.kinds.common import attribution_options, names_param, plain

__all__ = ["check_params", "roar_kind"]


@register("kinds", "roar")
def roar_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    methods: str | list[str],
    options: Mapping[str, Any] | None = None,
    fractions: float | Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
    repeats: int = 3,
    modes: str | list[str] = "roar",
    epochs: int = 5,
    batch_size: int = 128,
    limit: int | None = None,
    test_limit: int | None = None,
    group_size: int = 8,
    fill: Literal["mean"] | float = "mean",
    rank_mode: Literal["abs", "signed"] = "abs",
    label: Literal["predicted", "true"] = "predicted",
    ties: Literal["random", "index"] = "random",
    end_point: Literal["chance", "none"] = "chance",
    learning_rate: float | None = None,
    seed: int = 0,
) -> Mapping[str, Any]:
    """ROAR / KAR of attribution methods for the one dependency ``train`` cell's model.

    Params: ``methods`` (required; list or ``"a,b"``; include ``random``, the
    baseline of mu), ``options`` (method -> its options, checked by the
    method's signature; those of a method not in ``methods`` are checked and
    ignored, as in the saliency stage), ``fractions`` (default 0.1 ... 0.9), ``repeats``
    (3), ``modes`` (``roar``, ``kar`` or both; default ``roar``),
    ``epochs`` (5), ``batch_size`` (128), ``limit`` / ``test_limit``
    (first N train / test images; default the train cell's ``data.limit``),
    ``group_size`` (8), ``fill`` (``mean`` or a number), ``rank_mode``
    (``abs``/``signed``), ``label`` (``predicted``: maps of the model's
    predicted class, Kim's code; or ``true``), ``ties`` (``random``, Kim's
    code, or ``index``), ``end_point`` (``chance``: curves end at (1, 1/K),
    Kim's code; or ``none``), ``learning_rate`` (Adam; None: 1e-3),
    ``seed`` (0). The retrained architecture, the dataset, bounds and
    classes are the train cell's (its ``config.yaml``).

    Writes (:func:`tfrobust.evaluation.run_roar`, resumable) ``roar.csv``,
    ``scores.csv``, ``maps/``, ``members/`` and ``curves.png``
    (:func:`tfrobust.reports.write_roar_figure`) into ``out_dir``.

    Returns:
        ``mu_<mode>_<method>`` and ``area_<mode>_<method>`` per (mode, method)
        (mu None where it is undefined), and ``members`` (retrained classifiers).
    """
    names, method_options, mode_list, fraction_list = _plan({
        "methods": methods, "options": options, "fractions": fractions, "modes": modes, "repeats": repeats,
        "epochs": epochs, "batch_size": batch_size, "limit": limit, "test_limit": test_limit,
        "group_size": group_size, "seed": seed})

    from tfrobust.config import OptimizerConfig
    from tfrobust.evaluation import run_roar
    from tfrobust.reports import write_roar_figure
    from tfrobust.training.rundir import dependency_run

    run = dependency_run("roar", deps)
    model_section = dict(run.config.get("model") or {})
    if not model_section.get("arch"):
        raise ValueError(f"roar: {run.directory / 'config.yaml'} names no model.arch to retrain")
    train_ds = run.load_split("train", limit=limit, seed=seed)
    test_ds = run.load_split("test", limit=test_limit, seed=seed)
    optimizer = OptimizerConfig() if learning_rate is None else OptimizerConfig(learning_rate=learning_rate)
    result = run_roar(run.load_model(), train_ds, test_ds, out_dir=out_dir, methods=names,
                      arch=str(model_section["arch"]), arch_options=dict(model_section.get("options") or {}),
                      fractions=fraction_list, repeats=repeats, modes=mode_list, epochs=epochs,
                      batch_size=batch_size, optimizer=optimizer, fill=fill, rank_mode=rank_mode,
                      group_size=group_size, seed=seed, progress=False, label=label, ties=ties,
                      end_point=end_point,
                      method_options={m: o for m, o in method_options.items() if m in names} or None)
    write_roar_figure(out_dir / "roar.csv", out_dir / "curves.png")
    metrics: dict[str, Any] = {"members": result.trained + result.reused}
    for row in result.scores:
        metrics[f"mu_{row['mode']}_{row['method']}"] = plain(row["mu"])
        metrics[f"area_{row['mode']}_{row['method']}"] = plain(row["area"])
    return metrics


def _plan(params: Mapping[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]], list[str], list[float]]:
    names = names_param("roar", "methods", params["methods"], ATTRIBUTIONS.names())
    method_options = attribution_options("roar.options", params.get("options"))
    modes = names_param("roar", "modes", params.get("modes", "roar"), ["roar", "kar"])
    value = params.get("fractions", (0.1, 0.3, 0.5, 0.7, 0.9))
    fractions = [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    if not fractions or any(not 0.0 <= f <= 1.0 for f in fractions):
        raise ConfigError(f"roar.fractions: give one or more fractions in [0, 1], got {value!r}")
    for name in ("repeats", "epochs", "batch_size", "group_size"):
        check_int(params.get(name, 1), name=f"roar.{name}", minimum=1)
    for name in ("limit", "test_limit"):
        check_int(params.get(name), name=f"roar.{name}", minimum=1, allow_none=True)
    check_int(params.get("seed", 0), name="roar.seed", minimum=0)
    return names, method_options, modes, fractions


def check_params(params: Mapping[str, Any]) -> None:
    """What the roar kind refuses before loading anything (one line naming ``roar.<param>``)."""
    _plan(params)
