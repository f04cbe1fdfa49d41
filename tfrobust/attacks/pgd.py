"""Projected gradient descent (PGD) on a model callable, as a pure function.

Ref: Madry et al. 2018; Kim et al. 2019 appendix B (40 iterations, l2/linf,
cross-entropy or CW objective); Tsipras et al. 2019 A.3 (random start);
Noack et al. 2021 eq. 11-12 (l2 ball with a sign step).

Loop form, chosen by measurement (``benchmarks/loop_form.py``; table in
``benchmarks/results/loop_form.json``): ``jit_compile=None`` takes the
device's default, :func:`default_jit` (CPU: graph mode; GPU: XLA, unmeasured).
In graph mode all steps of a restart run in one ``tf.while_loop`` inside one
compiled function (one trace serves every step count); under XLA one
compiled step (input gradient, ascent, projection, clipping) is called
``steps`` times from Python, as XLA while loops were measured many times
slower on CPU. On 2 shared CPU cores (PGD-10, batches 128 and 256, four
CNNs and an MLP) an XLA step per call cost 1.2x to 1.6x the graph loop on
every CNN; the graph loop cost 0.9x to 1.4x (median 1.0x) the time of 10
compiled input gradients in the best mode on the CNNs, as did a graph step
called from Python, and 1.0x to 1.2x on the MLP, where the step per call
cost 1.1x to 1.35x (its call overhead is not small against a gradient of a
few milliseconds). With ``early_exit`` the step is
always called from Python, which then drops the points already broken
(:mod:`tfrobust.attacks.early_exit`). Inside a traced function
(``train_step``) the steps are unrolled into the caller's graph and follow
its ``jit_compile`` setting; ``early_exit`` is ignored there.
Compiled functions are cached per model callable and attack configuration, so
pass a ``keras.Model`` (called with ``training=False``) or a long-lived
function, not a fresh lambda per call.

The step's direction comes from an update rule (:mod:`tfrobust.attacks.updates`):
``update="steepest"`` (the default, plain PGD) or ``"momentum"`` (MI-FGSM).
:func:`pgd` is the ``pgd`` entry of :data:`tfrobust.registry.ATTACKS`;
:class:`PGD` is the same attack as a frozen configuration object.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from tfrobust.attacks.checks import (
    check_bounds,
    check_eps,
    check_finite,
    check_in_bounds,
    check_l2_extent,
    check_labels,
    num_logits,
)
from tfrobust.attacks.early_exit import attack_until_broken
from tfrobust.attacks.norms import L2_STEPS, Norm, get_norm
from tfrobust.attacks.objectives import get_objective
from tfrobust.attacks.protocol import checked_by
from tfrobust.attacks.seeds import as_seed, fold, is_per_example
from tfrobust.attacks.updates import UpdateRule, get_update_rule
from tfrobust.attribution.compile_mode import default_jit
from tfrobust.attribution.gradient import ModelFn, call_model
from tfrobust.config import check_int, parse_number
from tfrobust.registry import register

__all__ = ["LONG_STEPS", "PGD", "check_pgd", "check_step_length", "cut_step_size", "default_jit", "default_step_size",
           "pgd", "step_length"]

#: What to do with a step longer than the ball's diameter: refuse it, or cut it to the diameter.
LONG_STEPS = ("refuse", "cut")

# model callable -> {static configuration: compiled function}
_COMPILED: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()


def default_step_size(eps: float, steps: int, factor: float = 2.5) -> float:
    """Madry et al.'s rule of thumb: ``factor * eps / steps`` with ``factor`` 2.5 (the papers give none)."""
    eps = check_eps(eps)
    steps = check_int(steps, name="steps", minimum=0)
    return check_eps(factor, name="step_size_factor") * eps / max(steps, 1)


def _dim(input_shape: Any) -> int | None:
    return None if input_shape is None else int(np.prod([int(d) for d in input_shape]))


