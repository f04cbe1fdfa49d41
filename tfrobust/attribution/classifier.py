"""Any Keras classifier as a one-tensor logits model: :func:`as_classifier`.

Attacks, attributions and the training wrappers need a function
``x (N, ...) -> logits (N, K)``. Real projects build classifiers with a
named or dict input, several outputs (a class head and an auxiliary head) or
a final softmax. :func:`as_classifier` turns such a functional (or
``Sequential``) Keras model into a functional model with one tensor input and
the logits as its only output, sharing the original model's layers and
weights (nothing is copied):

- ``logits=`` picks the output (by name, as in ``model.output_names``, or by
  index into that list) when the model has several;
- ``inputs=`` picks the image input by name when the model takes several
  inputs; the logits must then not depend on the other inputs (the training
  wrappers pass the other inputs through instead, see
  :func:`bind_inputs`);
- a final softmax that is its own layer or op (``keras.layers.Softmax``,
  ``Activation("softmax")``, ``keras.ops.softmax``) is removed: the logits
  are that layer's input tensor, exactly. A softmax fused into a layer
  (``Dense(..., activation="softmax")``) cannot be undone and is refused
  with one line saying how to rebuild the model: gradient attacks on
  probabilities saturate and would overstate robustness.

Subclassed models (``call`` written in Python) cannot be introspected: they
are returned unchanged and must take one tensor and return (N, K) logits
themselves. Plain callables and layers are returned unchanged too.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

__all__ = ["ClassifierView", "as_classifier", "bind_inputs", "input_names", "is_graph_model", "output_names"]

_FIX = "build the model with activation=None and apply softmax in the loss (from_logits=True)"

# model -> {(logits, inputs): classifier, or None meaning "the model itself"}
_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple[Any, Any], Any]] = weakref.WeakKeyDictionary()


def is_graph_model(model: Any) -> bool:
    """True for a Keras model whose layer graph can be read (functional or built ``Sequential``)."""
    if not isinstance(model, keras.Model):
        return False
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):  # subclassed, or a Sequential without an input shape yet
        return False


def output_names(model: keras.Model) -> list[str]:
    """The names of a graph model's outputs, in the order of ``model.outputs`` (what ``logits=`` indexes)."""
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(model.outputs):
        names = [t._keras_history.operation.name for t in model.outputs]
    return names


def input_names(model: keras.Model) -> list[str]:
    """The names of a graph model's inputs, in the order of ``model.inputs`` (dict keys where the input is a dict)."""
    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, Mapping) and len(struct) == len(model.inputs):
        by_id = {id(t): str(k) for k, t in struct.items()}
        return [by_id.get(id(t), t.name) for t in model.inputs]
    return [t.name for t in model.inputs]


def _choose_output(model: keras.Model, logits: str | int | None) -> tuple[Any, str]:
    names = output_names(model)
    outputs = list(model.outputs)
    if logits is None:
        if len(outputs) == 1:
            return outputs[0], names[0]
        raise ValueError(f"model has {len(outputs)} outputs {names}; choose the logits with logits=<name or index> "
                         f"(e.g. logits={names[0]!r})")
    if isinstance(logits, bool) or not isinstance(logits, (int, str)):
        raise ValueError(f"logits must be an output name or index, got {logits!r}")
    if isinstance(logits, int):
        if not -len(outputs) <= logits < len(outputs):
            raise ValueError(f"logits={logits} is out of range: model has {len(outputs)} outputs {names}")
        return outputs[logits], names[logits]
    if logits not in names:
        raise ValueError(f"logits={logits!r} is not an output of the model; its outputs are {names}")
    i = names.index(logits)
    return outputs[i], names[i]


def _choose_input(model: keras.Model, inputs: str | None) -> tuple[Any, str]:
    names = input_names(model)
    tensors = list(model.inputs)
    if inputs is None:
        if len(tensors) == 1:
            return tensors[0], names[0]
        raise ValueError(f"model has {len(tensors)} inputs {names}; choose the image input with inputs=<name> "
                         f"(e.g. inputs={names[0]!r})")
    if not isinstance(inputs, str):
        raise ValueError(f"inputs must be an input name, got {inputs!r}")
    if inputs not in names:
        raise ValueError(f"inputs={inputs!r} is not an input of the model; its inputs are {names}")
    i = names.index(inputs)
    return tensors[i], names[i]


