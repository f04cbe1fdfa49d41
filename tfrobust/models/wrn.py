"""Wide Residual Network WRN-d-k (Noack et al. 2021, 4.3; Zagoruyko & Komodakis 2016).

Ref: Noack et al. 2021, section 4.3: "the Wide ResNet (WRN) 28x10
architecture, a large network with 36.5 million parameters", dropout rate 0.3.
Architecture after Zagoruyko & Komodakis 2016 (arXiv:1605.07146), table 1,
with pre-activation basic blocks B(3, 3) and dropout between the two
convolutions of each block, as in their reference code.

Fixed choices, where the papers leave them to the reference code:

* convolutions are bias-free with "same" padding and kernels drawn He-normal
  over fan-out, N(0, 2 / (3 * 3 * filters_out));
* BatchNorm momentum 0.9 and epsilon 1e-5 (PyTorch's 0.1 / 1e-5);
* when a block changes shape (first block of each stage with width > 1, and
  the stride-2 blocks) the shortcut is a bias-free 1x1 convolution with the
  block's stride applied to the block's pre-activated input; otherwise it is
  the identity on the raw input;
* the head is BN -> ReLU -> global average pooling (the reference's 8x8
  average pooling on 32x32 inputs) -> Dense(num_classes).

WRN-28-10 for 10 classes has 36,479,194 trainable parameters, the reference
implementation's count (36,497,146 with Keras' BatchNorm moving statistics).
Weight decay (5e-4 in Noack) belongs to the optimizer / training config, not
to the model.
"""

from __future__ import annotations

import keras

from tfrobust.models._validation import (
    check_input_shape,
    check_int,
    check_num_classes,
    check_rate,
)
from tfrobust.registry import register

__all__ = ["wrn_28_10"]

STAGE_FILTERS = (16, 32, 64)
STAGE_STRIDES = (1, 2, 2)
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def _conv_init() -> keras.initializers.Initializer:
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def _conv(
    x: keras.KerasTensor, filters: int, kernel: int, stride: int, name: str
) -> keras.KerasTensor:
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer=_conv_init(),
        name=name,
    )(x)


def _bn_relu(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    x = keras.layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn"
    )(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _basic_block(
    x: keras.KerasTensor, filters: int, stride: int, dropout: float, name: str
) -> keras.KerasTensor:
    activated = _bn_relu(x, f"{name}_pre")
    y = _conv(activated, filters, 3, stride, f"{name}_conv1")
    y = _bn_relu(y, f"{name}_mid")
    if dropout > 0.0:
        y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = _conv(y, filters, 3, 1, f"{name}_conv2")
    if x.shape[-1] != filters or stride > 1:
        shortcut = _conv(activated, filters, 1, stride, f"{name}_shortcut")
    else:
        shortcut = x
    return keras.layers.Add(name=f"{name}_add")([y, shortcut])


@register("models", "wrn_28_10")
def wrn_28_10(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    depth: int = 28,
    width: int = 10,
    dropout: float = 0.3,
) -> keras.Model:
    """Wide ResNet WRN-``depth``-``width`` (Noack et al. 2021, 4.3).

    Output shapes for (32, 32, 3) inputs, n = (depth - 4) / 6 blocks per stage
    (4 for depth 28) and k = ``width``:

    =====  ==============================================  ====================
    stage  layers                                          output
    =====  ==============================================  ====================
    conv1  Conv 3x3, 16, no bias                           (N, 32, 32, 16)
    conv2  n x block(16k, stride 1)                        (N, 32, 32, 16k)
    conv3  n x block(32k, first stride 2)                  (N, 16, 16, 32k)
    conv4  n x block(64k, first stride 2)                  (N, 8, 8, 64k)
    head   BN, ReLU, GlobalAveragePooling, Dense(classes)  (N, num_classes) logits
    =====  ==============================================  ====================

    block(f, s): BN -> ReLU -> Conv 3x3 (f, stride s) -> BN -> ReLU ->
    Dropout(``dropout``) -> Conv 3x3 (f), plus the identity or, on a shape
    change, a 1x1 projection (stride s) of the pre-activated input.

    Args:
        input_shape: (H, W, C) channels-last; (32, 32, 3) for CIFAR-10.
        num_classes: number of logits (10).
        depth: total depth 6n + 4, n >= 1 (28 in Noack).
        width: widening factor k (10 in Noack).
        dropout: drop probability between the two convolutions of every
            block, in [0, 1); 0.3 in Noack, 0 removes the Dropout layers.

    Returns:
        Uncompiled ``keras.Model`` named ``wrn_28_10`` (whatever ``depth`` and
        ``width``) returning logits. It contains BatchNormalization and
        Dropout: call it with ``training=False`` to evaluate and attack.

    Raises:
        ValueError: bad ``input_shape``, ``num_classes``, or ``depth`` not of
            the form 6n + 4.
    """
    shape = check_input_shape("wrn_28_10", input_shape, rank=3)
    num_classes = check_num_classes(num_classes)
    depth = check_int("depth", depth, minimum=10)
    if (depth - 4) % 6 != 0:
        raise ValueError(f"option 'depth' must be 6n + 4 (10, 16, 22, 28, ...), got {depth}")
    width = check_int("width", width, minimum=1)
    dropout = check_rate("dropout", dropout)
    blocks = (depth - 4) // 6

    inputs = keras.Input(shape=shape, name="inputs")
    x = _conv(inputs, 16, 3, 1, "conv1")
    for stage, (filters, stride) in enumerate(
        zip(STAGE_FILTERS, STAGE_STRIDES, strict=True), start=2
    ):
        for block in range(blocks):
            x = _basic_block(
                x,
                filters * width,
                stride if block == 0 else 1,
                dropout,
                name=f"conv{stage}_block{block + 1}",
            )
    x = _bn_relu(x, "final")
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="wrn_28_10")
