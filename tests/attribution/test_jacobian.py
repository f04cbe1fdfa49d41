"""Jacobian norms against analytic oracles: linear, quadratic and zero models."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attribution import (
    ATTRIBUTIONS,
    jacobian_frobenius,
    logit_jacobian_norms,
    projection_vectors,
    safe_norm,
    safe_sqrt,
)

RNG = np.random.default_rng(3)
W = RNG.normal(size=(4, 3)).astype(np.float32)  # D = 4 inputs, K = 3 logits
B = RNG.normal(size=(3,)).astype(np.float32)
WQ = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
UQ = np.array([0.3, 0.0, -1.0, 2.0], np.float32)


def quadratic_model():
    """Logits [sum_i WQ_i x_i^2, UQ . x]: J_0 = 2 WQ x, J_1 = UQ."""
    inp = keras.Input((4,))
    sq = keras.layers.Multiply()([inp, inp])
    a = keras.layers.Dense(1, use_bias=False)
    c = keras.layers.Dense(1, use_bias=False)
    out = keras.layers.Concatenate()([a(sq), c(inp)])
    a.set_weights([WQ[:, None]])
    c.set_weights([UQ[:, None]])
    return keras.Model(inp, out)


@pytest.fixture(params=[(4,), (2, 2, 1)], ids=["flat", "image"])
def linear(request, linear_model):
    """z = W^T flatten(x) + B: J_k(x) = W[:, k] for every x."""
    shape = request.param
    x = RNG.uniform(0, 1, size=(6, *shape)).astype(np.float32)
    y = np.array([0, 1, 2, 2, 1, 0])
    return linear_model(W, B, input_shape=shape), x, y


def test_not_a_registered_attribution():
    assert "jacobian_frobenius" not in ATTRIBUTIONS and "logit_jacobian_norms" not in ATTRIBUTIONS


def test_linear_slices_are_weight_columns(linear):
    model, x, y = linear
    cols = np.linalg.norm(W, axis=0)  # ||J_k|| = ||W[:, k]||
    out = logit_jacobian_norms(model, x, y)
    assert set(out) == {"label", "other"}
    assert out["label"].shape == (6,) and out["label"].dtype == np.float32
    np.testing.assert_allclose(out["label"], cols[y], rtol=1e-5)
    other = np.array([np.mean(np.delete(cols, c)) for c in y])
    np.testing.assert_allclose(out["other"], other, rtol=1e-5)
    # One-hot labels and small batches give the same values.
    small = logit_jacobian_norms(model, x, np.eye(3)[y], batch_size=4)
    np.testing.assert_allclose(small["label"], out["label"], rtol=1e-6)
    np.testing.assert_allclose(small["other"], out["other"], rtol=1e-6)


def test_linear_frobenius_exact(linear):
    model, x, _ = linear
    fro = jacobian_frobenius(model, x)
    assert isinstance(fro, tf.Tensor) and fro.shape == (6,) and fro.dtype == tf.float32
    np.testing.assert_allclose(fro.numpy(), np.full(6, np.linalg.norm(W)), rtol=1e-5)


def test_quadratic_model():
    model = quadratic_model()
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 1])
    j0 = np.linalg.norm(2 * WQ * x, axis=1)
    j1 = np.full(5, np.linalg.norm(UQ))
    out = logit_jacobian_norms(model, x, y, batch_size=2)
    np.testing.assert_allclose(out["label"], np.where(y == 0, j0, j1), rtol=1e-5)
    np.testing.assert_allclose(out["other"], np.where(y == 0, j1, j0), rtol=1e-5)
    np.testing.assert_allclose(jacobian_frobenius(model, x).numpy(), np.sqrt(j0**2 + j1**2), rtol=1e-5)


@pytest.mark.parametrize("which", ["linear", "quadratic"])
def test_projection_estimate_is_unbiased(which, linear_model):
    if which == "linear":
        model, x = linear_model(W, B), RNG.uniform(size=(3, 4)).astype(np.float32)
    else:
        model, x = quadratic_model(), RNG.normal(size=(3, 4)).astype(np.float32)
    exact = jacobian_frobenius(model, x).numpy()
    est = jacobian_frobenius(model, x, n_proj=2000, seed=1).numpy()
    np.testing.assert_allclose(est, exact, rtol=0.05)
    # Noack's eq. 14 without the factor K would be sqrt(K) = sqrt(2 or 3) too small.
    assert np.all(np.abs(est - exact / np.sqrt(model.output_shape[-1])) > 0.1 * exact)


def test_projection_seeded_and_finite(linear_model):
    model = linear_model(W, B)
    x = RNG.uniform(size=(4, 4)).astype(np.float32)
    a = jacobian_frobenius(model, x, n_proj=1, seed=5).numpy()
    b = jacobian_frobenius(model, x, n_proj=1, seed=5).numpy()
    c = jacobian_frobenius(model, x, n_proj=1, seed=6).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(a)) and not np.allclose(a, c)
    # One projection: K * ||W v||^2 with the same v for every example.
    v = projection_vectors(3, 1, 5).numpy()[0]
    np.testing.assert_allclose(a, np.full(4, np.sqrt(3) * np.linalg.norm(W @ v)), rtol=1e-5)


def test_projection_vectors():
    v = projection_vectors(5, 4000, seed=2).numpy()
    assert v.shape == (4000, 5) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(v, projection_vectors(5, 4000, seed=2).numpy())
    # Uniform on the sphere: E[K v v^T] = I.
    np.testing.assert_allclose(5 * v.T @ v / len(v), np.eye(5), atol=0.08)
    with pytest.raises(ValueError, match="n_proj"):
        projection_vectors(5, 0)
    with pytest.raises(ValueError, match="num_classes"):
        projection_vectors(2.5, 1)


def test_zero_model_gives_zeros_without_nan(linear_model):
    model = linear_model(np.zeros((4, 3), np.float32), np.zeros(3, np.float32), input_shape=(2, 2, 1))
    x = RNG.uniform(size=(3, 2, 2, 1)).astype(np.float32)
    out = logit_jacobian_norms(model, x, [0, 1, 2])
    np.testing.assert_array_equal(out["label"], 0.0)
    np.testing.assert_array_equal(out["other"], 0.0)
    kernel = model.layers[-1].kernel
    for n_proj in (None, 3):
        with tf.GradientTape() as weight_tape:
            fro = jacobian_frobenius(model, x, n_proj=n_proj)
            total = tf.reduce_sum(fro)
        np.testing.assert_array_equal(fro.numpy(), 0.0)
        grad = weight_tape.gradient(total, kernel)
        assert np.all(np.isfinite(grad.numpy()))


def test_safe_norm_value_and_gradient():
    v = tf.constant([[3.0, 4.0], [0.0, 0.0]])
    with tf.GradientTape() as tape:
        tape.watch(v)
        n = safe_norm(v, axis=-1)
    np.testing.assert_allclose(n.numpy(), [5.0, 0.0])
    g = tape.gradient(n, v).numpy()
    np.testing.assert_allclose(g, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    assert np.all(np.isfinite(g))
    s = tf.constant(0.0)
    with tf.GradientTape() as tape:
        tape.watch(s)
        r = safe_sqrt(s)
    assert float(r) == 0.0 and np.isfinite(float(tape.gradient(r, s)))
    np.testing.assert_allclose(safe_norm(tf.ones((2, 3, 4)), axis=None).numpy(), np.sqrt(24.0), rtol=1e-6)


def test_frobenius_is_differentiable_in_graph_and_xla(linear_model):
    """d ||W||_F / dW = W / ||W||_F: what a Jacobian Regularization step needs."""
    model = linear_model(W, B)
    x = tf.constant(RNG.uniform(size=(2, 4)).astype(np.float32))
    kernel = model.layers[-1].kernel
    oracle = 2 * W / np.linalg.norm(W)

    def step(n_proj):
        with tf.GradientTape() as weight_tape:
            total = tf.reduce_sum(jacobian_frobenius(model, x, n_proj=n_proj))
        return weight_tape.gradient(total, kernel)

    np.testing.assert_allclose(step(None).numpy(), oracle, rtol=1e-5)
    np.testing.assert_allclose(tf.function(lambda: step(None))().numpy(), oracle, rtol=1e-5)
    np.testing.assert_allclose(tf.function(lambda: step(None), jit_compile=True)().numpy(), oracle, rtol=1e-4)
    graph = tf.function(lambda: step(2), jit_compile=True)().numpy()
    np.testing.assert_allclose(graph, step(2).numpy(), rtol=1e-4)


def test_bad_arguments(linear_model):
    model = linear_model(W, B)
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match="batch_size"):
        logit_jacobian_norms(model, x, [0, 1], batch_size=0)
    with pytest.raises(ValueError, match="y must"):
        logit_jacobian_norms(model, x, [0, 3])
    with pytest.raises(ValueError, match="y must"):
        logit_jacobian_norms(model, x, [0, 1, 2])
    with pytest.raises(ValueError, match="n_proj"):
        jacobian_frobenius(model, x, n_proj=0)
    with pytest.raises(ValueError, match="x must"):
        jacobian_frobenius(model, np.zeros(4, np.float32))