def _activation_name(op: Any) -> str:
    activation = getattr(op, "activation", None)
    return str(getattr(activation, "__name__", "")) if activation is not None else ""


def _softmax_input(tensor: Any, name: str) -> Any:
    """The pre-softmax tensor when ``tensor`` is a separate softmax's output; ``tensor`` when no softmax.

    Raises:
        ValueError: the softmax is fused into the layer that makes ``tensor``.
    """
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return tensor
    op, node_index, tensor_index = history
    separate = (isinstance(op, keras.layers.Softmax)
                or (isinstance(op, keras.layers.Activation) and _activation_name(op) == "softmax")
                or (not isinstance(op, keras.layers.Layer) and type(op).__name__ == "Softmax"))
    if separate:
        node = op._inbound_nodes[node_index]
        inputs = list(node.input_tensors)
        if len(inputs) == 1:
            return inputs[0]
        raise ValueError(f"output {name!r} ends in softmax layer {op.name!r} whose input cannot be isolated; {_FIX}")
    if isinstance(op, keras.Model) and is_graph_model(op) and len(op.outputs) == 1:
        inner = op.outputs[0]
        if _softmax_input(inner, name) is not inner:  # a nested model ending in a separate softmax
            node = op._inbound_nodes[node_index]
            inner_logits = as_classifier(op)
            return inner_logits(node.input_tensors[0]) if len(node.input_tensors) == 1 else tensor
        return tensor
    if _activation_name(op) == "softmax":
        raise ValueError(f"output {name!r} comes from layer {op.name!r} with activation='softmax' (probabilities, "
                         f"not logits); {_FIX}")
    del tensor_index
    return tensor


def as_classifier(model: Any, *, logits: str | int | None = None, inputs: str | None = None) -> Any:
    """``model`` as a functional model ``x (N, ...) -> logits (N, K)`` that shares its weights.

    Args:
        model: a ``keras.Model`` (functional, ``Sequential``, or subclassed),
            a Keras layer, or any callable ``x -> logits``.
        logits: the output holding the logits, by name (``model.output_names``)
            or index; needed when the model has several outputs.
        inputs: the image input, by name, when the model has several inputs.

    Returns:
        ``model`` itself when it already maps one tensor to one (N, K)
        logits output (and for subclassed models, layers and callables,
        which cannot be introspected); otherwise a new functional
        ``keras.Model`` built on ``model``'s layers. Cached per model
        (weakly), so repeated calls return the same object.

    Raises:
        ValueError: several outputs (or inputs) and no choice, an unknown
            choice, a softmax fused into the output layer, or logits that
            depend on inputs other than the chosen one (one line each).
    """
    if not is_graph_model(model):
        if logits is not None or inputs is not None:
            if isinstance(model, keras.Model):
                raise ValueError(f"logits=/inputs= need a functional or Sequential model; {type(model).__name__} "
                                 "is subclassed: make its call() take one tensor and return the logits")
        return model
    key = (logits, inputs)
    try:
        per_model = _CACHE.setdefault(model, {})
    except TypeError:
        per_model = {}
    if key in per_model:
        cached = per_model[key]
        return model if cached is None else cached
    result = _build(model, logits, inputs)
    per_model[key] = None if result is model else result
    return result


