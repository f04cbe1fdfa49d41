"""AdversarialModel and RobustAccuracy: hand-computed steps in every execution mode, any registered attack."""

import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from tfrobust.attacks import PGD, Attack
from tfrobust.config import ConfigError
from tfrobust.registry import METHODS
from tfrobust.training import AdversarialModel, RobustAccuracy, attacked_correct

RNG = np.random.default_rng(1)
X = RNG.normal(size=(8, 3)).astype("float32")
Y = np.array([0, 1, 2, 1, 0, 2, 2, 1], dtype="int32")
W0 = (RNG.normal(size=(3, 3)) * 0.5).astype("float32")
B0 = np.array([0.1, -0.2, 0.05], dtype="float32")
EPS, LR = 0.1, 0.5
# One sign step of size eps, no random start: FGSM, computable by hand (the config form of a run).
ATTACK = {"norm": "linf", "eps": EPS, "steps": 1, "step_size": EPS, "random_start": False, "bounds": [-10.0, 10.0]}
# The same update, as the registered fgsm attack.
FGSM = {"name": "fgsm", "norm": "linf", "eps": EPS, "bounds": [-10.0, 10.0]}


@pytest.fixture
def base(linear_model):
    """A fresh linear classifier z = x W0 + B0."""
    return lambda: linear_model(W0, B0)


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
    layer = getattr(model, "base", model).layers[-1]
    return layer.kernel.numpy(), layer.bias.numpy()


@pytest.mark.parametrize("mode", ["eager", "graph", "jit"])
def test_one_step_equals_hand_computed_adversarial_update(base, mode):
    model = AdversarialModel(base(), attack=ATTACK)
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


@pytest.mark.parametrize("attack", [ATTACK, FGSM, PGD(**ATTACK)], ids=["pgd", "fgsm", "PGD"])
def test_clean_adversarial_mix_attacks_the_first_share_of_the_batch(base, attack):
    model = AdversarialModel(base(), attack=attack, adversarial_fraction=0.5)
    compile_(model)
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    mixed = np.concatenate([hand_fgsm(X[:4]), X[4:]])
    w, b = hand_step(mixed)
    kernel, bias = kernel_bias(model)
    np.testing.assert_allclose(kernel, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, b, rtol=1e-5, atol=1e-6)


def test_validation_logs_have_no_train_only_metrics(base):
    model = AdversarialModel(base(), attack=ATTACK)
    compile_(model)
    history = model.fit(X, Y, batch_size=8, epochs=1, validation_data=(X, Y), verbose=0)
    assert "clean_accuracy" in history.history and "val_accuracy" in history.history
    assert "val_clean_accuracy" not in history.history


def test_random_starts_change_every_step(base):
    attack = {"norm": "linf", "eps": 0.5, "steps": 0, "random_start": True, "bounds": (-10.0, 10.0)}
    model = AdversarialModel(base(), attack=attack, track_clean=False, seed=5)
    compile_(model, eager=True)
    first = model.training_inputs(X, Y).numpy()
    model.optimizer.iterations.assign_add(1)
    second = model.training_inputs(X, Y).numpy()
    assert np.abs(first - X).max() <= 0.5 + 1e-6
    assert not np.array_equal(first, second)


