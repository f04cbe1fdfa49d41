"""APGD: closed-form oracles on an affine model, strength against PGD, per-example seeds, refusals."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import Attack, get_norm, pgd
from tfrobust.attacks.apgd import apgd, check_apgd, checkpoints
from tfrobust.attacks.seeds import example_seeds
from tfrobust.config import ConfigError

WIDE = (-10.0, 10.0)  # bounds that never bind in the oracle tests
DUAL = {"linf": 1, "l2": 2}  # the dual norm's order: the distance to w.x + b = 0 is |w.x + b| / ||w||_dual


class Affine:
    """Logits ``[0, w.x + b, -100, -100]``: in effect a 2-class model (class 1 iff ``w.x + b > 0``), with
    4 logits so that DLR (K >= 3) and targeted DLR (K >= 4) apply; every loss then ascends along +-w."""

    def __init__(self, w, b):
        self.w, self.b = tf.constant(w[:, None], tf.float32), float(b)

    def __call__(self, x):
        z = tf.reshape(x, [tf.shape(x)[0], -1]) @ self.w + self.b
        far = tf.fill(tf.shape(z), -100.0)
        return tf.concat([tf.zeros_like(z), z, far, far], axis=1)


@pytest.fixture(scope="module")
def affine():
    rng = np.random.default_rng(0)
    w = rng.normal(size=12)
    return Affine(w, 0.3), w, 0.3


def at_distance(w, b, norm, distance, n=16, seed=1):
    """n points (shape (n, 3, 4)) at exactly ``distance`` from the boundary, both sides, and their labels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12))
    side = np.where(np.arange(n) % 2 == 0, -1.0, 1.0)
    dual = np.linalg.norm(w, ord=DUAL[norm] if norm == "l2" else 1)
    x -= ((x @ w + b) - side * distance * dual)[:, None] * w / (w @ w)  # move along w to the wanted margin
    return x.reshape(n, 3, 4).astype("float32"), (side > 0).astype("int32"), dual


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("loss", ["ce", "dlr", "dlr-targeted"])
def test_reaches_the_closed_form_minimal_perturbation(affine, norm, loss):
    model, w, b = affine
    d = 0.5
    x, y, dual = at_distance(w, b, norm, d)
    for factor, breaks in ((1.02, True), (0.98, False)):
        eps = factor * d
        x_adv = apgd(model, x, y, norm=norm, eps=eps, bounds=WIDE, steps=30, loss=loss, seed=2,
                     jit_compile=False).numpy()
        length = get_norm(norm).norm(tf.constant(x_adv - x)).numpy()
        assert length.max() <= eps * (1 + 1e-5)
        margin = x_adv.reshape(len(y), -1).astype(np.float64) @ w + b
        pred = (margin > 0).astype("int32")
        # eps above the distance: every point broken; below: none can be (no attack can cross).
        np.testing.assert_array_equal(pred != y, np.full(len(y), breaks))
        # ... and the returned point is the ball's farthest point along the boundary normal:
        # |margin| = |eps - d| * ||w||_dual on the far (above) or near (below) side.
        expected = np.where(y == 1, -1.0, 1.0) * (eps - d) * dual
        np.testing.assert_allclose(margin, expected, atol=2e-3 * d * dual)


def test_clean_misclassified_points_are_returned_unchanged(affine):
    model, w, b = affine
    x, y, _ = at_distance(w, b, "linf", 0.5)
    y_wrong = y.copy()
    y_wrong[:5] = 1 - y_wrong[:5]
    x_adv = apgd(model, x, y_wrong, norm="linf", eps=0.3, bounds=WIDE, steps=5, jit_compile=False).numpy()
    np.testing.assert_array_equal(x_adv[:5], x[:5])
    assert np.abs(x_adv[5:] - x[5:]).max() == pytest.approx(0.3)  # the others were attacked


class Counting(Affine):
    """The affine model, counting the rows it evaluates (a variable: counted in compiled calls too)."""

    def __init__(self, w, b):
        super().__init__(w, b)
        self.rows = tf.Variable(0, dtype=tf.int64)

    def __call__(self, x):
        self.rows.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
        return super().__call__(x)


