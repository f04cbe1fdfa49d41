"""The Square attack: score-based black-box random search in linf and l2 balls.

Ref: Andriushchenko, Croce, Flammarion, Hein 2020, "Square Attack: a
query-efficient black-box adversarial attack via random search" (Algorithms
1-3); the schedule and initialisations follow the facts of AutoAttack's
implementation (Croce & Hein 2020).

The attack only evaluates the model (no gradients), so a model that hides
its gradients (quantised inputs, shattered gradients) does not stop it.
Each point keeps its best perturbation ``delta``; every iteration proposes
a change of ``delta`` on a random square window and keeps it when the loss
(the margin ``z_y - max_{j != y} z_j``, or the negative cross-entropy)
decreases or the point becomes misclassified. The window's area is a
fraction ``p`` of the image (``p_init`` at first), halved after the
iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10000
(rescaled to ``queries``; :func:`p_schedule`).

- linf: the start has vertical stripes (one random sign ``+-eps`` per
  column and channel); a proposal moves the whole window to a vertex
  ``x +- eps`` of the ball, with one random sign per channel.
- l2: the start is a 5x5 grid of blocks, each holding a signed two-hump
  pattern (nested squares weighted ``1/(k+1)^2``, positive in one half and
  negative in the other), scaled to length eps. A proposal takes two random
  windows, clears the second, and refills the first with the pattern (one
  random sign per channel) plus its old normalised content; each channel of
  the window gets length ``sqrt(spare / C + freed)`` (``freed``: the squared
  length both windows held, ``spare``: ``eps^2`` minus the squared length of
  the perturbation; C channels), and the whole perturbation is rescaled to
  length eps.

Departures from the reference, all per example: window positions, the
pattern's orientation and the signs are drawn per example (the reference
shares one window position per batch), every position is possible
(including the last), and a non-square input (N, H, W[, C]) or a flat one
(N, D), seen as (N, 1, D, 1), gets a rectangular window of about the same
area, clipped to the input. The reference's l2 init divides by zero below
5x5 inputs; here blocks are at least 1x1.

Early exit (AutoAttack semantics): a point misclassified on the clean input
is returned unchanged; every iteration queries only the points not yet
fooled; a fooled point keeps the perturbation that fooled it. Queries: one
clean evaluation of every point, the start, and at most ``queries - 1``
proposals per point, so at most ``N * (queries + 1)`` model evaluations of
single examples (with ``jit_compile`` the still-standing rows are padded to
a power of two, so XLA compiles a few batch sizes; padded rows are repeats
whose results are discarded).

Randomness: every example draws from its own key (its row of an (N, 2)
seed, or ``example_seeds(seed, arange(N))`` for one seed) with a
counter-based hash (splitmix64 of the key, the iteration and the draw's
index), so an example's result depends on its own input, label and seed
only: attacking a subset with the gathered seeds gives the same rows.

Loop form: the iterations that share a window size run in one compiled
``tf.while_loop`` (gather the standing rows, propose, query, scatter back),
so Python runs about ten calls per attack, not one per query. Measured on
2 busy CPU cores, a 2-conv CNN on 28x28 inputs, batch 64, every point
standing, 1000 queries: linf 1.9 s (0.9x the time of 1000 compiled forward
calls from Python), l2 3.6 s; with ``jit_compile=True`` (XLA per
iteration) 4.4 s and 8.1 s, so XLA does not pay on CPU.
"""

from __future__ import annotations

import math
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
from tfrobust.attacks.norms import get_norm
from tfrobust.attacks.protocol import checked_by
from tfrobust.attacks.seeds import as_seed, example_seeds, is_per_example
from tfrobust.attribution.compile_mode import default_jit
from tfrobust.attribution.gradient import ModelFn, call_model, compiled
from tfrobust.config import ConfigError, check_int
from tfrobust.registry import register

__all__ = ["SQUARE_LOSSES", "SQUARE_NORMS", "check_square", "p_schedule", "square"]

