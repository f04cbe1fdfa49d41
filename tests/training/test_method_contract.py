"""The contract every registered training method keeps (docs/architecture.md, Training).

Parametrised over ``METHODS.names()``: a method added to the registry is
covered without touching this file. Each method is built from its
``example_options`` (completed by its ``run_options``) on a tiny non-linear
classifier; methods whose ``data_options`` hold ``targets`` get one map per
example streamed with the batch, as a training run does. One training step
must:

- run eagerly and as a ``tf.function`` (``fit`` with ``run_eagerly=False``)
  with the same update (same seeds, same step), and under XLA
  (``jit_compile=True``; skipped only for a method that declares
  ``xla_unsupported`` with its reason). XLA draws other random numbers from
  the same stateless seeds, so there the step is checked, not compared;
- move the weights, with finite values, and log ``loss`` and every declared
  extra loss term;
- run under ``tf.distribute.MirroredStrategy`` on two logical CPU devices
  (in one subprocess: logical devices must be set before TensorFlow starts)
  and leave both replicas' weights identical.

The base classifier and the wrapper round-trip through ``.keras`` in safe
mode with the same predictions, and the registry's options (read from the
source with ``ast``) agree with the loaded class's signature.
"""

import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.mirrored import results_of, start_if_selected, stop
from tfrobust.registry import METHODS, options_of
from tfrobust.training.artifacts import load_model, save_model

NAMES = METHODS.names()
N, SHAPE, K = 8, (4, 4, 1), 3
BOUNDS = (0.0, 1.0)
RNG = np.random.default_rng(11)
X = RNG.uniform(*BOUNDS, size=(N, *SHAPE)).astype("float32")
Y = np.array([0, 1, 2, 1, 0, 2, 2, 1], dtype="int32")
T = RNG.normal(size=(N, *SHAPE)).astype("float32")  # target maps for methods that stream them
MODES = ("eager", "graph", "xla")


def method_class(name):
    return METHODS[name].load()


def tiny_base():
    """Flatten -> Dense(6, tanh) -> Dense(K): input gradients depend on x (unlike a linear model)."""
    inputs = keras.Input(SHAPE)
    h = keras.layers.Dense(6, activation="tanh")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(K)(h))


def build(name):
    """The method ``name`` on a fresh tiny base: weights and every Keras seed from seed 0."""
    entry = METHODS[name]
    cls = entry.load()
    options = entry.parse(cls.example_options, prefix=f"{cls.__name__}.example_options")
    options = cls.run_options(options, bounds=BOUNDS, seed=0)
    keras.utils.set_random_seed(0)
    return entry(tiny_base(), **options)


def inputs_for(model):
    """``x``, or ``(x, maps)`` for a method whose data options stream target maps."""
    unknown = [key for key in model.data_options if key != "targets"]
    if unknown:
        pytest.fail(f"{type(model).__name__}.data_options: this suite knows 'targets' only, got {unknown}")
    return (X, T) if "targets" in model.data_options else X


def dataset(model):
    return tf.data.Dataset.from_tensor_slices((inputs_for(model), Y)).batch(N)


def compile_(model, mode):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], run_eagerly=mode == "eager", jit_compile=mode == "xla")


def one_step(name, mode):
    """(the update of every trainable weight after one step, the step's logs)."""
    model = build(name)
    compile_(model, mode)
    before = [v.numpy().copy() for v in model.base.trainable_variables]
    logs = model.fit(dataset(model), epochs=1, shuffle=False, verbose=0).history
    after = [v.numpy() for v in model.base.trainable_variables]
    return [a - b for a, b in zip(after, before)], {k: v[-1] for k, v in logs.items()}, model


@pytest.fixture(scope="module")
def eager_steps():
    """Eager steps, computed once per method (the reference the other modes must match)."""
    return {}


def eager_step(name, cache):
    if name not in cache:
        cache[name] = one_step(name, "eager")
    return cache[name]


@pytest.mark.parametrize("name", NAMES)
def test_registry_options_agree_with_the_signature(name):
    entry = METHODS[name]
    cls = entry.load()
    assert entry.description, f"{name}: the class docstring's first line describes the method"
    assert options_of(cls) == entry.options  # the ast reading and inspect agree
    assert set(cls.data_options) <= {o.name for o in entry.options}, "data options are options"
    entry.parse(cls.example_options)  # the example options are valid options


