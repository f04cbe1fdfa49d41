"""Layer tables and parameter counts against the papers (Kim A.2, Noack 4.2/4.3, Tsipras A.2)."""

from __future__ import annotations

import keras
import pytest

from tfrobust.models import build_model


def conv(k: int, c_in: int, c_out: int, *, bias: bool = True) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def bn(channels: int) -> int:
    return 2 * channels  # trainable gamma and beta


def trainable(model: keras.Model) -> int:
    return sum(int(w.numpy().size) for w in model.trainable_weights)


def table(model: keras.Model) -> list[tuple]:
    """(type, kernel, stride, filters/units, activation, padding) per layer after the input."""
    rows = []
    for layer in model.layers[1:]:
        if isinstance(layer, keras.layers.Conv2D):
            rows.append(
                (
                    "Conv2D",
                    layer.kernel_size,
                    layer.strides,
                    layer.filters,
                    layer.activation.__name__,
                    layer.padding,
                )
            )
        elif isinstance(layer, keras.layers.MaxPooling2D):
            rows.append(("MaxPool", layer.pool_size, layer.strides, None, None, layer.padding))
        elif isinstance(layer, keras.layers.Dense):
            rows.append(("Dense", None, None, layer.units, layer.activation.__name__, None))
        elif isinstance(layer, keras.layers.Dropout):
            rows.append(("Dropout", None, None, layer.rate, None, None))
        else:
            rows.append((type(layer).__name__, None, None, None, None, None))
    return rows


def test_kim_toy_dnn_table_and_count():
    model = build_model("kim_toy_dnn", input_shape=(2,), num_classes=2)
    assert table(model) == [
        ("Dense", None, None, 128, "relu", None),
        ("Dense", None, None, 2, "linear", None),
    ]
    assert model.count_params() == dense(2, 128) + dense(128, 2) == 642


@pytest.mark.parametrize(("padding", "side"), [("same", 14), ("valid", 10)])
def test_kim_mnist_cnn_table_and_count(padding, side):
    model = build_model("kim_mnist_cnn", input_shape=(28, 28, 1), num_classes=10, padding=padding)
    assert table(model) == [
        ("Conv2D", (5, 5), (1, 1), 64, "relu", padding),
        ("Conv2D", (5, 5), (1, 1), 32, "relu", padding),
        ("MaxPool", (2, 2), (2, 2), None, None, padding),
        ("Flatten", None, None, None, None, None),
        ("Dense", None, None, 1024, "relu", None),
        ("Dense", None, None, 10, "linear", None),
    ]
    flat = side * side * 32
    expected = conv(5, 1, 64) + conv(5, 64, 32) + dense(flat, 1024) + dense(1024, 10)
    assert model.count_params() == expected
    assert expected == {"same": 6_486_698, "valid": 3_340_970}[padding]


@pytest.mark.parametrize(("padding", "side"), [("same", 8), ("valid", 5)])
def test_kim_cifar_cnn_table_and_count(padding, side):
    model = build_model("kim_cifar_cnn", input_shape=(32, 32, 3), num_classes=10, padding=padding)
    assert table(model) == [
        ("Conv2D", (3, 3), (1, 1), 32, "relu", padding),
        ("Conv2D", (3, 3), (1, 1), 32, "relu", padding),
        ("MaxPool", (2, 2), (2, 2), None, None, padding),
        ("Conv2D", (3, 3), (1, 1), 64, "relu", padding),
        ("Conv2D", (3, 3), (1, 1), 64, "relu", padding),
        ("MaxPool", (2, 2), (2, 2), None, None, padding),
        ("Flatten", None, None, None, None, None),
        ("Dense", None, None, 256, "relu", None),
        ("Dense", None, None, 10, "linear", None),
    ]
    expected = (
        conv(3, 3, 32)
        + conv(3, 32, 32)
        + conv(3, 32, 64)
        + conv(3, 64, 64)
        + dense(side * side * 64, 256)
        + dense(256, 10)
    )
    assert model.count_params() == expected


def test_tf_tutorial_mnist_cnn_table_and_count():
    model = build_model("tf_tutorial_mnist_cnn", input_shape=(28, 28, 1), num_classes=10)
    assert table(model) == [
        ("Conv2D", (5, 5), (1, 1), 32, "relu", "same"),
        ("MaxPool", (2, 2), (2, 2), None, None, "same"),
        ("Conv2D", (5, 5), (1, 1), 64, "relu", "same"),
        ("MaxPool", (2, 2), (2, 2), None, None, "same"),
        ("Flatten", None, None, None, None, None),
        ("Dense", None, None, 1024, "relu", None),
        ("Dropout", None, None, 0.5, None, None),
        ("Dense", None, None, 10, "linear", None),
    ]
    # The tutorial / mnist_challenge network's well-known count.
    assert model.count_params() == 3_274_634


def test_tf_tutorial_without_dropout_is_madrys_mnist_challenge_model():
    model = build_model(
        "tf_tutorial_mnist_cnn", input_shape=(28, 28, 1), num_classes=10, dropout=0.0
    )
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    assert model.count_params() == 3_274_634


def test_linear_count():
    model = build_model("linear", input_shape=(28, 28, 1), num_classes=2)
    assert model.count_params() == dense(784, 2)


def test_madry_cifar_resnet_paper_size_count():
    model = build_model("madry_cifar_resnet", input_shape=(32, 32, 3), num_classes=10)
    # Initial conv, then 3 stages x 5 pre-activation units (BN, conv, BN, conv;
    # bias-free convs, parameter-free zero-pad shortcuts), final BN, Dense.
    expected = conv(3, 3, 16, bias=False)
    c_in = 16
    for filters in (16, 32, 64):
        for _ in range(5):
            expected += bn(c_in) + conv(3, c_in, filters, bias=False)
            expected += bn(filters) + conv(3, filters, filters, bias=False)
            c_in = filters
    expected += bn(64) + dense(64, 10)
    assert trainable(model) == expected == 464_154
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == 1 + 3 * 5 * 2
    assert sum(isinstance(layer, keras.layers.ZeroPadding3D) for layer in model.layers) == 2
    assert model.get_layer("unit_3_0_conv1").strides == (2, 2)
    assert model.output_shape == (None, 10)


def test_wrn_28_10_has_36_5_million_parameters():
    model = build_model("wrn_28_10", input_shape=(32, 32, 3), num_classes=10)
    # Noack 4.3: "36.5 million"; 36,479,194 in the reference implementation.
    assert trainable(model) == pytest.approx(36_479_194, rel=0.005)
    layers = model.layers
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in layers) == 12
    assert all(layer.rate == 0.3 for layer in layers if isinstance(layer, keras.layers.Dropout))
    convs = [layer for layer in layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + 3 * 4 * 2 + 3  # 28 layers minus the Dense, plus 3 projections
    assert [c.filters for c in convs if c.kernel_size == (1, 1)] == [160, 320, 640]
    assert model.get_layer("conv4_block1_conv1").strides == (2, 2)


def test_small_wrn_uses_identity_shortcuts_where_shapes_match():
    model = build_model(
        "wrn_28_10", input_shape=(32, 32, 3), num_classes=10, depth=10, width=1, dropout=0.0
    )
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    # conv1, 3 blocks x 2 convs, projections only in the two stride-2 blocks.
    assert len(convs) == 1 + 6 + 2
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
