"""Gradient-masking checks of a robust-accuracy table (Carlini et al. 2019, "On evaluating adversarial robustness").

A robust accuracy measured with gradient-based attacks only is an upper
bound, and regularisers that shape input gradients (Noack et al.'s IR and JR)
are the classic case where that bound is loose. Each check below turns one
item of Carlini et al.'s checklist into a figure, a threshold and a verdict;
:func:`tfrobust.evaluation.robust_accuracy_table` runs them on the points
its attack left standing (so most cost little):

``blackbox``
    A gradient-free attack (``square``) breaks more than 0.5 % of the points
    that the white-box attack left standing: the gradients mislead the attack.
    Read off the suite's members when the attack has a gradient-free one
    (``autoattack``), else Square runs on the survivors at one radius per
    norm (the one whose accuracy is nearest half the clean accuracy).
``monotone``
    Points broken at a smaller radius that the attack misses at the next
    larger one (whose ball contains the smaller): more than 0.5 % of all
    points, estimated by re-attacking a sample of them. Before the monotone
    correction the accuracy would rise with eps by that much.
``chance``
    At a radius that covers the data range (every image reaches the
    mid-range image: linf ``(hi - lo) / 2``, l2 that times ``sqrt(d)``, l1
    times ``d``) accuracy stays more than 2 points above chance (the
    largest class share): an attack that fails where success is guaranteed.
``convergence``
    Doubling the attack's steps (or queries, or restarts) lowers the accuracy
    by more than 1 point at the probe radius: the attack had not converged.
``zero_gradients``
    More than 5 % of the correctly classified points have an input gradient
    of the loss that is exactly zero (saturated softmax, quantisation, a
    non-differentiable layer): gradient attacks cannot move them.

The checks' names, thresholds, advice and verdicts live in the
TensorFlow-free :mod:`tfrobust.evaluation.checklist`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfrobust.attacks import Attack, call_model
from tfrobust.config import ConfigError
from tfrobust.evaluation.checklist import Check, make_check

__all__ = ["chance_level", "covering_radius", "norm_checks", "probe_index", "stronger_attack", "zero_gradient_share"]

def covering_radius(norm: str, bounds: tuple[float, float], input_shape: Sequence[int]) -> float:
    """The radius at which every input of ``bounds`` reaches the mid-range image (so accuracy <= chance).

    linf: ``(hi - lo) / 2``; l2: that times ``sqrt(d)``; l1: times ``d``; ``d`` the input size.

    Raises:
        ConfigError: a norm without a known covering radius.
    """
    half = (float(bounds[1]) - float(bounds[0])) / 2.0
    dim = int(np.prod([int(d) for d in input_shape]))
    factor = {"linf": 1.0, "l2": math.sqrt(dim), "l1": float(dim)}.get(norm)
    if factor is None:
        raise ConfigError(f"no covering radius is known for norm {norm!r}")
    return half * factor


def chance_level(labels: Any) -> float:
    """The accuracy of always answering the most frequent label (the best a constant input can score)."""
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        return 0.0
    return float(np.bincount(labels.astype(np.int64)).max() / labels.size)


def probe_index(clean: float, accuracies: Sequence[float]) -> int:
    """The radius whose accuracy is nearest half the clean accuracy (ties: the smaller radius)."""
    if not accuracies:
        raise ValueError("probe_index needs at least one accuracy")
    return int(np.argmin([abs(a - clean / 2.0) for a in accuracies]))


def stronger_attack(attack: Attack) -> tuple[Attack | None, str]:
    """``attack`` with twice its steps (else queries, else restarts), and a description; (None, reason) if it
    has none of them."""
    from tfrobust.registry import ATTACKS

    numbers = {**attack.settings, **attack.options}
    names = {o.name for o in ATTACKS[attack.name].options}
    for key in ("steps", "queries", "restarts"):
        value = numbers.get(key) if key in names else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            options = {**attack.options, key: 2 * value}
            stronger = Attack.build(attack.name, norm=attack.norm, eps=attack.eps, bounds=attack.bounds,
                                    options=options)
            return stronger, f"{key} {value} -> {2 * value}"
    return None, f"{attack.name} has no steps, queries or restarts to double"


def zero_gradient_share(model: Any, data: Iterable[Any], *, limit: int = 512) -> tuple[float, float, int]:
    """The share of correctly classified points whose cross-entropy input gradient is exactly zero.

    Args:
        model: the classifier (logits).
        data: ``(x, y)`` batches.
        limit: the number of correct points looked at (the first ones).

    Returns:
        (share of points with an all-zero gradient, share of zero gradient
        values over those points, the number of points looked at).
    """
    zero_points = zero_values = values = seen = 0
    for x, y in data:
        x = tf.convert_to_tensor(x, tf.float32)
        y = tf.cast(tf.reshape(y, [-1]), tf.int32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = call_model(model, x)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        grad = tape.gradient(loss, x)
        grad = tf.zeros_like(x) if grad is None else grad
        correct = (tf.argmax(logits, axis=-1, output_type=tf.int32) == y).numpy()
        flat = np.abs(grad.numpy().reshape(int(x.shape[0]), -1))[correct][: max(limit - seen, 0)]
        zero_points += int((flat.max(axis=1, initial=0.0) == 0.0).sum()) if flat.size else 0
        zero_values += int((flat == 0.0).sum())
        values += int(flat.size)
        seen += int(flat.shape[0])
        if seen >= limit:
            break
    if seen == 0:
        return 0.0, 0.0, 0
    return zero_points / seen, zero_values / max(values, 1), seen


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def norm_checks(model: Any, data: Any, attacks: Mapping[tuple[str, float], Attack], norm: str,
                radii: Sequence[float], history: Sequence[tuple[float, np.ndarray, np.ndarray]], clean: np.ndarray,
                wanted: Sequence[str], *, labels: np.ndarray, bounds: tuple[float, float],
                input_shape: Sequence[int] | None, seed: int, restarts: int, blackbox_queries: int = 1000,
                monotone_sample: int = 64, say: Any = None) -> list[Check]:
    """The ``blackbox``, ``monotone``, ``chance`` and ``convergence`` checks of one norm's rows.

    Args:
        model: the classifier.
        data: the table's data (``(x, y)`` batches or a pair of arrays).
        attacks: (norm, eps) -> the configured attack of that row.
        norm, radii: the norm and its ascending radii.
        history: per radius ``(eps, survived (restarts, N), first (N,))``:
            the points standing after that radius in each restart, and in
            restart 1 the index of the member that first broke each point (-1: none).
        clean: (N,) clean correctness; labels: (N,) labels.
        wanted: the checks to run.
        bounds, input_shape: the data's range and one input's shape (None: unknown).
        seed, restarts: the table's; extra attacks use seeds past its restarts.
        blackbox_queries, monotone_sample: see :func:`tfrobust.evaluation.robust_accuracy_table`.
        say: optional progress callable.
    """
    from tfrobust.attacks.autoattack import suite_members_of
    from tfrobust.registry import ATTACKS
    from tfrobust.training.callbacks import attack_outcomes

    say = say or (lambda message: None)
    n = max(int(clean.size), 1)
    out: list[Check] = []
    worst = [s.all(axis=0) for _, s, _ in history]
    nonzero = [i for i, e in enumerate(radii) if e > 0]
    probe = nonzero[probe_index(float(clean.mean()), [float(worst[i].mean()) for i in nonzero])] if nonzero else None
    members = suite_members_of(attacks[norm, radii[-1]])
    free = [i for i, m in enumerate(members) if getattr(ATTACKS[m.name].load(), "gradient_free", False)]
    white = len(free) < len(members)

    if "blackbox" in wanted:
        if free and white:
            for e, _, first in history:
                share = float(np.isin(first, free).sum()) / n
                out.append(make_check("blackbox", share, norm=norm, eps=e,
                                      what=f"the gradient-free member broke {_percent(share)} of all points, "
                                           "points the white-box members left standing"))
        elif free:
            out.append(make_check("blackbox", None, norm=norm, skipped="the attack itself is gradient-free"))
        elif probe is None:
            out.append(make_check("blackbox", None, norm=norm, skipped="no radius above 0"))
        else:
            e = radii[probe]
            try:
                square = Attack.build("square", norm=norm, eps=e, bounds=bounds, options={"queries": blackbox_queries})
            except ValueError as err:
                out.append(make_check("blackbox", None, norm=norm, eps=e, skipped=f"square: {err}"))
            else:
                say(f"blackbox check: square ({blackbox_queries} queries) at {norm} eps={e:g}")
                correct, _ = attack_outcomes(model, data, square, seed=seed + restarts + 1, standing=worst[probe])
                share = float((worst[probe] & ~correct).sum()) / n
                out.append(make_check("blackbox", share, norm=norm, eps=e,
                                      what=f"square ({blackbox_queries} queries) broke {_percent(share)} of all "
                                           "points, points the white-box attack left standing"))

    if "monotone" in wanted:
        if len(radii) < 2:
            out.append(make_check("monotone", None, norm=norm, skipped="one radius"))
        for i in range(1, len(radii)):
            before = clean & ~history[i - 1][1][0]
            if not before.any():
                out.append(make_check("monotone", 0.0, norm=norm, eps=radii[i],
                                      what=f"no point was broken at eps={radii[i - 1]:g}"))
                continue
            chosen = np.random.default_rng(seed + i).permutation(np.flatnonzero(before))[:monotone_sample]
            sample = np.zeros(clean.size, bool)
            sample[chosen] = True
            say(f"monotone check: {chosen.size} points broken at {norm} eps={radii[i - 1]:g} re-attacked at {radii[i]:g}")
            correct, _ = attack_outcomes(model, data, attacks[norm, radii[i]], seed=seed, standing=sample)
            missed = float(correct.sum()) / chosen.size
            share = missed * float(before.sum()) / n
            out.append(make_check("monotone", share, norm=norm, eps=radii[i],
                                  what=f"{_percent(missed)} of {chosen.size} points broken at eps={radii[i - 1]:g} "
                                       f"survive eps={radii[i]:g}: about {_percent(share)} of all points"))

    if "chance" in wanted:
        chance = chance_level(labels)
        if input_shape is None:
            out.append(make_check("chance", None, norm=norm, skipped="the input shape is unknown"))
        else:
            radius = covering_radius(norm, bounds, input_shape)
            if radii[-1] >= radius:
                acc = float(worst[-1].mean())
                e = radii[-1]
            else:
                e = radius
                try:
                    cover = Attack.build(attacks[norm, radii[-1]].name, norm=norm, eps=radius, bounds=bounds,
                                         options=attacks[norm, radii[-1]].options)
                except ValueError as err:
                    cover = None
                    out.append(make_check("chance", None, norm=norm, eps=radius, skipped=str(err)))
                if cover is not None:
                    say(f"chance check: {norm} eps={radius:g} (covers the data range)")
                    correct, _ = attack_outcomes(model, data, cover, seed=seed, standing=worst[-1])
                    acc = float((worst[-1] & correct).sum()) / n
            if radii[-1] >= radius or cover is not None:
                out.append(make_check("chance", acc - chance, norm=norm, eps=e,
                                      what=f"accuracy {_percent(acc)} at a radius covering the data range, "
                                           f"chance {_percent(chance)}: {100 * (acc - chance):+.1f} points"))

    if "convergence" in wanted:
        if probe is None:
            out.append(make_check("convergence", None, norm=norm, skipped="no radius above 0"))
        else:
            e = radii[probe]
            stronger, how = stronger_attack(attacks[norm, e])
            if stronger is None:
                out.append(make_check("convergence", None, norm=norm, eps=e, skipped=how))
            else:
                say(f"convergence check: {how} at {norm} eps={e:g}")
                correct, _ = attack_outcomes(model, data, stronger, seed=seed + restarts, standing=worst[probe])
                drop = float((worst[probe] & ~correct).sum()) / n
                out.append(make_check("convergence", drop, norm=norm, eps=e,
                                      what=f"{how} lowers accuracy by {100 * drop:.1f} points"))
    return out
