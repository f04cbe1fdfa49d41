"""Paper architectures, by registry name (docs/architecture.md, Models).

``MODELS`` is the :mod:`tfrobust.registry` registry of builders: a new
architecture is a function ``fn(input_shape, num_classes, *, <options>)``
decorated ``@register("models", "<name>")`` in a module of this package (or a
plugin's entry point in the ``tfrobust.models`` group).

Every builder returns an *uncompiled* functional ``keras.Model`` named after
its registry key, made of built-in Keras layers only, whose outputs are logits
(no softmax). Models therefore save to ``.keras`` and load back with the
default ``safe_mode=True``, and export to SavedModel with ``model.export``.
Inputs are channels-last float32 in the dataset's own bounds; no model
normalises its input.

==========================  ===================================  =============
name                        source                               natural input
==========================  ===================================  =============
``kim_toy_dnn``             Kim et al. 2019, A.2 (toy DNN)        (2,)
``kim_mnist_cnn``           Kim et al. 2019, A.2 (MNIST / FMNIST) (28, 28, 1)
``kim_cifar_cnn``           Kim et al. 2019, A.2 (CIFAR-10)       (32, 32, 3)
``tf_tutorial_mnist_cnn``   Noack et al. 2021, 4.2; Tsipras A.2   (28, 28, 1)
``madry_cifar_resnet``      Tsipras et al. 2019, A.2              (32, 32, 3)
``wrn_28_10``               Noack et al. 2021, 4.3                (32, 32, 3)
``linear``                  Tsipras et al. 2019, 2.3 / A.2        any
==========================  ===================================  =============

Example:
    >>> model = build_model("kim_mnist_cnn", input_shape=(28, 28, 1), num_classes=10)
    >>> model_options("wrn_28_10")
    {'depth': 28, 'width': 10, 'dropout': 0.3}
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras

from tfrobust.models.kim import kim_cifar_cnn, kim_mnist_cnn, kim_toy_dnn
from tfrobust.models.linear import linear
from tfrobust.models.resnet import madry_cifar_resnet
from tfrobust.models.tutorial import tf_tutorial_mnist_cnn
from tfrobust.models.vaegan import VAEGAN, VAEGANConfig, build_vaegan, kim_vaegan_config
from tfrobust.models.wrn import wrn_28_10
from tfrobust.registry import MODELS

__all__ = [
    "MODELS",
    "VAEGAN",
    "VAEGANConfig",
    "build_vaegan",
    "kim_vaegan_config",
    "build_model",
    "kim_cifar_cnn",
    "kim_mnist_cnn",
    "kim_toy_dnn",
    "linear",
    "madry_cifar_resnet",
    "model_options",
    "tf_tutorial_mnist_cnn",
    "wrn_28_10",
]

def _builder(name: str) -> Callable[..., keras.Model]:
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown arch {name!r}; choose from: {', '.join(MODELS)}")
    return MODELS.load(name)


def _yaml_value(value: Any) -> Any:
    # Tuples become lists so that the dict equals its own YAML round trip.
    if isinstance(value, tuple):
        return [_yaml_value(v) for v in value]
    return value


def model_options(name: str) -> dict[str, Any]:
    """The keyword options of architecture ``name`` and their defaults.

    ``input_shape`` and ``num_classes`` are not options. Tuple defaults are
    returned as lists, so the dict is what a YAML dump / load gives back.

    Args:
        name: a key of ``MODELS``.

    Returns:
        Option name -> default value, in signature order (empty for ``linear``).

    Raises:
        ValueError: unknown ``name``.
    """
    signature = inspect.signature(_builder(name))
    return {
        param.name: _yaml_value(param.default)
        for param in signature.parameters.values()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }


def build_model(
    name: str, *, input_shape: tuple[int, ...], num_classes: int, **options: Any
) -> keras.Model:
    """Build architecture ``name`` (uncompiled, logits out).

    Args:
        name: a key of ``MODELS`` (the CLI's ``--arch``).
        input_shape: per-example shape without the batch axis, e.g. (28, 28, 1).
        num_classes: number of logits; >= 2 (``linear`` also accepts 1).
        **options: the architecture's keyword options (see ``model_options``);
            omitted ones take their defaults.

    Returns:
        The ``keras.Model``, named ``name``.

    Raises:
        ValueError: unknown ``name``, an option the architecture does not
            take (named in the message), or an invalid value.
    """
    builder = _builder(name)
    known = model_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        valid = ", ".join(known) if known else "none"
        raise ValueError(
            f"unknown option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(o) for o in unknown)} for arch {name!r}; valid options: {valid}"
        )
    return builder(input_shape, num_classes, **options)
