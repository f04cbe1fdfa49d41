"""Early exit of an iterative attack: stop spending model calls on points it has already broken.

:func:`attack_until_broken` runs an eager attack loop (PGD's, with
``early_exit=True``) on a shrinking batch: after each step the points whose
current iterate already succeeds (untargeted: misclassified; targeted:
classified as the target) are frozen at that iterate and leave the batch,
together with their inputs, labels and update-rule state (``tf.gather``), so
they cost no more gradients. A restart attacks only the points no earlier
restart broke. Every point's result is its first successful iterate (the
start counts, and so does the final iterate), or, for a point never broken,
its final iterate with the highest objective over the restarts.

Batch shapes: in graph mode the batch shrinks to the exact number of
standing points (one relaxed trace serves every size); under XLA, which
compiles once per shape, only to the next power of two (the rest padded with
copies of a standing row, whose results are dropped), so at most ``log2(N)``
shapes are ever compiled (:func:`compaction_size`): one compilation for a new
batch size cost 1.3 s on ``tf_tutorial_mnist_cnn`` (2 CPU cores,
``benchmarks/loop_form.py``), as much as about four of its PGD steps at batch 256.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["attack_until_broken", "compaction_size"]

#: ``step(x_adv, x0, y, state) -> (next iterate, next state, (N,) bool: x_adv already succeeds)``
Step = Callable[[tf.Tensor, tf.Tensor, tf.Tensor, Any], tuple[tf.Tensor, Any, tf.Tensor]]


def compaction_size(count: int, size: int, exact: bool) -> int:
    """The batch size that ``count`` standing rows of a batch of ``size`` are compacted into.

    ``exact`` (graph mode): ``count``; otherwise (XLA) the next power of two,
    at most ``size`` (equal to ``size``: no compaction).
    """
    if exact:
        return count
    return min(1 << max(count - 1, 0).bit_length(), size)


def attack_until_broken(step: Step, judge: Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]],
                        x: tf.Tensor, y: tf.Tensor, *, start: Callable[[np.ndarray, tf.Tensor, int], tf.Tensor],
                        init: Callable[[tf.Tensor], Any], steps: int, restarts: int, exact: bool) -> tf.Tensor:
    """The attack's result per point, with early exit (eager only; see module docstring).

    Args:
        step: one attack step on the standing rows (see :data:`Step`).
        judge: ``(x_adv, y) -> (success, objective)`` of the final iterates, (N,) each.
        x, y: the (N, ...) inputs and (N,) labels (targeted: the targets).
        start: ``(rows, x[rows], restart) -> first iterate`` of the rows ``rows``
            (global positions) in restart ``restart``; must equal those rows of
            the whole batch's start.
        init: the update rule's state for a batch of inputs.
        steps, restarts: the loop's length and number of starts.
        exact: compact to the exact number of standing rows (graph mode), not a power of two.

    Returns:
        (N, ...) float32 results.
    """
    n = int(x.shape[0])
    broken = np.zeros(n, bool)
    best_value = np.full(n, -np.inf, np.float32)
    found_rows: list[np.ndarray] = []
    found_x: list[tf.Tensor] = []
    result = tf.identity(x)
    for restart in range(restarts):
        rows = np.flatnonzero(~broken)
        if not rows.size:
            break
        x0, y0 = (tf.gather(x, rows), tf.gather(y, rows)) if rows.size < n else (x, y)
        x_adv = start(rows, x0, restart)
        state = init(x0)
        live = np.ones(rows.size, bool)  # rows of the current batch still attacked (padding: False)
        for _ in range(steps):
            moved, moved_state, success = step(x_adv, x0, y0, state)
            hit = success.numpy() & live
            if hit.any():
                found_rows.append(rows[hit])
                found_x.append(tf.boolean_mask(x_adv, hit))
                broken[rows[hit]] = True
                live &= ~hit
                count = int(live.sum())
                if not count:
                    break
                target = compaction_size(count, live.size, exact)
                if target < live.size:  # standing rows first, padded with copies of the first one
                    keep = np.flatnonzero(live)
                    keep = np.concatenate([keep, np.full(target - count, keep[0])])
                    x_adv, x0, y0 = tf.gather(moved, keep), tf.gather(x0, keep), tf.gather(y0, keep)
                    state = tf.nest.map_structure(lambda s, keep=keep: tf.gather(s, keep), moved_state)
                    rows, live = rows[keep], np.arange(target) < count
                    continue
            x_adv, state = moved, moved_state
        if not live.any():
            continue
        success, value = judge(x_adv, y0)
        success, value = success.numpy() & live, value.numpy()
        if success.any():
            found_rows.append(rows[success])
            found_x.append(tf.boolean_mask(x_adv, success))
            broken[rows[success]] = True
        better = live & ~success
        if restart:  # the first restart's final iterate is every standing point's fallback
            better &= value > best_value[rows]
        if better.any():
            result = tf.tensor_scatter_nd_update(result, rows[better][:, None], tf.boolean_mask(x_adv, better))
            best_value[rows[better]] = value[better]
    if found_rows:
        result = tf.tensor_scatter_nd_update(result, np.concatenate(found_rows)[:, None], tf.concat(found_x, 0))
    return result