@pytest.mark.parametrize("loss", ["ce", "dlr-targeted"])
def test_no_model_calls_on_points_broken_or_wrong(affine, loss):
    _, w, b = affine
    model = Counting(w, b)
    x, y, _ = at_distance(w, b, "linf", 0.5, n=10)
    y[:4] = 1 - y[:4]  # 4 points misclassified on the clean input: never attacked
    steps = 6
    x_adv = apgd(model, x, y, norm="linf", eps=0.6, bounds=WIDE, steps=steps, restarts=3, loss=loss,
                 jit_compile=False).numpy()
    assert (((x_adv.reshape(10, -1) @ w + b) > 0) != y)[4:].all()  # all 6 others broken in the first run
    # the clean pass over all 10, then one run over the 6 (start + steps); no restart, no second target
    assert int(model.rows.numpy()) == 10 + 6 * (steps + 1)


def test_xla_step_agrees(affine):
    model, w, b = affine
    x, y, _ = at_distance(w, b, "l2", 0.5, n=6)
    runs = [apgd(model, x, y, norm="l2", eps=0.4, bounds=WIDE, steps=8, seed=3, jit_compile=jit).numpy()
            for jit in (False, True)]
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-3)  # XLA fuses ops: float32 rounding differs


def test_checkpoints_follow_the_paper():
    # p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), times 100 steps
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(0) == [] and checkpoints(1) == [1]
    assert all(b > a for a, b in zip(checkpoints(1000), checkpoints(1000)[1:]))


# --------------------------------------------------------------------------- a trained MLP


@pytest.fixture(scope="module")
def mlp():
    """A 5-class MLP on 16 features in [0, 1], and 200 of its training points."""
    rng = np.random.default_rng(0)
    centers = rng.uniform(0.2, 0.8, size=(5, 16)).astype("float32")
    y = rng.integers(0, 5, size=600)
    x = np.clip(centers[y] + rng.normal(0, 0.1, size=(600, 16)), 0, 1).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(5)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    return model, x[:200], y[:200].astype("int32")


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model(x, training=False).numpy(), axis=1) == y))


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 0.4)])
def test_at_least_as_strong_as_pgd_with_the_same_steps(mlp, norm, eps):
    model, x, y = mlp
    common = dict(norm=norm, eps=eps, bounds=(0.0, 1.0), steps=50, seed=0, jit_compile=False)
    pgd_acc = accuracy(model, pgd(model, x, y, **common).numpy(), y)
    assert 0.2 < pgd_acc < accuracy(model, x, y) - 0.2  # a radius where the attack matters
    for loss in ("ce", "dlr-targeted"):
        x_adv = apgd(model, x, y, loss=loss, target_classes=2, **common).numpy()
        assert get_norm(norm).norm(tf.constant(x_adv - x)).numpy().max() <= eps * (1 + 1e-5)
        assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
        assert accuracy(model, x_adv, y) <= pgd_acc + 0.02, (loss, accuracy(model, x_adv, y), pgd_acc)


@pytest.mark.parametrize("norm, loss, restarts", [("linf", "ce", 2), ("l2", "dlr-targeted", 1)])
def test_subset_with_its_seed_rows_gives_the_same_rows(mlp, norm, loss, restarts):
    model, x, y = mlp
    x, y = x[:24], y[:24]
    seeds = example_seeds(7, tf.range(24))
    options = dict(norm=norm, eps=0.1 if norm == "linf" else 0.4, bounds=(0.0, 1.0), steps=20, loss=loss,
                   restarts=restarts, target_classes=3, jit_compile=False)
    full = apgd(model, x, y, seed=seeds, **options).numpy()
    rows = np.array([1, 4, 5, 10, 17, 23])
    part = apgd(model, x[rows], y[rows], seed=tf.gather(seeds, rows), **options).numpy()
    # The model's own gradients differ in the last float bit between batch sizes; l2 steps carry that on.
    np.testing.assert_allclose(part, full[rows], atol=1e-4)
    np.testing.assert_array_equal(np.argmax(model(part).numpy(), axis=1), np.argmax(model(full[rows]).numpy(), axis=1))
    other = apgd(model, x, y, seed=example_seeds(8, tf.range(24)), **options).numpy()
    assert not np.allclose(other, full)  # the seeds matter: the check above can fail


