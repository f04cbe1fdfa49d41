"""APGD: the step-size-free PGD of AutoAttack (Croce & Hein 2020, Algorithm 1), as a pure function.

Ref: F. Croce and M. Hein, "Reliable evaluation of adversarial robustness with
an ensemble of diverse parameter-free attacks", ICML 2020: sec. 3 (APGD), eq. 6
(the DLR loss, :func:`tfrobust.attacks.objectives.dlr`) and its targeted form
(:func:`~tfrobust.attacks.objectives.dlr_targeted`).

How APGD differs from PGD (:mod:`tfrobust.attacks.pgd`):

- Step size: ``2 * eps`` at first, halved per example at checkpoints (see
  :func:`checkpoints`) when (1) the loss went up in at most a fraction ``rho``
  of the steps since the last checkpoint, or (2) the step size was not halved
  at the last checkpoint and the best loss has not improved since. After a
  halving the example goes back to its best point (and its gradient there).
- Momentum: ``z = P(x_k + eta * d(grad))``, then
  ``x_{k+1} = P(x_k + a * (z - x_k) + (1 - a) * (x_k - x_{k-1}))`` with
  ``a = momentum`` (the paper's alpha, 0.75: the weight of the new step;
  ``momentum=1`` turns it off); the first step has no momentum term. ``P``
  projects onto the ball and clips to ``bounds``; ``d`` is the sign of the
  gradient (linf) or the gradient over its l2 norm (l2).
- Random start on the ball's boundary: uniform noise scaled to linf length
  ``eps`` (linf), a Gaussian direction of l2 length ``eps`` (l2), clipped.
- Result (AutoAttack semantics, no option needed): an example misclassified
  at any iterate (``argmax != y``, for ``loss="dlr-targeted"`` too) gets the
  misclassifying iterate of highest loss; any other example the iterate of
  highest loss over all runs. Examples misclassified on the clean input are
  returned unchanged; each restart (and, for ``dlr-targeted``, each target:
  the 2nd, 3rd, ... largest clean logit) attacks only the examples still
  standing, so it spends no model calls on the others.

Every example's state (step size, counters, best loss, best point) is its
own, so with (N, 2) seeds (:mod:`tfrobust.attacks.seeds`) an example's result
depends only on it and its seed row: attacking a subset with the gathered
seeds gives the same rows. With an int or (2,) seed the random starts are
drawn for the batch as a whole.

Loop form: one compiled step (momentum step, projection, clipping, forward
pass, input gradient and best-point bookkeeping) called ``steps`` times from
Python; the checkpoints are a few eager tensor ops between steps. APGD is an
evaluation attack and runs eagerly only. Compiled steps are cached per model
callable (pass a ``keras.Model`` or a long-lived function).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
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
from tfrobust.attacks.norms import Norm, get_norm
from tfrobust.attacks.objectives import dlr, dlr_targeted, xent
from tfrobust.attacks.protocol import checked_by
from tfrobust.attacks.seeds import as_seed, fold, normal, uniform
from tfrobust.attribution.compile_mode import default_jit
from tfrobust.attribution.gradient import ModelFn, call_model
from tfrobust.config import ConfigError, check_int, check_number
from tfrobust.registry import register

__all__ = ["APGD_LOSSES", "APGD_NORMS", "apgd", "check_apgd", "checkpoints"]

#: The losses APGD ascends, and the fewest classes each needs.
APGD_LOSSES = {"ce": 2, "dlr": 3, "dlr-targeted": 4}
#: The norms APGD supports.
APGD_NORMS = ("linf", "l2")

# model callable -> {static configuration: compiled function}
_COMPILED: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()


def checkpoints(steps: int) -> list[int]:
    """The number of steps done at each of APGD's checkpoints, for ``steps`` iterations.

    The first comes after ``max(int(0.22 * steps), 1)`` steps; each following
    interval is the previous one less ``max(int(0.03 * steps), 1)``, but at
    least ``max(int(0.06 * steps), 1)`` (the paper's ``p_{j+1} = p_j +
    max(p_j - p_{j-1} - 0.03, 0.06)``; for 100 steps: 22, 41, 57, 70, 80, 87,
    93, 99).
    """
    steps = check_int(steps, name="steps", minimum=0)
    period = max(int(0.22 * steps), 1)
    shrink, least = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    done, out = 0, []
    while done + period <= steps:
        done += period
        out.append(done)
        period = max(period - shrink, least)
    return out


def _fraction(value: Any, name: str, *, low_open: bool, high_open: bool) -> float:
    """A number in (0, 1) / [0, 1] (ends as given)."""
    value = check_number(value, name=name, finite=True)
    low = value > 0 if low_open else value >= 0
    high = value < 1 if high_open else value <= 1
    if not (low and high):
        span = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be a number in {span}, got {value!r}")
    return value


def check_apgd(*, norm: str, eps: float, bounds: Any, input_shape: Any = None, steps: int = 100,
               restarts: int = 1, loss: str = "ce", target_classes: int = 9, rho: float = 0.75,
               momentum: float = 0.75, jit_compile: bool | None = None) -> dict[str, Any]:
    """The checker of :func:`apgd` (:func:`tfrobust.attacks.protocol.checked_by`).

    Returns:
        ``steps``, ``objective`` (the loss) and ``restarts``; APGD adapts its
        step size, so there is none to report.

    Raises:
        ConfigError: (a ValueError) one line naming the field: a norm other
            than linf or l2, a bad radius or bounds, ``steps < 0``,
            ``restarts < 1``, ``target_classes < 1``, ``rho`` outside (0, 1),
            ``momentum`` outside [0, 1], an unknown loss, a non-bool ``jit_compile``.
    """
    del input_shape
    geometry = get_norm(norm)
    if geometry.name not in APGD_NORMS:
        raise ConfigError(f"norm: apgd supports the norms {' and '.join(APGD_NORMS)}, not {norm!r}")
    eps = check_eps(eps)
    if bounds is not None:
        check_bounds(bounds)
    steps = check_int(steps, name="steps", minimum=0)
    restarts = check_int(restarts, name="restarts", minimum=1)
    check_int(target_classes, name="target_classes", minimum=1)
    if loss not in APGD_LOSSES:
        raise ConfigError(f"loss must be one of {', '.join(APGD_LOSSES)}, got {loss!r}")
    _fraction(rho, "rho", low_open=True, high_open=True)
    _fraction(momentum, "momentum", low_open=False, high_open=False)
    if jit_compile is not None and not isinstance(jit_compile, bool):
        raise ConfigError(f"jit_compile must be true, false or null, got {jit_compile!r}")
    if geometry.name == "l2":
        check_l2_extent(eps, 2.0 * eps, sign_steps=False)  # the first step has length 2 * eps
    return {"steps": steps, "objective": loss, "restarts": restarts}


def _compiled(model_fn: ModelFn, key: tuple[Any, ...], build: Callable[[], Callable[..., Any]],
              signature: list[Any], jit_compile: bool) -> Callable[..., Any]:
    """``build()`` wrapped in ``tf.function`` and cached per model callable.

    ``signature`` leaves the batch size open: restarts on the examples still
    standing reuse the one trace (XLA still compiles once per batch size).
    """
    key = (*key, jit_compile)

    def make() -> Callable[..., Any]:
        return tf.function(build(), input_signature=signature, jit_compile=jit_compile)

    try:
        per_model = _COMPILED.setdefault(model_fn, {})
    except TypeError:  # not weak-referenceable: compile without caching
        return make()
    fn = per_model.get(key)
    if fn is None:
        fn = per_model[key] = make()
    return fn


def _signatures(features: tf.TensorShape) -> dict[str, list[Any]]:
    """Input signatures of the compiled pieces for inputs of shape (None, *features)."""
    image = tf.TensorSpec([None, *features], tf.float32)
    row, label = tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.int32)
    state = {"x": image, "x_prev": image, "grad": image, "loss": row, "x_best": image, "grad_best": image,
             "loss_best": row, "x_adv": image, "adv_loss": row, "broken": tf.TensorSpec([None], tf.bool),
             "count": label, "bad": tf.TensorSpec([None], tf.bool)}
    scalar = tf.TensorSpec([], tf.float32)
    return {"logits": [image], "init": [image, image, label, label],
            "step": [state, image, label, label, row, scalar, scalar]}


def _objective(loss: str) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    if loss == "ce":
        return lambda logits, y, target: xent(logits, y)
    if loss == "dlr":
        return lambda logits, y, target: dlr(logits, y)
    return dlr_targeted


def _batch_shape(v: tf.Tensor, rank: int) -> tf.Tensor:
    """(N,) -> (N, 1, ..., 1) for broadcasting against rank-``rank`` inputs."""
    return tf.reshape(v, [-1] + [1] * (rank - 1))


def _builders(model_fn: ModelFn, geometry: Norm, loss: str, lo: float, hi: float) -> dict[str, Callable[[], Any]]:
    """The compiled pieces of one APGD configuration: clean logits, the first evaluation, one step."""
    objective = _objective(loss)

    def evaluate(x_adv: tf.Tensor, y: tf.Tensor, target: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            logits = tf.cast(call_model(model_fn, x_adv), tf.float32)
            values = objective(logits, y, target)
            total = tf.reduce_sum(values)
        grad = tape.gradient(total, x_adv, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        if grad is None:  # a model that ignores its input: no direction to follow
            grad = tf.zeros_like(x_adv)
        wrong = tf.not_equal(tf.argmax(logits, axis=-1, output_type=tf.int32), y)
        return values, grad, wrong

    def to_ball(v: tf.Tensor, x0: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        return tf.clip_by_value(x0 + geometry.project(v - x0, eps), lo, hi)

    def build_logits() -> Callable[..., Any]:
        def logits(x: tf.Tensor) -> tf.Tensor:
            return tf.cast(call_model(model_fn, x), tf.float32)

        return logits

    def build_init() -> Callable[..., Any]:
        def init(start: tf.Tensor, x0: tf.Tensor, y: tf.Tensor, target: tf.Tensor) -> dict[str, tf.Tensor]:
            values, grad, wrong = evaluate(start, y, target)
            lowest = tf.fill(tf.shape(values), tf.constant(-np.inf, tf.float32))
            return {"x": start, "x_prev": start, "grad": grad, "loss": values, "x_best": start, "grad_best": grad,
                    "loss_best": values, "x_adv": tf.where(_batch_shape(wrong, start.shape.rank), start, x0),
                    "adv_loss": tf.where(wrong, values, lowest), "broken": wrong,
                    "count": tf.zeros(tf.shape(values), tf.int32),
                    "bad": tf.logical_not(tf.math.is_finite(values))}

        return init

    def build_step() -> Callable[..., Any]:
        def step(state: dict[str, tf.Tensor], x0: tf.Tensor, y: tf.Tensor, target: tf.Tensor, size: tf.Tensor,
                 eps: tf.Tensor, alpha: tf.Tensor) -> dict[str, tf.Tensor]:
            x, rank = state["x"], x0.shape.rank
            z = to_ball(x + _batch_shape(size, rank) * geometry.normalize_step(state["grad"]), x0, eps)
            x_new = to_ball(x + alpha * (z - x) + (1.0 - alpha) * (x - state["x_prev"]), x0, eps)
            values, grad, wrong = evaluate(x_new, y, target)
            better = values > state["loss_best"]
            better_adv = tf.logical_and(wrong, values > state["adv_loss"])
            return {
                "x": x_new, "x_prev": x, "grad": grad, "loss": values,
                "x_best": tf.where(_batch_shape(better, rank), x_new, state["x_best"]),
                "grad_best": tf.where(_batch_shape(better, rank), grad, state["grad_best"]),
                "loss_best": tf.where(better, values, state["loss_best"]),
                "x_adv": tf.where(_batch_shape(better_adv, rank), x_new, state["x_adv"]),
                "adv_loss": tf.where(better_adv, values, state["adv_loss"]),
                "broken": tf.logical_or(state["broken"], wrong),
                "count": state["count"] + tf.cast(values > state["loss"], tf.int32),
                "bad": tf.logical_or(state["bad"], tf.logical_not(tf.math.is_finite(values))),
            }

        return step

    return {"logits": build_logits, "init": build_init, "step": build_step}


def _start(geometry: Norm, x0: tf.Tensor, eps: float, seed: tf.Tensor, lo: float, hi: float) -> tf.Tensor:
    """A random point on the ball's boundary (before clipping to the bounds), one per example."""
    shape = tf.shape(x0)
    if geometry.name == "linf":
        noise = uniform(shape, seed, minval=-1.0, maxval=1.0)
    else:
        noise = normal(shape, seed)
    length = tf.maximum(geometry.norm(noise), 1e-12)
    return tf.clip_by_value(x0 + noise * _batch_shape(eps / length, x0.shape.rank), lo, hi)


