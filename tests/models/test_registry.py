"""Registry API of tfrobust.models: names, options, argument validation."""

from __future__ import annotations

import pytest
import yaml

from tfrobust.models import MODELS, build_model, model_options

NAMES = [
    "kim_toy_dnn",
    "kim_mnist_cnn",
    "kim_cifar_cnn",
    "tf_tutorial_mnist_cnn",
    "madry_cifar_resnet",
    "wrn_28_10",
    "linear",
]


def test_the_registry_holds_the_design_names_and_loads_their_builders():
    from tfrobust.registry import REGISTRIES

    assert REGISTRIES["models"] is MODELS
    assert sorted(MODELS) == sorted(NAMES)
    assert all(callable(MODELS.load(name)) for name in MODELS)
    # the registry's options (read from the source) are the builders' keyword options
    for name in NAMES:
        assert [o.name for o in MODELS[name].options] == list(model_options(name))


def test_model_options_lists_keyword_options_and_defaults():
    assert model_options("kim_toy_dnn") == {"hidden": [128]}
    assert model_options("kim_mnist_cnn") == {"padding": "same"}
    assert model_options("kim_cifar_cnn") == {"padding": "same"}
    assert model_options("tf_tutorial_mnist_cnn") == {"dropout": 0.5}
    assert model_options("madry_cifar_resnet") == {"units": 5, "width": 1, "negative_slope": 0.0}
    assert model_options("wrn_28_10") == {"depth": 28, "width": 10, "dropout": 0.3}
    assert model_options("linear") == {}


@pytest.mark.parametrize("name", NAMES)
def test_model_options_survive_a_yaml_round_trip(name):
    options = model_options(name)
    assert yaml.safe_load(yaml.safe_dump(options)) == options


def test_unknown_arch_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown arch 'resnet50'; choose from: kim_toy_dnn, "):
        build_model("resnet50", input_shape=(32, 32, 3), num_classes=10)
    with pytest.raises(ValueError, match="unknown arch"):
        model_options("resnet50")


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match=r"'widht'.*valid options: depth, width, dropout"):
        build_model("wrn_28_10", input_shape=(32, 32, 3), num_classes=10, widht=2)
    with pytest.raises(ValueError, match=r"'padding'.*valid options: none"):
        build_model("linear", input_shape=(2,), num_classes=2, padding="same")


@pytest.mark.parametrize(
    ("name", "input_shape", "num_classes", "options", "message"),
    [
        ("kim_mnist_cnn", (28, 28, 1), 1, {}, "num_classes"),
        ("kim_toy_dnn", (2,), True, {}, "num_classes"),
        ("wrn_28_10", (32, 32, 3), 10.0, {}, "num_classes"),
        ("linear", (2,), 0, {}, "num_classes"),
        ("kim_mnist_cnn", (28, 28), 10, {}, "input_shape"),
        ("kim_toy_dnn", (0,), 2, {}, "input_shape"),
        ("kim_toy_dnn", "2", 2, {}, "input_shape"),
        ("kim_mnist_cnn", (28, 28, 1), 10, {"padding": "full"}, "'padding'"),
        ("kim_mnist_cnn", (8, 8, 1), 10, {"padding": "valid"}, "too small"),
        ("kim_cifar_cnn", (32, 32, 3), 10, {"padding": "SAME"}, "'padding'"),
        ("kim_toy_dnn", (2,), 2, {"hidden": [0]}, "'hidden'"),
        ("kim_toy_dnn", (2,), 2, {"hidden": 128}, "'hidden'"),
        ("tf_tutorial_mnist_cnn", (28, 28, 1), 10, {"dropout": 1.0}, "'dropout'"),
        ("tf_tutorial_mnist_cnn", (28, 28, 1), 10, {"dropout": -0.1}, "'dropout'"),
        ("madry_cifar_resnet", (32, 32, 3), 10, {"units": 0}, "'units'"),
        ("madry_cifar_resnet", (32, 32, 3), 10, {"width": 1.5}, "'width'"),
        ("madry_cifar_resnet", (32, 32, 3), 10, {"negative_slope": -0.1}, "'negative_slope'"),
        ("wrn_28_10", (32, 32, 3), 10, {"depth": 12}, "'depth'"),
        ("wrn_28_10", (32, 32, 3), 10, {"depth": 4}, "'depth'"),
        ("wrn_28_10", (32, 32, 3), 10, {"width": 0}, "'width'"),
        ("wrn_28_10", (32, 32, 3), 10, {"dropout": "0.3"}, "'dropout'"),
    ],
)
def test_bad_values_raise_value_error_naming_the_argument(
    name, input_shape, num_classes, options, message
):
    with pytest.raises(ValueError, match=message):
        build_model(name, input_shape=input_shape, num_classes=num_classes, **options)


def test_linear_accepts_a_single_logistic_logit():
    model = build_model("linear", input_shape=(28, 28, 1), num_classes=1)
    assert model.output_shape == (None, 1)
    assert model.count_params() == 28 * 28 + 1  # the paper's w in R^784, b in R


def test_input_shape_may_be_a_list_from_yaml():
    model = build_model("kim_toy_dnn", input_shape=[2], num_classes=2, hidden=[16, 8])
    assert model.input_shape == (None, 2)
    assert [layer.units for layer in model.layers[1:]] == [16, 8, 2]
