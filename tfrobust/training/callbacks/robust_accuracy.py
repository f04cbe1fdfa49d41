"""Robust accuracy of a model under any registered attack, and a callback that logs it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from tfrobust.attacks import Attack
from tfrobust.attacks.autoattack import CLEAN_WRONG, ROBUST, run_members_checked, suite_members_of
from tfrobust.attacks.seeds import example_seeds
from tfrobust.config import ConfigError, check_int
from tfrobust.registry import ATTACKS
from tfrobust.training.callbacks.epoch_logs import EpochLogCallback

__all__ = ["RobustAccuracy", "attack_outcomes", "attacked_correct", "batches", "evaluation_attack"]


def batches(data: Any, batch_size: int) -> Any:
    """``data`` as ``(x, y)`` batches: a Dataset as it is, a pair of arrays batched by ``batch_size``."""
    if isinstance(data, tf.data.Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        # Plain slices, not tf.data: an autotuned pipeline made a short eager loop wait (APGD 2.9x slower,
        # benchmarks/autoattack.py).
        x, y = np.asarray(data[0], np.float32), np.asarray(data[1])
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    raise ValueError("data must be a tf.data.Dataset of (x, y) batches or a pair of arrays (x, y)")


def evaluation_attack(attack: Attack) -> Attack:
    """``attack`` as evaluations run it: with ``early_exit=True`` when the attack has that option and it was not
    set (PGD then stops spending gradients on points it already broke; docs/architecture.md, Evaluation)."""
    if "early_exit" in attack.options or "early_exit" not in {o.name for o in ATTACKS[attack.name].options}:
        return attack
    return dataclasses.replace(attack, options={**attack.options, "early_exit": True})


def attack_outcomes(model_fn: Any, data: Any, attack: Any, *, bounds: tuple[float, float] | None = None,
                    seed: Any = 0, batch_size: int = 256, standing: Any = None,
                    what: str | None = None, view: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-example correctness on attacked inputs, and which member of the attack broke each point.

    Only the points that still stand are attacked: those classified correctly
    and, when ``standing`` is given, marked True there (an evaluation over an
    eps grid passes the points that survived a smaller radius). Every example
    gets its own seed, keyed on its position in ``data``
    (:func:`tfrobust.attacks.seeds.example_seeds`), so the result of a point
    is the same whichever other points are attacked with it. A suite (an
    attack with members, such as ``autoattack``) runs its members in order,
    each on the points the earlier ones left standing.

    Args:
        model_fn: a Keras classifier (run with ``training=False``) or a callable returning logits.
        data: a ``tf.data.Dataset`` of ``(x, y)`` batches (x within bounds) or a pair of arrays.
        attack: a :class:`tfrobust.attacks.Attack`, its config mapping
            (``{name, norm, eps, bounds, <options>}``) or a
            :class:`tfrobust.attacks.PGD`; ``eps=0`` measures clean accuracy.
        bounds: value range, if the attack does not carry it.
        seed: the attack seed (an int or a (2,) seed).
        batch_size: batch size when ``data`` is a pair of arrays.
        standing: optional (N,) bool: attack only these points; the others count as broken.
        what: the images, for the error message (default: clean or
            adversarial images at the attack's norm and eps).
        view: a :class:`tfrobust.attribution.classifier.ClassifierView` of
            a model with named inputs or several outputs: batches may then
            hold a dict ``x`` (its image input is attacked through
            ``model_fn``, the view's classifier; the logits must not depend on
            the other inputs) and a dict ``y`` (the logits output's labels
            count). Labels may be int (N,) or one-hot (N, K) either way.

    Returns:
        ``correct`` (N,) bool, and ``breaker`` (N,) int: the index of the
        member that broke the point (0 for a single attack), -1 if none did,
        -2 if the point was not attacked (misclassified clean, or not standing).

    Raises:
        ValueError: a bad attack configuration, ``standing`` of the wrong
            length, or the model's logits are NaN or inf on any scored image
            (``argmax`` would score it as class 0).
    """
    attack = evaluation_attack(Attack.coerce(attack, bounds=bounds))
    members = suite_members_of(attack)
    base = tf.random.experimental.stateless_fold_in(
        tf.constant([int(seed), 7919], tf.int64) if isinstance(seed, (int, np.integer)) else tf.cast(seed, tf.int64),
        0)
    mask = None if standing is None else np.asarray(standing, bool).reshape(-1)
    correct_parts, breaker_parts = [], []
    bad = offset = 0
    for x, y in batches(data, batch_size):
        rest: dict[str, Any] = {}
        if view is not None:
            x, rest = view.split(x)
            y = view.labels(y)
            if rest and view.classifier is None:  # attacks take subsets of rows; bound side inputs cannot follow
                raise ValueError(f"the logits depend on inputs {sorted(rest)} besides the image "
                                 f"{view.image_key!r}; evaluation attacks need logits of the image alone")
        elif isinstance(x, Mapping) or isinstance(y, Mapping):
            raise ValueError("data holds dict batches: attack a training wrapper (RobustModel, which knows its "
                             "image input and logits output) or pass view=ClassifierView(model, logits=..., "
                             "inputs=...)")
        n = int(x.shape[0])
        y = np.asarray(y)
        y = (np.argmax(y, axis=-1) if y.ndim == 2 and y.shape[-1] > 1 else y).astype(np.int32).reshape(-1)
        rows = np.arange(n) if mask is None else np.flatnonzero(mask[offset:offset + n])
        if mask is not None and offset + n > mask.size:
            raise ValueError(f"standing has {mask.size} entries but the data has more examples")
        breaker = np.full(n, CLEAN_WRONG, np.int64)
        correct = np.zeros(n, bool)
        if rows.size:
            sub_x = x if rows.size == n else tf.gather(x, rows)
            seeds = example_seeds(base, offset + rows)
            # The suite's own predictions score the points: no further forward pass (docs/architecture.md,
            # Evaluation).
            _, codes, finite = run_members_checked(model_fn, sub_x, y[rows], members, seed=seeds)
            bad += int(finite.size - np.count_nonzero(finite))
            correct[rows] = codes == ROBUST
            breaker[rows] = codes
        correct_parts.append(correct)
        breaker_parts.append(breaker)
        offset += n
    if mask is not None and offset != mask.size:
        raise ValueError(f"standing has {mask.size} entries but the data has {offset} examples")
    correct_all = np.concatenate(correct_parts) if correct_parts else np.zeros((0,), bool)
    if bad:
        if what is None:
            what = "clean images" if attack.eps == 0 else f"adversarial images ({attack.norm} eps={attack.eps:g})"
        raise ValueError(f"model produced non-finite logits on {bad} of {correct_all.size} {what}; "
                         "accuracy would score them as class 0 (a diverged or corrupt model?)")
    breakers = np.concatenate(breaker_parts) if breaker_parts else np.zeros((0,), np.int64)
    return correct_all, breakers


