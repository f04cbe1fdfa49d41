"""The RobustModel template: one ``train_step`` for every training method.

A :class:`RobustModel` wraps any Keras classifier that outputs logits. Its
``train_step`` unpacks the batch, asks the subclass for the inputs to train on
(:meth:`RobustModel.training_inputs`; adversarial training returns attacked
images), runs the forward pass, adds the subclass's
:meth:`RobustModel.regularization` terms to the compiled loss, applies the
gradients and updates the metrics. Extra loss terms are tracked as metrics
under their own names. The plain template is standard training, registered
as the method ``standard`` (:data:`tfrobust.registry.METHODS`).

A method is a subclass decorated ``@register("methods", "<name>")`` in any
module of ``tfrobust/training/``: its options are the keyword-only
parameters of ``__init__`` (simple annotations, literal defaults), and
:func:`tfrobust.training.train` and ``tfrobust train`` use it with no other
file changed. Class hooks tell a run what else the method needs:
``data_options`` (options that describe the training data, such as ``ir``'s
target maps), :meth:`RobustModel.run_options` (run-time defaults such as the
run's seed and the data's bounds), :meth:`RobustModel.check_input_shape` and
:meth:`RobustModel.run_record`.

Works with ``fit``, callbacks, eager, graph and ``jit_compile`` execution and
under a ``tf.distribute`` strategy (regularization terms are scaled for the
number of replicas exactly as Keras scales the compiled loss).

Any reasonable classifier (C2): ``logits=``/``inputs=`` choose the logits
output and the image input of a functional base with several outputs or
named inputs (:class:`tfrobust.attribution.classifier.ClassifierView`). A
batch's ``x`` may be a dict (the image key is attacked / regularized, the
other inputs pass through unchanged); ``y`` may be int labels, one-hot labels
(compile with ``CategoricalCrossentropy``), or a dict keyed by output name,
in which case the compiled loss and metrics see every output ``y`` names
(compile them as dicts, as for the base itself) and the logits output's
labels drive the attack; ``(x, y, sample_weight)`` batches weight the
compiled loss. The hooks below always receive the image tensor and (N,) int
labels. A base that ends in a separate softmax is trained with its own
outputs (the loss it was compiled for) and attacked on the pre-softmax
logits; one with a softmax fused into its last layer is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from tfrobust.attribution.classifier import ClassifierView
from tfrobust.registry import keywords_of, register

__all__ = ["RobustModel", "scale_loss_for_distribution", "unscale_loss_for_distribution"]


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


class _ViewState:
    """Untracked per-wrapper state: the classifier view and the current batch's other inputs (per thread)."""

    def __init__(self, view: ClassifierView) -> None:
        self.view = view
        self.local = threading.local()

    @property
    def rest(self) -> dict[str, Any]:
        return getattr(self.local, "rest", None) or {}

    @rest.setter
    def rest(self, value: dict[str, Any]) -> None:
        self.local.rest = value


