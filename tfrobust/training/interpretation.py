"""Interpretation Regularization (IR) as a RobustModel: match target maps in ``train_step``.

Ref: Noack et al. 2021, eq. 9. The loss of one batch is

    cross-entropy - lambda_d * mean_i cos(J_c(x_i), I(x_i)) + lambda_m * M

where ``J_c(x) = d f_c(x) / dx`` is the gradient of the label's logit with
respect to the input (the "simple gradient" map) and ``I(x)`` the target map
(Noack: SmoothGrad of a robust teacher, thresholded, sec. 3.1). The
magnitude term ``M`` is chosen with ``magnitude``:

- ``"per_example"`` (default): ``mean_i ||J_c(x_i)||_2``, eq. 9 read
  literally (the norm sits inside the expectation, like the cross-entropy);
- ``"batch"``: ``sqrt(sum_i ||J_c(x_i)||_2^2)``, the Frobenius norm of the
  whole minibatch of label-logit gradients, as the authors' code computes it
  (a1noack/interp_regularization, ``ir_utils/loss_utils.py``, ``cos_sim``:
  ``torch.norm(interps, p='fro')`` over the (B, C, H, W) gradient tensor,
  "Jacubovitz et al. find norm of entire minibatch"). For a batch of B
  equal norms it is ``sqrt(B)`` times the per-example mean, so ``lambda_m``
  means something else under each choice. Under a ``tf.distribute``
  strategy it is the norm of each replica's share of the batch.

The authors' alignment term is ``lambda_d * (1 - mean_i cos)``: the same
gradient as ours, with the loss value offset by the constant ``lambda_d``. ``J_c`` is
taken in the same training-mode forward pass as the cross-entropy (one
forward, one input gradient, then double backpropagation to the weights).
With BatchNorm in training mode ``J_c`` includes the (small) dependence of
the batch statistics on ``x_i``, as in any double-backprop implementation.

Batches carry their targets: the pipeline yields ``((x, target), y)``
(:meth:`tfrobust.data.Dataset.pipeline` with ``targets=``). Validation batches
may be plain ``(x, y)``.
"""

from __future__ import annotations

from typing import Any, Literal

import keras
import tensorflow as tf

from tfrobust.attribution import safe_norm
from tfrobust.config import check_bool, parse_number
from tfrobust.registry import register
from tfrobust.training.robust_model import RobustModel

__all__ = ["MAGNITUDES", "InterpretationRegularizedModel", "batch_frobenius", "exact_batchnorm_second_order",
           "flat_cosine"]

_TINY = 1e-12
#: Choices of IR's magnitude term (see the module docstring; the ``magnitude`` annotation lists the same).
MAGNITUDES = ("per_example", "batch")


def _sublayers(layer: Any) -> list[Any]:
    found = []
    for child in getattr(layer, "layers", ()):
        found.append(child)
        found.extend(_sublayers(child))
    return found


def exact_batchnorm_second_order(base: keras.Model) -> int:
    """Makes the BatchNorm layers of ``base`` exact under double backpropagation.

    ``tf.nn.moments`` (Keras's default BatchNorm statistics) computes the
    variance as ``mean((x - stop_gradient(mean))^2)``: exact to first order,
    but a gradient *of a gradient* through it drops the ``-1/n`` coupling
    term of the batch mean, so IR/JR weight gradients with BatchNorm in
    training mode would not be the derivative of their loss (our
    finite-difference test fails by up to ~50 % on a batch of 8). Keras's
    ``synchronized=True`` statistics, ``E[x^2] - E[x]^2`` without a stopped
    gradient, are exact; this switches every BatchNorm layer to them. The
    forward values are the same up to rounding; under a ``tf.distribute``
    strategy the statistics become global-batch (synchronized BatchNorm).

    Args:
        base: the model; changed in place.

    Returns:
        The number of BatchNorm layers switched.
    """
    count = 0
    for layer in _sublayers(base):
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            count += 1
    return count


def _norms(v: tf.Tensor) -> tf.Tensor:
    """(N,) l2 norms of the flattened rows of ``v`` (:func:`safe_norm`: no NaN at 0)."""
    return safe_norm(tf.reshape(v, (tf.shape(v)[0], -1)), axis=1)


def batch_frobenius(v: tf.Tensor) -> tf.Tensor:
    """Frobenius norm of a whole batch, ``sqrt(sum_i ||v_i||^2)``; value and gradient finite at 0."""
    return safe_norm(tf.reshape(v, (-1,)), axis=0)


