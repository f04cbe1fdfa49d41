"""Trains one model (a study stage kind)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from tfrobust.config import ConfigError, parse_number, train_config_from_dict
from tfrobust.registry import METHODS, register

__all__ = ["check_params", "resolve_targets", "train_config_values", "train_kind", "zero_eps_adversarial"]


@register("kinds", "train")
def train_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    data: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
    optimizer: Mapping[str, Any] | None = None,
    method: str = "standard",
    method_options: Mapping[str, Any] | None = None,
    epochs: int = 5,
    batch_size: int = 128,
    seed: int = 0,
    jit_compile: bool | Literal["auto"] = "auto",
    deterministic: bool = False,
    validate: bool = True,
    model_selection: Literal["last", "best_validation", "best_test_set"] = "last",
    validation_size: int | float = 5000,
    selection_start: float = 0.5,
    strategy: Literal["none", "mirrored", "multiworker"] = "none",
) -> Mapping[str, Any]:
    """Trains one model; the params are a training config (the layout of ``configs/*.yaml``).

    The keyword-only parameters are the top-level fields of
    :class:`tfrobust.config.TrainConfig`, with its defaults; the nested
    sections (``data``, ``model``, ``optimizer``, ``method_options``) are
    mappings checked by :func:`tfrobust.config.train_config_from_dict` and,
    for ``method_options``, by the method's own options.

    IR targets from a dependency: with ``method: ir``, ``method_options.targets``
    may name a dependency key instead of a path, e.g. ``targets: saliency``
    (the ``saliency`` stage's directory, holding one method's maps) or
    ``targets: saliency/smoothgrad.npy`` (one file of a directory holding
    several). The first path part is replaced by that dependency's artifact
    directory (a dependency key wins over a same-named relative path); the
    cell's hash stays independent of where the study lives, and changes with
    the saliency cell's hash. Without ``targets``, an ``ir`` cell whose
    dependencies include exactly one saliency directory (``saliency.json``)
    uses it.

    eps = 0 is standard training (Kim et al. 2019 B.1 count eps = 0 as the
    standard model): a cell with ``method: adversarial`` whose
    ``method_options.attack.eps`` is 0 trains as ``method: standard`` without
    method options (no PGD steps are spent on a zero-radius attack), so an eps
    grid may include 0; its ``config.yaml`` records ``method: standard`` and its
    metrics ``trained_as: standard``.

    ``strategy: mirrored`` trains the cell over the local GPUs (else the
    logical CPUs); ``multiworker`` is refused in a study (every worker would
    run the study and write its ledger): train such a model with
    ``tfrobust train --strategy multiworker`` on every worker.

    Writes the artifacts of :func:`tfrobust.training.train` (``model.keras``,
    ``history.csv``, ``metrics.json``, ...) into ``out_dir``; a killed cell
    re-run into the same directory resumes from its last finished epoch.

    Returns:
        The values of the run's ``metrics.json`` (test accuracy and loss,
        throughput); plus ``trained_as: standard`` for an eps = 0 adversarial cell.
    """
    from tfrobust.training import train
    from tfrobust.training.run import is_finished_run

    params = {"data": data, "model": model, "optimizer": optimizer, "method": method,
              "method_options": method_options, "epochs": epochs, "batch_size": batch_size, "seed": seed,
              "jit_compile": jit_compile, "deterministic": deterministic, "validate": validate,
              "model_selection": model_selection, "validation_size": validation_size,
              "selection_start": selection_start, "strategy": strategy}
    check_params(params)  # before any work: what the study check checks
    standard = zero_eps_adversarial(params)
    values = train_config_values(params)
    resolve_targets(values, deps)
    config = train_config_from_dict(values)  # validates; errors name the field
    if is_finished_run(out_dir):
        # Killed after train() returned but before the ledger said done: the runner re-uses a
        # cell directory only for the same cell config, so the finished run is this cell's.
        metrics = json.loads((Path(out_dir) / "metrics.json").read_text(encoding="utf-8"))
    else:
        metrics = dict(train(config, out_dir, verbose=2).metrics)
    if standard:
        metrics["trained_as"] = "standard"
    return metrics


def train_config_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """The training config a train cell runs: its params without None sections, the eps = 0 rule applied."""
    values = {k: v for k, v in params.items()
              if not (v is None and k in ("data", "model", "optimizer", "method_options"))}
    if zero_eps_adversarial(values):
        values["method"] = "standard"
        values.pop("method_options", None)
    return values


def check_params(params: Mapping[str, Any]) -> None:
    """A train cell's params must make a valid training config (no data read, no TensorFlow).

    The method's options are checked against its signature
    (:data:`tfrobust.registry.METHODS`) when the method is registered; an
    unknown method is reported by the training run.

    Raises:
        ConfigError: one line naming the field.
    """
    config = train_config_from_dict(train_config_values(params))
    if config.strategy == "multiworker":
        raise ConfigError("strategy: multiworker is not supported in a study (every worker would run the study "
                          "and write its ledger); use mirrored, or tfrobust train --strategy multiworker on each worker")
    if config.method in METHODS:
        METHODS[config.method].parse(config.method_options, prefix="method_options")


def zero_eps_adversarial(params: Mapping[str, Any]) -> bool:
    """True for ``method: adversarial`` with ``method_options.attack.eps`` equal to 0."""
    if params.get("method") != "adversarial":
        return False
    options = params.get("method_options")
    attack = options.get("attack") if isinstance(options, Mapping) else None
    if not isinstance(attack, Mapping) or "eps" not in attack:
        return False
    try:
        return parse_number(attack["eps"], name="method_options.attack.eps") == 0.0
    except (ConfigError, ValueError, TypeError):
        return False  # train_config_from_dict / the attack report it


def resolve_targets(params: dict[str, Any], deps: Mapping[str, Path]) -> None:
    """Rewrites ``method_options.targets`` (a dependency reference) of a method that streams
    target maps (``ir``: ``"targets"`` in its ``data_options``) to a path, in place."""
    method = params.get("method", "standard")
    if not isinstance(method, str) or method not in METHODS:
        return  # train_config_from_dict / the training run report it
    if "targets" not in getattr(METHODS[method].load(), "data_options", ()):
        return
    options = params.get("method_options")
    if options is None:
        options = params["method_options"] = {}
    if not isinstance(options, dict):
        return  # train_config_from_dict reports it
    targets = options.get("targets")
    if targets is None:
        found = [path for path in deps.values() if (path / "saliency.json").is_file()]
        if len(found) == 1:
            options["targets"] = str(found[0])
        return
    if isinstance(targets, str):
        head, _, rest = targets.partition("/")
        if head in deps:
            options["targets"] = str(deps[head] / rest) if rest else str(deps[head])