#: The norms Square supports.
SQUARE_NORMS = ("linf", "l2")
#: The losses Square minimises: the margin ``z_y - max_{j != y} z_j`` or the negative cross-entropy.
SQUARE_LOSSES = ("margin", "ce")
#: Iterations (out of 10000) after which the window's area fraction halves again.
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_schedule(iteration: int, queries: int, p_init: float) -> float:
    """The window's area fraction at ``iteration`` (from 0) of a run of ``queries``.

    ``p_init`` halves after each threshold of :data:`_HALVINGS`, measured on
    the iteration rescaled to a budget of 10000.
    """
    scaled = int(iteration / queries * 10000)
    return p_init / 2 ** sum(scaled > t for t in _HALVINGS)


def _window(p: float, height: int, width: int, *, minimum: int, odd: bool) -> tuple[int, int]:
    """Window sides covering about ``p`` of a height x width image: a square unless the image is too narrow."""
    side = max(int(round(math.sqrt(p * height * width))), minimum)
    if odd and side % 2 == 0:
        side += 1
    if side <= min(height, width):
        return side, side
    area = p * height * width
    if height <= width:
        return height, min(max(int(round(area / height)), minimum), width)
    return min(max(int(round(area / width)), minimum), height), width


def _segments(queries: int, p_init: float, height: int, width: int, norm: str) -> list[tuple[int, int, tuple[int, int]]]:
    """The proposals' iterations ``0 .. queries - 2`` as runs ``(first, last, window sides)`` of one window size."""
    runs: list[tuple[int, int, tuple[int, int]]] = []
    for iteration in range(queries - 1):
        sizes = _window(p_schedule(iteration, queries, p_init), height, width, minimum=1 if norm == "linf" else 3,
                        odd=norm == "l2")
        if runs and runs[-1][2] == sizes:
            runs[-1] = (runs[-1][0], iteration + 1, sizes)
        else:
            runs.append((iteration, iteration + 1, sizes))
    return runs


def _rings(rows: int, cols: int) -> np.ndarray:
    """Nested rectangles around the centre, ring k weighted ``1/(k+1)^2`` (summed), unit l2 norm."""
    if rows == 0 or cols == 0:
        return np.zeros((rows, cols))
    ci, cj = rows // 2, cols // 2
    count = max(ci, cj) + 1
    weights = 1.0 / np.arange(1, count + 1) ** 2
    tail = np.cumsum(weights[::-1])[::-1]  # tail[d] = sum of the weights of rings d .. count-1
    ring = np.maximum(np.abs(np.arange(rows)[:, None] - ci), np.abs(np.arange(cols)[None, :] - cj))
    values = tail[ring]
    return values / np.sqrt(np.sum(values**2))


def _pattern(rows: int, cols: int) -> np.ndarray:
    """The l2 proposal's shape: rings positive in the top half, negative in the bottom half, unit l2 norm."""
    top = rows // 2
    values = np.concatenate([_rings(top, cols), -_rings(rows - top, cols)], axis=0)
    return values / np.sqrt(np.sum(values**2))


