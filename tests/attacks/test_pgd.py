"""PGD/FGSM: properties (ball, bounds, purity, eps=0, restarts) and analytic oracles."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import PGD, cw_margin, fgsm, get_norm, pgd, xent

BOUNDS = (0.0, 1.0)


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model(x, training=False).numpy(), axis=1) == y))


@pytest.fixture(scope="module")
def trained():
    """A small 3-class MLP trained on separable 6x6 images in [0, 1]."""
    rng = np.random.default_rng(0)
    centers = rng.uniform(0.2, 0.8, size=(3, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, size=600)
    x = np.clip(centers[y] + rng.normal(0, 0.08, size=(600, 6, 6, 1)), 0, 1).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation="relu"), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    return model, x[:200], y[:200].astype("int32")


CASES = [
    ("linf", "xent", "normalized"), ("linf", "cw", "normalized"),
    ("l2", "xent", "normalized"), ("l2", "xent", "sign"),
    ("l2", "cw", "normalized"), ("l2", "cw", "sign"),
]


@pytest.mark.parametrize("norm, objective, l2_step", CASES)
def test_stays_in_ball_and_bounds_and_leaves_inputs_alone(trained, norm, objective, l2_step):
    model, x, y = trained
    x_copy, y_copy = x.copy(), y.copy()
    eps = 0.3 if norm == "linf" else 1.0
    # A sign step has l2 length step * sqrt(d): keep it inside the ball's diameter (longer steps are refused).
    step = 2.5 * eps / 7 / 6 if l2_step == "sign" else None
    x_adv = pgd(model, x, y, norm=norm, eps=eps, steps=7, bounds=BOUNDS, objective=objective,
                l2_step=l2_step, restarts=2, seed=1, kappa=5.0, step_size=step).numpy()
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    distance = get_norm(norm).norm(tf.constant(x_adv - x)).numpy()
    assert distance.max() <= eps * (1 + 1e-5)
    assert x_adv.min() >= BOUNDS[0] and x_adv.max() <= BOUNDS[1]
    assert distance.max() > 0.5 * eps  # it moved


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_eps_zero_is_identity(trained, norm):
    model, x, y = trained
    out = pgd(model, x, y, norm=norm, eps=0.0, steps=5, bounds=BOUNDS, random_start=True)
    np.testing.assert_array_equal(out.numpy(), x)


@pytest.mark.parametrize("norm, eps", [("linf", 0.15), ("l2", 0.8)])
def test_pgd_at_most_fgsm_and_restarts_never_help_the_model(trained, norm, eps):
    model, x, y = trained
    clean = accuracy(model, x, y)
    fgsm_acc = accuracy(model, fgsm(model, x, y, eps=eps, bounds=BOUNDS, norm=norm), y)
    accs = [accuracy(model, pgd(model, x, y, norm=norm, eps=eps, steps=10, bounds=BOUNDS,
                                restarts=r, seed=3), y) for r in (1, 2, 4)]
    assert clean > 0.9
    assert accs[0] <= fgsm_acc < clean
    assert accs[2] <= accs[1] <= accs[0]


def test_accuracy_falls_along_an_eps_grid(trained):
    model, x, y = trained
    accs = [accuracy(model, pgd(model, x, y, norm="linf", eps=e, steps=10, bounds=BOUNDS), y)
            for e in (0.0, 0.05, 0.1, 0.2, 0.4)]
    assert all(b <= a for a, b in zip(accs, accs[1:])), accs
    assert accs[-1] < 0.1


def test_same_seed_same_result_and_graph_equals_eager(trained):
    model, x, y = trained
    kwargs = dict(norm="l2", eps=0.5, steps=3, bounds=BOUNDS, seed=11)
    a = pgd(model, x, y, **kwargs).numpy()
    np.testing.assert_array_equal(a, pgd(model, x, y, **kwargs).numpy())
    assert not np.array_equal(a, pgd(model, x, y, **{**kwargs, "seed": 12}).numpy())
    seed = tf.constant([11, 0], tf.int64)
    eager = pgd(model, x, y, **{**kwargs, "seed": seed}).numpy()
    graph = tf.function(lambda xx, yy: pgd(model, xx, yy, **{**kwargs, "seed": seed}))(x, y).numpy()
    np.testing.assert_allclose(graph, eager, atol=1e-6)


def linear_binary(linear_model, d=20, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, 2)).astype("float32")
    b = rng.normal(size=2).astype("float32")
    model = linear_model(w, b)
    x = rng.normal(size=(16, d)).astype("float32")
    y = np.argmax(x @ w + b, axis=1).astype("int32")  # every point correctly classified
    return model, w, b, x, y


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
@pytest.mark.parametrize("objective", ["xent", "cw"])
def test_linear_model_closed_form_minimal_perturbation(linear_model, norm, objective):
    """For z = xW + b the smallest flip has ||delta||_p = m / ||w||_q, q the dual of p (l2: 2, linf: 1, l1: inf)."""
    model, w, b, x, y = linear_binary(linear_model)
    direction = w[:, 1] - w[:, 0]
    margin = np.abs(x @ direction + (b[1] - b[0]))
    dual = np.linalg.norm(direction, ord={"l2": 2, "linf": 1, "l1": np.inf}[norm])
    minimal = margin / dual
    wide = (-1e3, 1e3)
    for factor, should_flip in ((1.01, True), (0.99, False)):
        flipped = []
        for i in range(len(x)):  # each example has its own eps; batch of one keeps shapes static
            eps = float(factor * minimal[i])
            x_adv = pgd(model, x[i:i + 1], y[i:i + 1], norm=norm, eps=eps, steps=60, bounds=wide,
                        objective=objective, random_start=False)
            flipped.append(int(np.argmax(model(x_adv).numpy())) != y[i])
        assert all(flipped) if should_flip else not any(flipped), (factor, np.mean(flipped))


def test_objectives_closed_form():
    logits = tf.constant([[2.0, 1.0, -1.0], [0.0, 3.0, 1.0]])
    y = tf.constant([0, 0])
    np.testing.assert_allclose(cw_margin(logits, y, kappa=10).numpy(), [-1.0, 3.0])
    np.testing.assert_allclose(cw_margin(logits, y, kappa=0.5).numpy(), [-1.0, 0.5])
    np.testing.assert_allclose(cw_margin(logits, tf.constant([1, 1]), targeted=True, kappa=10).numpy(), [-1.0, 2.0])
    p = tf.nn.softmax(logits).numpy()
    np.testing.assert_allclose(xent(logits, y).numpy(), -np.log(p[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(xent(logits, y, targeted=True).numpy(), np.log(p[:, 0]), rtol=1e-6)


def test_targeted_attack_reaches_the_target(trained):
    model, x, y = trained
    target = ((y + 1) % 3).astype("int32")
    x_adv = pgd(model, x, target, norm="linf", eps=0.5, steps=20, bounds=BOUNDS, targeted=True)
    hit = np.argmax(model(x_adv).numpy(), axis=1) == target
    assert hit.mean() > 0.95


def test_zero_gradient_gives_no_nan():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        2, kernel_initializer="zeros", bias_initializer="zeros")])
    x = np.full((3, 4), 0.5, "float32")
    for norm in ("l2", "linf"):
        out = pgd(model, x, np.zeros(3, "int32"), norm=norm, eps=0.1, steps=3, bounds=BOUNDS,
                  random_start=False).numpy()
        assert np.isfinite(out).all()
        np.testing.assert_array_equal(out, x)


def test_attack_does_not_touch_batchnorm_statistics_or_dropout():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                              keras.layers.ReLU(), keras.layers.Dropout(0.5), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (64, 5)).astype("float32")
    y = rng.integers(0, 3, 64).astype("int32")
    model.fit(x, y, epochs=1, verbose=0)
    bn = model.layers[1]
    before = [bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()]
    a = pgd(model, x, y, norm="l2", eps=0.5, steps=5, bounds=BOUNDS, seed=2).numpy()
    b = pgd(model, x, y, norm="l2", eps=0.5, steps=5, bounds=BOUNDS, seed=2).numpy()
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before[0])
    np.testing.assert_array_equal(bn.moving_variance.numpy(), before[1])
    np.testing.assert_array_equal(a, b)  # dropout off: deterministic


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(norm="l3"), "norm"), (dict(eps=-0.1), "eps"), (dict(eps=float("nan")), "eps"),
        (dict(steps=-1), "steps"), (dict(restarts=0), "restarts"), (dict(objective="hinge"), "objective"),
        (dict(l2_step="diag"), "l2_step"), (dict(bounds=(1, 0)), "bounds"), (dict(step_size=-1.0), "step_size"),
        (dict(update="nesterov"), "update"), (dict(update="momentum", momentum=-0.5), "momentum"),
        (dict(step_size_factor=float("inf")), "step_size_factor"), (dict(long_steps="clip"), "long_steps"),
    ],
)
def test_bad_arguments_are_value_errors(trained, kwargs, message):
    model, x, y = trained
    args = dict(norm="linf", eps=0.1, steps=2, bounds=BOUNDS)
    with pytest.raises(ValueError, match=message):
        pgd(model, x, y, **{**args, **kwargs})


def test_inputs_outside_bounds_and_bad_shapes_are_errors(trained):
    model, x, y = trained
    with pytest.raises(ValueError, match="outside bounds"):
        pgd(model, x * 2 - 1, y, norm="linf", eps=0.1, steps=1, bounds=BOUNDS)
    with pytest.raises(ValueError, match="y must have shape"):
        pgd(model, x, y[:5], norm="linf", eps=0.1, steps=1, bounds=BOUNDS)


def test_pgd_spec_validates_and_calls(linear_model):
    with pytest.raises(ValueError, match="eps"):
        PGD(eps=-1)
    with pytest.raises(ValueError, match="norm"):
        PGD(norm="l7")
    spec = PGD(norm="linf", eps="8/255", steps=10)
    assert spec.eps == pytest.approx(8 / 255) and spec.resolved_step_size == pytest.approx(2.5 * 8 / 255 / 10)
    assert PGD(**spec.to_dict()) == spec
    model, _, _, x, y = linear_binary(linear_model)
    with pytest.raises(ValueError, match="bounds"):
        spec(model, x, y)
    out = spec(model, x, y, bounds=(-10, 10))
    assert np.abs(out.numpy() - x).max() <= 8 / 255 + 1e-6


# --------------------------------------------------------------------------- update rules


def test_momentum_rule_by_hand():
    from tfrobust.attacks.updates import Momentum

    rule = Momentum(mu=0.5)
    g1 = tf.constant([[1.0, -3.0]])
    g2 = tf.constant([[2.0, 2.0]])
    state = rule.init(g1)
    d1, state = rule.direction(g1, state)
    d2, state = rule.direction(g2, state)
    np.testing.assert_allclose(d1.numpy(), [[0.25, -0.75]])                        # g1 / ||g1||_1
    np.testing.assert_allclose(d2.numpy(), [[0.5 * 0.25 + 0.5, 0.5 * -0.75 + 0.5]])  # mu d1 + g2 / ||g2||_1
    np.testing.assert_array_equal(state.numpy(), d2.numpy())


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_momentum_on_a_linear_model_equals_steepest(linear_model, norm):
    """A linear binary model's input gradient keeps its direction, so every accumulated momentum does too."""
    model, _, _, x, y = linear_binary(linear_model)
    kwargs = dict(norm=norm, eps=0.5, steps=6, bounds=(-1e3, 1e3), random_start=False)
    steepest = pgd(model, x, y, **kwargs).numpy()
    momentum = pgd(model, x, y, update="momentum", momentum=1.0, **kwargs).numpy()
    np.testing.assert_allclose(momentum, steepest, rtol=1e-5, atol=1e-6)


def test_momentum_zero_is_steepest_and_momentum_changes_the_path(trained):
    model, x, y = trained
    kwargs = dict(norm="linf", eps=0.15, steps=6, bounds=BOUNDS, seed=4)
    steepest = pgd(model, x, y, **kwargs).numpy()
    np.testing.assert_array_equal(pgd(model, x, y, update="momentum", momentum=0.0, **kwargs).numpy(), steepest)
    mi = pgd(model, x, y, update="momentum", momentum=1.0, **kwargs).numpy()
    assert not np.array_equal(mi, steepest)
    assert np.abs(mi - x).max() <= 0.15 + 1e-6 and accuracy(model, mi, y) < accuracy(model, x, y)