def test_save_and_reload(base, tmp_path):
    attack = {"norm": "l2", "eps": 0.3, "steps": 2, "update": "momentum", "momentum": 0.5, "bounds": (-10, 10)}
    model = AdversarialModel(base(), attack=attack, adversarial_fraction=0.75)
    compile_(model)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "adv.keras")
    again = keras.saving.load_model(tmp_path / "adv.keras")
    assert isinstance(again, AdversarialModel)
    assert again.attack == model.attack and again.adversarial_fraction == 0.75
    assert again.attack.options == {"steps": 2, "update": "momentum", "momentum": 0.5}
    np.testing.assert_allclose(again.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(attack=None), r"^attack: adversarial training needs an attack"),
    (dict(attack=PGD(eps=0.1)), r"^attack\.bounds: set the data's value range"),
    (dict(attack={"norm": "l2", "eps": 0.1}), r"^attack\.bounds: set the data's value range"),
    (dict(attack={"norm": "l2", "bounds": (0, 1)}), r"^attack: give eps"),
    (dict(attack=ATTACK, adversarial_fraction=1.5), "adversarial_fraction"),
    (dict(attack=ATTACK, seed=-1), r"^seed must be an integer >= 0"),
    (dict(attack={"norm": "l5", "eps": 0.1, "bounds": (0, 1)}), r"^attack: unknown norm 'l5'; choose from: linf, l2"),
    (dict(attack={**ATTACK, "name": "deepfool"}), r"^attack: unknown attack 'deepfool'; choose from: (\w+, )*fgsm, pgd\b"),
    (dict(attack={**FGSM, "steps": 3}), r"^attack: attack 'fgsm' has no option 'steps'; its options: objective"),
    (dict(attack={**ATTACK, "steps": "many"}), r"^attack: option steps of attack 'pgd' must be int, got 'many'"),
    (dict(attack={**ATTACK, "eps": 0.01, "steps": 5, "step_size": 1.0}), r"^attack: step_size: one linf sign step"),
])
def test_bad_configuration(base, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        AdversarialModel(base(), **kwargs)
    assert "\n" not in str(info.value)


def test_method_options_in_todays_config_form(base):
    """The registry entry's options and the config files' attack mappings, unchanged."""
    entry = METHODS["adversarial"]
    assert [o.name for o in entry.options] == ["attack", "adversarial_fraction", "track_clean", "seed"]
    found = 0
    for path in sorted(Path("configs").glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        if config.get("method") != "adversarial":
            continue
        options = entry.parse(config["method_options"], prefix="method_options")
        options = entry.load().run_options(options, bounds=(0.0, 1.0), seed=0)
        model = AdversarialModel(base(), **options)
        assert model.attack.name == "pgd" and model.attack.bounds == (0.0, 1.0), path
        assert model.attack.options["steps"] == config["method_options"]["attack"]["steps"], path
        found += 1
    assert found >= 4


def test_any_registered_attack_trains_and_records_itself(base):
    """The fgsm entry trains exactly like the one-step PGD it is; the run record carries the resolved step."""
    model = AdversarialModel(base(), attack=FGSM)
    compile_(model)
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    w, b = hand_step(hand_fgsm(X))
    kernel, bias = kernel_bias(model)
    np.testing.assert_allclose(kernel, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, b, rtol=1e-5, atol=1e-6)
    record = model.run_record()["attack"]
    assert record["name"] == "fgsm" and record["steps"] == 1 and record["step_size"] == pytest.approx(EPS)


def test_input_shape_check_and_run_record(base):
    # An l2 sign step of 0.05 has length 0.05 * sqrt(d): within the diameter 0.2 for d = 3, not for d = 100.
    attack = {"norm": "l2", "eps": 0.1, "steps": 5, "l2_step": "sign", "step_size": 0.05}
    options = AdversarialModel.run_options({"attack": attack}, bounds=(-1.0, 1.0), seed=7)
    assert options == {"attack": {**attack, "bounds": [-1.0, 1.0]}, "seed": 7}
    model = AdversarialModel(base(), **options)
    model.check_input_shape((3,))
    assert model.run_record()["attack"]["step_size"] == pytest.approx(0.05)
    with pytest.raises(ConfigError, match=r"^method_options\.attack: step_size: one l2 sign step .* over 100 input"):
        model.check_input_shape((100,))
    cut = AdversarialModel(base(), attack={**options["attack"], "long_steps": "cut"})
    cut.check_input_shape((100,))
    assert cut.run_record()["attack"]["step_size"] == pytest.approx(0.02)  # 2 * eps / sqrt(100)


def test_robust_accuracy_callback_logs_the_attacked_accuracy(base):
    model = AdversarialModel(base(), attack=ATTACK)
    compile_(model)
    callback = RobustAccuracy((X, Y), ATTACK, every=1)
    by_name = RobustAccuracy((X, Y), "fgsm", norm="linf", eps=EPS, bounds=(-10, 10), name="val_fgsm_accuracy")
    history = model.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[callback, by_name])
    assert len(history.history["val_robust_accuracy"]) == 2
    expected = attacked_correct(model.base, (X, Y), ATTACK).mean()
    assert history.history["val_robust_accuracy"][-1] == pytest.approx(expected)
    hand = np.mean(np.argmax(hand_fgsm_with(model, X), axis=1) == Y)
    assert history.history["val_fgsm_accuracy"][-1] == pytest.approx(hand)
    assert history.history["val_fgsm_accuracy"] == history.history["val_robust_accuracy"]  # the same attack


def hand_fgsm_with(model, x):
    """Logits of the hand-computed FGSM images against the model's current weights."""
    w, b = kernel_bias(model)
    g = (softmax(x @ w + b) - np.eye(3)[Y[: len(x)]]) @ w.T
    return (x + EPS * np.sign(g)) @ w + b


@pytest.mark.parametrize("args, kwargs, message", [
    ((ATTACK,), dict(every=0), r"^every must be an integer >= 1"),
    (("pgd",), dict(norm="l2", bounds=(0, 1)), r"^RobustAccuracy: attack 'pgd' needs norm, eps and bounds"),
    ((ATTACK,), dict(eps=0.1), r"^RobustAccuracy: norm, eps and options go with an attack name"),
    (("pgd",), dict(norm="l2", eps=0.1, bounds=(0, 1), options={"stepz": 1}), r"attack 'pgd' has no option 'stepz'"),
    (("nope",), dict(norm="l2", eps=0.1, bounds=(0, 1)), r"^unknown attack 'nope'"),
])
def test_robust_accuracy_callback_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        RobustAccuracy((X, Y), *args, **kwargs)


def test_attacked_correct_takes_every_attack_form(base):
    model = base()
    expected = np.argmax(hand_fgsm_with(model, X), axis=1) == Y
    forms = [(ATTACK, None), (PGD(**ATTACK), None), (Attack.coerce(ATTACK), None),
             ({**FGSM, "bounds": None}, (-10, 10))]
    for attack, bounds in forms:
        np.testing.assert_array_equal(attacked_correct(model, (X, Y), attack, bounds=bounds), expected)


def test_mirrored_strategy_matches_the_hand_computed_update():
    script = textwrap.dedent(
        """
        import sys, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.path.insert(0, sys.argv[1])
        import keras
        import test_adversarial as t
        from tfrobust.training import AdversarialModel
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            inputs = keras.Input((3,))
            dense = keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(t.W0),
                                       bias_initializer=keras.initializers.Constant(t.B0))
            model = AdversarialModel(keras.Model(inputs, dense(inputs)), attack=t.ATTACK)
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
