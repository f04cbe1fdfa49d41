"""Trains one model (a study stage kind)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, parse_number, train_config_from_dict
from tfrobust.registry import register

__all__ = ["train_kind"]


@register("kinds", "train")
def train_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Trains one model: ``params`` is a training config (the layout of ``configs/*.yaml``).

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

    Writes the artifacts of :func:`tfrobust.training.train` (``model.keras``,
    ``history.csv``, ``metrics.json``, ...) into ``out_dir``; a killed cell
    re-run into the same directory resumes from its last finished epoch.

    Returns:
        The values of the run's ``metrics.json`` (test accuracy and loss,
        throughput); plus ``trained_as: standard`` for an eps = 0 adversarial cell.
    """
    from tfrobust.training import train
    from tfrobust.training.run import is_finished_run

    standard = _zero_eps_adversarial(params)
    if standard:
        params = {**params, "method": "standard"}
        params.pop("method_options", None)
    _resolve_targets(params, deps)
    config = train_config_from_dict(params)  # validates; errors name the field
    if is_finished_run(out_dir):
        # Killed after train() returned but before the ledger said done: the runner re-uses a
        # cell directory only for the same cell config, so the finished run is this cell's.
        metrics = json.loads((Path(out_dir) / "metrics.json").read_text(encoding="utf-8"))
    else:
        metrics = dict(train(config, out_dir, verbose=2).metrics)
    if standard:
        metrics["trained_as"] = "standard"
    return metrics


def _zero_eps_adversarial(params: Mapping[str, Any]) -> bool:
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


def _resolve_targets(params: dict[str, Any], deps: Mapping[str, Path]) -> None:
    """Rewrites ``method_options.targets`` (a dependency reference) of a method that streams
    target maps (``ir``: ``"targets"`` in its ``data_options``) to a path, in place."""
    from tfrobust.training import METHODS

    method = METHODS.get(params.get("method"))  # type: ignore[arg-type]  # validated later
    if method is None or "targets" not in method.data_options:
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
