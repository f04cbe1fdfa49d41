"""TRADES (tfrobust/training/trades.py): the loss, the inner maximisation, a fit step, saving, options."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.config import ConfigError
from tfrobust.registry import METHODS
from tfrobust.training.robust_model import RobustModel
from tfrobust.training.trades import TradesModel, kl_divergence, maximize_kl

RNG = np.random.default_rng(7)
X = RNG.uniform(0, 1, size=(16, 4, 4, 1)).astype(np.float32)
X[0, 0, 0, 0], X[1, 1, 1, 0] = 0.0, 1.0  # values on the bounds
Y = RNG.integers(0, 3, size=16).astype(np.int32)


def base_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(12, activation="tanh"), keras.layers.Dense(3)])


def compiled(model, lr=0.1):
    model.compile(optimizer=keras.optimizers.SGD(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def test_kl_divergence_oracle():
    p = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]], np.float32)
    q = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]], np.float32)
    sp = np.exp(p) / np.exp(p).sum(1, keepdims=True)
    sq = np.exp(q) / np.exp(q).sum(1, keepdims=True)
    np.testing.assert_allclose(kl_divergence(p, q).numpy(), (sp * np.log(sp / sq)).sum(1), rtol=1e-5, atol=1e-7)
    assert kl_divergence(p, q).numpy()[1] == 0.0


def test_beta_zero_is_standard_training():
    standard = compiled(RobustModel(base_model()))
    trades = compiled(TradesModel(base_model(), beta=0.0, eps=0.1, steps=3, bounds=(0.0, 1.0)))
    logs_s = standard.train_on_batch(X, Y, return_dict=True)
    logs_t = trades.train_on_batch(X, Y, return_dict=True)
    assert logs_t["trades_kl"] > 0 and logs_t["trades_penalty"] == 0.0
    np.testing.assert_allclose(logs_t["loss"], logs_s["loss"], rtol=1e-6)
    for a, b in zip(standard.base.get_weights(), trades.base.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # the KL term adds no gradient


def test_loss_is_cross_entropy_plus_beta_kl():
    standard = compiled(RobustModel(base_model()), lr=0.0)
    trades = compiled(TradesModel(base_model(), beta=6.0, eps=0.1, steps=3, bounds=(0.0, 1.0)), lr=0.0)
    logs_s = standard.train_on_batch(X, Y, return_dict=True)
    logs_t = trades.train_on_batch(X, Y, return_dict=True)
    np.testing.assert_allclose(logs_t["trades_penalty"], 6.0 * logs_t["trades_kl"], rtol=1e-5)
    np.testing.assert_allclose(logs_t["loss"], logs_s["loss"] + logs_t["trades_penalty"], rtol=1e-5)


@pytest.mark.parametrize("norm, eps", [("linf", 0.05), ("l2", 0.5)])
def test_inner_maximisation_increases_kl_within_ball_and_bounds(norm, eps):
    model = base_model(1)
    clean = model(X)
    start = maximize_kl(model, X, norm=norm, eps=eps, steps=0, step_size=0.0, seed=3)
    x_adv = maximize_kl(model, X, norm=norm, eps=eps, steps=10, step_size=eps / 4, bounds=(0.0, 1.0), seed=3)
    kl_start = kl_divergence(clean, model(start)).numpy()
    kl_adv = kl_divergence(clean, model(x_adv)).numpy()
    assert kl_start.max() < 1e-4  # the 0.001 * N(0, 1) start barely moves the prediction
    assert (kl_adv > 100 * kl_start).all() and kl_adv.mean() > 1e-3, (kl_start, kl_adv)
    delta = (x_adv.numpy() - X).reshape(len(X), -1)
    size = np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert size.max() <= eps * (1 + 1e-5)
    assert x_adv.numpy().min() >= 0.0 and x_adv.numpy().max() <= 1.0
    graph = tf.function(lambda x: maximize_kl(model, x, norm=norm, eps=eps, steps=10, step_size=eps / 4,
                                              bounds=(0.0, 1.0), seed=3))(tf.constant(X))
    np.testing.assert_allclose(graph.numpy(), x_adv.numpy(), atol=1e-4)  # l2 steps: rounding only


def test_one_fit_step_and_keras_round_trip(tmp_path):
    model = compiled(TradesModel(base_model(2), eps=0.1, steps=2, bounds=(0.0, 1.0), seed=5))
    data = tf.data.Dataset.from_tensor_slices((X, Y)).batch(8)
    history = model.fit(data, epochs=1, verbose=0, validation_data=data, shuffle=False)
    logs = {k: v[-1] for k, v in history.history.items()}
    assert {"loss", "accuracy", "trades_penalty", "trades_kl", "val_loss", "val_accuracy"} <= set(logs)
    assert "val_trades_kl" not in logs and all(np.isfinite(v) for v in logs.values())
    assert logs["trades_kl"] > 0
    path = tmp_path / "base.keras"
    model.base.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.base.predict(X, verbose=0), rtol=1e-6)
    again = TradesModel.from_config(model.get_config())
    assert (again.beta, again.norm, again.eps, again.steps, again.step_size, again.bounds, again.trades_seed) == (
        6.0, "linf", pytest.approx(0.1), 2, pytest.approx(0.125), (0.0, 1.0), 5)


def test_registered_options_and_run_defaults():
    entry = METHODS["trades"]
    assert [o.name for o in entry.options] == ["beta", "norm", "eps", "steps", "step_size", "start_sigma",
                                               "bounds", "seed"]
    assert entry.parse({"beta": 6, "eps": "8/255", "steps": 10.0}) == {"beta": 6.0, "eps": pytest.approx(8 / 255),
                                                                       "steps": 10}
    with pytest.raises(ConfigError, match=r"method 'trades' has no option 'lambda_d'; its options: beta"):
        entry.parse({"lambda_d": 1})
    assert entry.load() is TradesModel
    assert TradesModel.run_options({"beta": 1.0}, bounds=(0, 1), seed=4) == {"beta": 1.0, "seed": 4,
                                                                             "bounds": (0.0, 1.0)}


@pytest.mark.parametrize("options, message", [
    ({"beta": -1.0}, r"^beta must be >= 0"),
    ({"norm": "l3"}, r"l3"),
    ({"steps": 0}, r"^steps must be an integer >= 1"),
    ({"eps": float("nan")}, r"eps"),
    ({"bounds": (1.0, 0.0)}, r"^bounds must satisfy lo < hi"),
    ({"seed": -1}, r"^seed must be an integer >= 0"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        TradesModel(base_model(), **options)
