"""Tsipras et al. 2019 linear classifiers on eq. 3 data (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError
from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    check_known,
    int_param,
    names_param,
    plain,
    real_param,
    write_rows,
)

__all__ = ["tsipras_kind"]



TSIPRAS_PARAMS = ("d", "eta", "p", "eps", "n_train", "n_test", "epochs", "batch_size", "learning_rate",
                  "attack_steps", "seed", "trainings", "theorem")


@register("kinds", "tsipras")
def tsipras_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Tsipras et al. 2019 eq. 3: standard vs adversarially trained linear classifiers (no dependencies).

    Params (:func:`tfrobust.theory.linear_tsipras_experiment`): ``d`` (1000),
    ``eta`` (4/sqrt(d)), ``p`` (0.7), ``eps`` (2 eta), ``n_train``,
    ``n_test`` (10000 each), ``epochs`` (10), ``batch_size`` (100),
    ``learning_rate`` (1e-3), ``attack_steps`` (5), ``seed`` (0),
    ``trainings`` (``standard``, ``adversarial`` or both), ``theorem`` (true:
    also check Theorem 2.1 on the linear grid of
    :func:`tfrobust.theory.check_theorem_bound` at ``max(eps, 2 eta)``; closed
    form, cheap).

    Writes ``tsipras.csv`` (one row per training) and, with ``theorem``,
    ``theorem.csv`` into ``out_dir`` (atomically).

    Returns:
        ``standard_accuracy_<training>``, ``adversarial_accuracy_<training>``,
        ``adversarial_accuracy_pgd_<training>`` and
        ``population_standard_accuracy_<training>`` per training; with
        ``theorem``, ``theorem_classifiers`` and ``theorem_holds`` (how many
        satisfy the bound exactly).
    """
    check_known("tsipras", params, TSIPRAS_PARAMS)
    trainings = names_param("tsipras", "trainings", params.get("trainings", ["standard", "adversarial"]),
                       ["standard", "adversarial"])
    theorem = params.get("theorem", True)
    if not isinstance(theorem, bool):
        raise ConfigError(f"tsipras.theorem: true or false, got {theorem!r}")
    kwargs: dict[str, Any] = {}
    for name in ("d", "n_train", "n_test", "epochs", "batch_size", "attack_steps"):
        if name in params:
            kwargs[name] = int_param("tsipras", params, name, None, 1)
    for name in ("eta", "p", "eps", "learning_rate"):
        if params.get(name) is not None:
            kwargs[name] = real_param("tsipras", params, name, None)
    seed = int(int_param("tsipras", params, "seed", 0, 0) or 0)

    from tfrobust.theory import check_theorem_bound, linear_tsipras_experiment

    rows = linear_tsipras_experiment(**kwargs, seed=seed, trainings=trainings)
    write_rows(rows, out_dir / "tsipras.csv")
    metrics: dict[str, Any] = {}
    for row in rows:
        for key in ("standard_accuracy", "adversarial_accuracy", "adversarial_accuracy_pgd",
                    "population_standard_accuracy"):
            metrics[f"{key}_{row['training']}"] = plain(row[key])
    if theorem:
        first = rows[0]  # the resolved setting (defaults filled in)
        eta = float(first["eta"])
        grid = check_theorem_bound(d=int(first["d"]), eta=eta, p=float(first["p"]),
                                   eps=max(float(first["eps"]), 2 * eta), n=int(first["n_test"]), seed=seed)
        write_rows(grid, out_dir / "theorem.csv")
        metrics["theorem_classifiers"] = len(grid)
        metrics["theorem_holds"] = sum(bool(r["population_holds"]) for r in grid)
    return metrics
