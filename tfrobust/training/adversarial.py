"""Adversarial training as a RobustModel: batches attacked (PGD, or any registered attack) in ``train_step``.

Ref: Madry et al. 2018; Kim et al. 2019 appendix B ("we trained on
adversarial images only"); Tsipras et al. 2019 A.3 (random start); Noack et
al. 2021 eq. 11-12 ("used in place of the original samples").

The attack runs outside the weight tape with the model in inference mode
(``training=False``: BatchNorm statistics are not updated by the attack and
dropout is off), then the weights are trained on the attacked batch. With
``adversarial_fraction < 1`` only the first ``round(f * N)`` examples of each
batch are attacked and the rest stay clean (one forward pass over the mixed
batch). The compiled ``loss``/``accuracy`` metrics are those of the batch
trained on; ``clean_loss``/``clean_accuracy`` track the unattacked batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from tfrobust.attacks import Attack
from tfrobust.config import ConfigError, check_int
from tfrobust.registry import register
from tfrobust.training.robust_model import RobustModel

__all__ = ["AdversarialModel"]


@register("methods", "adversarial")
@keras.saving.register_keras_serializable(package="tfrobust")
class AdversarialModel(RobustModel):
    """Trains a classifier on adversarial examples (PGD by default; any registered attack).

    Metrics: ``loss``/``accuracy`` of the batch trained on (adversarial),
    ``clean_loss``/``clean_accuracy`` of the unattacked batch (training only;
    validation metrics are clean unless a :class:`RobustAccuracy` callback adds
    ``val_robust_accuracy``).

    Args:
        base: a Keras classifier returning logits (several outputs or inputs:
            choose with ``logits=``/``inputs=``, see :class:`RobustModel`).
        attack: the attack in config form, ``{name: pgd, norm: l2, eps: 1.5,
            bounds: [0, 1], steps: 40, ...}``: ``name`` (default ``pgd``) picks
            a registered attack, ``norm``/``eps``/``bounds`` are its threat
            model (a run fills ``bounds`` with the data's), every other key is
            an option of the attack. An :class:`tfrobust.attacks.Attack` or a
            :class:`tfrobust.attacks.PGD` is accepted too.
        adversarial_fraction: share of each batch replaced by adversarial
            examples, in [0, 1]; 1 (default) trains on adversarial images only.
        track_clean: also report ``clean_loss`` and ``clean_accuracy`` (one
            extra inference pass per step).
        seed: base seed of the attack's random starts; the step counter and
            the replica id are folded in, so every step draws new starts.

    Raises:
        ValueError: one line: a missing or bad attack (unknown name, norm or
            option, a radius or step size the attack refuses), a fraction
            outside [0, 1] or a negative seed.

    Example:
        >>> robust = AdversarialModel(base, attack={"norm": "l2", "eps": 1.5, "steps": 40, "bounds": (0, 1)})
        >>> robust.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...                metrics=["accuracy"])
    """

    train_only_metric_names = ("clean_loss", "clean_accuracy")
    #: Small options the methods contract suite trains with (tests/training/test_method_contract.py).
    example_options = {"attack": {"norm": "linf", "eps": 0.1, "steps": 2, "random_start": True}}

    def __init__(self, base: keras.Model, *, attack: Mapping[str, Any], adversarial_fraction: float = 1.0,
                 track_clean: bool = True, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(base, **kwargs)
        if attack is None:
            raise ConfigError("attack: adversarial training needs an attack, e.g. {norm: l2, eps: 1.5, steps: 40}")
        resolved = Attack.coerce(attack, prefix="attack")
        resolved.check_trainable("attack")
        fraction = float(adversarial_fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"adversarial_fraction must be in [0, 1], got {adversarial_fraction!r}")
        self.attack: Attack = resolved
        self.attack_settings = dict(resolved.settings)
        self.adversarial_fraction = fraction
        self.track_clean = bool(track_clean)
        self.attack_seed = check_int(seed, name="seed", minimum=0)
        if self.track_clean:
            self.clean_loss_tracker = keras.metrics.Mean(name="clean_loss")
            self.clean_accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="clean_accuracy")

    @classmethod
    def run_options(cls, options: Mapping[str, Any], *, bounds: tuple[float, float],
                    seed: int) -> dict[str, Any]:
        """The run's seed fills ``seed``, the data's bounds the attack's ``bounds`` when they are not given."""
        out = super().run_options(options, bounds=bounds, seed=seed)
        attack = out.get("attack")
        if isinstance(attack, Mapping) and attack.get("bounds") is None:
            out["attack"] = {**attack, "bounds": [float(bounds[0]), float(bounds[1])]}
        return out

    def check_input_shape(self, input_shape: tuple[int, ...]) -> None:
        """Refuses an attack its checker rejects for inputs of this shape (an l2 sign step longer than the ball)."""
        try:
            self.attack_settings = self.attack.check_input_shape(input_shape)
        except ValueError as err:
            raise ConfigError(f"method_options.attack: {' '.join(str(err).split())}") from None

    def run_record(self) -> dict[str, Any]:
        """The attack in config form with what it resolved (PGD: ``steps``, the ``step_size`` it takes, ``objective``)."""
        return {"attack": {**self.attack.to_dict(), **self.attack_settings}}

    def training_inputs(self, x: Any, y: Any) -> Any:
        """Attacks (a share of) the batch with the model in inference mode."""
        if self.track_clean:
            clean_logits = self.logits_of(x, training=False)
            clean_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(y, tf.int32), logits=clean_logits)
            self.clean_loss_tracker.update_state(clean_loss)
            self.clean_accuracy_tracker.update_state(y, clean_logits)
        if self.adversarial_fraction == 0.0:
            return x
        seed = self.step_seed(self.attack_seed)
        if self.adversarial_fraction == 1.0:
            return self.attack(self.attack_target(), x, y, seed=seed)
        n = tf.shape(x)[0]
        k = tf.cast(tf.round(self.adversarial_fraction * tf.cast(n, tf.float32)), tf.int32)
        attacked = self.attack(self._fraction_target(k), x[:k], y[:k], seed=seed)
        return tf.concat([attacked, x[k:]], axis=0)

    def _fraction_target(self, k: Any) -> Any:
        """The attack target for the first ``k`` examples (the batch's other inputs sliced alike)."""
        rest = self._view_state.rest
        if not rest:
            return self.attack_target()
        sliced = {name: value[:k] for name, value in rest.items()}
        view = self.classifier_view

        def logits(image: Any) -> Any:
            return view.logits(image, sliced, training=False)

        return logits

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(attack=self.attack.to_dict(), adversarial_fraction=self.adversarial_fraction,
                      track_clean=self.track_clean, seed=self.attack_seed)
        return config
