"""The CIFAR-10 ResNet of Madry et al.'s ``cifar10_challenge`` (Tsipras et al. 2019, A.2).

Ref: Tsipras et al. 2019, appendix A.2: "a standard ResNet model [He et al.
2016]. It has 4 groups of residual layers with filter sizes (16, 16, 32, 64)
and 5 residual units each", with the code of
github.com/MadryLab/cifar10_challenge (``model.py``). The first of the four
"groups" is the 16-filter initial convolution; three stages of residual units
follow.

Defaults follow the paper's text; the released code differs in two ways, both
available as options:

* ``width``: the code multiplies the stage widths by 10 (filters 16, 160, 320,
  640; 45,901,914 parameters, i.e. a WRN-32-10);
  the paper states (16, 16, 32, 64), i.e. ``width=1`` (464,154 parameters for
  10 classes, 466,426 counting BatchNorm moving statistics).
* ``negative_slope``: the code uses leaky ReLUs with slope 0.1; a standard
  ResNet uses ReLU (0.0, the default).

Also from the code, and fixed here: pre-activation units (BN -> ReLU -> conv),
3x3 convolutions without bias, "same" padding, parameter-free "option A"
shortcuts (stride-s average pooling, then zero-padding of the new channels on
both sides), the first unit sharing its activation with the shortcut
(``activate_before_residual``), BatchNorm momentum 0.9 and epsilon 1e-3,
convolution kernels ~ N(0, 2 / (3 * 3 * filters_out)) and a LeCun-uniform
logit layer. The code's ``per_image_standardization`` of the input is *not*
part of the model: inputs stay in the dataset's bounds (docs/architecture.md, Contracts),
so that attack budgets are in data units.
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

__all__ = ["madry_cifar_resnet"]

STAGE_FILTERS = (16, 32, 64)
STAGE_STRIDES = (1, 2, 2)
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-3


def _conv_init() -> keras.initializers.Initializer:
    # N(0, sqrt(2 / (k * k * filters_out))), as ``_conv`` in cifar10_challenge.
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def _bn_relu(x: keras.KerasTensor, name: str, negative_slope: float) -> keras.KerasTensor:
    x = keras.layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn"
    )(x)
    return keras.layers.ReLU(negative_slope=negative_slope, name=f"{name}_relu")(x)


def _conv3x3(x: keras.KerasTensor, filters: int, stride: int, name: str) -> keras.KerasTensor:
    return keras.layers.Conv2D(
        filters,
        3,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer=_conv_init(),
        name=name,
    )(x)


def _zero_pad_shortcut(
    x: keras.KerasTensor, out_filters: int, stride: int, name: str
) -> keras.KerasTensor:
    """Option-A shortcut: average-pool by ``stride``, zero-pad channels on both sides."""
    if stride > 1:
        x = keras.layers.AveragePooling2D(
            stride, strides=stride, padding="valid", name=f"{name}_pool"
        )(x)
    height, width, in_filters = x.shape[1], x.shape[2], x.shape[3]
    pad = (out_filters - in_filters) // 2
    if pad > 0:
        # Channel padding with built-in layers only: view channels as a third
        # spatial axis, pad it with ZeroPadding3D, view back.
        x = keras.layers.Reshape((height, width, in_filters, 1), name=f"{name}_expand")(x)
        x = keras.layers.ZeroPadding3D(
            ((0, 0), (0, 0), (pad, pad)), data_format="channels_last", name=f"{name}_pad"
        )(x)
        x = keras.layers.Reshape((height, width, out_filters), name=f"{name}_squeeze")(x)
    return x


def _residual_unit(
    x: keras.KerasTensor,
    out_filters: int,
    stride: int,
    *,
    activate_before_residual: bool,
    negative_slope: float,
    name: str,
) -> keras.KerasTensor:
    activated = _bn_relu(x, f"{name}_pre", negative_slope)
    shortcut = activated if activate_before_residual else x
    y = _conv3x3(activated, out_filters, stride, f"{name}_conv1")
    y = _bn_relu(y, f"{name}_mid", negative_slope)
    y = _conv3x3(y, out_filters, 1, f"{name}_conv2")
    if shortcut.shape[-1] != out_filters or stride > 1:
        shortcut = _zero_pad_shortcut(shortcut, out_filters, stride, f"{name}_shortcut")
    return keras.layers.Add(name=f"{name}_add")([y, shortcut])


@register("models", "madry_cifar_resnet")
def madry_cifar_resnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    units: int = 5,
    width: int = 1,
    negative_slope: float = 0.0,
) -> keras.Model:
    """Pre-activation CIFAR ResNet of Madry's ``cifar10_challenge`` (Tsipras et al. 2019, A.2).

    Output shapes for (32, 32, 3) inputs and width w (defaults: units=5, w=1):

    =====  =============================================  ===================
    stage  layers                                         output
    =====  =============================================  ===================
    init   Conv 3x3, 16, no bias                          (N, 32, 32, 16)
    1      ``units`` x unit(16w, stride 1)                (N, 32, 32, 16w)
    2      ``units`` x unit(32w, first stride 2)          (N, 16, 16, 32w)
    3      ``units`` x unit(64w, first stride 2)          (N, 8, 8, 64w)
    head   BN, ReLU, GlobalAveragePooling, Dense(classes) (N, num_classes) logits
    =====  =============================================  ===================

    A unit is BN -> ReLU -> Conv 3x3 (stride) -> BN -> ReLU -> Conv 3x3, added
    to a shortcut that is the identity, or, when the shape changes, stride-s
    average pooling followed by zero-padding of the extra channels. In the
    first unit of stage 1 the shortcut starts after the first BN -> ReLU, as in
    the released code. The paper's 4 "groups" (16, 16, 32, 64) are the initial
    convolution plus the three stages; depth = 6 * units + 2 (32 by default).

    Args:
        input_shape: (H, W, C) channels-last; (32, 32, 3) for CIFAR-10.
        num_classes: number of logits (10).
        units: residual units per stage (5 in the paper and the code).
        width: stage-width multiplier; 1 is the paper's (16, 32, 64), 10 the
            released code's (160, 320, 640).
        negative_slope: slope of the ReLUs for negative inputs; 0 is a standard
            ReLU, 0.1 the released code's leaky ReLU.

    Returns:
        Uncompiled ``keras.Model`` named ``madry_cifar_resnet`` returning logits.
        It contains BatchNormalization: call it with ``training=False`` to
        evaluate and attack.

    Raises:
        ValueError: bad ``input_shape``, ``num_classes`` or option values.
    """
    shape = check_input_shape("madry_cifar_resnet", input_shape, rank=3)
    num_classes = check_num_classes(num_classes)
    units = check_int("units", units, minimum=1)
    width = check_int("width", width, minimum=1)
    negative_slope = check_rate("negative_slope", negative_slope)

    inputs = keras.Input(shape=shape, name="inputs")
    x = _conv3x3(inputs, 16, 1, "init_conv")
    for stage, (filters, stride) in enumerate(
        zip(STAGE_FILTERS, STAGE_STRIDES, strict=True), start=1
    ):
        for unit in range(units):
            x = _residual_unit(
                x,
                filters * width,
                stride if unit == 0 else 1,
                activate_before_residual=(stage == 1 and unit == 0),
                negative_slope=negative_slope,
                name=f"unit_{stage}_{unit}",
            )
    x = _bn_relu(x, "final", negative_slope)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer="lecun_uniform", name="logits")(x)
    return keras.Model(inputs, logits, name="madry_cifar_resnet")
