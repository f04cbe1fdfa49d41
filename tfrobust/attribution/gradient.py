"""Gradient attributions: loss gradient, gradient x input, logit gradient.

Ref: Kim et al. 2019, sec. 3.2 (loss gradient ``g_G`` and Gradient * Input
``g_GX`` with the cross-entropy loss); Noack et al. 2021, sec. 2.1 / 3.1 (the
simple gradient of the label's logit, one column ``J_c`` of the Jacobian).

Every function runs the model with ``training=False`` (no dropout, no
BatchNorm updates) inside one compiled ``tf.function`` cached per model, so
repeated calls do not retrace. Pass a long-lived ``keras.Model`` (or
function), not a fresh lambda per call.

Called eagerly, every function refuses NaN/inf inputs, labels that are not
integers in [0, K) (K: the model's number of logits) and non-finite results,
with a one-line ValueError; traced (inside a ``train_step``) these checks are
skipped.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import keras
import tensorflow as tf

from tfrobust.attribution.checks import check_finite, check_labels, num_logits
from tfrobust.attribution.classifier import as_classifier
from tfrobust.registry import register

__all__ = ["BASE_MAPS", "cached_functions", "call_model", "check_map", "compiled", "gradient", "gradient_input",
           "logit_gradient", "prepare"]

ModelFn = Callable[[tf.Tensor], tf.Tensor]
MapFn = Callable[[ModelFn, tf.Tensor, tf.Tensor], tf.Tensor]

# model callable -> {static key: compiled function}
_COMPILED: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()


def call_model(model_fn: ModelFn, x: tf.Tensor) -> tf.Tensor:
    """Logits of ``x``; Keras models and layers run with ``training=False``.

    The home of the model call of attributions and attacks: ``attacks``
    builds on this layer (docs/architecture.md, Layers) and imports it.
    A functional model is called through
    :func:`~tfrobust.attribution.classifier.as_classifier` (one named or
    dict input, a separate final softmax removed); one with several outputs
    must be wrapped with ``as_classifier(model, logits=...)`` first.
    """
    model_fn = as_classifier(model_fn)
    if isinstance(model_fn, keras.layers.Layer):
        return model_fn(x, training=False)
    return model_fn(x)


def compiled(model_fn: ModelFn, key: tuple[Any, ...], build: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    """``build()`` wrapped in ``tf.function`` and cached per model callable.

    Inside a function that is already being traced the plain function is
    returned so its ops are inlined into the caller's graph.
    """
    if not tf.executing_eagerly():
        return build()
    try:
        per_model = _COMPILED.setdefault(model_fn, {})
    except TypeError:  # not weak-referenceable: compile without caching
        return tf.function(build(), reduce_retracing=True)
    fn = per_model.get(key)
    if fn is None:
        fn = per_model[key] = tf.function(build(), reduce_retracing=True)
    return fn


def cached_functions(model_fn: ModelFn) -> dict[tuple[Any, ...], Any]:
    """A copy of the compiled functions :func:`compiled` cached for ``model_fn``, by key (for diagnostics)."""
    try:
        return dict(_COMPILED.get(model_fn, {}))
    except TypeError:  # not weak-referenceable: nothing is cached
        return {}


def prepare(x: Any, y: Any, model: Any = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Convert and check ``x`` (N, ...) float32 and ``y`` (N,) int32 labels.

    One-hot / probability labels of shape (N, K) are reduced with ``argmax``.
    Called eagerly (one reduction each; skipped when traced) it also refuses
    NaN/inf in ``x`` or ``y`` and labels that are not integers ``>= 0`` and,
    when ``model`` is given, ``< K``, the model's number of logits.

    Raises:
        ValueError: ``x`` is not a finite batch, or ``y`` does not match it
            or is not a valid label (one line, naming the argument).
    """
    if isinstance(x, Mapping):
        raise ValueError(f"x must be one (N, ...) array, got a dict with keys {sorted(x)}; pass the image array "
                         "and choose the model's input with as_classifier(model, inputs=<name>)")
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.convert_to_tensor(y)
    if x.shape.rank is None or x.shape.rank < 2:
        raise ValueError(f"x must be a batch (N, ...), got shape {x.shape}")
    check_finite(x, "x")
    if y.shape.rank == 2:
        check_finite(y, "y")
        y = tf.argmax(y, axis=-1)
    k = num_logits(model, x) if model is not None and tf.executing_eagerly() and x.shape[0] else None
    return x, check_labels(y, x.shape[0], k)


