"""Robust accuracy of a train cell's model under a registered attack (a study stage kind)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from tfrobust.config import ConfigError, check_int
from tfrobust.evaluation.checklist import check_list
from tfrobust.registry import ATTACKS, NORMS, register
from tfrobust.studies.kinds.common import radii

__all__ = ["LONG_COLUMNS", "LONG_NAME", "attack_kind", "attack_plan", "check_params", "long_columns", "long_rows",
           "metric_names"]

#: The attack cell's long-format rows: one per (norm, eps) in ``cells/<id>/robust_accuracy.csv``.
LONG_NAME = "robust_accuracy.csv"
#: The tidy columns every row has (the file also keeps the older columns of
#: :data:`tfrobust.evaluation.robust_accuracy.COLUMNS`): ``robust_accuracy`` is the mean over
#: restarts, ``worst_case`` the fraction that survived every restart, ``flags`` the raised checks.
LONG_COLUMNS = ("norm", "eps", "attack", "robust_accuracy", "worst_case", "flags")


@register("kinds", "attack")
def attack_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    eps: float | list[float] | Mapping[str, Any],
    norms: str | list[str] = "l2",
    attack: str = "pgd",
    options: Mapping[str, Any] | None = None,
    norm_options: Mapping[str, Any] | None = None,
    restarts: int = 1,
    limit: int | None = None,
    split: Literal["train", "test"] = "test",
    batch_size: int = 256,
    seed: int = 0,
    checks: str | list[str] = "all",
    blackbox_queries: int = 1000,
) -> Mapping[str, Any]:
    """Robust accuracy of the model trained by the one dependency ``train`` cell.

    Params: ``eps`` (required: a radius, a list, or a mapping norm -> radii;
    ``8/255`` allowed; data units), ``norms`` (a name of
    :data:`tfrobust.registry.NORMS`, a list, or ``"l2,linf"``), ``attack``
    (a name of :data:`tfrobust.registry.ATTACKS`, default ``pgd``),
    ``options`` (the attack's options, e.g. PGD's ``steps``, ``step_size``,
    ``step_size_factor``, ``objective``, ``l2_step``, ``long_steps``; checked
    by the attack's signature), ``norm_options`` (norm -> options that
    override ``options`` for that norm, e.g. Noack et al.'s per-norm
    ``step_size_factor``), ``restarts`` (independent attacks per (norm,
    eps); 1), ``limit`` (first N examples; None: all), ``split`` (test),
    ``batch_size`` (256), ``seed`` (0: data order and attacks), ``checks``
    (the gradient-masking checks of :mod:`tfrobust.evaluation.masking`:
    ``all``, ``none`` or names) and ``blackbox_queries`` (Square's budget in
    the ``blackbox`` check, 1000). The dataset, its bounds and classes are
    those the model was trained on (its ``config.yaml``).

    Writes ``robust_accuracy.csv``: long-format rows, one per (norm, eps),
    with the tidy columns :data:`LONG_COLUMNS` (``norm``, ``eps``, ``attack``,
    ``robust_accuracy``, ``worst_case``, ``flags``) followed by the other columns of
    :func:`tfrobust.evaluation.robust_accuracy_table` (``breaks``, ...); and ``checks.csv`` (every check: status, figure,
    threshold, message) into ``out_dir``.

    Returns:
        ``clean_accuracy``, ``n`` and ``robust_<norm>_<eps>`` (mean over
        restarts) per (norm, eps); with restarts > 1 also
        ``robust_worst_<norm>_<eps>``; ``flags`` (the number of raised
        checks) and ``flagged`` (``check norm eps`` of each, ``;``-separated).
    """
    norm_list, radii_of, _ = attack_plan({
        "eps": eps, "norms": norms, "attack": attack, "options": options, "norm_options": norm_options,
        "restarts": restarts, "limit": limit, "batch_size": batch_size, "seed": seed, "checks": checks,
        "blackbox_queries": blackbox_queries})

    import pandas as pd

    from tfrobust.evaluation import robust_accuracy_table
    from tfrobust.evaluation.checklist import CHECK_COLUMNS
    from tfrobust.training.rundir import dependency_run

    run = dependency_run("attack", deps)
    ds = run.load_split(split, seed=seed, limit=limit, data=run.data_for())
    table = robust_accuracy_table(run.load_model(), ds.pipeline(batch_size), norms=norm_list, eps=radii_of,
                                  bounds=ds.bounds, attack=attack, options=options, norm_options=norm_options,
                                  restarts=restarts, seed=seed, checks=checks, blackbox_queries=blackbox_queries)
    found = table.attrs.get("checks", [])
    tidy = long_rows(table)
    for name, frame in ((LONG_NAME, tidy), ("checks.csv", pd.DataFrame(found, columns=CHECK_COLUMNS))):
        tmp = out_dir / f".{name}.tmp{os.getpid()}"
        frame.to_csv(tmp, index=False)
        os.replace(tmp, out_dir / name)
    metrics: dict[str, Any] = {"clean_accuracy": float(table["clean_accuracy"].iloc[0]),
                               "n": int(table["n"].iloc[0])}
    for _, row in table.iterrows():
        metrics[f"robust_{row['norm']}_{row['eps']:g}"] = float(row["robust_accuracy_mean"])
        if row["restarts"] > 1:
            metrics[f"robust_worst_{row['norm']}_{row['eps']:g}"] = float(row["robust_accuracy_worst"])
    raised = [c for c in found if c["status"] == "raised"]
    metrics["flags"] = len(raised)
    metrics["flagged"] = "; ".join(" ".join(str(v) for v in (c["check"], c["norm"], c["eps"]) if v is not None)
                                   for c in raised)
    return metrics


def long_rows(table: Any) -> Any:
    """The long-format rows of a :func:`tfrobust.evaluation.robust_accuracy_table`: :data:`LONG_COLUMNS`
    first (``robust_accuracy`` = ``robust_accuracy_mean``, ``worst_case`` = ``robust_accuracy_worst``),
    then every other column of the table (kept for older readers)."""
    tidy = table.copy()
    tidy["robust_accuracy"] = tidy["robust_accuracy_mean"]
    tidy["worst_case"] = tidy["robust_accuracy_worst"]
    return tidy[[*LONG_COLUMNS, *(c for c in tidy.columns if c not in LONG_COLUMNS)]]


def long_columns() -> list[str]:
    """Every column of an attack cell's ``robust_accuracy.csv`` (the tidy ones first)."""
    from tfrobust.evaluation.robust_accuracy import COLUMNS

    return [*LONG_COLUMNS, *(c for c in COLUMNS if c not in LONG_COLUMNS)]