def _checkpoint(state: dict[str, tf.Tensor], size: tf.Tensor, memory: dict[str, tf.Tensor], period: int,
                rho: float) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    """Halves the step size of the examples that meet condition (1) or (2) and sends them to their best point."""
    rank = state["x"].shape.rank
    oscillating = tf.cast(state["count"], tf.float32) <= rho * period
    stalled = tf.logical_and(tf.logical_not(memory["reduced"]), memory["loss_best"] >= state["loss_best"])
    reduce = tf.logical_or(oscillating, stalled)
    back = _batch_shape(reduce, rank)
    state = {**state, "x": tf.where(back, state["x_best"], state["x"]),
             "grad": tf.where(back, state["grad_best"], state["grad"]), "count": tf.zeros_like(state["count"])}
    memory["reduced"], memory["loss_best"] = reduce, state["loss_best"]
    return state, tf.where(reduce, 0.5 * size, size)


def _check_inputs(model_fn: ModelFn, x: tf.Tensor, y: Any, lo: float, hi: float) -> tf.Tensor:
    """Finite ``x`` within bounds and labels in [0, K) (K when known without running the model)."""
    if x.shape.rank is None or x.shape.rank < 2:
        raise ValueError(f"x must be a batch (N, ...), got shape {x.shape}")
    n = x.shape[0]
    k = None
    if n:
        check_finite(x, "x")
        check_in_bounds(x, lo, hi)
        k = num_logits(model_fn, x)
    return check_labels(y, n, k)


