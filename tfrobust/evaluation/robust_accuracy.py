"""Robust-accuracy tables over norms, eps grids and restarts (Noack et al. 2021 Tables 1-2).

For every norm and eps, each restart r runs one PGD attack (its own random
start) over the data; the table reports the clean accuracy, the mean and
standard deviation over restarts of the accuracy (Noack's "averaged over 3
random restarts") and the worst case (an example counts as correct only if it
survives every restart).

Accuracies are made monotone along the eps grid: an adversarial example found
within a smaller eps also lies in every larger ball, so an example broken at
eps' < eps counts as broken at eps. (Raw PGD at a larger eps can miss an
example that a smaller-eps run found; this correction is exact, not a fit.)

Every radius and step size is validated before the first attack runs, and a
model whose logits are NaN or inf on any clean or adversarial image is an
error, never a table (``argmax`` would score such an image as class 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tfrobust.attacks import PGD, cut_step_size, get_norm
from tfrobust.config import parse_number
from tfrobust.training.callbacks import attacked_correct

__all__ = ["robust_accuracy_table", "format_table"]

COLUMNS = ["norm", "eps", "steps", "step_size", "objective", "restarts", "n", "clean_accuracy",
           "robust_accuracy_mean", "robust_accuracy_std", "robust_accuracy_worst"]


def robust_accuracy_table(
    model: Any,
    data: Any,
    *,
    norms: Sequence[str],
    eps: Sequence[float] | Mapping[str, Sequence[float]],
    bounds: tuple[float, float],
    steps: int = 40,
    step_size: float | None = None,
    step_size_factor: float = 2.5,
    objective: str = "xent",
    restarts: int = 1,
    l2_step: str = "normalized",
    kappa: float = 0.0,
    long_steps: str = "refuse",
    random_start: bool = True,
    seed: int = 0,
    progress: Any = None,
) -> pd.DataFrame:
    """Accuracy under PGD for every (norm, eps), with restarts.

    Args:
        model: a Keras classifier (logits) or logits callable.
        data: ``tf.data.Dataset`` of ``(x, y)`` batches within ``bounds``, or a pair of arrays.
        norms: e.g. ``("l2", "linf")``.
        eps: radii in data units, shared by all norms or a mapping norm -> radii
            (Noack's tables use different radii per norm); sorted ascending per
            norm in the output. The clean pass runs once for all norms.
        bounds: value range of the data.
        steps: PGD iterations (Noack: 40).
        step_size: fixed step size; default ``step_size_factor * eps / steps``.
        step_size_factor: see ``step_size``.
        objective: ``"xent"`` or ``"cw"``.
        restarts: independent attacks per (norm, eps) (Noack: 3).
        l2_step: l2 step rule (``"normalized"`` or ``"sign"``).
        kappa: CW confidence.
        long_steps: ``refuse`` a step longer than the ball's diameter, or ``cut`` it
            (:class:`~tfrobust.attacks.PGD`).
        random_start: random start in the ball for each restart.
        seed: base seed; restart r of (norm, eps) uses seed ``seed + r``.
        progress: optional callable ``progress(message)`` called per attack.

    Returns:
        A DataFrame with :data:`COLUMNS`, accuracies in [0, 1].

    Raises:
        ValueError: a bad option (every attack is configured, and so checked,
            before the first one runs: radii and step sizes must be finite,
            >= 0 and within float32 range), bad data (NaN/inf, outside
            ``bounds``, labels not in [0, K)), or non-finite logits on any
            clean or adversarial image.
    """
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}")
    for norm in norms:
        get_norm(norm)
    per_norm = {n: sorted(parse_number(e, name=f"eps ({n})", minimum=0.0, float32=True)
                          for e in (eps.get(n, ()) if isinstance(eps, Mapping) else eps)) for n in norms}
    if not norms or any(not radii for radii in per_norm.values()):
        raise ValueError("eps: give at least one radius for every norm")
    attacks = {}  # built first: a bad radius or step size fails before any attack runs
    for norm in norms:
        for e in per_norm[norm]:
            size = step_size if step_size is not None else step_size_factor * e / max(steps, 1)
            attacks[norm, e] = PGD(norm=norm, eps=e, steps=steps, step_size=size, objective=objective,
                                   random_start=random_start, restarts=1, l2_step=l2_step, kappa=kappa,
                                   long_steps=long_steps)
    clean = attacked_correct(model, data, PGD(norm="linf", eps=0.0, steps=0), bounds=bounds)
    rows = []
    for norm in norms:
        survived = np.ones((restarts, clean.size), bool)  # per restart, monotone along eps
        for e in per_norm[norm]:
            attack = attacks[norm, e]
            size = attack.resolved_step_size
            if long_steps == "cut" and not (norm == "l2" and l2_step == "sign"):
                size = cut_step_size(norm, e, size)  # the step PGD takes (l2 sign: needs the input size)
            for r in range(restarts):
                if progress is not None:
                    progress(f"{norm} eps={e:g} restart {r + 1}/{restarts}")
                correct = attacked_correct(model, data, attack, bounds=bounds, seed=seed + r,
                                           what=f"adversarial images ({norm} eps={e:g}, restart {r + 1})")
                survived[r] &= correct & clean
            acc = survived.mean(axis=1)
            rows.append({
                "norm": norm, "eps": e, "steps": steps, "step_size": size, "objective": objective,
                "restarts": restarts, "n": int(clean.size), "clean_accuracy": float(clean.mean()),
                "robust_accuracy_mean": float(acc.mean()),
                "robust_accuracy_std": float(acc.std(ddof=1)) if restarts > 1 else 0.0,
                "robust_accuracy_worst": float(survived.all(axis=0).mean()),
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def format_table(table: pd.DataFrame, *, label: str = "model") -> str:
    """Noack-style wide table in percent: clean accuracy, then one column per (norm, eps)."""
    header = [f"{'':<22}", f"{'clean':>8}"]
    mean = [f"{label[:22]:<22}", f"{100 * table['clean_accuracy'].iloc[0]:>8.2f}"]
    worst = [f"{'  worst case':<22}", f"{'':>8}"]
    for _, row in table.iterrows():
        column = f"{row['norm']} {row['eps']:.4g}"
        width = max(len(column), 8) + 2
        header.append(f"{column:>{width}}")
        cell = f"{100 * row['robust_accuracy_mean']:.2f}"
        if row["restarts"] > 1:
            cell += f"±{100 * row['robust_accuracy_std']:.1f}"
        mean.append(f"{cell:>{width}}")
        worst.append(f"{100 * row['robust_accuracy_worst']:>{width}.2f}")
    lines = ["".join(header), "".join(mean)]
    if (table["restarts"] > 1).any():
        lines.append("".join(worst))
    return "\n".join(lines)
