"""Adversarial training (PGD) as a RobustModel: attacked batches in ``train_step``.

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

from typing import Any

import keras
import tensorflow as tf

from tfrobust.attacks import PGD
from tfrobust.training.robust_model import RobustModel

__all__ = ["AdversarialModel"]


@keras.saving.register_keras_serializable(package="tfrobust")
class AdversarialModel(RobustModel):
    """Trains a classifier on PGD adversarial examples.

    Metrics: ``loss``/``accuracy`` of the batch trained on (adversarial),
    ``clean_loss``/``clean_accuracy`` of the unattacked batch (training only;
    validation metrics are clean unless a :class:`RobustAccuracy` callback adds
    ``val_robust_accuracy``).

    Args:
        base: a Keras classifier returning logits.
        attack: a :class:`tfrobust.attacks.PGD` (or a dict of its fields);
            its ``bounds`` must be set (the data's value range).
        adversarial_fraction: share of each batch replaced by adversarial
            examples, in [0, 1]; 1 (default) trains on adversarial images only.
        track_clean: also report ``clean_loss`` and ``clean_accuracy`` (one
            extra inference pass per step).
        seed: base seed of the attack's random starts; the step counter and
            the replica id are folded in, so every step draws new starts.

    Example:
        >>> robust = AdversarialModel(base, attack=PGD(norm="l2", eps=1.5, steps=40, bounds=(0, 1)))
        >>> robust.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...                metrics=["accuracy"])
    """

    train_only_metric_names = ("clean_loss", "clean_accuracy")

    def __init__(self, base: keras.Model, attack: PGD | dict[str, Any] | None = None, *,
                 adversarial_fraction: float = 1.0, track_clean: bool = True, seed: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(base, **kwargs)
        if attack is None:
            raise ValueError("attack: AdversarialModel needs a PGD attack")
        if isinstance(attack, dict):
            attack = PGD(**attack)
        if not isinstance(attack, PGD):
            raise ValueError(f"attack must be a tfrobust.attacks.PGD or a dict of its fields, got {attack!r}")
        if attack.bounds is None:
            raise ValueError("attack.bounds: set the data's value range, e.g. PGD(..., bounds=(0, 1))")
        fraction = float(adversarial_fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"adversarial_fraction must be in [0, 1], got {adversarial_fraction!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.attack = attack
        self.adversarial_fraction = fraction
        self.track_clean = bool(track_clean)
        self.attack_seed = seed
        if self.track_clean:
            self.clean_loss_tracker = keras.metrics.Mean(name="clean_loss")
            self.clean_accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="clean_accuracy")

    def training_inputs(self, x: Any, y: Any) -> Any:
        """Attacks (a share of) the batch with the model in inference mode."""
        if self.track_clean:
            clean_logits = self.base(x, training=False)
            clean_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(y, tf.int32), logits=clean_logits)
            self.clean_loss_tracker.update_state(clean_loss)
            self.clean_accuracy_tracker.update_state(y, clean_logits)
        if self.adversarial_fraction == 0.0:
            return x
        seed = self.step_seed(self.attack_seed)
        if self.adversarial_fraction == 1.0:
            return self.attack(self.base, x, y, seed=seed)
        n = tf.shape(x)[0]
        k = tf.cast(tf.round(self.adversarial_fraction * tf.cast(n, tf.float32)), tf.int32)
        attacked = self.attack(self.base, x[:k], y[:k], seed=seed)
        return tf.concat([attacked, x[k:]], axis=0)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(attack=self.attack.to_dict(), adversarial_fraction=self.adversarial_fraction,
                      track_clean=self.track_clean, seed=self.attack_seed)
        return config
