"""as_classifier: any functional classifier as one tensor -> logits, sharing weights (issue 17, C1)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import apgd, pgd
from tfrobust.attribution import gradient, smoothgrad
from tfrobust.attribution.classifier import as_classifier

RNG = np.random.default_rng(0)
X = RNG.uniform(0.0, 1.0, (5, 6)).astype("float32")
Y = np.array([0, 1, 2, 0, 1])


def two_head(*, dict_input: bool = True) -> keras.Model:
    keras.utils.set_random_seed(1)
    image = keras.Input((6,), name="image")
    hidden = keras.layers.Dense(8, activation="tanh", name="hidden")(image)
    cls = keras.layers.Dense(3, name="cls")(hidden)
    aux = keras.layers.Dense(1, name="aux")(hidden)
    return keras.Model({"image": image} if dict_input else image, {"cls": cls, "aux": aux})


def dict_input() -> keras.Model:
    keras.utils.set_random_seed(2)
    image = keras.Input((6,), name="image")
    return keras.Model({"image": image}, keras.layers.Dense(3, name="logits")(image))


def test_plain_model_is_returned_unchanged():
    x = keras.Input((6,))
    model = keras.Model(x, keras.layers.Dense(3)(x))
    assert as_classifier(model) is model
    assert as_classifier(model) is model  # cached, still itself


def test_dict_input_becomes_one_tensor_model_sharing_weights():
    model = dict_input()
    clf = as_classifier(model)
    assert clf is not model and as_classifier(model) is clf  # cached per model
    np.testing.assert_array_equal(clf(X), model({"image": X}))
    model.layers[-1].kernel.assign(model.layers[-1].kernel * 2.0)  # shared weights, not a copy
    np.testing.assert_array_equal(clf(X), model({"image": X}))


def test_dict_input_model_works_with_attacks_and_attributions():
    model = dict_input()
    x_adv = pgd(model, X, Y, norm="linf", eps=0.1, bounds=(0.0, 1.0), steps=3)
    assert x_adv.shape == X.shape and float(tf.reduce_max(tf.abs(x_adv - X))) <= 0.1 + 1e-6
    # the linear model's loss gradient has an analytic form: W (softmax(z) - onehot(y))
    w = model.layers[-1].kernel.numpy()
    z = model({"image": X}).numpy()
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = (p - np.eye(3)[Y]) @ w.T
    np.testing.assert_allclose(gradient(model, X, Y), expected, rtol=1e-4, atol=1e-6)
    maps = smoothgrad(model, X, Y, samples=4, sigma=0.1, seed=0)
    assert maps.shape == X.shape and bool(tf.reduce_all(tf.math.is_finite(maps)))
    x_apgd = apgd(model, X, Y, norm="linf", eps=0.1, bounds=(0.0, 1.0), steps=3)
    assert float(tf.reduce_max(tf.abs(x_apgd - X))) <= 0.1 + 1e-6


@pytest.mark.parametrize("choice", ["cls", 1])
def test_two_outputs_chosen_by_name_or_index(choice):
    model = two_head()
    clf = as_classifier(model, logits=choice)
    names = list(model.output_names)
    if isinstance(choice, int):
        choice_name = names[choice]
    else:
        choice_name = choice
    assert choice_name == "cls"  # model.output_names is ['aux', 'cls'] (dict outputs, sorted)
    np.testing.assert_array_equal(clf(X), model({"image": X})["cls"])
    x_adv = pgd(clf, X, Y, norm="l2", eps=0.5, bounds=(0.0, 1.0), steps=2)
    assert x_adv.shape == X.shape


def test_two_outputs_without_choice_are_refused_with_the_names():
    model = two_head()
    with pytest.raises(ValueError, match=r"2 outputs \['aux', 'cls'\].*logits="):
        pgd(model, X, Y, norm="linf", eps=0.1, bounds=(0.0, 1.0), steps=1)
    with pytest.raises(ValueError, match="logits="):
        gradient(model, X, Y)
    with pytest.raises(ValueError, match="not an output"):
        as_classifier(model, logits="nope")
    with pytest.raises(ValueError, match="out of range"):
        as_classifier(model, logits=5)


@pytest.mark.parametrize("ending", ["layer", "activation", "op"])
def test_separate_softmax_is_unwrapped_to_the_exact_logits(ending):
    x = keras.Input((6,))
    dense = keras.layers.Dense(3)
    z = dense(x)
    if ending == "layer":
        probs = keras.layers.Softmax()(z)
    elif ending == "activation":
        probs = keras.layers.Activation("softmax")(z)
    else:
        probs = keras.ops.softmax(z)
    model = keras.Model(x, probs)
    clf = as_classifier(model)
    assert clf is not model
    np.testing.assert_array_equal(clf(X), dense(X))  # the pre-softmax tensor, exactly
    np.testing.assert_allclose(tf.nn.softmax(clf(X)), model(X), rtol=1e-6)


def test_sequential_ending_in_softmax_layer_is_unwrapped():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3), keras.layers.Softmax()])
    np.testing.assert_array_equal(as_classifier(model)(X), model.layers[0](X))


def test_fused_softmax_is_refused_with_the_fix():
    x = keras.Input((6,))
    model = keras.Model(x, keras.layers.Dense(3, activation="softmax", name="probs")(x))
    with pytest.raises(ValueError, match=r"'probs'.*activation=None.*from_logits=True") as err:
        as_classifier(model)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="activation=None"):
        pgd(model, X, Y, norm="linf", eps=0.1, bounds=(0.0, 1.0), steps=1)


def test_several_inputs_need_a_choice_and_independent_logits():
    image = keras.Input((6,), name="image")
    meta = keras.Input((2,), name="meta")
    joined = keras.layers.Concatenate()([image, meta])
    model = keras.Model({"image": image, "meta": meta}, keras.layers.Dense(3)(joined))
    with pytest.raises(ValueError, match=r"inputs \['image', 'meta'\].*inputs="):
        as_classifier(model)
    with pytest.raises(ValueError, match=r"depends on inputs \['meta'\]"):
        as_classifier(model, inputs="image")
    independent = keras.Model({"image": image, "meta": meta}, [keras.layers.Dense(3, name="z")(image),
                                                              keras.layers.Dense(1, name="m")(meta)])
    clf = as_classifier(independent, logits="z", inputs="image")
    np.testing.assert_array_equal(clf(X), independent({"image": X, "meta": np.zeros((5, 2), "float32")})[0])


def test_subclassed_models_are_used_as_they_are():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    model = Sub()
    model(X)
    assert as_classifier(model) is model
    with pytest.raises(ValueError, match="subclassed"):
        as_classifier(model, logits="cls")


def test_dict_x_is_refused_by_attributions_with_a_hint():
    with pytest.raises(ValueError, match="dict with keys"):
        gradient(dict_input(), {"image": X}, Y)
