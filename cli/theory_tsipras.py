"""``tfrobust theory tsipras``: Tsipras et al. 2019 sec. 2.1-2.2 on eq. 3, closed form and trained.

Registered by the ``theory`` group; the command itself is ``tsipras``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import click

from cli.outdir import check_out_dir
from tfrobust.config import parse_number

__all__ = ["tsipras"]


def _number(value: str | None, option: str) -> float | None:
    return None if value is None else _float(value, option)


def _float(value: str, option: str) -> float:
    """A number that float32 holds (the data and models are float32): NaN, +-inf and overflow are refused."""
    try:
        return parse_number(value, name=option, float32=True)
    except ValueError as err:
        raise click.UsageError(" ".join(str(err).split())) from None  # the message names the option


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    import pandas as pd

    tmp = path.with_name(f".{path.name}.tmp")
    pd.DataFrame(rows).to_csv(tmp, index=False)
    os.replace(tmp, path)


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.3f}"


@click.command("tsipras", short_help="Tsipras eq. 3 and Theorem 2.1: standard vs adversarial linear classifiers.")
@click.option("--d", "d", type=int, default=1000, show_default=True,
              help="Non-robust features x_2..x_{d+1} (eq. 3).")
@click.option("--eta", "eta_text", default=None,
              help="Mean shift of the non-robust features, > 0 [default: 4/sqrt(d), Theorem 2.2].")
@click.option("--p", "p_text", default="0.7", show_default=True,
              help="Pr[x_1 = y], in (0.5, 1) (eq. 3).")
@click.option("--eps", "eps_text", default=None,
              help="linf radius for adversarial training and evaluation, >= 0 [default: 2*eta, Theorem 2.1].")
@click.option("--n-train", type=int, default=10_000, show_default=True, help="Training samples.")
@click.option("--n-test", type=int, default=10_000, show_default=True,
              help="Test samples (also for the theorem grid).")
@click.option("--epochs", type=int, default=10, show_default=True, help="Adam epochs per model.")
@click.option("--batch-size", type=int, default=100, show_default=True, help="Batch size.")
@click.option("--attack-steps", type=int, default=5, show_default=True,
              help="PGD steps for adversarial training and the PGD cross-check.")
@click.option("--seed", type=int, default=0, show_default=True, help="Data, shuffling and attack seed.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for tsipras.csv and theorem.csv.")
def tsipras(d: int, eta_text: str | None, p_text: str, eps_text: str | None, n_train: int, n_test: int,
            epochs: int, batch_size: int, attack_steps: int, seed: int, out_dir: str) -> None:
    """Robustness vs accuracy on Tsipras et al.'s eq. 3 (sec. 2.1-2.2).

    Prints the closed forms (robust feature alone: p; averaged classifier
    Phi(eta sqrt(d)) and Phi(-eta sqrt(d)) at eps = 2 eta; Theorem 2.1's bound
    p/(1-p)*delta), trains a standard and an linf-adversarially trained linear
    classifier, and checks Theorem 2.1 on a grid of linear classifiers.
    Writes OUT/tsipras.csv (one row per training) and OUT/theorem.csv (the
    grid, at eps = max(--eps, 2*eta), the theorem's range).

    Defaults: d = 1000, p = 0.7 (eq. 3), eta = 4/sqrt(d) (Theorem 2.2's regime:
    standard training > 99% standard and < 1% adversarial accuracy at
    eps = 2 eta; adversarial training about p for both).
    """
    from tfrobust.theory import (
        averaged_classifier_accuracy,
        bayes_accuracy,
        check_theorem_bound,
        linear_tsipras_experiment,
        no_free_lunch_bound,
        robust_feature_accuracy,
        validate_tsipras_setting,
    )

    eta = _number(eta_text, "--eta")
    p = _float(p_text, "--p")
    eps = _number(eps_text, "--eps")
    checks = [
        (d < 1, "--d", f"must be an integer >= 1, got {d}"),
        (eta is not None and not eta > 0, "--eta", f"must be > 0, got {eta_text}"),
        (not 0.5 < p < 1, "--p", f"must be in (0.5, 1), got {p_text}"),
        (eps is not None and eps < 0, "--eps", f"must be >= 0, got {eps_text}"),
        (n_train < 1, "--n-train", f"must be >= 1, got {n_train}"),
        (n_test < 1, "--n-test", f"must be >= 1, got {n_test}"),
        (epochs < 1, "--epochs", f"must be >= 1, got {epochs}"),
        (batch_size < 1, "--batch-size", f"must be >= 1, got {batch_size}"),
        (attack_steps < 1, "--attack-steps", f"must be >= 1, got {attack_steps}"),
        (seed < 0, "--seed", f"must be >= 0, got {seed}"),
    ]
    for bad, option, message in checks:
        if bad:
            raise click.BadParameter(message, param_hint=option)
    d, eta, p, eps = validate_tsipras_setting(d=d, eta=eta, p=p, eps=eps)
    out = check_out_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    avg_std = averaged_classifier_accuracy(d, eta)
    click.echo(f"Tsipras et al. 2019 eq. 3: d={d}, eta={eta:.6g} (eta*sqrt(d)={eta * math.sqrt(d):.3g}), "
               f"p={p:g}, eps={eps:.6g} (eps/eta={eps / eta:.3g})")
    click.echo("closed form, %                                   standard  adversarial (linf eps)")
    click.echo(f"  robust feature sign(x_1)                       {_pct(robust_feature_accuracy(p)):>8}  "
               f"{_pct(robust_feature_accuracy(p, eps=eps)):>11}")
    click.echo(f"  averaged sign(sum x_i), eq. 4                  {_pct(avg_std):>8}  "
               f"{_pct(averaged_classifier_accuracy(d, eta, eps=eps)):>11}")
    click.echo(f"  Bayes-optimal (linear)                         {_pct(bayes_accuracy(d, eta, p)):>8}")
    click.echo(f"  Theorem 2.1: adversarial <= p/(1-p)*delta = {p / (1 - p):.4g}*delta at eps >= 2*eta; "
               f"for the averaged classifier <= {_pct(no_free_lunch_bound(1 - avg_std, p=p))}%")

    if eps >= 2 * p - 1:
        click.echo(f"note: eps >= 2p - 1 = {2 * p - 1:.3g}: the adversary cancels x_1's correlation with y, "
                   "so adversarial training cannot keep the robust feature (expect ~50%)")
    progress = lambda message: click.echo(f"  {message}", err=True)  # noqa: E731
    rows = linear_tsipras_experiment(d=d, eta=eta, p=p, eps=eps, n_train=n_train, n_test=n_test, epochs=epochs,
                                     batch_size=batch_size, attack_steps=attack_steps, seed=seed,
                                     progress=progress)
    _write_csv(rows, out / "tsipras.csv")
    theorem_eps = max(eps, 2 * eta)
    grid = check_theorem_bound(d=d, eta=eta, p=p, eps=theorem_eps, n=n_test, seed=seed)
    _write_csv(grid, out / "theorem.csv")

    click.echo(f"{'trained linear classifiers, %':<32}{f'test samples (n={n_test})':<36}"
               "population (exact for the learned w, b)")
    click.echo("  training      standard  adversarial    pgd   bound   standard  adversarial   bound"
               "   w_1/mean|w_i|")
    for row in rows:
        click.echo(f"  {row['training']:<12} {_pct(row['standard_accuracy']):>9} "
                   f"{_pct(row['adversarial_accuracy']):>12} {_pct(row['adversarial_accuracy_pgd']):>6} "
                   f"{_pct(row['theorem_bound']):>7} {_pct(row['population_standard_accuracy']):>10} "
                   f"{_pct(row['population_adversarial_accuracy']):>12} "
                   f"{_pct(row['population_theorem_bound']):>7} {row['robust_to_nonrobust_ratio']:>15.4g}")
    sampled = sum(bool(r["holds"]) for r in grid)
    exact = sum(bool(r["population_holds"]) for r in grid)
    click.echo(f"Theorem 2.1 on {len(grid)} linear classifiers at eps={theorem_eps:.4g}: "
               f"{exact}/{len(grid)} hold exactly, {sampled}/{len(grid)} on samples (within 4 SE)")
    click.echo(f"results        {out / 'tsipras.csv'}")
    click.echo(f"theorem grid   {out / 'theorem.csv'}")