def _run(fns: dict[str, Any], geometry: Norm, x0: tf.Tensor, y: tf.Tensor, target: tf.Tensor, seed: tf.Tensor, *,
         eps: float, lo: float, hi: float, steps: int, rho: float, momentum: float) -> dict[str, tf.Tensor]:
    """One APGD run on the examples ``x0``: the final state (best points, best losses, broken flags)."""
    start = _start(geometry, x0, eps, seed, lo, hi)
    state = fns["init"](start, x0, y, target)
    size = tf.fill(tf.shape(y), tf.constant(2.0 * eps, tf.float32))
    memory = {"reduced": tf.ones(tf.shape(y), tf.bool), "loss_best": state["loss_best"]}
    eps_t = tf.constant(eps, tf.float32)
    first, later = tf.constant(1.0, tf.float32), tf.constant(momentum, tf.float32)
    marks, last = set(checkpoints(steps)), 0
    for i in range(1, steps + 1):
        state = fns["step"](state, x0, y, target, size, eps_t, first if i == 1 else later)
        if i in marks:
            state, size = _checkpoint(state, size, memory, i - last, rho)
            last = i
    return state


def _scatter(into: tf.Tensor, rows: np.ndarray, values: tf.Tensor) -> tf.Tensor:
    if rows.size == 0:
        return into
    return tf.tensor_scatter_nd_update(into, tf.constant(rows[:, None], tf.int32), values)