def flat_cosine(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Cosine between the flattened maps of each example; 0 where either is zero.

    Args:
        a: (N, ...) maps.
        b: (N, ...) maps of the same size.

    Returns:
        (N,) cosines in [-1, 1], finite with finite gradients even for zero maps.
    """
    n = tf.shape(a)[0]
    a = tf.reshape(a, (n, -1))
    b = tf.reshape(tf.cast(b, a.dtype), (n, -1))
    dot = tf.reduce_sum(a * b, axis=1)
    return dot / tf.maximum(_norms(a) * _norms(b), _TINY)


@register("methods", "ir")
@keras.saving.register_keras_serializable(package="tfrobust")
class InterpretationRegularizedModel(RobustModel):
    """Interpretation Regularization: align label-logit gradients with target maps (Noack eq. 9).

    Metrics (training only): ``ir_penalty`` (the added loss,
    ``-lambda_d * cos + lambda_m * M``), ``target_cosine`` (mean cosine
    between ``J_c(x)`` and the target) and ``label_jacobian_norm`` (mean
    ``||J_c(x)||_2``, whatever ``magnitude`` is). ``loss`` is cross-entropy
    plus ``ir_penalty``.

    Args:
        base: a Keras classifier returning logits.
        lambda_d: weight of the alignment term (>= 0; Noack MNIST 3.0,
            CIFAR-10 0.75).
        lambda_m: weight of the gradient-magnitude term (>= 0; Noack MNIST
            0.15, CIFAR-10 0.005 or 0.02).
        magnitude: the term ``lambda_m`` multiplies: ``"per_example"``
            (default; mean over the batch of each example's ``||J_c||_2``)
            or ``"batch"`` (Frobenius norm of the batch's stacked ``J_c``,
            the authors' code; see the module docstring).
        exact_batchnorm: switch the base's BatchNorm layers to statistics
            with exact second derivatives (see
            :func:`exact_batchnorm_second_order`; default True).
        targets: the target maps of a training run (a ``tfrobust saliency
            --split train`` directory or its ``.npy``). A data option: the
            run streams the maps with the batches (``data_options``); the
            wrapper ignores the value.

    Example:
        >>> ir = InterpretationRegularizedModel(base, lambda_d=3.0, lambda_m=0.15)
        >>> ir.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...            metrics=["accuracy"])
        >>> ir.fit(train.pipeline(64, shuffle=True, targets=maps), validation_data=test.pipeline(64))

    Ref: Noack et al. 2021, eq. 9, sec. 4.2-4.3.
    """

    extra_loss_names = ("ir_penalty",)
    extra_metric_names = ("target_cosine", "label_jacobian_norm")
    data_options = ("targets",)  # the target-map directory streamed with the batches (run.py)

    def __init__(self, base: keras.Model, *, lambda_d: float = 3.0, lambda_m: float = 0.15,
                 magnitude: Literal["per_example", "batch"] = "per_example", exact_batchnorm: bool = True,
                 targets: str | None = None, **kwargs: Any) -> None:
        super().__init__(base, **kwargs)
        del targets  # streamed with the batches by the run (data_options)
        self.lambda_d = parse_number(lambda_d, name="lambda_d", minimum=0, float32=True)
        self.lambda_m = parse_number(lambda_m, name="lambda_m", minimum=0, float32=True)
        if magnitude not in MAGNITUDES:
            raise ValueError(f"magnitude must be one of {', '.join(MAGNITUDES)}, got {magnitude!r}")
        self.magnitude = magnitude
        self.exact_batchnorm = check_bool(exact_batchnorm, name="exact_batchnorm")
        if self.exact_batchnorm:
            exact_batchnorm_second_order(base)

    def split_inputs(self, x: Any) -> tuple[Any, Any]:
        """``(image, target)`` batches give the target as side data; plain images give none."""
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise ValueError(
                    "interpretation regularization expects batches ((x, target), y); "
                    f"got {len(x)} input tensors")
            return x[0], x[1]
        return x, None

    def input_gradient_objectives(self, logits: Any, y: Any) -> tuple[Any, ...]:
        """The sum over the batch of each example's label logit (its gradient is J_c)."""
        labels = tf.reshape(tf.cast(y, tf.int32), (-1,))
        return (tf.reduce_sum(tf.gather(logits, labels, axis=1, batch_dims=1)),)

    def regularization(self, x: Any, y: Any, logits: Any, **context: Any) -> dict[str, Any]:
        side = context.get("side")
        if side is None:
            raise ValueError(
                "interpretation regularization needs target maps with every training batch: "
                "build the pipeline with targets= (CLI: tfrobust train --method ir --targets DIR)")
        (label_gradient,) = context["input_gradients"]
        target = tf.cast(side, label_gradient.dtype)
        if target.shape.rank is not None and label_gradient.shape.rank is not None \
                and target.shape.rank != label_gradient.shape.rank:
            raise ValueError(
                f"target maps have shape {tuple(target.shape)} but the inputs {tuple(label_gradient.shape)}")
        cos = tf.reduce_mean(flat_cosine(label_gradient, target))
        norm = tf.reduce_mean(_norms(label_gradient))
        size = batch_frobenius(label_gradient) if self.magnitude == "batch" else norm
        penalty = -self.lambda_d * cos + self.lambda_m * size
        return {"ir_penalty": penalty, "target_cosine": cos, "label_jacobian_norm": norm}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(lambda_d=self.lambda_d, lambda_m=self.lambda_m, magnitude=self.magnitude,
                      exact_batchnorm=self.exact_batchnorm)
        return config
