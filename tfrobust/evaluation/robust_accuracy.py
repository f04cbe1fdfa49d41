"""Robust-accuracy tables over norms, eps grids and restarts (Noack et al. 2021 Tables 1-2).

For every norm and eps, each restart r runs one attack over the data: any
entry of :data:`tfrobust.registry.ATTACKS` (PGD by default) with seed
``seed + r``, so its own random start. The table reports the clean accuracy,
the mean and standard deviation over restarts of the accuracy (Noack's
"averaged over 3 random restarts") and the worst case (an example counts as
correct only if it survives every restart).

Accuracies are made monotone along the eps grid: an adversarial example found
within a smaller eps also lies in every larger ball, so an example broken at
eps' < eps counts as broken at eps. (A raw attack at a larger eps can miss an
example that a smaller-eps run found; this correction is exact, not a fit.)

Every option, radius and step size is validated before the first attack runs, and a
model whose logits are NaN or inf on any clean or adversarial image is an
error, never a table (``argmax`` would score such an image as class 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tfrobust.attacks import Attack, get_norm
from tfrobust.attacks.autoattack import member_label, suite_members_of
from tfrobust.config import ConfigError, check_int, parse_number
from tfrobust.evaluation.checklist import check_list, format_checks, make_check
from tfrobust.evaluation.masking import norm_checks, zero_gradient_share
from tfrobust.training.callbacks import attack_outcomes, attacked_correct
from tfrobust.training.callbacks.robust_accuracy import batches

__all__ = ["COLUMNS", "robust_accuracy_table", "format_table"]

#: The table's columns. ``steps``, ``step_size`` (the one the attack took) and ``objective`` are what the
#: attack's checker reports (PGD and FGSM do); empty for an attack that reports nothing.
COLUMNS = ["norm", "eps", "attack", "steps", "step_size", "objective", "restarts", "n", "clean_accuracy",
           "robust_accuracy_mean", "robust_accuracy_std", "robust_accuracy_worst", "breaks", "flags"]


def _input_shape(data: Any) -> tuple[int, ...] | None:
    """The shape of one input, when the data tells it without reading a batch."""
    spec = getattr(data, "element_spec", None)
    try:
        shape = spec[0].shape[1:] if spec is not None else np.shape(data[0])[1:]
        return tuple(int(d) for d in shape)
    except (TypeError, ValueError, IndexError, KeyError):
        return None


def _norm_options(norm_options: Any, norms: Sequence[str]) -> dict[str, dict[str, Any]]:
    if norm_options is None:
        return {}
    if not isinstance(norm_options, Mapping):
        raise ConfigError(f"norm_options must be a mapping norm -> options, got {norm_options!r}")
    out = {}
    for norm, values in norm_options.items():
        if norm not in norms:
            raise ConfigError(f"norm_options: {norm!r} is not one of the attacked norms ({', '.join(norms)})")
        if values is not None and not isinstance(values, Mapping):
            raise ConfigError(f"norm_options.{norm} must be a mapping of options, got {values!r}")
        out[norm] = dict(values or {})
    return out


def _labels(data: Any, batch_size: int = 256) -> np.ndarray:
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return np.asarray(data[1]).reshape(-1)
    return np.concatenate([np.asarray(y).reshape(-1) for _, y in data]) if data is not None else np.zeros(0)


def _breaks(codes: np.ndarray, labels: Sequence[str]) -> str:
    return ", ".join(f"{label} {int((codes == i).sum())}" for i, label in enumerate(labels))


def robust_accuracy_table(
    model: Any,
    data: Any,
    *,
    norms: Sequence[str],
    eps: Sequence[float] | Mapping[str, Sequence[float]],
    bounds: tuple[float, float],
    attack: str = "pgd",
    options: Mapping[str, Any] | None = None,
    norm_options: Mapping[str, Mapping[str, Any]] | None = None,
    restarts: int = 1,
    seed: int = 0,
    checks: Any = "all",
    blackbox_queries: int = 1000,
    monotone_sample: int = 64,
    progress: Any = None,
) -> pd.DataFrame:
    """Accuracy under an attack for every (norm, eps), with restarts and gradient-masking checks.

    Only what still stands is attacked: a point misclassified clean is never
    attacked, a point broken at a smaller eps (in a restart) is not attacked
    again at a larger one, and PGD stops spending gradients on points it has
    broken (``early_exit``). Every example has its own seed, so this changes
    no per-example result (the monotone correction in the module docstring).

    Args:
        model: a Keras classifier (logits) or logits callable.
        data: ``tf.data.Dataset`` of ``(x, y)`` batches within ``bounds``, or a pair of arrays.
        norms: registered norms, e.g. ``("l2", "linf")``.
        eps: radii in data units, shared by all norms or a mapping norm -> radii
            (Noack's tables use different radii per norm); sorted ascending per
            norm in the output. The clean pass runs once for all norms.
        bounds: value range of the data.
        attack: a registered attack (``pgd``, ``fgsm``, ``apgd``, ``square``, ``autoattack``, ...).
        options: the attack's options (PGD: ``steps`` (40), ``step_size``,
            ``step_size_factor``, ``objective``, ``l2_step``, ``long_steps``,
            ``update``, ...), checked with its registry entry.
        norm_options: norm -> options that override ``options`` for that norm
            (e.g. Noack's per-norm ``step_size_factor``).
        restarts: independent attacks per (norm, eps) (Noack: 3).
        seed: base seed; restart r of (norm, eps) uses seed ``seed + r``.
        checks: the gradient-masking checks to run (:mod:`tfrobust.evaluation.masking`):
            ``"all"`` (default), ``"none"``, or names.
        blackbox_queries: Square's query budget for the ``blackbox`` check
            (when the attack has no gradient-free member).
        monotone_sample: points per radius re-attacked by the ``monotone`` check.
        progress: optional callable ``progress(message)`` called per attack.

    Returns:
        A DataFrame with :data:`COLUMNS`, accuracies in [0, 1]; ``flags``
        names the checks raised on a row, ``breaks`` counts the points each
        member of the attack broke (restart 1, up to this eps). The checks
        (:class:`tfrobust.evaluation.masking.Check` as dicts) are in
        ``table.attrs["checks"]``.

    Raises:
        ValueError: a bad option (every attack is configured, and so checked,
            before the first one runs: an unknown attack, norm, option or
            check, radii and step sizes that are not finite, >= 0 and within
            float32 range), bad data (NaN/inf, outside ``bounds``, labels not
            in [0, K)), or non-finite logits on any clean or adversarial image.
    """
    restarts = check_int(restarts, name="restarts", minimum=1)
    blackbox_queries = check_int(blackbox_queries, name="blackbox_queries", minimum=1)
    monotone_sample = check_int(monotone_sample, name="monotone_sample", minimum=1)
    wanted = check_list(checks)
    norms = list(norms)
    for norm in norms:
        get_norm(norm)
    per_norm = {n: sorted(parse_number(e, name=f"eps ({n})", minimum=0.0, float32=True)
                          for e in (eps.get(n, ()) if isinstance(eps, Mapping) else eps)) for n in norms}
    if not norms or any(not radii for radii in per_norm.values()):
        raise ValueError("eps: give at least one radius for every norm")
    extra = _norm_options(norm_options, norms)
    input_shape = _input_shape(data)
    attacks = {}  # built first: a bad option, radius or step size fails before any attack runs
    for norm in norms:
        merged = {**(options or {}), **extra.get(norm, {})}
        for e in per_norm[norm]:
            attacks[norm, e] = Attack.build(attack, norm=norm, eps=e, bounds=bounds, options=merged,
                                            input_shape=input_shape)
    clean_pass = Attack.build("pgd", norm=norms[0], eps=0.0, bounds=bounds, options={"steps": 0})  # checks x, y
    clean = attacked_correct(model, data, clean_pass)
    labels_of = _labels(data) if "chance" in wanted else np.zeros(clean.size, np.int64)
    say = progress or (lambda message: None)
    rows, found = [], []
    for norm in norms:
        survived = np.tile(clean, (restarts, 1))  # per restart, monotone along eps
        first = np.full(clean.size, -1, np.int64)  # restart 1: the member that first broke each point
        names = [member_label(m) for m in suite_members_of(attacks[norm, per_norm[norm][0]])]
        history = []
        for e in per_norm[norm]:
            current = attacks[norm, e]
            for r in range(restarts):
                say(f"{norm} eps={e:g} restart {r + 1}/{restarts} ({int(survived[r].sum())} points standing)")
                correct, codes = attack_outcomes(model, data, current, seed=seed + r, standing=survived[r],
                                                 what=f"adversarial images ({norm} eps={e:g}, restart {r + 1})")
                if r == 0:
                    first = np.where((first < 0) & (codes >= 0), codes, first)
                survived[r] &= correct
            acc = survived.mean(axis=1)
            history.append((e, survived.copy(), first.copy()))
            rows.append({
                "norm": norm, "eps": e, "attack": attack, "steps": current.settings.get("steps"),
                "step_size": current.settings.get("step_size"), "objective": current.settings.get("objective"),
                "restarts": restarts, "n": int(clean.size), "clean_accuracy": float(clean.mean()),
                "robust_accuracy_mean": float(acc.mean()),
                "robust_accuracy_std": float(acc.std(ddof=1)) if restarts > 1 else 0.0,
                "robust_accuracy_worst": float(survived.all(axis=0).mean()),
                "breaks": _breaks(first, names), "flags": "",
            })
        if wanted:
            found += norm_checks(model, data, attacks, norm, per_norm[norm], history, clean, wanted,
                                 labels=labels_of, bounds=bounds, input_shape=input_shape, seed=seed, restarts=restarts,
                                 blackbox_queries=blackbox_queries, monotone_sample=monotone_sample, say=say)
    if "zero_gradients" in wanted:
        say("zero-gradient check")
        share, values, seen = zero_gradient_share(model, batches(data, 256))
        found.append(make_check("zero_gradients", share if seen else None,
                                what=f"{100 * share:.1f}% of {seen} correctly classified points have an "
                                     f"input gradient that is exactly zero ({100 * values:.1f}% of all values)",
                                skipped=None if seen else "no correctly classified point"))
    table = pd.DataFrame(rows, columns=COLUMNS)
    for check in found:
        if check.status != "raised":
            continue
        hit = (table["norm"] == check.norm) if check.norm is not None else np.ones(len(table), bool)
        if check.eps is not None:
            hit &= np.isclose(table["eps"], check.eps)
        table.loc[hit, "flags"] = [",".join(filter(None, [old, check.check])) for old in table.loc[hit, "flags"]]
    table.attrs["checks"] = [c.to_dict() for c in found]
    return table


def format_table(table: pd.DataFrame, *, label: str = "model") -> str:
    """Noack-style wide table in percent: clean accuracy, then one column per (norm, eps); then the
    gradient-masking checks (a line per raised flag, or "no flag raised") when the table ran them."""
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
    if "checks" in table.attrs:
        lines.append(format_checks(table.attrs["checks"]))
    return "\n".join(lines)