def metric_names(params: Mapping[str, Any]) -> list[str]:
    """The metrics (``results.csv`` columns) an attack cell with these params returns, as
    :func:`attack_kind` names them; params checked by the signature, defaults filled in."""
    norms, radii_of, _ = attack_plan(params)
    names = ["clean_accuracy", "n"]
    worst = check_int(params.get("restarts", 1), name="attack.restarts", minimum=1) > 1
    for norm in norms:
        for eps in radii_of[norm]:
            names.append(f"robust_{norm}_{eps:g}")
            if worst:
                names.append(f"robust_worst_{norm}_{eps:g}")
    return [*names, "flags", "flagged"]


def attack_plan(params: Mapping[str, Any]) -> tuple[list[str], dict[str, list[float]], dict[str, dict[str, Any]]]:
    """(norms, norm -> radii, norm -> the attack's options) of an attack cell's params (types already
    checked by the kind's signature; defaults filled in). No TensorFlow is imported.

    Raises:
        ConfigError: one line naming ``attack.<param>``: an unknown norm or attack, a norm without
            radii, a negative radius, options the attack does not take, counts out of range.
    """
    value = params.get("norms", "l2")
    norms = [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else list(value)
    known = NORMS.names()
    if not norms or any(n not in known for n in norms):
        raise ConfigError(f"attack.norms: choose from {', '.join(known)}, got {value!r}")
    eps = params["eps"]
    if isinstance(eps, Mapping):
        missing = [n for n in norms if n not in eps]
        if missing:
            raise ConfigError(f"attack.eps: no radii for {', '.join(missing)}")
        radii_of = {n: radii(eps[n], f"attack.eps.{n}") for n in norms}
    else:
        shared = radii(eps, "attack.eps")
        radii_of = dict.fromkeys(norms, shared)
    entry = ATTACKS[params.get("attack", "pgd")]
    options = entry.parse(params.get("options"), prefix="attack.options")
    per_norm = params.get("norm_options") or {}
    stray = [str(n) for n in per_norm if n not in norms]
    if stray:
        raise ConfigError(f"attack.norm_options: give options for the attacked norms ({', '.join(norms)}), "
                          f"got {', '.join(stray)}")
    options_of = {}
    for norm in norms:
        extra = per_norm.get(norm) or {}
        if not isinstance(extra, Mapping):
            raise ConfigError(f"attack.norm_options.{norm} must be a mapping of options, got {extra!r}")
        options_of[norm] = entry.parse({**options, **extra}, prefix=f"attack.norm_options.{norm}") if extra \
            else dict(options)
    check_int(params.get("restarts", 1), name="attack.restarts", minimum=1)
    check_int(params.get("limit"), name="attack.limit", minimum=1, allow_none=True)
    check_int(params.get("batch_size", 256), name="attack.batch_size", minimum=1)
    check_int(params.get("seed", 0), name="attack.seed", minimum=0)
    check_int(params.get("blackbox_queries", 1000), name="attack.blackbox_queries", minimum=1)
    try:
        check_list(params.get("checks", "all"))
    except ConfigError as err:
        raise ConfigError(f"attack.{err}") from None
    return norms, radii_of, options_of


def check_params(params: Mapping[str, Any]) -> None:
    """What the attack kind refuses before loading anything (see :func:`attack_plan`)."""
    attack_plan(params)
