"""Interpretation Regularization and Jacobian Regularization train steps.

Oracles: on a linear model ``J_c(x)`` is the kernel column of the label and
``||J(x)||_F = ||W||_F`` for every input, so the whole loss is a closed-form
function of the weights whose gradient we take by central differences in
float64. A BatchNorm model is checked the same way against a loss evaluated
eagerly, outside the template.
"""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.training import METHODS, InterpretationRegularizedModel, JacobianRegularizedModel

RNG = np.random.default_rng(3)
N, D, K = 8, 4, 3
X = RNG.normal(size=(N, D))
Y = np.array([0, 1, 2, 1, 0, 2, 2, 1], dtype="int32")
T = RNG.normal(size=(N, D))
W0 = RNG.normal(size=(D, K)) * 0.5
B0 = np.array([0.1, -0.2, 0.05])
LD, LM, LJ = 0.7, 0.3, 0.4


def bn_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((D,), dtype="float64")
    h = keras.layers.Dense(5, activation="tanh", dtype="float64")(inputs)
    h = keras.layers.BatchNormalization(dtype="float64", beta_initializer="random_normal",
                                        gamma_initializer="random_uniform")(h)
    outputs = keras.layers.Dense(K, dtype="float64")(h)
    return keras.Model(inputs, outputs)


def compile_(model, lr=0.5, jit=False, run_eagerly=False):
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"], jit_compile=jit, run_eagerly=run_eagerly,
    )


def cross_entropy(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def ir_terms(grads, targets):
    g, t = grads.reshape(len(grads), -1), targets.reshape(len(targets), -1)
    cos = (g * t).sum(1) / (np.linalg.norm(g, axis=1) * np.linalg.norm(t, axis=1))
    return cos.mean(), np.linalg.norm(g, axis=1).mean()


def linear_ir_loss(w, b):
    cos, norm = ir_terms(w[:, Y].T, T)
    return cross_entropy(X @ w + b, Y) - LD * cos + LM * norm


def linear_jr_loss(w, b):
    return cross_entropy(X @ w + b, Y) + LJ * np.linalg.norm(w)


def numeric_gradient(loss, params, h=1e-6):
    grads = []
    for i, p in enumerate(params):
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[i][idx] += h
            minus[i][idx] -= h
            g[idx] = (loss(*plus) - loss(*minus)) / (2 * h)
        grads.append(g)
    return grads


def one_step_gradients(model, data, lr=1.0):
    before = [v.numpy().copy() for v in model.base.trainable_variables]
    model.fit(data, epochs=1, verbose=0)
    after = [v.numpy() for v in model.base.trainable_variables]
    return [(b - a) / lr for b, a in zip(before, after)]


def ir_data(x=X, t=T, y=Y, dtype="float32"):
    return tf.data.Dataset.from_tensor_slices(((x.astype(dtype), t.astype(dtype)), y)).batch(len(y))


@pytest.mark.parametrize("mode", ["eager", "graph", "jit"])
def test_ir_step_matches_the_finite_difference_gradient_of_eq9(mode, linear_model):
    model = InterpretationRegularizedModel(linear_model(W0, B0), lambda_d=LD, lambda_m=LM)
    compile_(model, lr=1.0, jit=mode == "jit", run_eagerly=mode == "eager")
    got = one_step_gradients(model, ir_data())
    want = numeric_gradient(linear_ir_loss, [W0.copy(), B0.copy()])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("mode", ["eager", "graph", "jit"])
def test_jr_exact_step_matches_the_finite_difference_gradient_of_eq13(mode, linear_model):
    model = JacobianRegularizedModel(linear_model(W0, B0), lambda_j=LJ, n_proj="exact")
    compile_(model, lr=1.0, jit=mode == "jit", run_eagerly=mode == "eager")
    data = tf.data.Dataset.from_tensor_slices((X.astype("float32"), Y)).batch(N)
    got = one_step_gradients(model, data)
    want = numeric_gradient(linear_jr_loss, [W0.copy(), B0.copy()])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)


def eager_loss(base, method):
    """Eq. 9 / eq. 13 (exact) evaluated outside the template, float64, BatchNorm in training mode."""
    x = tf.constant(X)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        logits = base(x, training=True)
        rows = [tf.reduce_sum(logits[:, k]) for k in range(K)]
        label = tf.reduce_sum(tf.gather(logits, Y, axis=1, batch_dims=1))
    ce = cross_entropy(logits.numpy(), Y)
    if method == "ir":
        cos, norm = ir_terms(tape.gradient(label, x).numpy(), T)
        return ce - LD * cos + LM * norm
    jac = np.stack([tape.gradient(r, x).numpy() for r in rows], axis=1)  # (N, K, D)
    return ce + LJ * np.sqrt((jac**2).sum(axis=(1, 2))).mean()


