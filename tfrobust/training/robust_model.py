"""The RobustModel template: one ``train_step`` for every training method.

A :class:`RobustModel` wraps any Keras classifier that outputs logits. Its
``train_step`` unpacks the batch, asks the subclass for the inputs to train on
(:meth:`RobustModel.training_inputs`; adversarial training returns attacked
images), runs the forward pass, adds the subclass's
:meth:`RobustModel.regularization` terms to the compiled loss, applies the
gradients and updates the metrics. Extra loss terms are tracked as metrics
under their own names. The plain template is standard training.

Works with ``fit``, callbacks, eager, graph and ``jit_compile`` execution and
under a ``tf.distribute`` strategy (regularization terms are scaled for the
number of replicas exactly as Keras scales the compiled loss).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

__all__ = ["RobustModel"]


def _replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


def scale_loss_for_distribution(value: tf.Tensor) -> tf.Tensor:
    """Divides a per-replica loss by the replica count, as Keras does for compiled losses."""
    n = _replicas()
    return value if n == 1 else value * tf.cast(1.0 / n, value.dtype)


def unscale_loss_for_distribution(value: tf.Tensor) -> tf.Tensor:
    """Undoes :func:`scale_loss_for_distribution` (for the loss tracker)."""
    n = _replicas()
    return value if n == 1 else value * tf.cast(n, value.dtype)


@keras.saving.register_keras_serializable(package="tfrobust")
class RobustModel(keras.Model):
    """Wraps a classifier and trains it with a pluggable objective.

    Subclasses override :meth:`training_inputs` and/or :meth:`regularization`
    and list the names of their regularization terms in ``extra_loss_names``
    so that the template creates a ``keras.metrics.Mean`` tracker for each.

    Args:
        base: an uncompiled or compiled ``keras.Model`` mapping inputs in the
            data's bounds to logits ``(N, num_classes)``.
        **kwargs: passed to ``keras.Model`` (e.g. ``name``).

    Example:
        >>> robust = RobustModel(build_model("kim_mnist_cnn", input_shape=(28, 28, 1), num_classes=10))
        >>> robust.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...                metrics=["accuracy"])
        >>> robust.fit(train_ds, epochs=1)
    """

    extra_loss_names: tuple[str, ...] = ()
    #: Metrics updated only by ``train_step``; ``test_step`` leaves them out of its logs.
    train_only_metric_names: tuple[str, ...] = ()

    def __init__(self, base: keras.Model, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(base, keras.Model):
            raise ValueError(f"base must be a keras.Model, got {type(base).__name__}")
        self.base = base
        if base.built:  # e.g. a functional model: the wrapper needs no data to build
            self.built = True
        self.extra_trackers = {
            name: keras.metrics.Mean(name=name) for name in self.extra_loss_names
        }

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.base(inputs, training=training)

    def build(self, input_shape: Any = None) -> None:
        if not self.base.built and input_shape is not None:
            self.base.build(input_shape)
        self.built = True

    # ------------------------------------------------------------------ hooks
    def training_inputs(self, x: Any, y: Any) -> Any:
        """Returns the inputs the weights are trained on (default: ``x``).

        Runs outside the weight tape. Adversarial training returns the
        attacked batch here.

        Args:
            x: (N, ...) float32 batch within the data's bounds.
            y: (N,) int labels.
        """
        del y
        return x

    def regularization(self, x: Any, y: Any, logits: Any) -> dict[str, Any]:
        """Extra loss terms, keyed by the names in ``extra_loss_names``.

        Called inside the weight tape after the forward pass, so terms may
        depend on the weights (e.g. input gradients taken with a nested
        ``input_tape``). Each value is a scalar already multiplied by its
        coefficient; the template adds them to the compiled loss.

        Args:
            x: (N, ...) the inputs returned by :meth:`training_inputs`.
            y: (N,) int labels.
            logits: (N, num_classes) the model's output on ``x`` (training=True).
        """
        del x, y, logits
        return {}

    # ------------------------------------------------------------- template
    def train_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x_train = self.training_inputs(x, y)
        with tf.GradientTape() as weight_tape:
            logits = self(x_train, training=True)
            loss = self.compute_loss(
                x=x_train, y=y, y_pred=logits, sample_weight=sample_weight, training=True
            )
            extras = self.regularization(x_train, y, logits)
            unknown = set(extras) - set(self.extra_trackers)
            if unknown:
                raise ValueError(
                    f"regularization returned {sorted(unknown)}, not declared in extra_loss_names"
                )
            total = loss
            for term in extras.values():
                total = total + scale_loss_for_distribution(tf.cast(term, loss.dtype))
            self._loss_tracker.update_state(
                unscale_loss_for_distribution(total), sample_weight=tf.shape(y)[0]
            )
            scaled = self.optimizer.scale_loss(total)
        variables = self.trainable_variables
        gradients = weight_tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        for name, term in extras.items():
            self.extra_trackers[name].update_state(term)
        return self.compute_metrics(x_train, y, logits, sample_weight=sample_weight)

    def test_step(self, data: Any) -> dict[str, Any]:
        logs = super().test_step(data)
        hidden = set(self.train_only_metric_names) | set(self.extra_loss_names)
        return {name: value for name, value in logs.items() if name not in hidden}

    # --------------------------------------------------------- serialization
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["base"] = keras.saving.serialize_keras_object(self.base)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> RobustModel:
        config = dict(config)
        base = keras.saving.deserialize_keras_object(config.pop("base"), custom_objects=custom_objects)
        return cls(base, **config)