def step_length(norm: str, step_size: float, *, l2_step: str = "normalized", dim: int | None = None) -> float:
    """Length of one PGD step, measured in the ball's own norm.

    A linf sign step, a normalised l2 step and an l1 step have length
    ``step_size``; an l2 sign step (Noack et al. eq. 11) moves every one of the
    ``dim`` input values by ``step_size``, so its l2 length is
    ``step_size * sqrt(dim)`` (with ``dim`` unknown: the lower bound ``step_size``).
    """
    step_size = check_eps(step_size, name="step_size")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1):
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    return float(step_size) * get_norm(norm).unit_length(l2_step, None if dim is None else int(dim))


def _sign_l2(norm: str, l2_step: str) -> bool:
    return norm == "l2" and l2_step == "sign"


def check_step_length(norm: str, eps: float, steps: int, step_size: float, *, l2_step: str = "normalized",
                      input_shape: Any = None) -> None:
    """Refuses a PGD configuration whose single step is longer than the ball's diameter ``2 * eps``.

    Such a step leaves the ball from any point in it, so every iterate is a
    projected jump to the boundary and the iteration no longer refines
    anything (e.g. l2 sign steps of the default size on CIFAR-10: length
    24.8 against eps 1.25). One step (``steps <= 1``, FGSM-like) and
    ``eps = 0`` (the input unchanged) are exempt.

    Args:
        norm, eps, steps, step_size, l2_step: the attack's settings (resolved step size).
        input_shape: the shape of one input (without the batch axis), or None
            when unknown; needed to measure l2 sign steps exactly.

    Raises:
        ValueError: one line naming ``step_size``.
    """
    eps = check_eps(eps)
    step_size = check_eps(step_size, name="step_size")
    steps = check_int(steps, name="steps", minimum=0)
    if steps <= 1 or eps == 0:
        return
    dim = _dim(input_shape)
    length = step_length(norm, step_size, l2_step=l2_step, dim=dim)
    if length > 2.0 * eps * (1.0 + 1e-9):
        rule = {"linf": "linf sign", "l2": f"l2 {l2_step}"}.get(norm, norm)
        where = f" over {dim} input values" if _sign_l2(norm, l2_step) and dim else ""
        raise ValueError(
            f"step_size: one {rule} step of size {step_size:.4g}{where} has {norm} length {length:.4g}, "
            f"longer than the ball's diameter 2*eps = {2 * eps:.4g}; this is not PGD (use a smaller "
            "step_size" + (", l2_step: normalized" if _sign_l2(norm, l2_step) else "")
            + ", or long_steps: cut to cut it to 2*eps)")


def cut_step_size(norm: str, eps: float, step_size: float, *, l2_step: str = "normalized",
                  input_shape: Any = None) -> float:
    """``step_size`` shortened so that one step is at most the ball's diameter ``2 * eps``.

    Kim et al.'s code takes fixed steps (l2 2, linf 0.02) at every radius,
    also where they exceed the diameter; ``long_steps="cut"`` runs those
    configurations with the longest step that is still PGD. For linf and for
    normalised l2 steps without a random start the cut changes nothing but the
    path's first step (measured in docs/fidelity.md). An l2 sign step needs
    ``input_shape`` (its length is ``step_size * sqrt(d)``).
    """
    eps = check_eps(eps)
    step_size = check_eps(step_size, name="step_size")
    dim = _dim(input_shape)
    if _sign_l2(norm, l2_step) and not dim:
        raise ValueError("long_steps: cutting an l2 sign step needs the input shape")
    per_unit = step_length(norm, 1.0, l2_step=l2_step, dim=dim)
    return float(min(float(step_size), 2.0 * float(eps) / per_unit))


@dataclass(frozen=True)
class _Plan:
    """A checked PGD configuration: what the loop runs."""

    geometry: Norm
    objective: str
    loss_fn: Callable[..., tf.Tensor]
    eps: float
    bounds: tuple[float, float] | None
    steps: int
    step_size: float
    restarts: int
    random_start: bool
    l2_step: str
    targeted: bool
    kappa: float
    rule: UpdateRule


