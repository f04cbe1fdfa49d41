"""Robust accuracy of a model under any registered attack, and a callback that logs it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.attacks import Attack, call_model
from tfrobust.config import ConfigError, check_int

__all__ = ["RobustAccuracy", "attacked_correct"]


def _batches(data: Any, batch_size: int) -> Any:
    if isinstance(data, tf.data.Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return tf.data.Dataset.from_tensor_slices((np.asarray(data[0], np.float32), np.asarray(data[1]))).batch(batch_size)
    raise ValueError("data must be a tf.data.Dataset of (x, y) batches or a pair of arrays (x, y)")


def attacked_correct(model_fn: Any, data: Any, attack: Any, *, bounds: tuple[float, float] | None = None,
                     seed: Any = 0, batch_size: int = 256, what: str | None = None) -> np.ndarray:
    """Per-example correctness on attacked inputs.

    Args:
        model_fn: a Keras classifier (run with ``training=False``) or a callable
            returning logits.
        data: a ``tf.data.Dataset`` of ``(x, y)`` batches (x within bounds) or a
            pair of arrays.
        attack: a :class:`tfrobust.attacks.Attack`, its config mapping
            (``{name, norm, eps, bounds, <options>}``) or a
            :class:`tfrobust.attacks.PGD`; ``eps=0`` measures clean accuracy.
        bounds: value range, if the attack does not carry it.
        seed: attack seed; batch b uses ``[seed, b]`` folded in.
        batch_size: batch size when ``data`` is a pair of arrays.
        what: the images, for the error message (default: clean or
            adversarial images at the attack's norm and eps).

    Returns:
        (N,) bool: whether each example is still classified correctly.

    Raises:
        ValueError: a bad attack configuration, or the model's logits are NaN
            or inf on any scored image (``argmax`` would score it as class 0).
    """
    attack = Attack.coerce(attack, bounds=bounds)
    out = []
    bad = 0
    for b, (x, y) in enumerate(_batches(data, batch_size)):
        batch_seed = tf.random.experimental.stateless_fold_in(
            tf.constant([int(seed), 7919], tf.int64) if isinstance(seed, int) else tf.cast(seed, tf.int64), b)
        x_adv = attack(model_fn, x, y, seed=batch_seed)
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
    """Writes ``val_robust_accuracy`` (accuracy under an attack) into the epoch logs.

    Usable from any project's ``fit``; place it before ``CSVLogger`` so the
    value is logged. Give the attack by name with its threat model,
    ``RobustAccuracy(data, "pgd", norm="l2", eps=1.5, bounds=(0, 1), options={"steps": 10})``,
    or as an :class:`tfrobust.attacks.Attack`, a config mapping
    ``{name, norm, eps, bounds, <options>}`` (an adversarial run's
    ``method_options.attack``) or a :class:`tfrobust.attacks.PGD`.

    Args:
        data: validation ``tf.data.Dataset`` of ``(x, y)`` or a pair of arrays.
        attack: a registered attack's name (default ``pgd``) or a configured attack (see above).
        norm: the norm, with an attack name.
        eps: the radius in data units, with an attack name.
        bounds: value range of the data (with a name; else if the attack does not carry it).
        options: the attack's options, with an attack name (checked by its registry entry).
        every: evaluate every ``every`` epochs (and after the last one only if it falls on the grid).
        name: log key.
        seed: attack seed.

    Raises:
        ValueError: one line, for an unknown attack, norm or option, a bad value, or missing norm/eps/bounds.
    """

    def __init__(self, data: Any, attack: Any = "pgd", *, norm: str | None = None, eps: float | None = None,
                 bounds: tuple[float, float] | None = None, options: Mapping[str, Any] | None = None,
                 every: int = 1, name: str = "val_robust_accuracy", seed: int = 0) -> None:
        super().__init__()
        every = check_int(every, name="every", minimum=1)
        if isinstance(attack, str):
            if norm is None or eps is None or bounds is None:
                raise ConfigError(f"RobustAccuracy: attack {attack!r} needs norm, eps and bounds")
            attack = Attack.build(attack, norm=norm, eps=eps, bounds=bounds, options=options)
        elif norm is not None or eps is not None or options is not None:
            raise ConfigError("RobustAccuracy: norm, eps and options go with an attack name; "
                              "a configured attack carries its own")
        else:
            attack = Attack.coerce(attack, bounds=bounds)
        self.data = data
        self.attack = attack
        self.every = every
        self.name = name
        self.seed = seed

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        model = getattr(self.model, "base", self.model)
        correct = attacked_correct(model, self.data, self.attack, seed=self.seed)
        if logs is not None:
            logs[self.name] = float(correct.mean()) if correct.size else float("nan")