def _build(model: keras.Model, logits: str | int | None, inputs: str | None) -> keras.Model:
    out, out_name = _choose_output(model, logits)
    inp, inp_name = _choose_input(model, inputs)
    target = _softmax_input(out, out_name)
    if len(target.shape) != 2:
        raise ValueError(f"output {out_name!r} has shape {tuple(target.shape)}; logits must be (N, K)")
    plain = (target is out and len(model.outputs) == 1 and len(model.inputs) == 1
             and not isinstance(getattr(model, "_inputs_struct", None), (Mapping, list, tuple))
             and not isinstance(getattr(model, "_outputs_struct", None), (Mapping, list, tuple)))
    if plain:
        return model
    try:
        return keras.Model(inp, target, name=f"{model.name}_logits")
    except ValueError:
        others = [n for n in input_names(model) if n != inp_name]
        raise ValueError(f"output {out_name!r} depends on inputs {others} besides {inp_name!r}; attacks and "
                         "attributions need logits of the image alone (the training wrappers pass the other "
                         "inputs through when x is a dict)") from None


def bind_inputs(model: keras.Model, *, logits: str | int | None = None, inputs: str | None = None) -> Any:
    """The logits of ``model`` as a function of all its inputs: (model with the logits output, image input name).

    For a graph model with several inputs: returns ``(full, name)`` where
    ``full`` maps the model's whole input structure (a dict by input name)
    to the chosen, softmax-free logits, and ``name`` is the image input. For
    one input, ``full`` is :func:`as_classifier`'s model and ``name`` its
    input's name (or None for models that cannot be introspected).
    """
    if not is_graph_model(model):
        return as_classifier(model, logits=logits, inputs=inputs), None
    out, out_name = _choose_output(model, logits)
    _, inp_name = _choose_input(model, inputs)
    if len(model.inputs) == 1:
        return as_classifier(model, logits=logits, inputs=inputs), inp_name
    target = _softmax_input(out, out_name)
    struct = dict(zip(input_names(model), model.inputs))
    return keras.Model(struct, target, name=f"{model.name}_logits_all_inputs"), inp_name


def _class_labels(y: Any, what: str) -> Any:
    """(N,) int32 class labels from int (N,) / (N, 1) labels or one-hot / probability (N, K) labels."""
    y = tf.convert_to_tensor(y)
    if y.shape.rank == 2 and y.shape[-1] == 1:
        y = tf.reshape(y, [-1])
    elif y.shape.rank == 2:
        y = tf.argmax(y, axis=-1)
    elif y.shape.rank != 1:
        raise ValueError(f"{what} must be (N,) class labels or (N, K) one-hot labels, got shape {tuple(y.shape)}")
    return tf.cast(y, tf.int32)