def check_step(update, logs, model):
    assert all(np.isfinite(u).all() for u in update)
    assert any(np.abs(u).max() > 0 for u in update), "one step must change the weights"
    assert np.isfinite(logs["loss"])
    missing = set(model.extra_loss_names) - set(logs)
    assert not missing, f"declared loss terms not logged: {missing}"
    assert all(np.isfinite(logs[k]) for k in model.extra_loss_names)


@pytest.mark.parametrize("name", NAMES)
def test_eager_step_moves_the_weights_and_logs_its_terms(name, eager_steps):
    update, logs, model = eager_step(name, eager_steps)
    check_step(update, logs, model)
    # The wrapper predicts like its base classifier.
    np.testing.assert_allclose(model.predict(X, verbose=0), model.base.predict(X, verbose=0), atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_graph_step_equals_the_eager_step(name, eager_steps):
    want, want_logs, _ = eager_step(name, eager_steps)
    got, logs, model = one_step(name, "graph")
    check_step(got, logs, model)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    for key, value in want_logs.items():
        assert logs[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize("name", NAMES)
def test_xla_step(name, eager_steps):
    reason = method_class(name).xla_unsupported
    if reason:
        pytest.skip(f"{name} declares XLA unsupported: {reason}")
    update, logs, model = one_step(name, "xla")
    assert model.jit_compile is True
    check_step(update, logs, model)
    _, want_logs, _ = eager_step(name, eager_steps)
    assert set(logs) == set(want_logs)


@pytest.mark.parametrize("name", NAMES)
def test_keras_round_trip_of_base_and_wrapper(name, eager_steps, tmp_path):
    _, _, model = eager_step(name, eager_steps)
    expected = model.base.predict(X, verbose=0)
    base = load_model(save_model(model.base, tmp_path / "base.keras"))  # safe mode
    np.testing.assert_allclose(base.predict(X, verbose=0), expected, atol=1e-6)
    model.save(tmp_path / "wrapper.keras")
    again = keras.saving.load_model(tmp_path / "wrapper.keras")  # safe mode
    assert type(again) is type(model)
    mine = {k: v for k, v in model.get_config().items() if k not in ("base", "name")}
    assert {k: again.get_config().get(k) for k in mine} == mine
    np.testing.assert_allclose(again.predict(X, verbose=0), expected, atol=1e-6)


MIRRORED = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, sys.argv[1])
    import test_method_contract as t
    results = {}
    for name in t.NAMES:
        try:
            strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
            with strategy.scope():
                model = t.build(name)
                t.compile_(model, "graph")
            before = [v.numpy().copy() for v in model.base.trainable_variables]
            logs = model.fit(t.dataset(model), epochs=1, shuffle=False, verbose=0).history
            after = [v.numpy() for v in model.base.trainable_variables]
            replicas = [[c.numpy() for c in v.value.values] for v in model.base.trainable_variables]
            results[name] = {
                "replicas": strategy.num_replicas_in_sync,
                "finite": bool(all(np.isfinite(a).all() for a in after)) and bool(np.isfinite(logs["loss"][-1])),
                "moved": bool(any(np.abs(a - b).max() > 0 for a, b in zip(after, before))),
                "in_sync": all(all(np.array_equal(c, cs[0]) for c in cs) for cs in replicas),
            }
        except Exception as err:  # reported per method by the parent test
            results[name] = {"error": f"{type(err).__name__}: {' '.join(str(err).split())[:500]}"}
    print("RESULTS " + json.dumps(results))
    """
)


@pytest.fixture(scope="module", autouse=True)
def mirrored_process(request):
    """The MirroredStrategy subprocess, started with the module's first test so that it runs
    alongside the in-process tests (only when a mirrored test is selected)."""
    proc = start_if_selected(request, MIRRORED)  # runs alongside the in-process tests
    yield proc
    stop(proc)


@pytest.fixture(scope="module")
def mirrored_results(mirrored_process):
    """Every method's step under MirroredStrategy on two logical CPUs: {name: result}."""
    return results_of(mirrored_process)


@pytest.mark.parametrize("name", NAMES)
def test_mirrored_strategy_step_keeps_replicas_in_sync(name, mirrored_results):
    result = mirrored_results[name]
    assert "error" not in result, result.get("error")
    assert result == {"replicas": 2, "finite": True, "moved": True, "in_sync": True}