def _plan(*, norm: str, eps: float, bounds: Any, input_shape: Any = None, steps: int = 40,
          step_size: float | None = None, step_size_factor: float = 2.5, objective: str = "xent",
          random_start: bool = True, restarts: int = 1, l2_step: str = "normalized", long_steps: str = "refuse",
          update: str = "steepest", momentum: float = 1.0, targeted: bool = False, kappa: float = 0.0) -> _Plan:
    """Every check of a PGD configuration that needs no model (``bounds`` None: not checked)."""
    geometry = get_norm(norm)
    loss_fn = get_objective(objective)
    eps = check_eps(eps)
    lo_hi = None if bounds is None else check_bounds(bounds)
    steps = check_int(steps, name="steps", minimum=0)
    restarts = check_int(restarts, name="restarts", minimum=1)
    if l2_step not in L2_STEPS:
        raise ValueError(f"l2_step must be one of {', '.join(L2_STEPS)}, got {l2_step!r}")
    if long_steps not in LONG_STEPS:
        raise ValueError(f"long_steps must be one of {', '.join(LONG_STEPS)}, got {long_steps!r}")
    rule = get_update_rule(update, momentum=momentum)
    size = default_step_size(eps, steps, step_size_factor) if step_size is None else step_size
    size = check_eps(size, name="step_size")
    kappa = check_eps(kappa, name="kappa")
    dim = _dim(input_shape)
    if long_steps == "cut" and eps > 0 and (dim or not _sign_l2(geometry.name, l2_step)):
        size = cut_step_size(geometry.name, eps, size, l2_step=l2_step, input_shape=input_shape)
    elif long_steps == "refuse":
        check_step_length(geometry.name, eps, steps, size, l2_step=l2_step, input_shape=input_shape)
    if geometry.name == "l2":
        check_l2_extent(eps, size, sign_steps=l2_step == "sign", dim=dim)
    return _Plan(geometry, objective, loss_fn, eps, lo_hi, steps, size, restarts, bool(random_start), l2_step,
                 bool(targeted), kappa, rule)


def _check_flags(early_exit: Any, jit_compile: Any) -> None:
    if not isinstance(early_exit, (bool, np.bool_)):
        raise ValueError(f"early_exit must be true or false, got {early_exit!r}")
    if jit_compile is not None and not isinstance(jit_compile, (bool, np.bool_)):
        raise ValueError(f"jit_compile must be true, false or None (the device default), got {jit_compile!r}")


def check_pgd(*, norm: str, eps: float, bounds: Any, input_shape: Any = None, early_exit: bool = False,
              jit_compile: bool | None = None, **options: Any) -> dict[str, Any]:
    """The checker of :func:`pgd` (:func:`tfrobust.attacks.protocol.checked_by`).

    Returns:
        ``steps``, ``step_size`` (the one PGD takes: the default or the
        configured one, cut with ``long_steps="cut"``) and ``objective``.
    """
    _check_flags(early_exit, jit_compile)
    plan = _plan(norm=norm, eps=eps, bounds=bounds, input_shape=input_shape, **options)
    return {"steps": plan.steps, "step_size": plan.step_size, "objective": plan.objective}


def _compiled(model_fn: ModelFn, key: tuple[Any, ...], build: Callable[[], Callable[..., Any]],
              jit_compile: bool) -> Callable[..., Any]:
    """``build()`` wrapped in ``tf.function`` and cached per model callable (eager only)."""
    if not tf.executing_eagerly():
        return build()  # already being traced: inline the ops
    key = (*key, jit_compile)
    try:
        per_model = _COMPILED.setdefault(model_fn, {})
    except TypeError:  # not weak-referenceable: compile without caching
        return tf.function(build(), reduce_retracing=True, jit_compile=jit_compile)
    fn = per_model.get(key)
    if fn is None:
        fn = per_model[key] = tf.function(build(), reduce_retracing=True, jit_compile=jit_compile)
    return fn


def _succeeds(logits: tf.Tensor, y: tf.Tensor, targeted: bool) -> tf.Tensor:
    """(N,) bool: the attack's goal is met (untargeted: prediction != y; targeted: prediction == y)."""
    hit = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(y, tf.int32))
    return hit if targeted else tf.logical_not(hit)