@register("attacks", "apgd")
@checked_by(check_apgd)
def apgd(
    model_fn: ModelFn,
    x: Any,
    y: Any,
    *,
    norm: str,
    eps: float,
    bounds: tuple[float, float],
    seed: Any = 0,
    steps: int = 100,
    restarts: int = 1,
    loss: Literal["ce", "dlr", "dlr-targeted"] = "ce",
    target_classes: int = 9,
    rho: float = 0.75,
    momentum: float = 0.75,
    jit_compile: bool | None = None,
) -> tf.Tensor:
    """Auto-PGD (Croce & Hein 2020, Algorithm 1) in the linf or l2 ball; see the module docstring.

    Args:
        model_fn: maps (N, ...) inputs to (N, K) logits; a ``keras.Model``
            is called with ``training=False``.
        x: (N, ...) float32 inputs within ``bounds``; never modified.
        y: (N,) int true labels (also for ``loss="dlr-targeted"``).
        norm: ``linf`` or ``l2`` (``l1`` is refused).
        eps: radius of the ball in data units (>= 0; 0 returns ``x``).
        bounds: (lo, hi) value range of the data; iterates are clipped to it.
        seed: int, (2,) int seed, or (N, 2) seeds, one per example; run j
            (restart r of target t: ``j = t * restarts + r``) draws its start
            from ``fold(seed, j)`` (:mod:`tfrobust.attacks.seeds`).
        steps: iterations per run (>= 0); a run evaluates the model
            ``steps + 1`` times (the start and every iterate).
        restarts: runs per target (>= 1), each on the examples still standing.
        loss: ``ce`` (cross-entropy), ``dlr`` (K >= 3) or ``dlr-targeted``
            (K >= 4; one run per target class).
        target_classes: ``dlr-targeted`` only: the targets are the 2nd to
            ``(target_classes + 1)``-th largest clean logits (at most K - 1 of them).
        rho: the fraction of loss increases below which the step size is halved (0 < rho < 1).
        momentum: the weight of the new step against the previous update
            (the paper's alpha; 0 <= momentum <= 1, 1 = no momentum).
        jit_compile: compile the step with XLA; None: the device default
            (:func:`tfrobust.attacks.pgd.default_jit`).

    Returns:
        (N, ...) float32 points with ``||x_adv - x||_p <= eps`` within ``bounds``.

    Raises:
        ValueError: bad options (see :func:`check_apgd`), NaN/inf in ``x``,
            ``x`` outside ``bounds``, labels not in [0, K), too few classes for
            the loss, seeds of the wrong shape, or logits or losses that are
            NaN or inf (on the clean inputs or at any iterate).
        RuntimeError: called inside a traced function.
    """
    if not tf.executing_eagerly():
        raise RuntimeError("apgd runs eagerly only (an evaluation attack); call it outside tf.function")
    if bounds is None:
        raise ValueError("bounds: give the data's value range (lo, hi)")
    check_apgd(norm=norm, eps=eps, bounds=bounds, steps=steps, restarts=restarts, loss=loss,
               target_classes=target_classes, rho=rho, momentum=momentum, jit_compile=jit_compile)
    geometry, eps = get_norm(norm), float(eps)
    steps, restarts = int(steps), int(restarts)
    lo, hi = check_bounds(bounds)
    x = tf.convert_to_tensor(x, tf.float32)
    y = _check_inputs(model_fn, x, y, lo, hi)
    seed = as_seed(seed)
    n = int(x.shape[0])
    if seed.shape.rank == 2 and seed.shape[0] != n:
        raise ValueError(f"seed: per-example seeds must have shape ({n}, 2), got {seed.shape}")
    if eps == 0.0 or n == 0:
        return tf.identity(x)

    jit = default_jit() if jit_compile is None else bool(jit_compile)
    features = x.shape[1:]
    key = (type(geometry), loss, lo, hi, tuple(features))
    signatures = _signatures(features)
    fns = {name: _compiled(model_fn, (name, *key), build, signatures[name], jit if name == "step" else False)
           for name, build in _builders(model_fn, geometry, loss, lo, hi).items()}
    clean = fns["logits"](x)
    check_finite(clean, "logits", hint="the model returns NaN or inf on the clean inputs")
    k = int(clean.shape[-1])
    if k < APGD_LOSSES[loss]:
        raise ValueError(f"loss: {loss} needs a model with at least {APGD_LOSSES[loss]} classes, got {k}")
    y = check_labels(y, n, k)
    standing = (tf.argmax(clean, axis=-1, output_type=tf.int32) == y).numpy()
    if loss == "dlr-targeted":
        order = tf.argsort(clean, axis=-1, direction="DESCENDING", stable=True)
        ranks: list[int | None] = list(range(1, min(int(target_classes), k - 1) + 1))
    else:
        order, ranks = None, [None]

    x_out = x
    best_loss = np.full(n, -np.inf, np.float32)
    for t, rank in enumerate(ranks):
        for r in range(restarts):
            rows = np.flatnonzero(standing)
            if rows.size == 0:
                break
            rows_t = tf.constant(rows, tf.int32)
            ys = tf.gather(y, rows_t)
            target = ys if rank is None else tf.gather(order[:, rank], rows_t)
            run_seed = fold(tf.gather(seed, rows_t) if seed.shape.rank == 2 else seed, t * restarts + r)
            state = _run(fns, geometry, tf.gather(x, rows_t), ys, target, run_seed, eps=eps, lo=lo, hi=hi,
                         steps=steps, rho=float(rho), momentum=float(momentum))
            bad = int(tf.math.count_nonzero(state["bad"]))
            if bad:
                raise ValueError(f"apgd: the loss is NaN or inf at iterates of {bad} of {rows.size} inputs "
                                 "(the model's logits or gradients are not finite there)")
            broken = state["broken"].numpy()
            x_out = _scatter(x_out, rows[broken], tf.boolean_mask(state["x_adv"], broken))
            standing[rows[broken]] = False
            found = state["loss_best"].numpy()
            better = ~broken & (found > best_loss[rows])
            x_out = _scatter(x_out, rows[better], tf.boolean_mask(state["x_best"], better))
            best_loss[rows[better]] = found[better]
    rows_ok = tf.reduce_all(tf.math.is_finite(tf.reshape(x_out, [n, -1])), axis=1).numpy()
    if not rows_ok.all():
        raise ValueError(f"apgd produced non-finite points for {int((~rows_ok).sum())} of {n} inputs "
                         "(the model's logits or gradients are NaN or inf there)")
    return x_out


apgd.eager_only = True  # type: ignore[attr-defined]
