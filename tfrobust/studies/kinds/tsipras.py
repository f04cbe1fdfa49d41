"""Tsipras et al. 2019 linear classifiers on eq. 3 data (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tfrobust.config import check_int
from tfrobust.registry import register
from tfrobust.studies.kinds.common import names_param, plain, write_rows

__all__ = ["check_params", "tsipras_kind"]


@register("kinds", "tsipras")
def tsipras_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    d: int = 1000,
    eta: float | None = None,
    p: float = 0.7,
    eps: float | None = None,
    n_train: int = 10000,
    n_test: int = 10000,
    epochs: int = 10,
    batch_size: int = 100,
    learning_rate: float = 1e-3,
    attack_steps: int = 5,
    seed: int = 0,
    trainings: str | Sequence[str] = ("standard", "adversarial"),
    theorem: bool = True,
) -> Mapping[str, Any]:
    """Tsipras et al. 2019 eq. 3: standard vs adversarially trained linear classifiers (no dependencies).

    Params (:func:`tfrobust.theory.linear_tsipras_experiment`, same
    defaults): ``d`` (1000), ``eta`` (None: 4/sqrt(d)), ``p`` (0.7),
    ``eps`` (None: 2 eta), ``n_train``, ``n_test`` (10000 each),
    ``epochs`` (10), ``batch_size`` (100), ``learning_rate`` (1e-3),
    ``attack_steps`` (5), ``seed`` (0), ``trainings`` (``standard``,
    ``adversarial`` or both), ``theorem`` (true: also check Theorem 2.1 on
    the linear grid of :func:`tfrobust.theory.check_theorem_bound` at
    ``max(eps, 2 eta)``; closed form, cheap).

    Writes ``tsipras.csv`` (one row per training) and, with ``theorem``,
    ``theorem.csv`` into ``out_dir`` (atomically).

    Returns:
        ``standard_accuracy_<training>``, ``adversarial_accuracy_<training>``,
        ``adversarial_accuracy_pgd_<training>`` and
        ``population_standard_accuracy_<training>`` per training; with
        ``theorem``, ``theorem_classifiers`` and ``theorem_holds`` (how many
        satisfy the bound exactly).
    """
    values: dict[str, Any] = {"d": d, "eta": eta, "p": p, "eps": eps, "n_train": n_train, "n_test": n_test, "epochs": epochs,
              "batch_size": batch_size, "learning_rate": learning_rate, "attack_steps": attack_steps, "seed": seed}
    training_list = _plan({**values, "trainings": trainings})

    from tfrobust.theory import check_theorem_bound, linear_tsipras_experiment

    rows = linear_tsipras_experiment(**values, trainings=training_list)
    write_rows(rows, out_dir / "tsipras.csv")
    metrics: dict[str, Any] = {}
    for row in rows:
        for key in ("standard_accuracy", "adversarial_accuracy", "adversarial_accuracy_pgd",
                    "population_standard_accuracy"):
            metrics[f"{key}_{row['training']}"] = plain(row[key])
    if theorem:
        first = rows[0]  # the resolved setting (defaults filled in)
        eta_value = float(first["eta"])
        grid = check_theorem_bound(d=int(first["d"]), eta=eta_value, p=float(first["p"]),
                                   eps=max(float(first["eps"]), 2 * eta_value), n=int(first["n_test"]), seed=seed)
        write_rows(grid, out_dir / "theorem.csv")
        metrics["theorem_classifiers"] = len(grid)
        metrics["theorem_holds"] = sum(bool(r["population_holds"]) for r in grid)
    return metrics


def _plan(params: Mapping[str, Any]) -> list[str]:
    trainings = names_param("tsipras", "trainings", params.get("trainings", ("standard", "adversarial")),
                            ["standard", "adversarial"])
    for name in ("d", "n_train", "n_test", "epochs", "batch_size", "attack_steps"):
        if name in params:
            check_int(params[name], name=f"tsipras.{name}", minimum=1)
    check_int(params.get("seed", 0), name="tsipras.seed", minimum=0)
    return trainings


def check_params(params: Mapping[str, Any]) -> None:
    """What the tsipras kind refuses before any work (one line naming ``tsipras.<param>``)."""
    _plan(params)