class ClassifierView:
    """How a training wrapper reads one classifier: which input is the image, which output the logits.

    Built once per wrapper (not a Keras layer: it tracks nothing and is not
    saved). For a graph model it keeps a functional "twin" sharing the base's
    layers that returns, in ONE forward pass, every output of the base (what
    the compiled loss and metrics see) and the chosen output's logits (the
    pre-softmax tensor when the model ends in a separate softmax; what
    attacks and regularizers see). Subclassed bases are used as they are:
    one tensor in, logits out.

    Args:
        base: the wrapped model.
        logits: the logits output, by name or index (see :func:`as_classifier`).
        inputs: the image input, by name.

    Raises:
        ValueError: as :func:`as_classifier` (ambiguous outputs or inputs, fused softmax).
    """

    def __init__(self, base: Any, *, logits: str | int | None = None, inputs: str | None = None) -> None:
        self.base = base
        self.graph = is_graph_model(base)
        self.classifier: Any = None
        self.twin: Any = None
        self._all_inputs: Any = None
        if not self.graph:
            self.classifier = as_classifier(base, logits=logits, inputs=inputs)
            self.image_key: str | None = None
            self.output_name: str | None = None
            self.input_names: list[str] = []
            self.plain = True
            return
        out, self.output_name = _choose_output(base, logits)
        _, self.image_key = _choose_input(base, inputs)
        self.input_names = input_names(base)
        self.names = output_names(base)
        target = _softmax_input(out, self.output_name)
        if len(target.shape) != 2:
            raise ValueError(f"output {self.output_name!r} has shape {tuple(target.shape)}; logits must be (N, K)")
        try:
            self.classifier = as_classifier(base, logits=logits, inputs=inputs)
        except ValueError:  # logits depend on other inputs too: bound per batch
            self.classifier = None
        self.plain = self.classifier is base
        self.twin = None if self.plain else keras.Model(
            dict(zip(self.input_names, base.inputs)), [*base.outputs, target], name=f"{base.name}_twin")

    # ------------------------------------------------------------- batches
    def split(self, x: Any) -> tuple[Any, dict[str, Any]]:
        """``(image, rest)`` of a batch's ``x``: a tensor is the image; a dict gives its image key and other inputs."""
        if isinstance(x, Mapping):
            if not self.graph:
                raise ValueError(f"x is a dict with keys {sorted(x)} but the model is subclassed; "
                                 "give one image tensor, or build a functional model with named inputs")
            if self.image_key not in x:
                raise ValueError(f"x is a dict with keys {sorted(x)}; it needs the image input {self.image_key!r} "
                                 "(choose another with inputs=<name>)")
            missing = [n for n in self.input_names if n not in x]
            if missing:
                raise ValueError(f"x is a dict with keys {sorted(x)}; the model also needs {missing}")
            return x[self.image_key], {n: x[n] for n in self.input_names if n != self.image_key}
        if self.graph and len(self.input_names) > 1:
            raise ValueError(f"the model takes inputs {self.input_names}: give x as a dict with those keys")
        return x, {}

    def labels(self, y: Any) -> Any:
        """(N,) int32 labels of the logits output (a dict ``y`` gives its entry for that output)."""
        if isinstance(y, Mapping):
            if self.output_name not in y:
                raise ValueError(f"y is a dict with keys {sorted(y)}; it needs the labels of the logits output "
                                 f"{self.output_name!r}")
            return _class_labels(y[self.output_name], f"y[{self.output_name!r}]")
        return _class_labels(y, "y")

    def loss_view(self, outputs: Any, y: Any) -> Any:
        """What the compiled loss and metrics see: the chosen output, or every output ``y`` (a dict) names."""
        if not isinstance(y, Mapping) or not self.graph:
            return outputs[self.output_name] if self.graph else outputs
        unknown = [k for k in y if k not in outputs]
        if unknown:
            raise ValueError(f"y has keys {unknown} that are not outputs of the model; its outputs are {self.names}")
        return {k: outputs[k] for k in y}

    # ------------------------------------------------------------- forward
    def forward(self, image: Any, rest: Mapping[str, Any] | None = None, *, training: bool = False
                ) -> tuple[Any, Any]:
        """``(outputs, logits)`` in one pass: every output by name (graph models) and the chosen logits."""
        if self.plain:
            out = self.base(image, training=training)
            return ({self.output_name: out} if self.graph else out), out
        feed: dict[Any, Any] = {**(rest or {}), self.image_key: image}
        values = self.twin(feed, training=training)
        return dict(zip(self.names, values[:-1])), values[-1]

    def logits(self, image: Any, rest: Mapping[str, Any] | None = None, *, training: bool = False) -> Any:
        """The chosen logits of ``image`` (other inputs from ``rest``, when the logits depend on them)."""
        if self.classifier is not None:
            return self.classifier(image, training=training)
        return self.forward(image, rest, training=training)[1]

    def logits_fn(self, rest: Mapping[str, Any] | None = None) -> Any:
        """A callable ``image -> logits`` in inference mode, for attacks (a stable model when the logits depend
        on the image alone; else a function of the image with ``rest`` bound, for batches of ``rest``'s rows)."""
        if self.classifier is not None:
            return self.classifier

        def logits(image: Any) -> Any:
            return self.logits(image, rest, training=False)

        return logits

    def export_model(self) -> Any:
        """The model to serve: image -> logits, or (when the logits need other inputs) all inputs -> logits."""
        if self.classifier is not None:
            return self.classifier
        if self._all_inputs is None:  # built once: each access must not add a model to the graph
            self._all_inputs = keras.Model(dict(zip(self.input_names, self.base.inputs)), self.twin.outputs[-1],
                                           name=f"{self.base.name}_logits")
        return self._all_inputs