def _loss_gradient(model_fn: ModelFn, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as input_tape:
        input_tape.watch(x)
        logits = tf.cast(call_model(model_fn, x), tf.float32)
        # Sum of per-example losses: each example's gradient is its own.
        total = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return input_tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _gradient_input(model_fn: ModelFn, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    return x * _loss_gradient(model_fn, x, y)


def _logit_gradient(model_fn: ModelFn, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as input_tape:
        input_tape.watch(x)
        logits = tf.cast(call_model(model_fn, x), tf.float32)
        total = tf.reduce_sum(tf.gather(logits, y, axis=1, batch_dims=1))
    return input_tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)


#: Traceable map functions ``(model_fn, x, y) -> (N, ...)`` by registry name;
#: the bases that :func:`tfrobust.attribution.smoothgrad.smoothgrad` accepts.
BASE_MAPS: dict[str, MapFn] = {
    "gradient": _loss_gradient,
    "gradient_input": _gradient_input,
    "logit_gradient": _logit_gradient,
}


def _run(name: str, model_fn: ModelFn, x: Any, y: Any) -> tf.Tensor:
    x, y = prepare(x, y, model_fn)
    base = BASE_MAPS[name]

    def build() -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
        def attribute(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            return base(model_fn, x, y)

        return attribute

    maps = compiled(model_fn, ("map", name), build)(x, y)
    check_map(maps, name)
    return maps


def check_map(maps: tf.Tensor, name: str) -> None:
    """Eagerly: a map with NaN/inf (from non-finite logits or gradients) is an error, never returned."""
    check_finite(maps, f"the {name} map", hint="the model's logits or gradients are not finite there")


@register("attributions", "gradient")
def gradient(model: ModelFn, x: Any, y: Any) -> tf.Tensor:
    """Loss gradient ``g_G = d CE(f(x), y) / dx`` per example.

    The cross-entropy of each example is differentiated on its own (the
    batch loss is the sum, not the mean, of per-example losses).

    Args:
        model: maps (N, ...) inputs to (N, K) logits; a ``keras.Model`` runs
            with ``training=False``.
        x: (N, H, W, C) (or any (N, ...)) float32 inputs in data units;
            numpy or tensor, never modified.
        y: (N,) int class labels (one-hot (N, K) is reduced with argmax).

    Returns:
        (N, ...) float32 tensor, same shape as ``x``, in loss units per data unit.

    Ref: Kim et al. 2019, sec. 3.2 (``g_G``).
    """
    return _run("gradient", model, x, y)


@register("attributions", "gradient_input")
def gradient_input(model: ModelFn, x: Any, y: Any) -> tf.Tensor:
    """Gradient * Input ``g_GX = x * d CE(f(x), y) / dx`` (element-wise).

    Args:
        model: maps (N, ...) inputs to (N, K) logits; run with ``training=False``.
        x: (N, H, W, C) (or any (N, ...)) float32 inputs; never modified.
        y: (N,) int class labels.

    Returns:
        (N, ...) float32 tensor, same shape as ``x``.

    Ref: Kim et al. 2019, sec. 3.2 (``g_GX``); Shrikumar et al. 2017.
    """
    return _run("gradient_input", model, x, y)


@register("attributions", "logit_gradient")
def logit_gradient(model: ModelFn, x: Any, y: Any) -> tf.Tensor:
    """Gradient of the label's logit ``d z_y / dx`` (Noack's simple gradient).

    Args:
        model: maps (N, ...) inputs to (N, K) logits; run with ``training=False``.
        x: (N, H, W, C) (or any (N, ...)) float32 inputs; never modified.
        y: (N,) int class labels; ``z_y`` is the logit of class ``y``.

    Returns:
        (N, ...) float32 tensor, same shape as ``x``, in logit units per data unit.

    Ref: Noack et al. 2021, sec. 2.1 and 3.1 (``J_c``, the label's column of
    the logit Jacobian).
    """
    return _run("logit_gradient", model, x, y)
