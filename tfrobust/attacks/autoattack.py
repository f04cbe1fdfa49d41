"""An AutoAttack-style suite: APGD-CE, then APGD-T, then Square, each on the points still standing.

Ref: Croce & Hein 2020 ("Reliable evaluation of adversarial robustness with
an ensemble of diverse parameter-free attacks"), whose ``standard`` version
runs APGD with the cross-entropy (100 steps, one restart), APGD-T with the
targeted DLR loss (100 steps against each of the 9 most likely other
classes), FAB-T and Square (5,000 queries). Here FAB-T is left out (see
docs/fidelity.md); the members are registered attacks of this package:

=========  =============================================  ===========================
version    white-box members                              black-box member
=========  =============================================  ===========================
standard   ``apgd`` ce 100 steps; ``apgd`` dlr-targeted    ``square`` 5,000 queries
           100 steps x 9 target classes
fast       ``apgd`` ce 50 steps; ``apgd`` dlr-targeted     ``square`` 1,000 queries
           50 steps x 3 target classes
=========  =============================================  ===========================

``steps``, ``target_classes`` and ``queries`` override the version's
numbers; ``square=False`` drops the black-box member (then the suite cannot
tell gradient masking from robustness; :mod:`tfrobust.evaluation.masking`).

APGD-T's targeted DLR loss needs at least 4 classes; with fewer the
suite skips that member (as the reference code does).

A point is broken by the first member that misclassifies it, and later
members only attack the points still classified correctly, so the suite's
per-example result is the worst case over its members and it never reports
more accuracy than its strongest member. Every member is run with one seed
per example (:mod:`tfrobust.attacks.seeds`), so attacking a subset of a batch
gives the same per-example result as attacking the whole batch.

:func:`run_members` runs any list of configured attacks this way and says
which member broke each point; the evaluation layer uses it to count the
points that only the black-box member found (the gradient-masking flag).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from tfrobust.attacks import seeds as seeding
from tfrobust.attacks.checks import (
    check_bounds,
    check_eps,
    check_finite,
    check_in_bounds,
    check_labels,
    num_logits,
)
from tfrobust.attacks.protocol import Attack, checked_by
from tfrobust.attribution.gradient import ModelFn, call_model
from tfrobust.config import ConfigError, check_int
from tfrobust.registry import ATTACKS, register

__all__ = ["CLEAN_WRONG", "ROBUST", "VERSIONS", "autoattack", "check_autoattack", "member_label", "run_members",
           "run_members_checked",
           "suite_members", "suite_members_of"]

#: version -> the numbers of its members (apgd-ce steps, apgd-t steps, target classes, square queries).
VERSIONS: dict[str, dict[str, int]] = {
    "standard": {"steps": 100, "target_classes": 9, "queries": 5000},
    "fast": {"steps": 50, "target_classes": 3, "queries": 1000},
}

#: the code of a point misclassified before any attack (not attacked) in :func:`run_members`.
CLEAN_WRONG = -2
#: the code of a point that no member broke.
ROBUST = -1


def _suite_options(version: str, steps: int | None, target_classes: int | None,
                   queries: int | None) -> dict[str, int]:
    if version not in VERSIONS:
        raise ConfigError(f"version must be one of {', '.join(VERSIONS)}, got {version!r}")
    numbers = dict(VERSIONS[version])
    for name, value in (("steps", steps), ("target_classes", target_classes), ("queries", queries)):
        if value is not None:
            numbers[name] = check_int(value, name=name, minimum=1)
    return numbers


def suite_members(*, norm: str, eps: float, bounds: Any, version: str = "standard", steps: int | None = None,
                  target_classes: int | None = None, queries: int | None = None, square: bool = True,
                  input_shape: Any = None) -> list[Attack]:
    """The suite's members as configured :class:`~tfrobust.attacks.Attack` objects, in the order they run.

    Raises:
        ValueError: one line: an unknown version, a bad number, or a norm a member cannot attack.
    """
    numbers = _suite_options(version, steps, target_classes, queries)
    configs: list[tuple[str, dict[str, Any]]] = [
        ("apgd", {"loss": "ce", "steps": numbers["steps"]}),
        ("apgd", {"loss": "dlr-targeted", "steps": numbers["steps"], "target_classes": numbers["target_classes"]}),
    ]
    if square:
        configs.append(("square", {"queries": numbers["queries"]}))
    return [Attack.build(name, norm=norm, eps=eps, bounds=bounds, options=options, input_shape=input_shape)
            for name, options in configs]


def suite_members_of(attack: Attack) -> list[Attack]:
    """The members of a configured suite (an attack whose function has ``members``), else ``[attack]``."""
    members = getattr(ATTACKS[attack.name].load(), "members", None)
    if members is None:
        return [attack]
    return list(members(norm=attack.norm, eps=attack.eps, bounds=attack.bounds, **attack.options))


def member_label(attack: Attack) -> str:
    """A short name of a member: ``apgd-ce``, ``apgd-t``, ``apgd-dlr``, ``square``, or the attack's name."""
    if attack.name == "apgd":
        loss = attack.options.get("loss", "ce")
        return {"ce": "apgd-ce", "dlr": "apgd-dlr", "dlr-targeted": "apgd-t"}.get(loss, f"apgd-{loss}")
    return attack.name