def test_seeds_must_match_the_batch(mlp):
    model, x, y = mlp
    with pytest.raises(ValueError, match="seed"):
        apgd(model, x[:4], y[:4], norm="linf", eps=0.1, bounds=(0.0, 1.0), seed=example_seeds(0, tf.range(3)))


# --------------------------------------------------------------------------- refusals and settings


def test_settings_and_eps_zero(mlp):
    model, x, y = mlp
    attack = Attack.build("apgd", norm="linf", eps=0.1, bounds=(0, 1), options={"loss": "dlr", "restarts": 2})
    assert attack.settings == {"steps": 100, "objective": "dlr", "restarts": 2}
    np.testing.assert_array_equal(apgd(model, x, y, norm="l2", eps=0.0, bounds=(0.0, 1.0)).numpy(), x)


def one_line(err):
    text = str(err.value)
    assert "\n" not in text, text
    return text


def test_l1_refused_before_any_model_runs():
    with pytest.raises(ConfigError) as err:
        Attack.build("apgd", norm="l1", eps=1.0, bounds=(0, 1))
    assert "norm" in one_line(err)
    with pytest.raises(ConfigError, match="norm"):
        apgd(None, np.zeros((1, 2), "float32"), [0], norm="l1", eps=1.0, bounds=(0, 1))


@pytest.mark.parametrize("options, field", [
    ({"steps": -1}, "steps"), ({"steps": 2.5}, "steps"), ({"restarts": 0}, "restarts"),
    ({"target_classes": 0}, "target_classes"), ({"rho": 0.0}, "rho"), ({"rho": 1.0}, "rho"),
    ({"momentum": 1.5}, "momentum"), ({"momentum": -0.1}, "momentum"), ({"loss": "cw"}, "loss"),
    ({"jit_compile": "yes"}, "jit_compile"),
])
def test_bad_options_refused_with_one_line(options, field):
    with pytest.raises(ValueError) as err:
        Attack.build("apgd", norm="linf", eps=0.1, bounds=(0, 1), options=options)
    assert field in one_line(err)
    with pytest.raises(ValueError) as err:  # the checker itself, as a direct call runs it
        check_apgd(norm="linf", eps=0.1, bounds=(0, 1), **options)
    assert field in one_line(err)


def test_bad_inputs_refused_with_one_line(mlp):
    model, x, y = mlp
    common = dict(norm="linf", eps=0.1, bounds=(0.0, 1.0), steps=2)
    bad_x = x[:4].copy()
    bad_x[0, 0] = np.nan
    cases = [(bad_x, y[:4], "non-finite"), (x[:4] + 2.0, y[:4], "outside bounds"),
             (x[:4], np.array([0, 1, 2, 5]), "y must")]
    for xs, ys, words in cases:
        with pytest.raises(ValueError) as err:
            apgd(model, xs, ys, **common)
        assert words in one_line(err)
    two = keras.Sequential([keras.Input((16,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError) as err:
        apgd(two, x[:4], np.zeros(4, "int32"), loss="dlr", **common)
    assert "at least 3 classes" in one_line(err)
    dense = keras.layers.Dense(5)

    def sqrt_model(v):  # finite on the clean inputs (all >= 0.2 here), NaN below 0.15
        return dense(tf.sqrt(v - 0.15))

    clean = np.clip(x[:4], 0.2, 1.0)
    with pytest.raises(ValueError) as err:
        apgd(sqrt_model, clean, np.argmax(sqrt_model(clean).numpy(), axis=1), **{**common, "eps": 0.3})
    assert "NaN or inf at iterates" in one_line(err)
    with pytest.raises(RuntimeError, match="eagerly"):
        tf.function(lambda a: apgd(model, a, y[:4], **common))(tf.constant(x[:4]))
