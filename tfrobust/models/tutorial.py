"""The TensorFlow-tutorial MNIST CNN (Noack et al. 2021, 4.2; Tsipras et al. 2019, A.2).

Ref: Noack et al. 2021, section 4.2, which takes the network from the
TensorFlow "Deep MNIST" tutorial; Tsipras et al. 2019, appendix A.2, which uses
the same network through Madry et al.'s ``mnist_challenge`` repository.

Both sources pad with ``'SAME'`` (so 28 -> 28 -> 14 -> 14 -> 7), giving the
well-known 3,274,634 parameters for 10 classes. The only difference between
them is dropout: the tutorial and Noack apply dropout with p = 0.5 before the
last Dense layer (our default); ``mnist_challenge`` has none (``dropout=0``).

Initialisation is the Keras default (Glorot-uniform kernels, zero biases), not
the tutorial's truncated normal (stddev 0.1) with 0.1 biases; neither paper
reports results that depend on it.
"""

from __future__ import annotations

import keras

from tfrobust.models._validation import (
    check_input_shape,
    check_num_classes,
    check_rate,
    check_spatial,
)
from tfrobust.registry import register

__all__ = ["tf_tutorial_mnist_cnn"]


@register("models", "tf_tutorial_mnist_cnn")
def tf_tutorial_mnist_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    dropout: float = 0.5,
) -> keras.Model:
    """Two-conv MNIST CNN of the TensorFlow tutorial (Noack et al. 2021, 4.2).

    Output shapes for (28, 28, 1) inputs:

    ====  ===================================  ===================
    #     layer                                output
    ====  ===================================  ===================
    1     Conv2D 5x5, stride 1, 32, same, ReLU (N, 28, 28, 32)
    2     MaxPool 2x2, stride 2                (N, 14, 14, 32)
    3     Conv2D 5x5, stride 1, 64, same, ReLU (N, 14, 14, 64)
    4     MaxPool 2x2, stride 2                (N, 7, 7, 64)
    5     Flatten                              (N, 3136)
    6     Dense 1024 ReLU                      (N, 1024)
    7     Dropout(dropout) (omitted if 0)      (N, 1024)
    8     Dense num_classes                    (N, num_classes) logits
    ====  ===================================  ===================

    Dropout acts only when the model is called with ``training=True``; attacks
    and evaluation call it with ``training=False`` (docs/architecture.md, Contracts).

    Args:
        input_shape: (H, W, C) channels-last; (28, 28, 1) for MNIST.
        num_classes: number of logits (10).
        dropout: drop probability before the last layer, in [0, 1): 0.5 in
            Noack and the tutorial; 0 (no Dropout layer) reproduces Madry's
            ``mnist_challenge`` model used by Tsipras.

    Returns:
        Uncompiled ``keras.Model`` named ``tf_tutorial_mnist_cnn`` returning logits.

    Raises:
        ValueError: bad ``input_shape``, ``num_classes`` or ``dropout``.
    """
    shape = check_input_shape("tf_tutorial_mnist_cnn", input_shape, rank=3)
    num_classes = check_num_classes(num_classes)
    dropout = check_rate("dropout", dropout)
    check_spatial("tf_tutorial_mnist_cnn", shape, [(5, 1, "same"), (2, 2, "same")] * 2)

    inputs = keras.Input(shape=shape, name="inputs")
    x = keras.layers.Conv2D(32, 5, strides=1, padding="same", activation="relu", name="conv1")(
        inputs
    )
    x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name="pool1")(x)
    x = keras.layers.Conv2D(64, 5, strides=1, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(1024, activation="relu", name="dense1")(x)
    if dropout > 0.0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="tf_tutorial_mnist_cnn")
