"""Robust accuracy of a model under an attack, and a callback that logs it."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.attacks import PGD, call_model

__all__ = ["RobustAccuracy", "attacked_correct"]


def _batches(data: Any, batch_size: int) -> Any:
    if isinstance(data, tf.data.Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return tf.data.Dataset.from_tensor_slices((np.asarray(data[0], np.float32), np.asarray(data[1]))).batch(batch_size)
    raise ValueError("data must be a tf.data.Dataset of (x, y) batches or a pair of arrays (x, y)")


def attacked_correct(model_fn: Any, data: Any, attack: PGD, *, bounds: tuple[float, float] | None = None,
                     seed: Any = 0, batch_size: int = 256, what: str | None = None) -> np.ndarray:
    """Per-example correctness on attacked inputs.

    Args:
        model_fn: a Keras classifier (run with ``training=False``) or a callable
            returning logits.
        data: a ``tf.data.Dataset`` of ``(x, y)`` batches (x within bounds) or a
            pair of arrays.
        attack: the attack; ``eps=0`` measures clean accuracy.
        bounds: value range, if the attack does not carry it.
        seed: attack seed; batch b uses ``[seed, b]`` folded in.
        batch_size: batch size when ``data`` is a pair of arrays.
        what: the images, for the error message (default: clean or
            adversarial images at the attack's norm and eps).

    Returns:
        (N,) bool: whether each example is still classified correctly.

    Raises:
        ValueError: the model's logits are NaN or inf on any scored image
            (``argmax`` would score it as class 0).
    """
    out = []
    bad = 0
    for b, (x, y) in enumerate(_batches(data, batch_size)):
        batch_seed = tf.random.experimental.stateless_fold_in(
            tf.constant([int(seed), 7919], tf.int64) if isinstance(seed, int) else tf.cast(seed, tf.int64), b)
        x_adv = attack(model_fn, x, y, bounds=bounds, seed=batch_seed)
        logits = call_model(model_fn, x_adv)
        finite = tf.reduce_all(tf.math.is_finite(tf.reshape(logits, [tf.shape(logits)[0], -1])), axis=1)
        bad += int(tf.size(finite)) - int(tf.math.count_nonzero(finite))
        pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
        out.append(pred.numpy() == np.asarray(y).astype(np.int32))
    correct = np.concatenate(out) if out else np.zeros((0,), bool)
    if bad:
        if what is None:
            what = "clean images" if attack.eps == 0 else f"adversarial images ({attack.norm} eps={attack.eps:g})"
        raise ValueError(f"model produced non-finite logits on {bad} of {correct.size} {what}; "
                         "accuracy would score them as class 0 (a diverged or corrupt model?)")
    return correct


class RobustAccuracy(keras.callbacks.Callback):
    """Writes ``val_robust_accuracy`` (accuracy under ``attack``) into the epoch logs.

    Usable from any project's ``fit``; place it before ``CSVLogger`` so the
    value is logged.

    Args:
        data: validation ``tf.data.Dataset`` of ``(x, y)`` or a pair of arrays.
        attack: a :class:`tfrobust.attacks.PGD`.
        every: evaluate every ``every`` epochs (and after the last one only if it falls on the grid).
        bounds: value range of the data if the attack does not carry it.
        name: log key.
        seed: attack seed.
    """

    def __init__(self, data: Any, attack: PGD, *, every: int = 1, bounds: tuple[float, float] | None = None,
                 name: str = "val_robust_accuracy", seed: int = 0) -> None:
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if not isinstance(attack, PGD):
            raise ValueError(f"attack must be a tfrobust.attacks.PGD, got {attack!r}")
        if attack.bounds is None and bounds is None:
            raise ValueError("bounds: give the data's value range (or set it on the attack)")
        self.data = data
        self.attack = attack
        self.every = every
        self.bounds = bounds
        self.name = name
        self.seed = seed

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        model = getattr(self.model, "base", self.model)
        correct = attacked_correct(model, self.data, self.attack, bounds=self.bounds, seed=self.seed)
        if logs is not None:
            logs[self.name] = float(correct.mean()) if correct.size else float("nan")
