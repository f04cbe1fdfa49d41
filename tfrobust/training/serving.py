"""A SavedModel that serves logits and explanations: :func:`export_serving`.

The export is a plain TensorFlow SavedModel (``tf.Module`` with
``tf.function`` signatures): TF Serving can serve it and
``tf.saved_model.load`` reads it in a process that has neither tfrobust nor
the model's Python code. Its signatures (all with a dynamic batch size):

=================  ===========================  ======================================
signature          inputs                       output (same shape as ``x`` unless noted)
=================  ===========================  ======================================
serving_default    ``x`` float32 (N, ...)       ``logits`` (N, K)
loss_gradient      ``x``, ``y`` int64 (N,)      ``loss_gradient``: d CE(f(x), y) / dx
logit_gradient     ``x``, ``y``                 ``logit_gradient``: d f(x)_y / dx
smoothgrad         ``x``, ``y``                 ``smoothgrad``: mean over the fixed
                                                number of noisy copies of the logit
                                                gradient
=================  ===========================  ======================================

They compute exactly what :func:`tfrobust.attribution.gradient`,
:func:`~tfrobust.attribution.logit_gradient` and
:func:`~tfrobust.attribution.smoothgrad` (``base="logit_gradient"``, no
clipping, ``sigma = smoothgrad_noise * (hi - lo)``, ``seed =
smoothgrad_seed``) compute, using the same code: the noise of sample ``s``
is ``stateless_normal(shape(x), fold_in(seed, s))``, so a served SmoothGrad
map is reproducible, but (as in tfrobust) depends on the batch's shape, not
only on the example. Labels outside [0, K) and a ``y`` whose length is not
``x``'s are refused with an InvalidArgumentError. The module also has the
``serve`` function (``x -> logits``), as Keras' own export has.

What was exported is recorded in ``assets/tfrobust_serving.json`` (signature
names and their inputs and outputs, the SmoothGrad settings, the bounds,
the input shape and number of classes) and in the export marker
(:data:`tfrobust.training.artifacts.EXPORT_MARKER`). The directory is
written atomically with the guarantees of
:func:`tfrobust.training.artifacts.write_export`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tfrobust.attribution.classifier import as_classifier, is_graph_model
from tfrobust.attribution.gradient import BASE_MAPS
from tfrobust.attribution.smoothgrad import DEFAULT_CHUNK, seed_tensor, smoothgrad_builder
from tfrobust.config import check_int
from tfrobust.training.artifacts import write_export

__all__ = ["SERVING_INFO", "SIGNATURES", "export_serving", "serving_classifier"]

#: The signature names an export from :func:`export_serving` has.
SIGNATURES = ("serving_default", "loss_gradient", "logit_gradient", "smoothgrad")

#: The file (under ``assets/``) that records what :func:`export_serving` exported.
SERVING_INFO = "tfrobust_serving.json"


def serving_classifier(model: Any, *, logits: str | int | None = None, inputs: str | None = None) -> keras.Model:
    """The one-tensor logits model an export serves.

    A training wrapper (:class:`tfrobust.training.robust_model.RobustModel`)
    is replaced by its ``base``, and its own ``logits``/``inputs`` choices are
    used where the arguments are None; then
    :func:`~tfrobust.attribution.classifier.as_classifier` picks the logits
    and the image input (and removes a separate final softmax).

    Raises:
        ValueError: not a Keras model, an ambiguous or unknown choice, or a
            model whose input shape cannot be read (one line).
    """
    from tfrobust.training.robust_model import RobustModel

    if isinstance(model, RobustModel):
        logits = getattr(model, "logits_choice", None) if logits is None else logits
        inputs = getattr(model, "inputs_choice", None) if inputs is None else inputs
        model = model.base
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    classifier = as_classifier(model, logits=logits, inputs=inputs)
    if not is_graph_model(classifier) or len(classifier.inputs) != 1:
        raise ValueError(f"cannot export {type(model).__name__} {model.name!r}: its input shape is unknown; "
                         "build it as a functional or Sequential model starting with keras.Input")
    out_shape = tuple(classifier.outputs[0].shape)
    if len(out_shape) != 2 or not isinstance(out_shape[-1], int):
        raise ValueError(f"cannot export {model.name!r}: logits must be (N, K), got {out_shape}")
    return classifier


def _settings(samples: Any, noise: Any, bounds: Any, seed: Any) -> tuple[int, float, tuple[float, float]]:
    n = check_int(samples, name="smoothgrad_samples", minimum=1)
    try:
        level = float(noise)
    except (TypeError, ValueError):
        raise ValueError(f"smoothgrad_noise must be a number >= 0, got {noise!r}") from None
    if not math.isfinite(level) or level < 0:
        raise ValueError(f"smoothgrad_noise must be a finite number >= 0, got {noise!r}")
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be two numbers (lo, hi), got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds must be finite with lo < hi, got {bounds!r}")
    seed_tensor(seed)  # refuses a seed that is not an int or a pair of ints
    return n, level, (lo, hi)


class _Explainer(tf.Module):
    """The exported module: the classifier's variables and the serving functions."""

    def __init__(self, classifier: keras.Model, *, samples: int, sigma: float, seed: Any) -> None:
        super().__init__(name="tfrobust_serving")
        self.classifier = classifier
        self.classifier_variables = list(classifier.variables)  # tracked explicitly, as Keras' export does
        shape = [None, *classifier.inputs[0].shape[1:]]
        num_classes = int(classifier.outputs[0].shape[-1])
        x_spec = tf.TensorSpec(shape, tf.float32, name="x")
        y_spec = tf.TensorSpec([None], tf.int64, name="y")
        chunk = min(samples, DEFAULT_CHUNK)
        smooth = smoothgrad_builder(classifier, "logit_gradient", chunk, None)()
        seed_value = seed_tensor(seed).numpy().tolist()

        def logits_of(x: tf.Tensor) -> tf.Tensor:
            return tf.cast(classifier(x, training=False), tf.float32)

        def labels(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            checks = [
                tf.debugging.assert_equal(tf.shape(y)[0], tf.shape(x)[0], message="y must have one label per x"),
                tf.debugging.assert_non_negative(y, message="labels y must be >= 0"),
                tf.debugging.assert_less(y, tf.constant(num_classes, tf.int64),
                                         message=f"labels y must be < {num_classes} (the number of classes)"),
            ]
            with tf.control_dependencies(checks):
                return tf.cast(tf.identity(y), tf.int32)

        def serve(x: tf.Tensor) -> tf.Tensor:
            return logits_of(x)

        def serving_default(x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"logits": logits_of(x)}

        def loss_gradient(x: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"loss_gradient": BASE_MAPS["gradient"](classifier, x, labels(x, y))}

        def logit_gradient(x: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"logit_gradient": BASE_MAPS["logit_gradient"](classifier, x, labels(x, y))}

        def smoothgrad(x: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
            maps = smooth(x, labels(x, y), tf.constant(sigma, tf.float32), tf.constant(samples, tf.int32),
                          tf.constant(seed_value, tf.int64))
            return {"smoothgrad": maps}

        self.serve = tf.function(serve, input_signature=[x_spec])
        self.serving_default = tf.function(serving_default, input_signature=[x_spec])
        self.loss_gradient = tf.function(loss_gradient, input_signature=[x_spec, y_spec])
        self.logit_gradient = tf.function(logit_gradient, input_signature=[x_spec, y_spec])
        self.smoothgrad = tf.function(smoothgrad, input_signature=[x_spec, y_spec])

    def signatures(self) -> dict[str, Any]:
        return {name: getattr(self, name).get_concrete_function() for name in SIGNATURES}


def export_serving(model: Any, path: str | os.PathLike, *, logits: str | int | None = None,
                   inputs: str | None = None, smoothgrad_samples: int = 50, smoothgrad_noise: float = 0.15,
                   bounds: tuple[float, float] = (0.0, 1.0), smoothgrad_seed: int | tuple[int, int] = 0,
                   protect: Iterable[str | os.PathLike] = ()) -> Path:
    """Writes a SavedModel serving the logits and the loss, logit and SmoothGrad gradients of ``model``.

    Args:
        model: a Keras classifier (functional or ``Sequential``; several
            inputs/outputs and a final softmax layer are handled as by
            :func:`~tfrobust.attribution.classifier.as_classifier`) or a
            training wrapper (its ``base`` is exported).
        path: the SavedModel directory: absent, empty, or an earlier export
            (see :func:`tfrobust.training.artifacts.check_export_target`).
        logits: the output holding the logits (name or index) when the
            model has several.
        inputs: the image input (name) when the model has several.
        smoothgrad_samples: noisy copies averaged by ``smoothgrad`` (fixed in the export).
        smoothgrad_noise: noise standard deviation as a fraction of the value
            range: ``sigma = smoothgrad_noise * (bounds[1] - bounds[0])``.
        bounds: the data's value range (lo, hi).
        smoothgrad_seed: the seed of the SmoothGrad noise (fixed in the export).
        protect: paths the export must not replace or contain.

    Returns:
        The SavedModel directory (symlinks resolved).

    Raises:
        ValueError: a bad setting or model, or a refused target (one line).
        OSError: writing failed (one line); the target is unchanged.
    """
    samples, level, (lo, hi) = _settings(smoothgrad_samples, smoothgrad_noise, bounds, smoothgrad_seed)
    classifier = serving_classifier(model, logits=logits, inputs=inputs)
    sigma = level * (hi - lo)
    seed = list(smoothgrad_seed) if isinstance(smoothgrad_seed, (tuple, list)) else smoothgrad_seed
    pair = ["x (float32, (None, ...))", "y (int64 labels, (None,))"]
    info = {
        "signatures": {
            "serving_default": {"inputs": pair[:1], "outputs": ["logits"]},
            "loss_gradient": {"inputs": pair, "outputs": ["loss_gradient"]},
            "logit_gradient": {"inputs": pair, "outputs": ["logit_gradient"]},
            "smoothgrad": {"inputs": pair, "outputs": ["smoothgrad"]},
        },
        "smoothgrad": {"base": "logit_gradient", "samples": samples, "noise": level, "sigma": sigma,
                       "seed": seed, "clip": False, "include_clean": False},
        "bounds": [lo, hi],
        "input_shape": [None if d is None else int(d) for d in classifier.inputs[0].shape[1:]],
        "num_classes": int(classifier.outputs[0].shape[-1]),
    }
    module = _Explainer(classifier, samples=samples, sigma=sigma, seed=smoothgrad_seed)

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="tfrobust-serving-") as scratch:
            info_file = Path(scratch) / SERVING_INFO
            info_file.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            module.info_file = tf.saved_model.Asset(str(info_file))
            tf.saved_model.save(module, str(tmp), signatures=module.signatures())

    return write_export(write, path, protect=protect, metadata={"serving": info})