def attacked_correct(model_fn: Any, data: Any, attack: Any, *, bounds: tuple[float, float] | None = None,
                     seed: Any = 0, batch_size: int = 256, what: str | None = None,
                     standing: Any = None, view: Any = None) -> np.ndarray:
    """Per-example correctness on attacked inputs (:func:`attack_outcomes` without the members).

    Returns:
        (N,) bool: whether each example is still classified correctly.
    """
    return attack_outcomes(model_fn, data, attack, bounds=bounds, seed=seed, batch_size=batch_size,
                           standing=standing, what=what, view=view)[0]


class RobustAccuracy(EpochLogCallback):
    """Writes ``val_robust_accuracy`` (accuracy under an attack) into the epoch logs every callback sees.

    Usable from any project's ``fit``, on any ``keras.Model``, anywhere in
    the ``callbacks`` list: the value is computed when ``fit`` collects the
    epoch's metric results, before any callback's ``on_epoch_end``, so
    ``CSVLogger``, ``EarlyStopping``, ``ModelCheckpoint``, ``TensorBoard``
    and ``History`` all get it, whether ``fit`` has validation data or not
    (:mod:`tfrobust.training.callbacks.epoch_logs`). ``EarlyStopping`` and
    ``ModelCheckpoint`` monitoring it need ``mode="max"`` (Keras cannot infer
    the direction of a value that is not a compiled metric). Outside ``fit``
    it does nothing: ``model.evaluate(callbacks=[...])`` runs no attack (use
    :func:`attacked_correct` for a one-off value).

    Give the attack by name with its threat model,
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

    Attributes:
        values: epoch (0-based) -> ``{name: accuracy}`` for each measured epoch of the latest ``fit``.

    Raises:
        ValueError: one line, for an unknown attack, norm or option, a bad value, or missing norm/eps/bounds.
    """

    def __init__(self, data: Any, attack: Any = "pgd", *, norm: str | None = None, eps: float | None = None,
                 bounds: tuple[float, float] | None = None, options: Mapping[str, Any] | None = None,
                 every: int = 1, name: str = "val_robust_accuracy", seed: int = 0) -> None:
        super().__init__()
        every = check_int(every, name="every", minimum=1)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"RobustAccuracy: name must be a non-empty string, got {name!r}")
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

    def compute(self, model: Any) -> dict[str, float]:
        """``{name: accuracy}`` of ``model`` under the attack (a wrapper through its classifier view: dict
        batches, several outputs and one-hot labels work as in its ``fit``)."""
        view = getattr(model, "classifier_view", None)
        target = getattr(model, "base", model) if view is None else (view.classifier or view.logits_fn())
        correct = attacked_correct(target, self.data, self.attack, seed=self.seed, view=view)
        return {self.name: float(correct.mean()) if correct.size else float("nan")}
