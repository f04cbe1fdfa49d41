"""Batched retraining: M independent classifiers trained in one compiled step.

ROAR and KAR (Hooker et al. 2019; Kim et al. 2019, sec. 3.2) retrain one
small classifier per (method, fraction, repeat) on a differently occluded copy
of the same training set. :class:`Ensemble` trains all members of such a sweep
together: every batch ``(features, y)`` is fed to member ``m`` as
``input_fns[m](features)`` (e.g. the images occluded with member ``m``'s
attribution ranks at fraction ``f_m``), one weight tape differentiates the SUM
of the members' losses, and one optimizer updates all variables.

Why the sum is exact: the members share no variables, so the gradient of
``sum_m loss_m`` with respect to member ``m``'s weights is the gradient of
``loss_m`` alone. Adam, SGD (momentum, Nesterov), weight decay and per-variable
``clipnorm`` / ``clipvalue`` keep their state and apply their rule per
variable, and all members step in lockstep, so one optimizer over all
variables equals M separate optimizers. ``global_clipnorm`` would scale every
member's step by the norm over ALL members and is refused; a dynamic loss
scale (mixed precision) would skip every member's step when one overflows.

Layout: the members stay separate Keras sub-models ("multi-branch") and
TensorFlow runs the M branches in one graph, so any Keras classifier can be a
member; under XLA (``jit_compile``, Keras' "auto" choice on GPU) the whole
M-member step is one executable. Stacked weights were measured and rejected
(2-core CPU, TF 2.21, 5 members conv16-pool-conv16-pool-dense, batch 128,
median Adam train step after warm-up): multi-branch graph 115 ms, 5 separate
models 118 ms; multi-branch XLA 350 ms, 5 separate XLA 381 ms; stacked as a
grouped convolution (channels M*C, ``tf.nn.conv2d`` with an (h, w, C, M*F)
filter, einsum dense): no CPU kernel outside XLA, 1,894 ms under XLA. The
batched gain on CPU therefore comes from one compilation, one ``fit`` and one
input pipeline per sweep; ``benchmarks/roar_ensemble.py`` measures it against
sequential fits. ``fit_members`` is the entry point with the sequential
fallback.
Ensembles are transient training devices: they are not Keras-serializable
(save the members).

Example:
    >>> members = [build_model("kim_mnist_cnn", input_shape=(28, 28, 1), num_classes=10) for _ in range(3)]
    >>> fns = [lambda f, r=r: occlude(f["x"], f["ranks"][:, r], 0.5) for r in range(3)]
    >>> acc = fit_members(members, fns, train_ds, test_ds, epochs=1,
    ...                   optimizer=lambda: keras.optimizers.Adam(1e-3))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.training.robust_model import (
    scale_loss_for_distribution,
    unscale_loss_for_distribution,
)

__all__ = ["Ensemble", "fit_members", "member_accuracies"]

InputFn = Callable[[Any], tf.Tensor]


def _check_members(members: Any, input_fns: Any) -> tuple[list[keras.Model], list[InputFn] | None]:
    if isinstance(members, keras.Model) or not isinstance(members, Sequence):
        raise ValueError(f"members must be a sequence of keras.Model, got {type(members).__name__}")
    members = list(members)
    if not members:
        raise ValueError("members is empty: an ensemble needs at least one keras.Model")
    for i, member in enumerate(members):
        if not isinstance(member, keras.Model):
            raise ValueError(f"members[{i}] must be a keras.Model, got {type(member).__name__}")
    if len({id(member) for member in members}) != len(members):
        raise ValueError("members must be distinct models (the same model is listed twice)")
    if input_fns is None:
        return members, None
    if not isinstance(input_fns, Sequence):
        raise ValueError(f"input_fns must be a sequence of callables or None, got {type(input_fns).__name__}")
    input_fns = list(input_fns)
    if len(input_fns) != len(members):
        raise ValueError(f"len(input_fns) = {len(input_fns)} != len(members) = {len(members)}")
    for i, fn in enumerate(input_fns):
        if not callable(fn):
            raise ValueError(f"input_fns[{i}] must be callable, got {type(fn).__name__}")
    return members, input_fns


def _resolve_loss(loss: Any) -> keras.losses.Loss:
    if loss is None:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    resolved = keras.losses.get(loss) if isinstance(loss, str) else loss
    if not isinstance(resolved, keras.losses.Loss):
        raise ValueError(
            f"loss must be a keras.losses.Loss instance (or None for sparse cross-entropy on logits), got {loss!r}"
        )
    return resolved


def _check_optimizer(optimizer: Any) -> None:
    if getattr(optimizer, "global_clipnorm", None):
        raise ValueError(
            "optimizer.global_clipnorm couples the members (one norm over all of them); "
            "use clipnorm (per variable) or separate fits (batched=False)"
        )


class Ensemble(keras.Model):
    """M independent classifiers trained in one compiled step (one graph, one optimizer).

    A batch is ``(features, y)`` (optionally with sample weights). Member ``m``
    trains and evaluates on ``input_fns[m](features)`` (default: ``features``
    itself), e.g. ``features = {"x": (B, H, W, C), "ranks": (B, R, H, W)}`` and
    ``input_fns[m]`` occludes ``x`` with ``ranks[:, r_m]`` at fraction ``f_m``.
    ``call`` returns the list of the M members' logits.

    ``train_step`` runs one ``weight_tape`` over all members; the loss it
    differentiates is the SUM over members of each member's loss (the
    compiled loss on its logits plus the member's own regularization losses),
    so each member receives exactly the gradient of its own loss (see the
    module docstring for why one optimizer equals M optimizers, and why
    ``global_clipnorm`` is refused). Logged metrics: ``loss`` (the sum) and per
    member ``m{i}_loss`` and ``m{i}_accuracy`` (sparse categorical accuracy of
    the logits). ``test_step`` computes the same without the update. Works
    eagerly, in graph mode and with ``jit_compile=True``.

    Args:
        members: distinct ``keras.Model`` classifiers, each mapping its input
            to logits ``(B, K)``; they share no variables.
        input_fns: one callable per member, ``features -> member input``
            (traceable TensorFlow code), or None for the identity.
        **kwargs: passed to ``keras.Model`` (e.g. ``name``).

    Raises:
        ValueError: empty ``members``, a non-``keras.Model`` member, a member
            listed twice, or ``len(input_fns) != len(members)``.
    """

    def __init__(
        self,
        members: Sequence[keras.Model],
        input_fns: Sequence[InputFn] | None = None,
        **kwargs: Any,
    ) -> None:
        checked, fns = _check_members(members, input_fns)
        super().__init__(**kwargs)
        self.members = checked
        self._input_fns = fns
        self.member_loss_trackers = [keras.metrics.Mean(name=f"m{i}_loss") for i in range(len(checked))]
        self.member_accuracy_metrics = [
            keras.metrics.SparseCategoricalAccuracy(name=f"m{i}_accuracy") for i in range(len(checked))
        ]
        self.member_loss: keras.losses.Loss = _resolve_loss(None)
        if all(member.built for member in checked):
            self.built = True

    @property
    def num_members(self) -> int:
        return len(self.members)

    def member_inputs(self, features: Any) -> list[Any]:
        """The M member inputs of one batch of ``features``."""
        if self._input_fns is None:
            return [features] * self.num_members
        return [fn(features) for fn in self._input_fns]

    def call(self, inputs: Any, training: bool = False) -> list[Any]:
        return [
            member(member_input, training=training)
            for member, member_input in zip(self.members, self.member_inputs(inputs))
        ]

    def build(self, input_shape: Any = None) -> None:
        del input_shape  # members are built by their first call on their own inputs
        self.built = True

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        **kwargs: Any,
    ) -> None:
        """Like ``keras.Model.compile``; ``loss`` is applied to every member.

        Args:
            optimizer: one optimizer for all members (name or instance).
            loss: a ``keras.losses.Loss`` applied to each member's logits;
                None: ``SparseCategoricalCrossentropy(from_logits=True)``.
            loss_weights, metrics, weighted_metrics: not supported (the
                ensemble tracks ``m{i}_loss`` and ``m{i}_accuracy`` itself).
            **kwargs: ``run_eagerly``, ``jit_compile``, ``steps_per_execution``, ...

        Raises:
            ValueError: metrics or loss weights given, a loss that is not a
                ``keras.losses.Loss``, or an optimizer with ``global_clipnorm``.
        """
        if loss_weights is not None or metrics or weighted_metrics:
            raise ValueError(
                "Ensemble.compile takes no metrics or loss_weights: it logs loss, m{i}_loss and m{i}_accuracy"
            )
        self.member_loss = _resolve_loss(loss)
        optimizer = keras.optimizers.get(optimizer)
        _check_optimizer(optimizer)
        super().compile(optimizer=optimizer, loss=None, **kwargs)

    # ------------------------------------------------------------ the step
    def member_losses(self, y: Any, logits: Sequence[Any], sample_weight: Any = None) -> list[tf.Tensor]:
        """Each member's loss: compiled loss of its logits plus its own regularization losses.

        Args:
            y: (B,) int labels.
            logits: the M members' (B, K) logits.
            sample_weight: optional (B,) weights.

        Returns:
            M scalars, scaled for the replica count as Keras scales losses.
        """
        losses = []
        for member, member_logits in zip(self.members, logits):
            loss = self.member_loss(y, member_logits, sample_weight=sample_weight)
            extra = member.losses
            if extra:
                regularization = tf.add_n([tf.cast(tf.reduce_sum(v), loss.dtype) for v in extra])
                loss = loss + scale_loss_for_distribution(regularization)
            losses.append(loss)
        return losses

    def _update_metrics(
        self, y: Any, logits: Sequence[Any], losses: Sequence[tf.Tensor], total: tf.Tensor, sample_weight: Any
    ) -> dict[str, Any]:
        batch = tf.shape(y)[0]
        self._loss_tracker.update_state(unscale_loss_for_distribution(total), sample_weight=batch)
        for tracker, metric, loss, member_logits in zip(
            self.member_loss_trackers, self.member_accuracy_metrics, losses, logits
        ):
            tracker.update_state(unscale_loss_for_distribution(loss), sample_weight=batch)
            metric.update_state(y, member_logits, sample_weight=sample_weight)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as weight_tape:
            logits = self(x, training=True)
            losses = self.member_losses(y, logits, sample_weight)
            total = tf.add_n(losses)
            scaled = self.optimizer.scale_loss(total)
        variables = self.trainable_variables
        gradients = weight_tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._update_metrics(y, logits, losses, total, sample_weight)

    def test_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        logits = self(x, training=False)
        losses = self.member_losses(y, logits, sample_weight)
        return self._update_metrics(y, logits, losses, tf.add_n(losses), sample_weight)


# -------------------------------------------------------------- accuracy
def _accuracies(forward: Callable[[Any], Sequence[tf.Tensor]], data: tf.data.Dataset, n: int) -> np.ndarray:
    """(n,) accuracy of each output of ``forward`` over ``(features, y[, w])`` batches."""

    @tf.function
    def hits(batch: Any) -> tuple[tf.Tensor, tf.Tensor]:
        features, y, weight = keras.utils.unpack_x_y_sample_weight(batch)
        y = tf.reshape(tf.cast(y, tf.int64), [-1])
        w = tf.ones_like(y, tf.float64) if weight is None else tf.reshape(tf.cast(weight, tf.float64), [-1])
        correct = tf.stack([
            tf.cast(tf.equal(tf.argmax(logits, axis=-1), y), tf.float64) for logits in forward(features)
        ])
        return tf.reduce_sum(correct * w, axis=1), tf.reduce_sum(w)

    correct = np.zeros(n, dtype=np.float64)
    total = 0.0
    for batch in data:
        c, t = hits(batch)
        correct += c.numpy()
        total += float(t.numpy())
    if total == 0:
        raise ValueError("the evaluation data is empty")
    return correct / total


def member_accuracies(ensemble: Ensemble, data: tf.data.Dataset) -> np.ndarray:
    """Test accuracy of every member.

    Args:
        ensemble: a (trained) :class:`Ensemble`.
        data: ``tf.data`` of ``(features, y)`` (or ``(features, y, w)``)
            batches; member ``m`` sees ``input_fns[m](features)``.

    Returns:
        (M,) float64 fraction of examples whose argmax logit equals ``y``
        (weighted when the batches carry weights).
    """
    if not isinstance(ensemble, Ensemble):
        raise ValueError(f"ensemble must be an Ensemble, got {type(ensemble).__name__}")
    return _accuracies(lambda features: ensemble(features, training=False), data, ensemble.num_members)


def _single_forward(member: keras.Model) -> Callable[[Any], list[tf.Tensor]]:
    def forward(x: Any) -> list[tf.Tensor]:
        return [member(x, training=False)]

    return forward


def _member_data(data: tf.data.Dataset, fn: InputFn | None) -> tf.data.Dataset:
    if fn is None:
        return data

    @tf.autograph.experimental.do_not_convert  # input functions are plain TensorFlow ops
    def apply(features: Any, *rest: Any) -> Any:
        return (fn(features), *rest)

    return data.map(apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def fit_members(
    members: Sequence[keras.Model],
    input_fns: Sequence[InputFn] | None,
    train_data: tf.data.Dataset,
    test_data: tf.data.Dataset,
    *,
    epochs: int,
    optimizer: Callable[[], keras.optimizers.Optimizer],
    batched: bool = True,
    jit_compile: Any = "auto",
    verbose: Any = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> np.ndarray:
    """Trains the members (batched or one by one) and returns their test accuracies.

    ``batched=True``: one :class:`Ensemble`, compiled once, ``fit`` for
    ``epochs``, then :func:`member_accuracies` on ``test_data``.
    ``batched=False`` (sequential fallback): each member is compiled with a
    fresh ``optimizer()`` and fitted on ``train_data`` mapped through its input
    function, then scored on the mapped ``test_data``. Both paths use the
    loss ``SparseCategoricalCrossentropy(from_logits=True)`` and the same
    accuracy code, so with the same initial weights and the same batches they
    give the same weights and accuracies (up to float rounding).

    Same batches: every new iterator over a ``Dataset.shuffle(...,
    seed=s, reshuffle_each_iteration=True)`` (e.g. ``Dataset.pipeline(
    shuffle=True)``) draws the NEXT permutation of its seed sequence, and
    every ``fit`` makes new iterators; so sequential member ``m`` sees other
    orders than the ensemble (accuracies then agree only within noise). For
    identical batches pass data whose order does not depend on how often it
    was iterated: no shuffle, ``reshuffle_each_iteration=False``, or a
    pipeline rebuilt for each path. Members with dropout draw different
    random masks in the two paths.

    Args:
        members: built ``keras.Model`` classifiers (logits out), initialised
            (and seeded) by the caller; trained in place.
        input_fns: per-member ``features -> input`` callables, or None.
        train_data: ``(features, y)`` batches.
        test_data: ``(features, y)`` batches.
        epochs: passes over ``train_data``, >= 1.
        optimizer: factory returning a new optimizer (called once when
            batched, once per member otherwise), e.g.
            ``lambda: keras.optimizers.Adam(1e-3)``.
        batched: one ensemble step (True) or sequential fits (False).
        jit_compile: passed to ``compile`` ("auto": XLA where Keras enables it,
            i.e. not on CPU-only machines).
        verbose: passed to ``fit``.
        callbacks: passed to every ``fit``.

    Returns:
        (M,) float64 test accuracy of each member.

    Raises:
        ValueError: bad members / input_fns (see :class:`Ensemble`), ``epochs``
            < 1, or an optimizer factory that returns no optimizer.
    """
    checked, fns = _check_members(members, input_fns)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not callable(optimizer):
        raise ValueError("optimizer must be a factory: a callable returning a new keras optimizer")

    def new_optimizer() -> keras.optimizers.Optimizer:
        opt = optimizer()
        if not isinstance(opt, keras.optimizers.Optimizer):
            raise ValueError(f"optimizer() must return a keras optimizer, got {type(opt).__name__}")
        return opt

    def new_loss() -> keras.losses.Loss:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    if batched:
        ensemble = Ensemble(checked, fns)
        ensemble.compile(optimizer=new_optimizer(), loss=new_loss(), jit_compile=jit_compile)
        ensemble.fit(train_data, epochs=epochs, verbose=verbose, callbacks=list(callbacks), shuffle=False)
        return member_accuracies(ensemble, test_data)

    accuracies = np.zeros(len(checked), dtype=np.float64)
    for m, member in enumerate(checked):
        fn = None if fns is None else fns[m]
        member.compile(optimizer=new_optimizer(), loss=new_loss(), jit_compile=jit_compile)
        member.fit(_member_data(train_data, fn), epochs=epochs, verbose=verbose, callbacks=list(callbacks),
                   shuffle=False)
        accuracies[m] = _accuracies(_single_forward(member), _member_data(test_data, fn), 1)[0]
    return accuracies
