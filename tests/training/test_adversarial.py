"""AdversarialModel and RobustAccuracy: hand-computed steps in every execution mode."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tfrobust.attacks import PGD
from tfrobust.training import AdversarialModel, RobustAccuracy, attacked_correct

RNG = np.random.default_rng(1)
X = RNG.normal(size=(8, 3)).astype("float32")
Y = np.array([0, 1, 2, 1, 0, 2, 2, 1], dtype="int32")
W0 = (RNG.normal(size=(3, 3)) * 0.5).astype("float32")
B0 = np.array([0.1, -0.2, 0.05], dtype="float32")
EPS, LR = 0.1, 0.5
# One sign step of size eps, no random start: FGSM, computable by hand.
ATTACK = PGD(norm="linf", eps=EPS, steps=1, step_size=EPS, random_start=False, bounds=(-10.0, 10.0))


def linear_model():
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(W0),
                                 bias_initializer=keras.initializers.Constant(B0))(inputs)
    return keras.Model(inputs, outputs)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def hand_fgsm(x):
    g = (softmax(x @ W0 + B0) - np.eye(3)[Y[: len(x)]]) @ W0.T  # d CE / d x per example
    return x + EPS * np.sign(g)


def hand_step(x_train):
    g_logits = (softmax(x_train @ W0 + B0) - np.eye(3)[Y]) / len(x_train)
    return W0 - LR * x_train.T @ g_logits, B0 - LR * g_logits.sum(axis=0)


def compile_(model, jit=False, eager=False):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LR),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=jit, run_eagerly=eager)


def kernel_bias(model):
    layer = model.base.layers[-1]
    return layer.kernel.numpy(), layer.bias.numpy()


@pytest.mark.parametrize("mode", ["eager", "graph", "jit"])
def test_one_step_equals_hand_computed_adversarial_update(mode):
    model = AdversarialModel(linear_model(), attack=ATTACK)
    compile_(model, jit=mode == "jit", eager=mode == "eager")
    history = model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    w, b = hand_step(hand_fgsm(X))
    kernel, bias = kernel_bias(model)
    np.testing.assert_allclose(kernel, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, b, rtol=1e-5, atol=1e-6)
    clean_ce = -np.log(softmax(X @ W0 + B0)[np.arange(8), Y]).mean()
    adv_ce = -np.log(softmax(hand_fgsm(X) @ W0 + B0)[np.arange(8), Y]).mean()
    assert history.history["clean_loss"][0] == pytest.approx(clean_ce, rel=1e-5)
    assert history.history["loss"][0] == pytest.approx(adv_ce, rel=1e-5)
    assert adv_ce > clean_ce


def test_clean_adversarial_mix_attacks_the_first_share_of_the_batch():
    model = AdversarialModel(linear_model(), attack=ATTACK, adversarial_fraction=0.5)
    compile_(model)
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    mixed = np.concatenate([hand_fgsm(X[:4]), X[4:]])
    w, b = hand_step(mixed)
    kernel, bias = kernel_bias(model)
    np.testing.assert_allclose(kernel, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, b, rtol=1e-5, atol=1e-6)


def test_validation_logs_have_no_train_only_metrics():
    model = AdversarialModel(linear_model(), attack=ATTACK)
    compile_(model)
    history = model.fit(X, Y, batch_size=8, epochs=1, validation_data=(X, Y), verbose=0)
    assert "clean_accuracy" in history.history and "val_accuracy" in history.history
    assert "val_clean_accuracy" not in history.history


def test_random_starts_change_every_step():
    attack = PGD(norm="linf", eps=0.5, steps=0, random_start=True, bounds=(-10.0, 10.0))
    model = AdversarialModel(linear_model(), attack=attack, track_clean=False, seed=5)
    compile_(model, eager=True)
    first = model.training_inputs(X, Y).numpy()
    model.optimizer.iterations.assign_add(1)
    second = model.training_inputs(X, Y).numpy()
    assert np.abs(first - X).max() <= 0.5 + 1e-6
    assert not np.array_equal(first, second)


def test_save_and_reload(tmp_path):
    model = AdversarialModel(linear_model(), attack=PGD(norm="l2", eps=0.3, steps=2, bounds=(-10, 10)),
                             adversarial_fraction=0.75)
    compile_(model)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "adv.keras")
    again = keras.saving.load_model(tmp_path / "adv.keras")
    assert isinstance(again, AdversarialModel)
    assert again.attack == model.attack and again.adversarial_fraction == 0.75
    np.testing.assert_allclose(again.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(attack=None), "attack"),
    (dict(attack=PGD(eps=0.1)), "bounds"),
    (dict(attack=ATTACK, adversarial_fraction=1.5), "adversarial_fraction"),
    (dict(attack={"norm": "l5", "bounds": (0, 1)}), "norm"),
])
def test_bad_configuration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdversarialModel(linear_model(), **kwargs)


def test_robust_accuracy_callback_logs_the_attacked_accuracy():
    model = AdversarialModel(linear_model(), attack=ATTACK)
    compile_(model)
    callback = RobustAccuracy((X, Y), ATTACK, every=1)
    history = model.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    assert len(history.history["val_robust_accuracy"]) == 2
    expected = attacked_correct(model.base, (X, Y), ATTACK).mean()
    assert history.history["val_robust_accuracy"][-1] == pytest.approx(expected)
    with pytest.raises(ValueError, match="every"):
        RobustAccuracy((X, Y), ATTACK, every=0)


def test_mirrored_strategy_matches_the_hand_computed_update():
    script = textwrap.dedent(
        """
        import sys, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.path.insert(0, sys.argv[1])
        import test_adversarial as t
        from tfrobust.training import AdversarialModel
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = AdversarialModel(t.linear_model(), attack=t.ATTACK)
            t.compile_(model)
        model.fit(t.X, t.Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        w, b = t.hand_step(t.hand_fgsm(t.X))
        kernel, bias = t.kernel_bias(model)
        np.testing.assert_allclose(kernel, w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bias, b, rtol=1e-5, atol=1e-6)
        print("MIRRORED-OK")
        """
    )
    here = __file__.rsplit("/", 1)[0]
    proc = subprocess.run([sys.executable, "-c", script, here], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MIRRORED-OK" in proc.stdout