def check_autoattack(*, norm: str, eps: float, bounds: Any, input_shape: Any = None, version: str = "standard",
                     steps: int | None = None, target_classes: int | None = None, queries: int | None = None,
                     square: bool = True) -> dict[str, Any]:
    """The checker of :func:`autoattack`: builds (and so checks) every member.

    Returns:
        ``members`` (their labels, comma-separated), ``steps`` (APGD's) and ``queries`` (Square's, or None).
    """
    members = suite_members(norm=norm, eps=check_eps(eps), bounds=check_bounds(bounds), version=version,
                            steps=steps, target_classes=target_classes, queries=queries, square=square,
                            input_shape=input_shape)
    numbers = _suite_options(version, steps, target_classes, queries)
    return {"members": ", ".join(member_label(m) for m in members), "steps": numbers["steps"],
            "queries": numbers["queries"] if square else None, "objective": "ce, dlr-targeted"}


def _predictions(model_fn: ModelFn, x: tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes of ``x``, and whether each row's logits are all finite."""
    logits = call_model(model_fn, x)
    finite = tf.reduce_all(tf.math.is_finite(tf.reshape(logits, [tf.shape(logits)[0], -1])), axis=1)
    return tf.argmax(logits, axis=-1, output_type=tf.int32).numpy(), finite.numpy()


def run_members(model_fn: ModelFn, x: Any, y: Any, members: Sequence[Attack], *,
                seed: Any = 0) -> tuple[tf.Tensor, np.ndarray]:
    """Runs ``members`` in order, each only on the points that every earlier member left correct.

    :func:`run_members_checked` without the finiteness of the logits.

    Args:
        model_fn: the classifier (logits).
        x: (N, ...) inputs; y: (N,) int labels.
        members: configured attacks (untargeted).
        seed: an int, a (2,) seed, or (N, 2) seeds, one per example; member
            i gets ``fold(seed_of_example, i)``, so the result of an example
            does not depend on the rest of the batch.

    Returns:
        ``x_adv`` (N, ...) and ``breaker`` (N,) int: the index of the member
        that broke the point, :data:`ROBUST` (-1) if none did, or
        :data:`CLEAN_WRONG` (-2) for a point misclassified before any attack
        (returned unchanged).
    """
    x_adv, breaker, _ = run_members_checked(model_fn, x, y, members, seed=seed)
    return x_adv, breaker


def run_members_checked(model_fn: ModelFn, x: Any, y: Any, members: Sequence[Attack], *,
                        seed: Any = 0) -> tuple[tf.Tensor, np.ndarray, np.ndarray]:
    """:func:`run_members`, and whether the logits of each returned point are finite.

    The predictions the suite makes anyway (clean, and after each member)
    give the finiteness, so a caller that scores ``x_adv`` needs no further
    forward pass: a point is still correct exactly when its breaker is
    :data:`ROBUST`.

    Returns:
        ``x_adv``, ``breaker`` (as :func:`run_members`) and ``finite`` (N,)
        bool: the model's logits on ``x_adv[i]`` contain no NaN or inf.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    if x.shape.rank is None or x.shape.rank < 2:
        raise ValueError(f"x must be a batch (N, ...), got shape {x.shape}")
    n = int(x.shape[0])
    if members and n:
        lo, hi = members[0].bounds
        check_finite(x, "x")
        check_in_bounds(x, lo, hi)
    classes = num_logits(model_fn, x) if n else None
    y = check_labels(y, n, classes).numpy()
    per_example = seeding.as_seed(seed)
    if per_example.shape.rank == 1:
        per_example = seeding.example_seeds(per_example, tf.range(n))
    x_adv = x
    breaker = np.full(n, ROBUST, np.int64)
    if n == 0:
        return x_adv, breaker, np.ones(0, bool)
    predicted, finite = _predictions(model_fn, x)
    breaker[predicted != y] = CLEAN_WRONG
    for index, member in enumerate(members):
        rows = np.flatnonzero(breaker == ROBUST)
        if rows.size == 0:
            break
        if classes is not None and classes < 4 and member.options.get("loss") == "dlr-targeted":
            continue  # the targeted DLR loss needs 4 classes (Croce & Hein's APGD-T is skipped below that)
        sub_x = tf.gather(x, rows)
        sub_y = y[rows]
        sub_adv = tf.cast(member(model_fn, sub_x, sub_y, seed=seeding.fold(tf.gather(per_example, rows), index)),
                          tf.float32)  # a plugin attack may return float64 (numpy)
        predicted, sub_finite = _predictions(model_fn, sub_adv)
        broken = predicted != sub_y
        if broken.any():
            hit = rows[broken]
            breaker[hit] = index
            finite[hit] = sub_finite[broken]
            x_adv = tf.tensor_scatter_nd_update(x_adv, hit[:, None], tf.gather(sub_adv, np.flatnonzero(broken)))
    return x_adv, breaker, finite


@register("attacks", "autoattack")
@checked_by(check_autoattack)
def autoattack(
    model_fn: ModelFn,
    x: Any,
    y: Any,
    *,
    norm: str,
    eps: float,
    bounds: tuple[float, float],
    seed: Any = 0,
    version: Literal["standard", "fast"] = "standard",
    steps: int | None = None,
    target_classes: int | None = None,
    queries: int | None = None,
    square: bool = True,
) -> tf.Tensor:
    """The worst case over APGD-CE, APGD-T and Square (see module docstring).

    Args:
        model_fn: maps (N, ...) inputs to (N, K) logits (K >= 4 for APGD-T's
            targeted DLR loss); Keras models run with ``training=False``.
        x: (N, ...) float32 inputs within ``bounds``; never modified.
        y: (N,) int labels.
        norm: ``linf`` or ``l2`` (the members refuse ``l1``).
        eps: radius in data units.
        bounds: (lo, hi) value range of the data.
        seed: an int, a (2,) seed or (N, 2) per-example seeds.
        version: ``standard`` or ``fast`` (the members' numbers, module docstring).
        steps: APGD steps per run (default: the version's).
        target_classes: APGD-T's target classes (default: the version's; at most K - 1).
        queries: Square's query budget (default: the version's).
        square: run the black-box member.

    Returns:
        (N, ...) adversarial examples: for every point some member broke, that
        member's misclassifying point; ``x`` itself where none did (and where
        ``x`` is already misclassified).

    Raises:
        ValueError: one line, for a bad option or input (the members' checks).
    """
    if not tf.executing_eagerly():
        raise ConfigError("autoattack runs eagerly (an evaluation attack), not inside a traced function")
    members = suite_members(norm=norm, eps=eps, bounds=bounds, version=version, steps=steps,
                            target_classes=target_classes, queries=queries, square=square)
    x_adv, _ = run_members(model_fn, x, y, members, seed=seed)
    return x_adv


autoattack.members = suite_members  # type: ignore[attr-defined]
autoattack.eager_only = True  # type: ignore[attr-defined]
