"""Classifiers of Kim, Seo & Jeon (2019), appendix A.2.

Ref: Kim et al. 2019, "Bridging adversarial robustness and gradient
interpretability", appendix A.2 ("Classification networks"). The paper writes
"Conv 2D (filter size, stride, number of filters)" and
"Max-pooling (window size, stride)"; the tables below keep that notation.

Padding: the paper does not state it. All three CNNs default to
``padding="same"`` (convolutions and max-poolings alike), because the
authors' released code (github.com/1202kbs/Robustness-and-Interpretability,
``classifiers.py``) pads every convolution and pooling with ``'SAME'`` and
flattens 14x14 (MNIST) and 8x8 (CIFAR-10) feature maps. ``padding="valid"``
(the Keras default) is available; it shrinks the first Dense layer and roughly
halves the MNIST CNN's multiply-adds. The CPU training throughput of
``kim_mnist_cnn`` (about 150 img/s in graph mode, measured in an earlier release) is that of "same";
"valid" trains about twice as fast. Parameter counts for 10 classes:

================  ==========  ===========
model             same        valid
================  ==========  ===========
kim_mnist_cnn     6,486,698   3,340,970
kim_cifar_cnn     1,116,970     477,994
kim_toy_dnn       642 (input (2,), 2 classes)
================  ==========  ===========

Layer widths follow the paper's A.2 tables, which differ from the released
code in two places: the code's MNIST CNN has 32 then 64 filters (the table: 64
then 32) and its CIFAR-10 CNN has a 512-unit dense layer (the table: 256). The
paper is the reference here.

Weights use the Keras defaults (Glorot-uniform kernels, zero biases), which are
also what the authors' code uses. Inputs are taken as they come: Kim normalises
all datasets to [-1, 1] in the data pipeline, not in the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from tfrobust.models._validation import (
    check_choice,
    check_input_shape,
    check_num_classes,
    check_spatial,
    check_units,
)
from tfrobust.registry import register

__all__ = ["kim_cifar_cnn", "kim_mnist_cnn", "kim_toy_dnn"]

PADDINGS = ("same", "valid")


@register("models", "kim_toy_dnn")
def kim_toy_dnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    hidden: Sequence[int] = (128,),
) -> keras.Model:
    """Two-layer ReLU DNN for Kim's 2-D toy dataset (Kim et al. 2019, A.2).

    ====  =================  ===========
    #     layer              output
    ====  =================  ===========
    1     Dense(128) ReLU    (N, 128)
    2     Dense(num_classes) (N, num_classes) logits
    ====  =================  ===========

    ``hidden`` generalises row 1 to any number of ReLU Dense layers. Inputs of
    rank > 1 are flattened first (a Flatten layer is added only then).

    Args:
        input_shape: per-example shape; (2,) for the toy dataset (Kim A.1).
        num_classes: number of logits (2 in the paper).
        hidden: widths of the hidden ReLU Dense layers, in order.

    Returns:
        Uncompiled ``keras.Model`` named ``kim_toy_dnn``: (N, *input_shape)
        float32 -> (N, num_classes) logits.

    Raises:
        ValueError: bad ``input_shape``, ``num_classes`` or ``hidden``.
    """
    shape = check_input_shape("kim_toy_dnn", input_shape)
    num_classes = check_num_classes(num_classes)
    hidden = check_units("hidden", hidden)

    inputs = keras.Input(shape=shape, name="inputs")
    x = inputs
    if len(shape) > 1:
        x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i}")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="kim_toy_dnn")


@register("models", "kim_mnist_cnn")
def kim_mnist_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    padding: str = "same",
) -> keras.Model:
    """ReLU CNN for MNIST and Fashion-MNIST (Kim et al. 2019, A.2).

    Output shapes for (28, 28, 1) inputs with the default ``padding="same"``:

    ====  ============================  ===================
    #     layer                         output
    ====  ============================  ===================
    1     Conv 2D (5x5, 1, 64) ReLU     (N, 28, 28, 64)
    2     Conv 2D (5x5, 1, 32) ReLU     (N, 28, 28, 32)
    3     Max-pooling (2x2, 2)          (N, 14, 14, 32)
    4     Flatten                       (N, 6272)
    5     Dense (1024) ReLU             (N, 1024)
    6     Dense (num_classes)           (N, num_classes) logits
    ====  ============================  ===================

    With ``padding="valid"`` rows 1-4 give 24x24, 20x20, 10x10 and 3200.

    Args:
        input_shape: (H, W, C) channels-last; (28, 28, 1) for (F)MNIST.
        num_classes: number of logits (10 in the paper).
        padding: "same" (default, as in the authors' code; see module
            docstring) or "valid"; applies to the convolutions and the pooling.

    Returns:
        Uncompiled ``keras.Model`` named ``kim_mnist_cnn`` returning logits.

    Raises:
        ValueError: bad arguments, or an input too small for ``padding``.
    """
    shape = check_input_shape("kim_mnist_cnn", input_shape, rank=3)
    num_classes = check_num_classes(num_classes)
    padding = check_choice("padding", padding, PADDINGS)
    check_spatial("kim_mnist_cnn", shape, [(5, 1, padding), (5, 1, padding), (2, 2, padding)])

    inputs = keras.Input(shape=shape, name="inputs")
    x = keras.layers.Conv2D(64, 5, strides=1, padding=padding, activation="relu", name="conv1")(
        inputs
    )
    x = keras.layers.Conv2D(32, 5, strides=1, padding=padding, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, strides=2, padding=padding, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(1024, activation="relu", name="dense3")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="kim_mnist_cnn")


@register("models", "kim_cifar_cnn")
def kim_cifar_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    padding: str = "same",
) -> keras.Model:
    """ReLU CNN for CIFAR-10 (Kim et al. 2019, A.2).

    Output shapes for (32, 32, 3) inputs with the default ``padding="same"``:

    ====  ============================  ===================
    #     layer                         output
    ====  ============================  ===================
    1     Conv 2D (3x3, 1, 32) ReLU     (N, 32, 32, 32)
    2     Conv 2D (3x3, 1, 32) ReLU     (N, 32, 32, 32)
    3     Max-pooling (2x2, 2)          (N, 16, 16, 32)
    4     Conv 2D (3x3, 1, 64) ReLU     (N, 16, 16, 64)
    5     Conv 2D (3x3, 1, 64) ReLU     (N, 16, 16, 64)
    6     Max-pooling (2x2, 2)          (N, 8, 8, 64)
    7     Flatten                       (N, 4096)
    8     Dense (256) ReLU              (N, 256)
    9     Dense (num_classes)           (N, num_classes) logits
    ====  ============================  ===================

    With ``padding="valid"`` the maps are 30, 28, 14, 12, 10, 5 pixels wide and
    the flattened vector has 1600 entries.

    Args:
        input_shape: (H, W, C) channels-last; (32, 32, 3) for CIFAR-10.
        num_classes: number of logits (10 in the paper).
        padding: "same" (default, as in the authors' code) or "valid".

    Returns:
        Uncompiled ``keras.Model`` named ``kim_cifar_cnn`` returning logits.

    Raises:
        ValueError: bad arguments, or an input too small for ``padding``.
    """
    shape = check_input_shape("kim_cifar_cnn", input_shape, rank=3)
    num_classes = check_num_classes(num_classes)
    padding = check_choice("padding", padding, PADDINGS)
    check_spatial("kim_cifar_cnn", shape, [(3, 1, padding), (3, 1, padding), (2, 2, padding)] * 2)

    inputs = keras.Input(shape=shape, name="inputs")
    x = inputs
    index = 0
    for block, filters in enumerate((32, 64), start=1):
        for _ in range(2):
            index += 1
            x = keras.layers.Conv2D(
                filters, 3, strides=1, padding=padding, activation="relu", name=f"conv{index}"
            )(x)
        x = keras.layers.MaxPooling2D(2, strides=2, padding=padding, name=f"pool{block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(256, activation="relu", name="dense5")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="kim_cifar_cnn")