@pytest.mark.parametrize("method", ["ir", "jr"])
def test_batchnorm_model_passes_the_finite_difference_check(method):
    base = bn_model()
    if method == "ir":
        model = InterpretationRegularizedModel(base, lambda_d=LD, lambda_m=LM)
        data = ir_data(dtype="float64")
    else:
        model = JacobianRegularizedModel(base, lambda_j=LJ, n_proj="exact")
        data = tf.data.Dataset.from_tensor_slices((X, Y)).batch(N)
    start = [v.numpy().copy() for v in base.trainable_variables]

    def loss(*params):
        for v, p in zip(base.trainable_variables, params):
            v.assign(p)
        return eager_loss(base, method)

    want = numeric_gradient(loss, [p.copy() for p in start], h=1e-6)
    for v, p in zip(base.trainable_variables, start):
        v.assign(p)
    compile_(model, lr=1.0)
    got = one_step_gradients(model, data)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-7)


def test_jr_projection_estimate_is_unbiased_within_5_percent():
    rng = np.random.default_rng(0)
    d, k, n = 20, 10, 4000
    w = rng.normal(size=(d, k))
    x = rng.normal(size=(n, d)).astype("float32")
    y = rng.integers(0, k, n)
    exact = float((w**2).sum())

    def build(**options):
        inputs = keras.Input((d,))
        out = keras.layers.Dense(k, kernel_initializer=keras.initializers.Constant(w))(inputs)
        model = JacobianRegularizedModel(keras.Model(inputs, out), lambda_j=1.0, **options)
        compile_(model, lr=0.0)
        return model.train_on_batch(x, y, return_dict=True)

    squared = build(n_proj=1, squared=True)
    assert squared["jr_penalty"] == pytest.approx(exact, rel=0.05)
    two = build(n_proj=2, squared=True, seed=5)
    assert two["jr_penalty"] == pytest.approx(exact, rel=0.05)
    assert two["jr_penalty"] != pytest.approx(squared["jr_penalty"], rel=1e-6)  # different draws
    logs = build(n_proj="exact")
    assert logs["jacobian_norm"] == pytest.approx(np.sqrt(exact), rel=1e-5)
    assert logs["jr_penalty"] == pytest.approx(np.sqrt(exact), rel=1e-5)


def test_projections_change_every_step(linear_model):
    model = JacobianRegularizedModel(linear_model(W0, B0), lambda_j=1.0, n_proj=1, squared=True)
    compile_(model, lr=0.0)
    first = model.train_on_batch(X.astype("float32"), Y, return_dict=True)["jr_penalty"]
    second = model.train_on_batch(X.astype("float32"), Y, return_dict=True)["jr_penalty"]
    assert first != pytest.approx(second, rel=1e-6)


def test_zero_gradients_and_zero_targets_give_no_nan(linear_model):
    zero = linear_model(np.zeros((D, K)), np.zeros(K))
    ir = InterpretationRegularizedModel(zero, lambda_d=LD, lambda_m=LM)
    compile_(ir)
    logs = ir.fit(ir_data(t=np.zeros_like(T)), epochs=2, verbose=0).history
    assert all(np.isfinite(v).all() for v in logs.values())
    assert logs["target_cosine"][0] == 0.0
    assert np.isfinite(ir.base.layers[-1].kernel.numpy()).all()
    jr = JacobianRegularizedModel(linear_model(np.zeros((D, K)), np.zeros(K)), lambda_j=LJ)
    compile_(jr)
    logs = jr.fit(X.astype("float32"), Y, batch_size=N, epochs=2, verbose=0).history
    assert all(np.isfinite(v).all() for v in logs.values())
    assert np.isfinite(jr.base.layers[-1].kernel.numpy()).all()


def test_ir_metrics_equal_the_closed_form_and_validation_takes_plain_batches(linear_model):
    model = InterpretationRegularizedModel(linear_model(W0, B0), lambda_d=LD, lambda_m=LM)
    compile_(model, lr=0.0)
    val = tf.data.Dataset.from_tensor_slices((X.astype("float32"), Y)).batch(4)
    history = model.fit(ir_data(), validation_data=val, epochs=1, verbose=0).history
    cos, norm = ir_terms(W0[:, Y].T, T)
    assert history["target_cosine"][0] == pytest.approx(cos, rel=1e-4)
    assert history["label_jacobian_norm"][0] == pytest.approx(norm, rel=1e-4)
    assert history["ir_penalty"][0] == pytest.approx(-LD * cos + LM * norm, rel=1e-4)
    assert history["loss"][0] == pytest.approx(linear_ir_loss(W0, B0), rel=1e-4)
    assert not any(k.startswith("val_") and ("cosine" in k or "penalty" in k) for k in history)
    preds = model.predict(ir_data(), verbose=0)  # predict also accepts (x, target) batches
    np.testing.assert_allclose(preds, X @ W0 + B0, rtol=1e-4, atol=1e-5)


