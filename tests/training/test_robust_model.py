"""The RobustModel template: analytic oracle for one step, hooks, metrics, modes, saving."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.config import OptimizerConfig
from tfrobust.training import RobustModel, build_optimizer

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3)).astype("float32")
Y = np.array([0, 1, 2, 1, 0, 2, 2, 1], dtype="int32")
W0 = RNG.normal(size=(3, 3)).astype("float32") * 0.5
B0 = np.array([0.1, -0.2, 0.05], dtype="float32")


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def hand_sgd_step(lr, reg=0.0):
    """One SGD step of mean softmax cross-entropy (+ reg * ||W||^2), by hand."""
    p = softmax(X @ W0 + B0)
    onehot = np.eye(3)[Y]
    g_logits = (p - onehot) / len(X)
    g_w = X.T @ g_logits + 2 * reg * W0
    g_b = g_logits.sum(axis=0)
    return W0 - lr * g_w, B0 - lr * g_b


def compile_(model, jit=False, run_eagerly=False):
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit,
        run_eagerly=run_eagerly,
    )


@pytest.mark.parametrize("mode", ["eager", "graph", "jit"])
def test_one_step_equals_hand_computed_update(mode, linear_model):
    robust = RobustModel(linear_model(W0, B0))
    compile_(robust, jit=mode == "jit", run_eagerly=mode == "eager")
    robust.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    w, b = hand_sgd_step(0.5)
    np.testing.assert_allclose(robust.base.layers[-1].kernel.numpy(), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(robust.base.layers[-1].bias.numpy(), b, rtol=1e-5, atol=1e-6)


class WeightPenalty(RobustModel):
    extra_loss_names = ("penalty",)

    def regularization(self, x, y, logits):
        kernel = self.base.layers[-1].kernel
        return {"penalty": 0.3 * tf.reduce_sum(tf.square(kernel))}


def test_regularization_hook_enters_the_update_and_is_a_metric(linear_model):
    robust = WeightPenalty(linear_model(W0, B0))
    compile_(robust)
    history = robust.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    w, b = hand_sgd_step(0.5, reg=0.3)
    np.testing.assert_allclose(robust.base.layers[-1].kernel.numpy(), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(robust.base.layers[-1].bias.numpy(), b, rtol=1e-5, atol=1e-6)
    assert history.history["penalty"][0] == pytest.approx(0.3 * float((W0**2).sum()), rel=1e-5)
    ce = -np.log(softmax(X @ W0 + B0)[np.arange(8), Y]).mean()
    assert history.history["loss"][0] == pytest.approx(ce + 0.3 * float((W0**2).sum()), rel=1e-5)


def test_undeclared_regularization_term_is_an_error(linear_model):
    class Bad(RobustModel):
        def regularization(self, x, y, logits):
            return {"oops": tf.constant(1.0)}

    robust = Bad(linear_model(W0, B0))
    compile_(robust, run_eagerly=True)
    with pytest.raises(ValueError, match="oops"):
        robust.fit(X, Y, batch_size=8, epochs=1, verbose=0)


def test_training_inputs_hook_changes_what_is_trained_on(linear_model):
    class Zeroed(RobustModel):
        def training_inputs(self, x, y):
            return tf.zeros_like(x)

    robust = Zeroed(linear_model(W0, B0))
    compile_(robust)
    robust.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    # With x = 0 the kernel gradient vanishes: only the bias moves.
    np.testing.assert_allclose(robust.base.layers[-1].kernel.numpy(), W0, atol=1e-7)
    assert not np.allclose(robust.base.layers[-1].bias.numpy(), B0)


def test_save_and_reload_round_trip(tmp_path, linear_model):
    robust = RobustModel(linear_model(W0, B0))
    compile_(robust)
    robust.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "robust.keras"
    robust.save(path)
    again = keras.saving.load_model(path)  # safe_mode default
    assert isinstance(again, RobustModel)
    np.testing.assert_allclose(again.predict(X, verbose=0), robust.predict(X, verbose=0), atol=1e-6)


def test_base_must_be_a_model():
    with pytest.raises(ValueError, match="base"):
        RobustModel(keras.layers.Dense(3))


def test_cosine_schedule_reaches_zero():
    opt = build_optimizer(OptimizerConfig(name="sgd", learning_rate=0.1, momentum=0.9,
                                          schedule="cosine"), total_steps=100)
    schedule = opt._learning_rate
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(50)) == pytest.approx(0.05, rel=1e-4)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-7)
    adam = build_optimizer(OptimizerConfig(), total_steps=10)
    assert isinstance(adam, keras.optimizers.Adam)
    assert float(adam.learning_rate) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="total_steps"):
        build_optimizer(OptimizerConfig(), total_steps=0)


def test_mirrored_strategy_matches_single_device(linear_model_script):
    """Two logical CPUs under MirroredStrategy give the hand-computed update.

    Runs in a subprocess because logical devices must be configured before
    TensorFlow initialises.
    """
    preamble, factory = linear_model_script
    script = preamble + textwrap.dedent(
        """
        import numpy as np, tensorflow as tf, keras, sys
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.path.insert(0, sys.argv[1])
        import test_robust_model as t
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            robust = t.WeightPenalty(linear_model(t.W0, t.B0))
            t.compile_(robust)
        robust.fit(t.X, t.Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        w, b = t.hand_sgd_step(0.5, reg=0.3)
        np.testing.assert_allclose(robust.base.layers[-1].kernel.numpy(), w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(robust.base.layers[-1].bias.numpy(), b, rtol=1e-5, atol=1e-6)
        print("MIRRORED-OK")
        """
    )
    here = __file__.rsplit("/", 1)[0]
    proc = subprocess.run([sys.executable, "-c", script, here, *factory], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MIRRORED-OK" in proc.stdout