@register("methods", "standard")
@keras.saving.register_keras_serializable(package="tfrobust")
class RobustModel(keras.Model):
    """Standard training (cross-entropy only); the template every training method subclasses.

    Subclasses override :meth:`training_inputs` and/or :meth:`regularization`
    and list the names of their regularization terms in ``extra_loss_names``
    so that the template creates a ``keras.metrics.Mean`` tracker for each.

    Args:
        base: an uncompiled or compiled ``keras.Model`` mapping inputs in the
            data's bounds to logits ``(N, num_classes)``; a functional model
            may have several outputs and named/dict inputs (choose below).
        logits: the output that holds the logits, by name or index, when
            ``base`` has several outputs.
        inputs: the image input, by name, when ``base`` has several inputs.
        **kwargs: passed to ``keras.Model`` (e.g. ``name``).

    Raises:
        ValueError: ``base`` is not a Keras model, has several outputs (or
            inputs) and no choice, or ends in a fused softmax (one line).

    Example:
        >>> robust = RobustModel(build_model("kim_mnist_cnn", input_shape=(28, 28, 1), num_classes=10))
        >>> robust.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...                metrics=["accuracy"])
        >>> robust.fit(train_ds, epochs=1)
    """

    extra_loss_names: tuple[str, ...] = ()
    #: Values returned by :meth:`regularization` that are tracked but NOT added to the loss.
    extra_metric_names: tuple[str, ...] = ()
    #: Metrics updated only by ``train_step``; ``test_step`` leaves them out of its logs.
    train_only_metric_names: tuple[str, ...] = ()
    #: Options (``method_options`` keys) that name files of training data rather than
    #: configure the wrapper (the wrapper ignores them); ``tfrobust.training.train`` reads
    #: them: ``targets`` (a ``tfrobust saliency`` maps directory) makes the run stream each
    #: example's map with its batch. The run records them as absolute paths.
    data_options: tuple[str, ...] = ()
    #: Why the method cannot be compiled with XLA (``jit_compile=True``); None: it can.
    xla_unsupported: str | None = None
    #: Small, valid options for a quick instance (every required option included): the
    #: methods contract suite (tests/training/test_method_contract.py) builds each method with them.
    example_options: Mapping[str, Any] = {}

    def __init__(self, base: keras.Model, *, logits: str | int | None = None, inputs: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(base, keras.Model):
            raise ValueError(f"base must be a keras.Model, got {type(base).__name__}")
        self.base = base
        self.logits_choice = logits
        self.inputs_choice = inputs
        self._view_state = _ViewState(ClassifierView(base, logits=logits, inputs=inputs))
        if base.built:  # e.g. a functional model: the wrapper needs no data to build
            self.built = True
        self.extra_trackers = {
            name: keras.metrics.Mean(name=name)
            for name in (*self.extra_loss_names, *self.extra_metric_names)
        }

    def call(self, inputs: Any, training: bool = False) -> Any:
        inputs, _ = self.split_inputs(inputs)  # (x, target) batches predict like x
        return self.base(inputs, training=training)

    def build(self, input_shape: Any = None) -> None:
        if not self.base.built and input_shape is not None:
            self.base.build(input_shape)
        self.built = True

    # -------------------------------------------------------------- run hooks
    @classmethod
    def run_options(cls, options: Mapping[str, Any], *, bounds: tuple[float, float],
                    seed: int) -> dict[str, Any]:
        """The constructor options a training run passes: ``options`` with run-time defaults.

        Default: the run's ``seed`` fills a ``seed`` keyword and the data's
        ``bounds`` a ``bounds`` keyword of ``__init__`` that ``options``
        leaves out (or sets to None). Override to derive more (adversarial
        training gives its attack the data's bounds).

        Args:
            options: the method's options, already checked by ``METHODS[name].parse``.
            bounds: the training data's value range ``(lo, hi)``.
            seed: the run's seed.
        """
        out = dict(options)
        keywords = keywords_of(cls)
        if "seed" in keywords and "seed" not in out:
            out["seed"] = seed
        if "bounds" in keywords and out.get("bounds") is None:
            out["bounds"] = (float(bounds[0]), float(bounds[1]))
        return out

    def check_input_shape(self, input_shape: tuple[int, ...]) -> None:
        """Refuses, before training starts, data this method cannot train on (default: none).

        Args:
            input_shape: the shape of one example, e.g. ``(28, 28, 1)``.

        Raises:
            ValueError: one line saying why.
        """
        del input_shape

    def run_record(self) -> dict[str, Any]:
        """Values the method resolved that a run records under ``resolved`` in its ``config.yaml``.

        Default: none. Adversarial training records its attack (with the step
        size it resolved). Values must be plain YAML types.
        """
        return {}

    # ------------------------------------------------------------------ hooks
    def split_inputs(self, x: Any) -> tuple[Any, Any]:
        """Separates the model's inputs from side data that comes with the batch.

        Default: no side data, ``(x, None)``. Interpretation Regularization
        receives ``(image, target_map)`` pairs here.

        Args:
            x: the ``x`` part of a batch as the pipeline yields it.

        Returns:
            ``(inputs, side)``: what the model is called on, and anything else.
        """
        return x, None

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

    def input_gradient_objectives(self, logits: Any, y: Any) -> tuple[Any, ...]:
        """Scalars whose gradients with respect to the inputs the step needs.

        Default: none. When a subclass returns ``M`` scalars (built from the
        training-mode ``logits``), the template runs the forward pass under an
        ``input_tape`` and hands the ``M`` input gradients (each shaped like
        the inputs) to :meth:`regularization` as ``input_gradients``; they
        stay differentiable with respect to the weights (double
        backpropagation), so penalties on them train the weights.

        Args:
            logits: (N, K) training-mode logits.
            y: (N,) int labels.
        """
        del logits, y
        return ()

    def regularization(self, x: Any, y: Any, logits: Any, **context: Any) -> dict[str, Any]:
        """Extra loss terms (``extra_loss_names``) and tracked values (``extra_metric_names``).

        Called inside the weight tape after the forward pass, so terms may
        depend on the weights. Each loss value is a scalar already multiplied
        by its coefficient; the template adds it to the compiled loss. Values
        named in ``extra_metric_names`` are only tracked.

        Args:
            x: (N, ...) the inputs returned by :meth:`training_inputs`.
            y: (N,) int labels.
            logits: (N, num_classes) the model's output on ``x`` (training=True).
            **context: given only when used: ``input_gradients`` (tuple of
                (N, ...) tensors, one per :meth:`input_gradient_objectives`
                scalar) and ``side`` (the side data of :meth:`split_inputs`).
        """
        del x, y, logits, context
        return {}

    def step_seed(self, seed: int) -> tf.Tensor:
        """A (2,) int64 stateless seed that differs per step and per replica.

        Args:
            seed: the method's base seed (>= 0).
        """
        optimizer = getattr(self, "optimizer", None)
        counter = (tf.cast(optimizer.iterations, tf.int64) if optimizer is not None
                   else tf.constant(0, tf.int64))
        context = tf.distribute.get_replica_context()
        replica = (tf.cast(context.replica_id_in_sync_group, tf.int64) if context is not None
                   else tf.constant(0, tf.int64))
        return tf.stack([tf.constant(seed, tf.int64), counter * 1024 + replica])

    # ------------------------------------------------------ the classifier
    @property
    def classifier_view(self) -> ClassifierView:
        """How this wrapper reads its base: image input, logits output (:class:`ClassifierView`)."""
        return self._view_state.view

    @property
    def classifier(self) -> keras.Model:
        """The base's logits as a model of the image alone (shares the base's weights); what ``export`` serves.

        When the logits also depend on other inputs, a model of all inputs (a dict) to the logits.
        """
        return self.classifier_view.export_model()

    def logits_of(self, x: Any, *, training: bool = False) -> Any:
        """The chosen logits of ``x``: images, or a dict of every input (inside a step, images alone take the
        current batch's other inputs).

        Raises:
            ValueError: images alone, outside a step, when the logits depend on other inputs (one line).
        """
        view = self.classifier_view
        if isinstance(x, Mapping):
            image, rest = view.split(x)
            return view.logits(image, rest, training=training)
        rest = self._view_state.rest
        if view.classifier is None and not rest:
            others = [n for n in view.input_names if n != view.image_key]
            raise ValueError(f"the logits depend on inputs {others} besides the image {view.image_key!r}: "
                             "pass x as a dict with every input")
        return view.logits(x, rest, training=training)

    def attack_target(self) -> Any:
        """``image -> logits`` in inference mode for attacks on the current batch (hooks run inside a step)."""
        return self.classifier_view.logits_fn(self._view_state.rest)

    def export(self, filepath: Any, format: str = "tf_saved_model", verbose: Any = None,  # noqa: A002 - Keras name
               input_signature: Any = None, **kwargs: Any) -> None:
        """Exports the base's logits model (``serving_default``: image -> logits), as ``keras.Model.export``.

        The wrapper itself is a training device; what serves is :attr:`classifier`.
        """
        self.classifier.export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def _unpack(self, data: Any) -> tuple[Any, Any, Any, Any, Any]:
        """``(image, y, labels, sample_weight, side)`` of a batch; sets the batch's other inputs."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, side = self.split_inputs(x)
        image, rest = self.classifier_view.split(x)
        self._view_state.rest = rest
        return image, y, self.classifier_view.labels(y), sample_weight, side

    # ------------------------------------------------------------- template
    def _forward(self, x: Any, y: Any) -> tuple[Any, tuple[Any, ...]]:
        """Training-mode logits and, when the subclass asks, input gradients."""
        _, logits, gradients = self._forward_outputs(x, y)
        return logits, gradients

    def _forward_outputs(self, x: Any, y: Any) -> tuple[Any, Any, tuple[Any, ...]]:
        """Training-mode outputs (by name), logits and, when the subclass asks, input gradients."""
        image, _ = self.split_inputs(x)
        view, rest = self.classifier_view, self._view_state.rest
        if type(self).input_gradient_objectives is RobustModel.input_gradient_objectives:
            outputs, logits = view.forward(image, rest, training=True)
            return outputs, logits, ()
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as input_tape:
            input_tape.watch(image)
            outputs, logits = view.forward(image, rest, training=True)
            objectives = tuple(self.input_gradient_objectives(logits, y))
        if not objectives:
            return outputs, logits, ()
        gradients = tuple(input_tape.gradient(objective, image) for objective in objectives)
        del input_tape
        return outputs, logits, gradients

    def train_step(self, data: Any) -> dict[str, Any]:
        try:
            return self._train_step(data)
        finally:
            self._view_state.rest = {}  # a batch's other inputs never outlive its step

    def test_step(self, data: Any) -> dict[str, Any]:
        try:
            return self._test_step(data)
        finally:
            self._view_state.rest = {}

    def _loss_outputs(self, y_pred: Any, y: Any) -> Any:
        """What the compiled loss and metrics see. Keras builds them, under a distribution strategy, from
        ``call()``'s whole output before the first step; the steps pass the outputs ``y`` names."""
        view = self.classifier_view
        if view.graph and isinstance(y_pred, (list, tuple)) and len(y_pred) == len(view.names):
            y_pred = dict(zip(view.names, y_pred))
        return view.loss_view(y_pred, y) if view.graph and isinstance(y_pred, Mapping) else y_pred

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        return super().compute_loss(x=x, y=y, y_pred=self._loss_outputs(y_pred, y), sample_weight=sample_weight,
                                    training=training)

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        return super().compute_metrics(x, y, self._loss_outputs(y_pred, y), sample_weight=sample_weight)

    def _train_step(self, data: Any) -> dict[str, Any]:
        x, y_raw, y, sample_weight, side = self._unpack(data)
        x_train = self.training_inputs(x, y)
        with tf.GradientTape() as weight_tape:
            outputs, logits, input_gradients = self._forward_outputs(x_train, y)
            y_pred = self.classifier_view.loss_view(outputs, y_raw)
            loss = self.compute_loss(
                x=x_train, y=y_raw, y_pred=y_pred, sample_weight=sample_weight, training=True
            )
            context: dict[str, Any] = {}
            if input_gradients:
                context["input_gradients"] = input_gradients
            if side is not None:
                context["side"] = side
            values = self.regularization(x_train, y, logits, **context)
            unknown = set(values) - set(self.extra_trackers)
            if unknown:
                raise ValueError(
                    f"regularization returned {sorted(unknown)}, not declared in "
                    "extra_loss_names or extra_metric_names"
                )
            total = loss
            for name in self.extra_loss_names:
                if name in values:
                    term = tf.cast(values[name], loss.dtype)
                    total = total + scale_loss_for_distribution(term)
            self._loss_tracker.update_state(
                unscale_loss_for_distribution(total), sample_weight=tf.shape(y)[0]
            )
            scaled = self.optimizer.scale_loss(total)
        variables = self.trainable_variables
        gradients = weight_tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        for name, value in values.items():
            self.extra_trackers[name].update_state(value)
        return self.compute_metrics(x_train, y_raw, y_pred, sample_weight=sample_weight)

    def _test_step(self, data: Any) -> dict[str, Any]:
        x, y_raw, y, sample_weight, _ = self._unpack(data)
        outputs, _ = self.classifier_view.forward(x, self._view_state.rest, training=False)
        y_pred = self.classifier_view.loss_view(outputs, y_raw)
        loss = self.compute_loss(x=x, y=y_raw, y_pred=y_pred, sample_weight=sample_weight, training=False)
        self._loss_tracker.update_state(unscale_loss_for_distribution(loss), sample_weight=tf.shape(y)[0])
        logs = self.compute_metrics(x, y_raw, y_pred, sample_weight=sample_weight)
        hidden = set(self.train_only_metric_names) | set(self.extra_trackers)
        return {name: value for name, value in logs.items() if name not in hidden}

    # --------------------------------------------------------- serialization
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["base"] = keras.saving.serialize_keras_object(self.base)
        if self.logits_choice is not None:
            config["logits"] = self.logits_choice
        if self.inputs_choice is not None:
            config["inputs"] = self.inputs_choice
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> RobustModel:
        config = dict(config)
        base = keras.saving.deserialize_keras_object(config.pop("base"), custom_objects=custom_objects)
        return cls(base, **config)