def test_ir_without_targets_is_a_clear_error(linear_model):
    model = InterpretationRegularizedModel(linear_model(W0, B0))
    compile_(model, run_eagerly=True)
    with pytest.raises(ValueError, match="targets"):
        model.fit(X.astype("float32"), Y, batch_size=N, epochs=1, verbose=0)


@pytest.mark.parametrize("cls, kwargs, message", [
    (InterpretationRegularizedModel, {"lambda_d": -1}, "lambda_d"),
    (InterpretationRegularizedModel, {"lambda_m": float("nan")}, "lambda_m"),
    (InterpretationRegularizedModel, {"lambda_m": "x"}, "lambda_m"),
    (JacobianRegularizedModel, {"lambda_j": -0.1}, "lambda_j"),
    (JacobianRegularizedModel, {"n_proj": 0}, "n_proj"),
    (JacobianRegularizedModel, {"n_proj": "all"}, "n_proj"),
    (JacobianRegularizedModel, {"seed": -1}, "seed"),
    (JacobianRegularizedModel, {"squared": "yes"}, "squared"),
])
def test_bad_options(cls, kwargs, message, linear_model):
    with pytest.raises(ValueError, match=message):
        cls(linear_model(W0, B0), **kwargs)


@pytest.mark.parametrize("method, options", [("ir", {"lambda_d": 2.0, "lambda_m": 0.1}),
                                             ("jr", {"lambda_j": 0.1, "n_proj": 3, "seed": 4})])
def test_registered_save_and_reload(tmp_path, method, options, linear_model):
    model = METHODS[method](linear_model(W0, B0), **options)
    compile_(model)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)  # safe mode
    assert type(again) is type(model)
    mine = {k: v for k, v in model.get_config().items() if k not in ("base", "name")}
    assert {k: again.get_config()[k] for k in mine} == mine
    assert all(again.get_config()[k] == v for k, v in options.items())
    np.testing.assert_allclose(again.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


def test_mirrored_strategy_matches_single_device(linear_model_script):
    """IR and exact JR under two logical CPUs give the single-device update."""
    preamble, factory = linear_model_script
    script = preamble + textwrap.dedent(
        """
        import numpy as np, tensorflow as tf, keras, sys
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.path.insert(0, sys.argv[1])
        import test_regularized as t
        for method in ("ir", "jr"):
            def run(strategy):
                with strategy.scope():
                    if method == "ir":
                        model = t.InterpretationRegularizedModel(linear_model(t.W0, t.B0), lambda_d=t.LD, lambda_m=t.LM)
                        data = t.ir_data()
                    else:
                        model = t.JacobianRegularizedModel(linear_model(t.W0, t.B0), lambda_j=t.LJ, n_proj="exact")
                        data = tf.data.Dataset.from_tensor_slices((t.X.astype("float32"), t.Y)).batch(t.N)
                    t.compile_(model, lr=1.0)
                return t.one_step_gradients(model, data)
            mirrored = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
            single = run(tf.distribute.get_strategy())
            for a, b in zip(mirrored, single):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        print("MIRRORED-OK")
        """
    )
    here = __file__.rsplit("/", 1)[0]
    proc = subprocess.run([sys.executable, "-c", script, here, *factory], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MIRRORED-OK" in proc.stdout


def test_keras_default_batchnorm_is_not_exact_under_double_backprop():
    """Why exact_batchnorm exists: without it the IR step misses the finite-difference gradient."""
    base = bn_model()
    start = [v.numpy().copy() for v in base.trainable_variables]

    def loss(*params):
        for v, p in zip(base.trainable_variables, params):
            v.assign(p)
        return eager_loss(base, "ir")

    want = numeric_gradient(loss, [p.copy() for p in start], h=1e-6)
    for v, p in zip(base.trainable_variables, start):
        v.assign(p)
    model = InterpretationRegularizedModel(base, lambda_d=LD, lambda_m=LM, exact_batchnorm=False)
    compile_(model, lr=1.0)
    got = one_step_gradients(model, ir_data(dtype="float64"))
    assert max(np.abs(g - w).max() for g, w in zip(got, want)) > 1e-3