def _patterns(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The pattern split along the rows and split along the columns (its transpose for a square)."""
    return _pattern(rows, cols), _pattern(cols, rows).T


# ---------------------------------------------------------------- per-example draws

_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def _mix(z: tf.Tensor) -> tf.Tensor:
    """splitmix64's output function on uint64 values (wrapping arithmetic)."""
    shift = tf.bitwise.right_shift
    z = z + tf.constant(_GOLDEN, tf.uint64)
    z = tf.bitwise.bitwise_xor(z, shift(z, tf.constant(30, tf.uint64))) * tf.constant(_MIX1, tf.uint64)
    z = tf.bitwise.bitwise_xor(z, shift(z, tf.constant(27, tf.uint64))) * tf.constant(_MIX2, tf.uint64)
    return tf.bitwise.bitwise_xor(z, shift(z, tf.constant(31, tf.uint64)))


def _streams(keys: tf.Tensor) -> tf.Tensor:
    """(N, 1) uint64 stream of each example from its (N, 2) int64 key."""
    bits = tf.bitcast(keys, tf.uint64)
    return _mix(tf.bitwise.bitwise_xor(_mix(bits[:, :1]), bits[:, 1:]))


def _draw(streams: tf.Tensor, counter: tf.Tensor, count: int) -> tf.Tensor:
    """(N, count) uniform values in [0, 1), row n a function of ``streams[n]`` and ``counter`` only."""
    xor = tf.bitwise.bitwise_xor
    row = _mix(xor(streams, _mix(tf.cast(counter, tf.uint64))))
    z = _mix(xor(row, tf.cast(tf.range(count), tf.uint64)[None, :]))
    return tf.cast(tf.bitwise.right_shift(z, tf.constant(40, tf.uint64)), tf.float32) * (1.0 / (1 << 24))


def _sign(u: tf.Tensor) -> tf.Tensor:
    return tf.where(u < 0.5, -1.0, 1.0)


def _position(u: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
    """A uniform integer in [0, count) from uniform ``u`` in [0, 1)."""
    count_f = tf.cast(count, tf.float32)
    return tf.cast(tf.minimum(tf.floor(u * count_f), count_f - 1.0), tf.int32)


def _box(start: tf.Tensor, size: tf.Tensor, length: int) -> tf.Tensor:
    """(N, length) bool: index in [start, start + size) per row."""
    index = tf.range(length)[None, :]
    return (index >= start[:, None]) & (index < start[:, None] + size)


# ---------------------------------------------------------------- the attack's pieces


def _losses(logits: tf.Tensor, y: tf.Tensor, loss: str) -> tuple[tf.Tensor, tf.Tensor]:
    """(loss to minimise, misclassified) per example."""
    logits = tf.cast(logits, tf.float32)
    hot = tf.one_hot(y, tf.shape(logits)[1], on_value=True, off_value=False)
    true = tf.reduce_sum(tf.where(hot, logits, 0.0), axis=1)
    fooled = tf.not_equal(tf.argmax(logits, axis=1, output_type=tf.int32), y)
    if loss == "margin":
        value = true - tf.reduce_max(tf.where(hot, -np.inf, logits), axis=1)
    else:
        value = true - tf.reduce_logsumexp(logits, axis=1)  # minus the cross-entropy
    return value, fooled


def _linf_start(x: tf.Tensor, streams: tf.Tensor, eps: float, lo: float, hi: float) -> tf.Tensor:
    """Vertical stripes: x + eps * (one random sign per column and channel), clipped to the bounds."""
    _, _, width, channels = x.shape
    signs = _sign(_draw(streams, tf.constant(0), width * channels))
    return tf.clip_by_value(x + eps * tf.reshape(signs, [-1, 1, width, channels]), lo, hi)


def _l2_start(x: tf.Tensor, streams: tf.Tensor, eps: float, lo: float, hi: float) -> tf.Tensor:
    """A grid of signed patterns (one orientation and one sign per block and channel), length eps."""
    _, height, width, channels = x.shape
    bh, bw = max(height // 5, 1), max(width // 5, 1)
    nh, nw = height // bh, width // bw
    by_rows, by_cols = (tf.constant(p, tf.float32) for p in _patterns(bh, bw))
    u = tf.reshape(_draw(streams, tf.constant(0), nh * nw * (1 + channels)), [-1, nh, nw, 1 + channels])
    block = tf.where((u[..., :1] < 0.5)[..., None, None], by_cols, by_rows)  # (N, nh, nw, 1, bh, bw)
    block = block * _sign(u[..., 1:])[..., None, None]  # (N, nh, nw, C, bh, bw)
    grid = tf.reshape(tf.transpose(block, [0, 1, 4, 2, 5, 3]), [-1, nh * bh, nw * bw, channels])
    top, left = (height - nh * bh) // 2, (width - nw * bw) // 2
    delta = tf.pad(grid, [[0, 0], [top, height - nh * bh - top], [left, width - nw * bw - left], [0, 0]])
    return tf.clip_by_value(x + eps * delta / (1e-12 + _l2(delta)), lo, hi)


def _l2(v: tf.Tensor) -> tf.Tensor:
    """(N, 1, 1, 1) l2 length of each example."""
    return tf.sqrt(tf.reduce_sum(tf.square(v), axis=[1, 2, 3], keepdims=True))


def _linf_proposal(x0: tf.Tensor, best: tf.Tensor, streams: tf.Tensor, counter: tf.Tensor, sizes: tf.Tensor,
                   eps: float, lo: float, hi: float) -> tf.Tensor:
    """``best`` with one random window moved to a random vertex ``x0 +- eps`` (one sign per channel)."""
    _, height, width, channels = x0.shape
    u = _draw(streams, counter, 2 + channels)
    rows = _box(_position(u[:, 0], height - sizes[0] + 1), sizes[0], height)
    cols = _box(_position(u[:, 1], width - sizes[1] + 1), sizes[1], width)
    window = tf.cast(rows[:, :, None, None] & cols[:, None, :, None], tf.float32)
    signs = tf.reshape(_sign(u[:, 2:]), [-1, 1, 1, channels])
    moved = tf.clip_by_value(best + window * (2.0 * eps) * signs, x0 - eps, x0 + eps)
    return tf.clip_by_value(moved, lo, hi)


def _l2_proposal(x0: tf.Tensor, best: tf.Tensor, streams: tf.Tensor, counter: tf.Tensor, sizes: tf.Tensor,
                 patterns: tf.Tensor, eps: float, lo: float, hi: float) -> tf.Tensor:
    """``best`` with window 2 cleared and window 1 refilled by a signed pattern, rescaled to length eps.

    ``patterns`` (2, H * W): the pattern split along rows and along columns,
    each in the top-left ``sizes`` corner of an H x W array, flattened.
    """
    _, height, width, channels = x0.shape
    u = _draw(streams, counter, 5 + channels)
    starts_h = [_position(u[:, i], height - sizes[0] + 1) for i in (0, 2)]
    starts_w = [_position(u[:, i], width - sizes[1] + 1) for i in (1, 3)]
    first, second = (tf.cast(_box(h, sizes[0], height)[:, :, None, None] & _box(w, sizes[1], width)[:, None, :, None],
                             tf.float32) for h, w in zip(starts_h, starts_w, strict=True))
    rel_h = tf.clip_by_value(tf.range(height)[None, :] - starts_h[0][:, None], 0, sizes[0] - 1)
    rel_w = tf.clip_by_value(tf.range(width)[None, :] - starts_w[0][:, None], 0, sizes[1] - 1)
    index = rel_h[:, :, None] * width + rel_w[:, None, :]  # (N, H, W)
    by_cols = (u[:, 4] < 0.5)[:, None, None]
    shape = tf.where(by_cols, tf.gather(patterns[1], index), tf.gather(patterns[0], index))[..., None] * first
    signs = tf.reshape(_sign(u[:, 5:]), [-1, 1, 1, channels])

    delta = best - x0
    per_channel = [1, 2]
    old = delta * first
    old = old / (1e-12 + tf.sqrt(tf.reduce_sum(tf.square(old), axis=per_channel, keepdims=True)))
    fresh = shape * signs + old
    fresh = fresh / (1e-12 + tf.sqrt(tf.reduce_sum(tf.square(fresh), axis=per_channel, keepdims=True)))
    freed = tf.square(_l2(delta * tf.maximum(first, second)))  # mass of both windows
    spare = tf.maximum(eps**2 - tf.square(_l2(delta)), 0.0)  # mass the ball still allows
    fresh = fresh * tf.sqrt(spare / channels + freed)
    delta = delta * (1.0 - tf.maximum(first, second)) + fresh
    return tf.clip_by_value(x0 + eps * delta / (1e-12 + _l2(delta)), lo, hi)


# ---------------------------------------------------------------- checks


def check_square(*, norm: str, eps: float, bounds: Any, input_shape: Any = None, queries: int = 5000,
                 p_init: float = 0.8, loss: str = "margin", jit_compile: bool | None = None) -> dict[str, Any]:
    """The checker of :func:`square` (:func:`tfrobust.attacks.protocol.checked_by`).

    Returns:
        ``queries`` and ``objective`` (the loss).

    Raises:
        ConfigError: one line: an unsupported norm (l1), ``queries < 1``,
            ``p_init`` outside (0, 1], an unknown loss, a non-bool ``jit_compile``.
    """
    del input_shape
    get_norm(norm)
    if norm not in SQUARE_NORMS:
        raise ConfigError(f"norm: square supports {' and '.join(SQUARE_NORMS)}, not {norm!r}")
    eps = check_eps(eps)
    if norm == "l2":
        check_l2_extent(eps, 0.0, sign_steps=False)
    if bounds is not None:
        check_bounds(bounds)
    queries = check_int(queries, name="queries", minimum=1)
    if (isinstance(p_init, bool) or not isinstance(p_init, (int, float, np.integer, np.floating))
            or not 0.0 < float(p_init) <= 1.0):
        raise ConfigError(f"p_init must be a number in (0, 1] (the first window's share of the image), got {p_init!r}")
    if loss not in SQUARE_LOSSES:
        raise ConfigError(f"loss must be one of {', '.join(SQUARE_LOSSES)}, got {loss!r}")
    if jit_compile is not None and not isinstance(jit_compile, (bool, np.bool_)):
        raise ConfigError(f"jit_compile must be true, false or null, got {jit_compile!r}")
    return {"queries": queries, "objective": loss}


def _evaluator(model_fn: ModelFn, shape: tuple[int, ...], loss: str) -> Callable[[], Callable[..., Any]]:
    def build() -> Callable[..., Any]:
        def evaluate(x4: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return _losses(call_model(model_fn, tf.reshape(x4, [-1, *shape])), y, loss)

        return evaluate

    return build


def _iterator(model_fn: ModelFn, shape: tuple[int, ...], norm: str, loss: str, eps: float, lo: float, hi: float,
              jit: bool) -> Callable[[], Callable[..., Any]]:
    def build() -> Callable[..., Any]:
        def step(x0: tf.Tensor, best: tf.Tensor, y: tf.Tensor, streams: tf.Tensor, counter: tf.Tensor,
                 sizes: tf.Tensor, patterns: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            if norm == "linf":
                x_new = _linf_proposal(x0, best, streams, counter, sizes, eps, lo, hi)
            else:
                x_new = _l2_proposal(x0, best, streams, counter, sizes, patterns, eps, lo, hi)
            value, fooled = _losses(call_model(model_fn, tf.reshape(x_new, [-1, *shape])), y, loss)
            return x_new, value, fooled

        run = tf.function(step, jit_compile=True) if jit else step

        def propose(x0: tf.Tensor, y: tf.Tensor, streams: tf.Tensor, sizes: tf.Tensor, patterns: tf.Tensor,
                    counter: tf.Tensor, best: tf.Tensor, loss_best: tf.Tensor,
                    standing: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            """One proposal for each standing point, kept where it lowers the loss or fools the model."""
            rows = tf.where(standing)[:, 0]
            count = tf.shape(rows)[0]
            if jit:  # pad to a power of two (repeats of the first row), so XLA compiles only a few batch sizes
                powers = tf.bitwise.left_shift(1, tf.range(31))
                bucket = tf.reduce_min(tf.where(powers >= count, powers, tf.int32.max))
                bucket = tf.minimum(bucket, tf.shape(standing)[0])
                rows = tf.concat([rows, tf.fill([bucket - count], rows[0])], axis=0)
            x_new, value, fooled = run(tf.gather(x0, rows), tf.gather(best, rows), tf.gather(y, rows),
                                       tf.gather(streams, rows), counter, sizes, patterns)
            rows, x_new, value, fooled = rows[:count], x_new[:count], value[:count], fooled[:count]
            old_best, old_loss = tf.gather(best, rows), tf.gather(loss_best, rows)
            better = (value < old_loss) | fooled
            at = rows[:, None]
            best = tf.tensor_scatter_nd_update(best, at, tf.where(better[:, None, None, None], x_new, old_best))
            loss_best = tf.tensor_scatter_nd_update(loss_best, at, tf.where(better, value, old_loss))
            standing = tf.tensor_scatter_nd_update(standing, at, tf.logical_not(fooled))
            return best, loss_best, standing

        def iterate(x0: tf.Tensor, best: tf.Tensor, y: tf.Tensor, streams: tf.Tensor, loss_best: tf.Tensor,
                    standing: tf.Tensor, first: tf.Tensor, last: tf.Tensor, sizes: tf.Tensor,
                    patterns: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
            """Iterations ``first .. last - 1`` (one window size), stopping when no point stands."""

            def cond(i: tf.Tensor, best: tf.Tensor, loss_best: tf.Tensor, standing: tf.Tensor) -> tf.Tensor:
                return (i < last) & tf.reduce_any(standing)

            def body(i: tf.Tensor, best: tf.Tensor, loss_best: tf.Tensor,
                     standing: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
                return (i + 1, *propose(x0, y, streams, sizes, patterns, i + 1, best, loss_best, standing))

            _, best, loss_best, standing = tf.while_loop(cond, body, (first, best, loss_best, standing))
            return best, loss_best, standing, tf.reduce_any(standing)

        return iterate

    return build


def _as_images(x: tf.Tensor) -> tf.Tensor:
    """(N, H, W, C) view: (N, D) as (N, 1, D, 1), (N, H, W) as (N, H, W, 1), extra axes folded into C."""
    shape = x.shape.as_list()
    if len(shape) == 2:
        return tf.reshape(x, [-1, 1, shape[1], 1])
    if len(shape) == 3:
        return x[..., None]
    return tf.reshape(x, [-1, shape[1], shape[2], int(np.prod(shape[3:]))])


def _keys(seed: Any, n: int) -> tf.Tensor:
    """(n, 2) int64 per-example keys: the rows of an (N, 2) seed, else ``example_seeds(seed, arange(n))``."""
    if is_per_example(seed):
        keys = as_seed(seed)
        if keys.shape[0] != n:
            raise ValueError(f"seed has {keys.shape[0]} per-example rows for a batch of {n}")
        return keys
    return example_seeds(seed, tf.range(n))


@register("attacks", "square")
@checked_by(check_square)
def square(
    model_fn: ModelFn,
    x: Any,
    y: Any,
    *,
    norm: str,
    eps: float,
    bounds: tuple[float, float],
    seed: Any = 0,
    queries: int = 5000,
    p_init: float = 0.8,
    loss: Literal["margin", "ce"] = "margin",
    jit_compile: bool | None = None,
) -> tf.Tensor:
    """Square attack: gradient-free random search over square windows (linf and l2; module docstring).

    Args:
        model_fn: maps (N, ...) inputs to (N, K) logits (K >= 2); only called
            forward; a ``keras.Model`` runs with ``training=False``.
        x: (N, ...) float32 inputs within ``bounds``; never modified.
        y: (N,) int labels.
        norm: ``linf`` or ``l2`` (``l1`` is refused).
        eps: radius of the ball in data units (0 returns ``x``).
        bounds: (lo, hi) value range of the data.
        seed: int, (2,) int seed, or (N, 2) seeds, one per example
            (:mod:`tfrobust.attacks.seeds`); example n of a single seed uses
            ``example_seeds(seed, [n])``.
        queries: model evaluations per point after the clean one: the start
            and ``queries - 1`` proposals (>= 1); the window schedule is
            rescaled to it.
        p_init: the first windows' share of the image's area, in (0, 1].
        loss: ``margin`` (``z_y - max_{j != y} z_j``) or ``ce`` (minus the
            cross-entropy), minimised.
        jit_compile: compile each iteration's proposal and model call with
            XLA; None: the device default of
            :func:`tfrobust.attacks.pgd.default_jit`.

    Returns:
        (N, ...) float32 points in the eps-ball and the bounds: ``x`` where
        the clean input is misclassified, the fooling point where the attack
        succeeded, else the best point found.

    Raises:
        ValueError: (one line) the checker's refusals, a traced call ("square
            runs eagerly"), NaN/inf in ``x``, ``x`` outside ``bounds``,
            labels not integers in [0, K), K < 2, or a seed of the wrong shape.
    """
    check_square(norm=norm, eps=eps, bounds=bounds, queries=queries, p_init=p_init, loss=loss,
                 jit_compile=jit_compile)
    if not tf.executing_eagerly():
        raise ValueError("square runs eagerly: call it outside tf.function (it gathers the standing points)")
    if bounds is None:
        raise ValueError("bounds: give the data's value range (lo, hi)")
    lo, hi = check_bounds(bounds)
    eps = check_eps(eps)
    x = tf.convert_to_tensor(x, tf.float32)
    if x.shape.rank is None or x.shape.rank < 2 or not x.shape.is_fully_defined():
        raise ValueError(f"x must be a batch (N, ...) of known shape, got shape {x.shape}")
    n = int(x.shape[0])
    if n == 0:
        return tf.identity(x)
    check_finite(x, "x")
    check_in_bounds(x, lo, hi)
    k = num_logits(model_fn, x)
    if k is not None and k < 2:
        raise ValueError(f"square needs a model with at least 2 logits, got {k}")
    y = check_labels(y, n, k)
    keys = _keys(seed, n)
    if eps == 0.0:
        return tf.identity(x)

    shape = tuple(int(d) for d in x.shape[1:])
    jit = default_jit() if jit_compile is None else bool(jit_compile)
    evaluate = compiled(model_fn, ("square-evaluate", shape, loss), _evaluator(model_fn, shape, loss))
    images = _as_images(x)
    _, clean_fooled = evaluate(images, y)
    rows = tf.where(tf.logical_not(clean_fooled))[:, 0]
    if int(tf.size(rows)) == 0:
        return tf.identity(x)
    x0, y0, streams = tf.gather(images, rows), tf.gather(y, rows), _streams(tf.gather(keys, rows))
    start = _linf_start if norm == "linf" else _l2_start
    best = start(x0, streams, eps, lo, hi)
    loss_best, fooled = evaluate(best, y0)
    standing = tf.logical_not(fooled)
    any_standing = bool(tf.reduce_any(standing))

    iterate = compiled(model_fn, ("square-iterate", shape, norm, loss, eps, lo, hi, jit),
                      _iterator(model_fn, shape, norm, loss, eps, lo, hi, jit))
    _, height, width, _ = images.shape
    patterns: dict[tuple[int, int], tf.Tensor] = {}
    for first, last, sizes in _segments(queries, p_init, height, width, norm):
        if not any_standing:
            break
        if sizes not in patterns:
            stack = np.zeros((2, height, width), np.float32)
            if norm == "l2":
                for i, pattern in enumerate(_patterns(*sizes)):
                    stack[i, : sizes[0], : sizes[1]] = pattern
            patterns[sizes] = tf.constant(stack.reshape(2, -1))
        best, loss_best, standing, more = iterate(x0, best, y0, streams, loss_best, standing, tf.constant(first),
                                                  tf.constant(last), tf.constant(sizes, tf.int32), patterns[sizes])
        any_standing = bool(more)

    x_adv = tf.tensor_scatter_nd_update(images, rows[:, None], best)
    return tf.stop_gradient(tf.reshape(x_adv, tf.shape(x)))


square.gradient_free = True  # type: ignore[attr-defined]
square.eager_only = True  # type: ignore[attr-defined]