def _step_builder(model_fn: ModelFn, plan: _Plan, lo: float, hi: float, report: bool = False) -> Callable[[], Any]:
    """One PGD step; with ``report`` it also returns whether the iterate it started from already succeeds."""
    geometry, objective, rule = plan.geometry, plan.loss_fn, plan.rule
    l2_step, targeted, kappa = plan.l2_step, plan.targeted, plan.kappa

    def build() -> Callable[..., Any]:
        def step(x_adv: tf.Tensor, x0: tf.Tensor, y: tf.Tensor, eps: tf.Tensor, step_size: tf.Tensor,
                 state: Any) -> tuple[Any, ...]:
            with tf.GradientTape() as input_tape:
                input_tape.watch(x_adv)
                logits = call_model(model_fn, x_adv)
                total = tf.reduce_sum(objective(logits, y, targeted=targeted, kappa=kappa))
            grad = input_tape.gradient(total, x_adv, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            direction, state = rule.direction(grad, state)
            moved = x_adv + step_size * geometry.normalize_step(direction, l2_step)
            delta = geometry.project(moved - x0, eps)
            if report:
                return tf.clip_by_value(x0 + delta, lo, hi), state, _succeeds(logits, y, targeted)
            return tf.clip_by_value(x0 + delta, lo, hi), state

        return step

    return build


def _loop_builder(step_builder: Callable[[], Any]) -> Callable[[], Any]:
    """``steps`` PGD steps in one ``tf.while_loop`` (one graph function for every step count)."""

    def build() -> Callable[..., tf.Tensor]:
        step = step_builder()

        def loop(x_adv: tf.Tensor, x0: tf.Tensor, y: tf.Tensor, eps: tf.Tensor, step_size: tf.Tensor, state: Any,
                 steps: tf.Tensor) -> tf.Tensor:
            def body(i: tf.Tensor, x_adv: tf.Tensor, state: Any) -> tuple[Any, ...]:
                return (i + 1, *step(x_adv, x0, y, eps, step_size, state))

            return tf.while_loop(lambda i, *_: i < steps, body, (tf.constant(0, tf.int32), x_adv, state))[1]

        return loop

    return build


def _judge_builder(model_fn: ModelFn, objective: Callable[..., tf.Tensor], targeted: bool,
                   kappa: float) -> Callable[[], Any]:
    def build() -> Callable[..., tuple[tf.Tensor, tf.Tensor]]:
        def judge(x_adv: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            """Whether each iterate succeeds, and its objective."""
            logits = call_model(model_fn, x_adv)
            return _succeeds(logits, y, targeted), objective(logits, y, targeted=targeted, kappa=kappa)

        return judge

    return build


def _score_builder(model_fn: ModelFn, objective: Callable[..., tf.Tensor], targeted: bool,
                   kappa: float) -> Callable[[], Any]:
    def build() -> Callable[..., tf.Tensor]:
        def score(x_adv: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            """Higher is a better attack: success first, then the objective."""
            logits = call_model(model_fn, x_adv)
            pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
            hit = tf.equal(pred, tf.cast(y, tf.int32))
            success = hit if targeted else tf.logical_not(hit)
            value = objective(logits, y, targeted=targeted, kappa=kappa)
            return value + tf.where(success, tf.constant(1e6, value.dtype), tf.zeros_like(value))

        return score

    return build


def _restart_seed(seed: Any, restart: int) -> tf.Tensor:
    """Restart r's seed: ``fold_in(seed, r)``, per example for (N, 2) seeds."""
    return fold(seed, restart)


def _start(plan: _Plan, x: tf.Tensor, seed: Any, eps: tf.Tensor, lo: float, hi: float,
           rows: np.ndarray, x0: tf.Tensor, restart: int) -> tf.Tensor:
    """Restart ``restart``'s start for the rows ``rows`` of ``x`` (``x0``), the same as in the whole batch."""
    if not plan.random_start:
        return x0
    if is_per_example(seed):  # each row's draw depends on its own seed: draw for the attacked rows only
        row_seeds = tf.gather(as_seed(seed), rows) if rows.size < x.shape[0] else seed
        start = plan.geometry.random_start(tf.shape(x0), eps, _restart_seed(row_seeds, restart))
    else:
        start = plan.geometry.random_start(tf.shape(x), eps, _restart_seed(seed, restart))
        start = tf.gather(start, rows) if rows.size < x.shape[0] else start
    return tf.clip_by_value(x0 + start, lo, hi)


def _check_inputs(model_fn: ModelFn, x: tf.Tensor, y: Any, lo: float, hi: float) -> tf.Tensor:
    """Shapes always; eagerly also finite ``x`` within bounds and labels in [0, K). Returns int32 ``y``."""
    if x.shape.rank is None or x.shape.rank < 2:
        raise ValueError(f"x must be a batch (N, ...), got shape {x.shape}")
    n = x.shape[0]
    k = None
    if tf.executing_eagerly() and n:
        check_finite(x, "x")
        check_in_bounds(x, lo, hi)
        k = num_logits(model_fn, x)
    return check_labels(y, n, k)


def _check_adversarial(x_adv: tf.Tensor) -> None:
    """Eagerly: refuse non-finite adversarial examples instead of returning (and scoring) them."""
    if not tf.executing_eagerly() or not x_adv.shape.num_elements():
        return
    rows = tf.reduce_all(tf.math.is_finite(tf.reshape(x_adv, [tf.shape(x_adv)[0], -1])), axis=1)
    bad = int(tf.size(rows) - tf.math.count_nonzero(rows, dtype=tf.int32))
    if bad:
        raise ValueError(f"PGD produced non-finite adversarial examples for {bad} of {int(tf.size(rows))} "
                         "inputs (the model's logits or gradients are NaN or inf there)")


@register("attacks", "pgd")
@checked_by(check_pgd)
def pgd(
    model_fn: ModelFn,
    x: Any,
    y: Any,
    *,
    norm: str,
    eps: float,
    bounds: tuple[float, float],
    seed: Any = 0,
    steps: int = 40,
    step_size: float | None = None,
    step_size_factor: float = 2.5,
    objective: str = "xent",
    random_start: bool = True,
    restarts: int = 1,
    l2_step: Literal["normalized", "sign"] = "normalized",
    long_steps: Literal["refuse", "cut"] = "refuse",
    update: str = "steepest",
    momentum: float = 1.0,
    targeted: bool = False,
    kappa: float = 0.0,
    early_exit: bool = False,
    jit_compile: bool | None = None,
) -> tf.Tensor:
    """Projected gradient ascent of an objective inside an lp ball (PGD; with ``update="momentum"`` MI-FGSM).

    Args:
        model_fn: maps (N, ...) inputs to (N, K) logits; a ``keras.Model``
            is called with ``training=False`` (no BatchNorm updates, no dropout).
        x: (N, ...) float32 inputs within ``bounds``; never modified.
        y: (N,) int labels (targeted: the target classes).
        norm: a registered norm (:func:`tfrobust.attacks.get_norm`: ``linf``, ``l2``, ``l1``).
        eps: radius of the ball in data units (>= 0; 0 returns ``x``).
        bounds: (lo, hi) value range of the data; iterates are clipped to it.
        seed: int, (2,) int tensor, or (N, 2) seeds, one per example
            (:mod:`tfrobust.attacks.seeds`); restart r uses ``fold_in(seed, r)``,
            so the first R starts are the same whatever the number of restarts.
        steps: PGD iterations (>= 0).
        step_size: step length in data units; default ``step_size_factor * eps / steps``.
        step_size_factor: see ``step_size`` (Madry et al.'s 2.5).
        objective: a registered objective (``xent`` or ``cw``, :mod:`tfrobust.attacks.objectives`).
        random_start: start from a uniform point of the ball (Tsipras A.3).
        restarts: independent starts; per example the worst case is returned
            (a misclassifying restart first, then the highest objective).
        l2_step: for ``norm="l2"``: ``"normalized"`` gradient steps or
            ``"sign"`` steps (Noack et al. 2021 eq. 11).
        long_steps: ``"refuse"`` (default) a step longer than the ball's
            diameter ``2 * eps``, or ``"cut"`` it to the diameter (Kim et al.'s
            fixed steps at small radii; :func:`cut_step_size`).
        update: the step's update rule, ``"steepest"`` (plain PGD) or
            ``"momentum"`` (MI-FGSM; :mod:`tfrobust.attacks.updates`).
        momentum: the momentum rule's decay ``mu`` (>= 0; Dong et al.: 1).
        targeted: move towards class ``y`` instead of away from it.
        kappa: CW confidence (only for ``objective="cw"``).
        early_exit: stop attacking a point at its first iterate that succeeds
            (untargeted: misclassified; targeted: classified as ``y``),
            counting the random start and the final iterate, and return that
            iterate; frozen points leave the batch, so they cost no more
            gradients, and a restart attacks only the points still standing.
            Default False: the last iterate (adversarial training and figures
            want it). Eager only: ignored inside a traced function.
        jit_compile: True: an XLA-compiled step, called from Python per
            step; False: graph mode, all steps in one ``tf.while_loop`` (with
            ``early_exit``: a step per call); None (default): the measured
            default of the device, :func:`default_jit`. Ignored inside a
            traced function.

    Returns:
        (N, ...) float32 adversarial examples with ``||x_adv - x||_p <= eps``
        and values within ``bounds``.

    Raises:
        ValueError: bad arguments (eps and step_size must be finite, >= 0 and
            within float32 range; for l2 also small enough that squared lengths
            stay finite); and, eagerly only (one reduction each, skipped inside
            a traced ``train_step``): NaN/inf in ``x``, ``x`` outside
            ``bounds``, labels that are not integers in [0, K), or a non-finite
            result (never returned).
    """
    if bounds is None:
        raise ValueError("bounds: give the data's value range (lo, hi)")
    x = tf.convert_to_tensor(x, tf.float32)
    input_shape = x.shape[1:] if x.shape[1:].is_fully_defined() else None
    plan = _plan(norm=norm, eps=eps, bounds=bounds, input_shape=input_shape, steps=steps, step_size=step_size,
                 step_size_factor=step_size_factor, objective=objective, random_start=random_start,
                 restarts=restarts, l2_step=l2_step, long_steps=long_steps, update=update, momentum=momentum,
                 targeted=targeted, kappa=kappa)
    _check_flags(early_exit, jit_compile)
    lo, hi = plan.bounds  # type: ignore[misc]
    y = _check_inputs(model_fn, x, y, lo, hi)
    if plan.eps == 0.0 or (plan.steps == 0 and not plan.random_start):
        return tf.identity(x)

    key = ("step", type(plan.geometry), plan.loss_fn, plan.l2_step, plan.targeted, plan.kappa, lo, hi, plan.rule)
    jit = default_jit() if jit_compile is None else bool(jit_compile)
    eps_t = tf.constant(plan.eps, tf.float32)
    size_t = tf.constant(plan.step_size, tf.float32)
    if early_exit and tf.executing_eagerly():
        step = _compiled(model_fn, (*key, "report"), _step_builder(model_fn, plan, lo, hi, report=True), jit)
        judge = _compiled(model_fn, ("judge", plan.loss_fn, plan.targeted, plan.kappa),
                          _judge_builder(model_fn, plan.loss_fn, plan.targeted, plan.kappa), False)
        best = attack_until_broken(
            lambda x_adv, x0, y0, state: step(x_adv, x0, y0, eps_t, size_t, state), judge, x, y,
            start=partial(_start, plan, x, seed, eps_t, lo, hi), init=plan.rule.init, steps=plan.steps,
            restarts=plan.restarts, exact=not jit)
        _check_adversarial(best)
        return tf.stop_gradient(best)
    if jit or not tf.executing_eagerly():  # XLA: a compiled step per call; traced: unrolled into the caller
        step = _compiled(model_fn, key, _step_builder(model_fn, plan, lo, hi), jit)
    else:  # graph mode: all steps in one function
        loop = _compiled(model_fn, (*key, "loop"), _loop_builder(_step_builder(model_fn, plan, lo, hi)), False)
    steps_t = tf.constant(plan.steps, tf.int32)
    best = best_score = None
    for restart in range(plan.restarts):
        if plan.random_start:
            start = plan.geometry.random_start(tf.shape(x), eps_t, _restart_seed(seed, restart))
            x_adv = tf.clip_by_value(x + start, lo, hi)
        else:
            x_adv = x
        state = plan.rule.init(x)
        if jit or not tf.executing_eagerly():
            for _ in range(plan.steps):
                x_adv, state = step(x_adv, x, y, eps_t, size_t, state)
        elif plan.steps:
            x_adv = loop(x_adv, x, y, eps_t, size_t, state, steps_t)
        _check_adversarial(x_adv)
        if plan.restarts == 1:
            best = x_adv
            break
        score_key = ("score", plan.loss_fn, plan.targeted, plan.kappa)
        score = _compiled(model_fn, score_key, _score_builder(model_fn, plan.loss_fn, plan.targeted, plan.kappa),
                          False)(x_adv, y)
        if best is None:
            best, best_score = x_adv, score
        else:
            better = score > best_score
            mask = tf.reshape(better, [-1] + [1] * (x.shape.rank - 1))
            best = tf.where(mask, x_adv, best)
            best_score = tf.where(better, score, best_score)
    return tf.stop_gradient(best)


@dataclass(frozen=True)
class PGD:
    """A PGD configuration, callable as ``attack(model_fn, x, y, seed=...)`` (the fields are :func:`pgd`'s).

    ``bounds`` may be left None and given at call time; ``step_size`` None
    means ``step_size_factor * eps / steps``. Validation happens here, with the
    field name in the message. Code outside :mod:`tfrobust.attacks` configures
    attacks through the registry instead (:class:`tfrobust.attacks.Attack`);
    ``Attack.coerce(pgd_config)`` converts one.

    Example:
        >>> attack = PGD(norm="l2", eps=1.5, steps=40)
        >>> x_adv = attack(model, x, y, bounds=(0, 1), seed=0)
    """

    norm: str = "linf"
    eps: float = 0.3
    steps: int = 40
    step_size: float | None = None
    objective: str = "xent"
    random_start: bool = True
    restarts: int = 1
    l2_step: str = "normalized"
    targeted: bool = False
    kappa: float = 0.0
    bounds: tuple[float, float] | None = None
    long_steps: str = "refuse"
    step_size_factor: float = 2.5
    update: str = "steepest"
    momentum: float = 1.0
    early_exit: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", check_eps(parse_number(self.eps, name="eps")))
        if self.step_size is not None:
            size = check_eps(parse_number(self.step_size, name="step_size"), name="step_size")
            object.__setattr__(self, "step_size", size)
        object.__setattr__(self, "kappa", check_eps(parse_number(self.kappa, name="kappa"), name="kappa"))
        # Refused here, before any work; l2 sign steps again at the first call, when the
        # input size is known (or earlier with check_input_shape).
        _check_flags(self.early_exit, None)
        options = self._options()
        del options["early_exit"]
        plan = _plan(**options, bounds=self.bounds, long_steps=self.long_steps)
        object.__setattr__(self, "bounds", plan.bounds)

    def _options(self) -> dict[str, Any]:
        values = asdict(self)
        del values["bounds"], values["long_steps"]
        return values

    @property
    def resolved_step_size(self) -> float:
        """The step size used: the configured one or ``step_size_factor * eps / steps`` (before any cut)."""
        if self.step_size is not None:
            return self.step_size
        return default_step_size(self.eps, self.steps, self.step_size_factor)

    def check_input_shape(self, input_shape: Any) -> None:
        """Refuses this attack for inputs of ``input_shape`` (no batch axis) if one step is
        longer than the ball's diameter (:func:`check_step_length`; matters for l2 sign steps)."""
        if self.long_steps == "refuse":
            check_step_length(self.norm, self.eps, int(self.steps), self.resolved_step_size,
                              l2_step=self.l2_step, input_shape=input_shape)

    def __call__(self, model_fn: ModelFn, x: Any, y: Any, *, bounds: tuple[float, float] | None = None,
                 seed: Any = 0) -> tf.Tensor:
        bounds = bounds if bounds is not None else self.bounds
        if bounds is None:
            raise ValueError("bounds: give the data's value range to the attack or at call time")
        return pgd(model_fn, x, y, bounds=bounds, seed=seed, long_steps=self.long_steps,  # type: ignore[arg-type]
                   **self._options())

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for configs and ``get_config``); ``early_exit`` only when set, so configs
        without it (training's, written before it existed) stay as they were."""
        values = asdict(self)
        if not values["early_exit"]:
            del values["early_exit"]
        if values["bounds"] is not None:
            values["bounds"] = list(values["bounds"])
        return values
