"""Any reasonable classifier in the training wrappers (C2): oracles for one-hot labels, sample weights, dict inputs
with several outputs, saving, export, a final softmax and robust accuracy on dict batches.

Every method in :data:`tfrobust.registry.METHODS` is built from its ``example_options`` (as the methods contract
suite does) on tiny models; adversarial training gets a small fixed attack (no random start where an oracle
compares batches of different sizes, since the random start noise is drawn for the whole batch's shape).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.mirrored import results_of, start_if_selected, stop
from tfrobust.registry import METHODS
from tfrobust.training import RobustModel
from tfrobust.training.callbacks import RobustAccuracy
from tfrobust.training.callbacks.robust_accuracy import attacked_correct

NAMES = METHODS.names()
N, K, SHAPE = 16, 3, (8, 8, 1)
BOUNDS = (0.0, 1.0)
RNG = np.random.default_rng(23)
X = RNG.uniform(*BOUNDS, size=(N, *SHAPE)).astype("float32")
META = RNG.normal(size=(N, 2)).astype("float32")
AUX = RNG.normal(size=(N, 1)).astype("float32")
Y = (np.arange(N) % K).astype("int32")
ONEHOT = np.eye(K, dtype="float32")[Y]
T = RNG.normal(size=(N, *SHAPE)).astype("float32")  # target maps for methods that stream them (ir)
#: A small deterministic attack: without a random start each example's PGD path depends on that example only.
FIXED_ATTACK = {"name": "pgd", "norm": "linf", "eps": 0.1, "steps": 2, "random_start": False,
                "bounds": list(BOUNDS)}


# ------------------------------------------------------------------------------------------------ models
def plain_base(seed: int = 0) -> keras.Model:
    """image -> Flatten -> Dense(6, tanh) -> Dense(K) logits (input gradients depend on x)."""
    keras.utils.set_random_seed(seed)
    image = keras.Input(SHAPE, name="image")
    h = keras.layers.Dense(6, activation="tanh", name="hidden")(keras.layers.Flatten()(image))
    return keras.Model(image, keras.layers.Dense(K, name="cls")(h))


def dict_base(seed: int = 0) -> keras.Model:
    """{"image", "meta"} -> {"cls": logits of the image alone, "aux": a regression head that also reads meta}."""
    keras.utils.set_random_seed(seed)
    image = keras.Input(SHAPE, name="image")
    meta = keras.Input((2,), name="meta")
    h = keras.layers.Dense(6, activation="tanh", name="hidden")(keras.layers.Flatten()(image))
    cls = keras.layers.Dense(K, name="cls")(h)
    aux = keras.layers.Dense(1, name="aux")(keras.layers.Concatenate()([h, meta]))
    return keras.Model({"image": image, "meta": meta}, {"cls": cls, "aux": aux}, name="two_head")


def build(name: str, base: keras.Model, *, attack: dict[str, Any] | None = None, **kwargs: Any) -> RobustModel:
    """The method ``name`` on ``base`` with its example options (adversarial: ``attack``, default FIXED_ATTACK)."""
    entry = METHODS[name]
    cls = entry.load()
    options = cls.run_options(entry.parse(cls.example_options), bounds=BOUNDS, seed=0)
    if "attack" in options:
        options["attack"] = dict(attack or FIXED_ATTACK)
    if "steps" in options or name == "trades":  # TRADES' default 10 inner steps are more than a test needs
        options["steps"] = 2
    return cls(base, **options, **kwargs)


def wants_targets(model: RobustModel) -> bool:
    return "targets" in model.data_options


def dict_x(rows: Any = slice(None)) -> dict[str, np.ndarray]:
    return {"image": X[rows], "meta": META[rows]}


def sgd(lr: float = 0.1) -> keras.optimizers.Optimizer:
    return keras.optimizers.SGD(learning_rate=lr)


def sparse_ce() -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def onehot_ce() -> keras.losses.Loss:
    return keras.losses.CategoricalCrossentropy(from_logits=True)


def weights_of(model: RobustModel) -> list[np.ndarray]:
    return [v.numpy().copy() for v in model.base.trainable_variables]


def assert_weights_close(got: list[np.ndarray], want: list[np.ndarray], *, atol: float = 1e-5) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=atol)


def one_step(model: RobustModel, data: tuple[Any, ...]) -> list[np.ndarray]:
    """Trains ``model`` on ``data`` (one batch: x, y[, sample_weight]) for exactly one step; the new weights."""
    before = weights_of(model)
    model.fit(tf.data.Dataset.from_tensor_slices(data).batch(N), epochs=1, shuffle=False, verbose=0)
    after = weights_of(model)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before)), "one step must move the weights"
    assert all(np.isfinite(a).all() for a in after)
    return after


# ------------------------------------------------------------------ 1. one-hot vs sparse labels
CASES_1 = [(name, "plain") for name in NAMES] + [("standard", "dict"), ("adversarial", "dict")]


@pytest.mark.parametrize(("name", "kind"), CASES_1, ids=[f"{n}-{k}" for n, k in CASES_1])
def test_one_hot_labels_give_the_same_step_as_int_labels(name, kind):
    """CE(from_logits) on one-hot labels equals sparse CE on their argmax, and the wrapper attacks / regularizes
    with the argmax labels: one identical step (same weights, seeds and data) must give the same weights."""
    results = []
    for onehot in (False, True):
        base = plain_base() if kind == "plain" else dict_base()
        extra = {} if kind == "plain" else {"logits": "cls", "inputs": "image"}
        model = build(name, base, **extra)
        labels = ONEHOT if onehot else Y
        loss: Any = onehot_ce() if onehot else sparse_ce()
        if kind == "dict":
            loss = {"cls": loss, "aux": keras.losses.MeanSquaredError()}
            y: Any = {"cls": labels, "aux": AUX}
            x: Any = dict_x()
        else:
            y, x = labels, X
        if wants_targets(model):
            x = (x, T)
        model.compile(optimizer=sgd(), loss=loss)
        results.append(one_step(model, (x, y)))
    assert_weights_close(results[1], results[0])


# -------------------------------------------------------------------- 2. zero sample weights
# Keras' default reduction ("sum_over_batch_size") divides the weighted sum by the number of examples, not by
# the sum of the weights: on a batch of N with weights w (w = 0 outside the half A, |A| = N / 2) the compiled
# loss is  sum_{i in A} w_i l_i / N.  On the half alone with weights v_i the loss is  sum_{i in A} v_i l_i / |A|.
# They are equal (so are their gradients, hence one SGD step) when  v_i = w_i * |A| / N.
HALF = np.arange(N) % 2 == 0  # every other example: not a prefix, so slicing bugs show


@pytest.mark.parametrize(("name", "kind"), [("standard", "plain"), ("adversarial", "plain"), ("standard", "dict"),
                                            ("adversarial", "dict")])
def test_zero_weight_examples_leave_the_update_unchanged(name, kind):
    w = np.random.default_rng(7).uniform(0.5, 2.0, size=N).astype("float32")
    w[~HALF] = 0.0
    v = w[HALF] * (HALF.sum() / N)

    def step(rows: np.ndarray, weights: np.ndarray) -> list[np.ndarray]:
        if kind == "plain":
            model = build(name, plain_base())
            model.compile(optimizer=sgd(0.5), loss=sparse_ce())
            return one_step(model, (X[rows], Y[rows], weights))
        model = build(name, dict_base(), logits="cls", inputs="image")
        model.compile(optimizer=sgd(0.5), loss={"cls": sparse_ce(), "aux": keras.losses.MeanSquaredError()})
        return one_step(model, (dict_x(rows), {"cls": Y[rows], "aux": AUX[rows]}, weights))

    full = step(np.ones(N, bool), w)
    half = step(HALF, v)
    assert_weights_close(full, half, atol=1e-6)
    # The oracle can fail: the same half without the rescaling is a different (doubled) step.
    unscaled = step(HALF, w[HALF])
    assert max(np.abs(a - b).max() for a, b in zip(unscaled, full)) > 1e-4


# ------------------------------------------------------------- 3. dict inputs, two outputs, .keras round trip
def dict_data(model: RobustModel, *, batch: int = 8) -> tf.data.Dataset:
    x: Any = dict_x()
    if wants_targets(model):
        x = (x, T)
    return tf.data.Dataset.from_tensor_slices((x, {"cls": Y, "aux": AUX})).batch(batch)


@pytest.fixture(scope="module")
def trained() -> dict[str, RobustModel]:
    """Per method, a wrapper of the two-head dict base trained one epoch (two steps) on dict x and dict y."""
    return {}


def trained_wrapper(name: str, cache: dict[str, RobustModel]) -> RobustModel:
    if name not in cache:
        model = build(name, dict_base(), logits="cls", inputs="image")
        model.compile(optimizer=keras.optimizers.Adam(1e-2),
                      loss={"cls": sparse_ce(), "aux": keras.losses.MeanSquaredError()},
                      metrics={"cls": ["accuracy"]})
        aux_before = model.base.get_layer("aux").kernel.numpy().copy()
        history = model.fit(dict_data(model), epochs=1, shuffle=False, verbose=0).history
        assert np.isfinite(history["loss"][-1])
        # The aux head (and its meta rows) trained on its own loss: dict y reached the compiled loss.
        aux_after = model.base.get_layer("aux").kernel.numpy()
        assert np.abs(aux_after[-2:] - aux_before[-2:]).max() > 0, "the aux head's meta weights did not train"
        cache[name] = model
    return cache[name]


@pytest.mark.parametrize("name", NAMES)
def test_dict_input_two_output_base_trains_and_round_trips(name, trained, tmp_path):
    model = trained_wrapper(name, trained)
    inputs = dict_x()
    logits = model.logits_of(X).numpy()
    np.testing.assert_allclose(logits, model.base(inputs)["cls"].numpy(), atol=1e-6)  # the chosen head
    np.testing.assert_allclose(model.classifier(X).numpy(), logits, atol=1e-6)
    path = tmp_path / "wrapper.keras"
    model.save(path)
    again = keras.saving.load_model(path)  # safe mode
    assert type(again) is type(model)
    assert (again.logits_choice, again.inputs_choice) == ("cls", "image")
    assert (again.classifier_view.output_name, again.classifier_view.image_key) == ("cls", "image")
    np.testing.assert_allclose(again.logits_of(X).numpy(), logits, atol=1e-6)
    np.testing.assert_allclose(again.classifier(X).numpy(), logits, atol=1e-6)
    outputs, loaded = model.base(inputs), again.base(inputs)
    for key in ("cls", "aux"):
        np.testing.assert_allclose(loaded[key].numpy(), outputs[key].numpy(), atol=1e-6)
    predicted = again.predict(inputs, verbose=0)
    np.testing.assert_allclose(predicted["cls"], logits, atol=1e-6)


# ------------------------------------------------------------------------------------------ 4. export
@pytest.mark.parametrize("name", [n for n in ("adversarial", "ir", "jr", "trades", "standard") if n in NAMES])
def test_export_serves_the_classifier(name, trained, tmp_path):
    model = trained_wrapper(name, trained)
    model.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    want = model.classifier(X, training=False).numpy()
    np.testing.assert_allclose(served.serve(tf.constant(X)).numpy(), want, rtol=1e-5, atol=1e-5)
    signature = served.signatures["serving_default"]
    (arg,) = signature.structured_input_signature[1]
    (out,) = signature(**{arg: tf.constant(X)}).values()
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(want, model.base(dict_x())["cls"].numpy(), atol=1e-6)  # the cls head is served


# ---------------------------------------------------------------------------------- 5. a final softmax
def softmax_base(*, softmax: str, kind: str = "functional", seed: int = 0) -> keras.Model:
    """Flatten -> Dense(6, tanh) -> Dense(K, "z") then: ``softmax="layer"`` a separate Softmax, ``"fused"``
    activation="softmax" in "z", ``"none"`` the logits themselves (the reference). ``kind``: "functional",
    "sequential", or "dict" (inputs image and meta; outputs "cls" (the softmax) and "aux")."""
    keras.utils.set_random_seed(seed)
    hidden = keras.layers.Dense(6, activation="tanh", name="hidden")
    dense = keras.layers.Dense(K, name="z", activation="softmax" if softmax == "fused" else None)
    head = [keras.layers.Softmax(name="cls")] if softmax == "layer" else []
    if kind == "sequential":
        return keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), hidden, dense, *head])
    image = keras.Input(SHAPE, name="image")
    out = dense(hidden(keras.layers.Flatten()(image)))
    for layer in head:
        out = layer(out)
    if kind == "functional":
        return keras.Model(image, out)
    meta = keras.Input((2,), name="meta")
    aux = keras.layers.Dense(1, name="aux")(meta)
    if softmax != "layer":  # the reference's logits output keeps the name "cls"
        out = keras.layers.Identity(name="cls")(out)
    return keras.Model({"image": image, "meta": meta}, {"cls": out, "aux": aux})


SOFTMAX_CASES = [(name, kind) for name in ("standard", "adversarial") for kind in ("functional", "sequential", "dict")]


@pytest.mark.parametrize(("name", "kind"), SOFTMAX_CASES, ids=[f"{n}-{k}" for n, k in SOFTMAX_CASES])
def test_separate_softmax_trains_on_its_outputs_and_is_attacked_on_the_logits(name, kind):
    choice = {"logits": "cls", "inputs": "image"} if kind == "dict" else {}
    probs_model = build(name, softmax_base(softmax="layer", kind=kind), **choice)
    z_layer = probs_model.base.get_layer("z")
    image_input = probs_model.base.get_layer("image").output if kind == "dict" else probs_model.base.inputs[0]
    pre_softmax = keras.Model(image_input, z_layer.output)
    z = pre_softmax(X).numpy()
    np.testing.assert_array_equal(probs_model.logits_of(X).numpy(), z)
    np.testing.assert_array_equal(probs_model.classifier(X).numpy(), z)
    x: Any = dict_x() if kind == "dict" else X
    probs = probs_model.predict(x, verbose=0)
    np.testing.assert_allclose(probs["cls"] if kind == "dict" else probs, tf.nn.softmax(z).numpy(), atol=1e-6)
    # Oracle: CE on the probabilities (from_logits=False) = CE on the logits, and the attack sees the same logits,
    # so one step equals the step of the same network without the Softmax layer (an attack on probabilities
    # would follow other gradient signs and train on other images).
    logits_model = build(name, softmax_base(softmax="none", kind=kind), **choice)
    logits_model.base.set_weights(probs_model.base.get_weights())
    if kind == "dict":
        probs_model.compile(optimizer=sgd(0.5), loss={"cls": keras.losses.SparseCategoricalCrossentropy()})
        logits_model.compile(optimizer=sgd(0.5), loss={"cls": sparse_ce()})
        data: tuple[Any, ...] = (x, {"cls": Y})
    else:
        probs_model.compile(optimizer=sgd(0.5), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False))
        logits_model.compile(optimizer=sgd(0.5), loss=sparse_ce())
        data = (X, Y)
    assert_weights_close(one_step(probs_model, data), one_step(logits_model, data))


@pytest.mark.parametrize("name", ["standard", "adversarial", "jr"])
def test_fused_softmax_is_refused_with_the_fix(name):
    with pytest.raises(ValueError, match=r"activation='softmax'.*activation=None.*from_logits=True") as err:
        build(name, softmax_base(softmax="fused"))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"'z'.*activation=None"):
        build(name, softmax_base(softmax="fused", kind="sequential"))


def test_fused_softmax_on_another_output_is_accepted():
    """Only the logits output must be logits: an auxiliary head may end in any activation."""
    keras.utils.set_random_seed(0)
    image = keras.Input(SHAPE, name="image")
    meta = keras.Input((2,), name="meta")
    cls = keras.layers.Dense(K, name="cls")(keras.layers.Flatten()(image))
    aux = keras.layers.Dense(2, activation="softmax", name="aux")(meta)
    model = build("adversarial", keras.Model({"image": image, "meta": meta}, {"cls": cls, "aux": aux}),
                  logits="cls", inputs="image")
    np.testing.assert_allclose(model.logits_of(X).numpy(), model.base(dict_x())["cls"].numpy(), atol=1e-6)


# ------------------------------------------------------------------- 6. RobustAccuracy on dict batches
@pytest.mark.parametrize("labels", ["int", "onehot"])
def test_robust_accuracy_on_dict_batches_equals_attacked_correct(labels, tmp_path):
    model = build("standard", dict_base(seed=3), logits="cls", inputs="image")
    # Labels: the classifier's own clean predictions (clean accuracy 1), so the attack alone decides the value.
    own = np.argmax(model.classifier(X).numpy(), axis=1).astype("int32")
    cls_labels = own if labels == "int" else np.eye(K, dtype="float32")[own]
    cls_loss = sparse_ce() if labels == "int" else onehot_ce()
    data = tf.data.Dataset.from_tensor_slices((dict_x(), {"cls": cls_labels, "aux": AUX})).batch(6)  # 6 + 6 + 4
    callback = RobustAccuracy(data, "pgd", norm="linf", eps=0.03, bounds=BOUNDS, options={"steps": 5}, seed=4)
    # learning rate 0: the weights the callback measures are the ones measured below
    model.compile(optimizer=sgd(0.0), loss={"cls": cls_loss, "aux": keras.losses.MeanSquaredError()})
    history = model.fit(data, validation_data=data, epochs=1, callbacks=[callback], shuffle=False, verbose=0).history
    logged = history["val_robust_accuracy"][0]
    expected = attacked_correct(model.classifier, (X, own), callback.attack, seed=4, batch_size=N)
    assert logged == pytest.approx(float(expected.mean()), abs=1e-9)
    assert 0.0 < logged < 1.0, f"the attack must break some but not all points (got {logged}); tune eps"


# ------------------------------------------------------- 7. logits that also depend on the other inputs
def meta_logits_base(seed: int = 0) -> keras.Model:
    """{"image", "meta"} -> {"cls": logits of the image AND meta}: attacks must bind each example's own meta."""
    keras.utils.set_random_seed(seed)
    image = keras.Input(SHAPE, name="image")
    meta = keras.Input((2,), name="meta")
    h = keras.layers.Dense(6, activation="tanh", name="hidden")(keras.layers.Flatten()(image))
    cls = keras.layers.Dense(K, name="cls")(keras.layers.Concatenate()([h, meta]))
    return keras.Model({"image": image, "meta": meta}, {"cls": cls, "aux": keras.layers.Dense(1, name="aux")(meta)})


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_attack_binds_each_examples_other_inputs(fraction):
    """Oracle: an adversarial step = a standard step on the images attacked (by the same attack) through
    ``image -> base({"image": image, "meta": meta})["cls"]`` with the batch's own meta rows (the first
    ``round(fraction * N)`` rows only, the others clean)."""
    model = build("adversarial", meta_logits_base(), logits="cls", inputs="image", adversarial_fraction=fraction)
    reference = build("standard", meta_logits_base(), logits="cls", inputs="image")
    k = int(round(fraction * N))
    meta = tf.constant(META[:k])

    def target(image: Any) -> Any:
        return reference.base({"image": image, "meta": meta}, training=False)["cls"]

    attacked = np.concatenate([model.attack(target, X[:k], Y[:k]).numpy(), X[k:]])
    assert np.abs(attacked - X).max() > 0.05  # the attack moved the images (eps 0.1)
    for m in (model, reference):
        m.compile(optimizer=sgd(0.5), loss={"cls": sparse_ce()})
    got = one_step(model, (dict_x(), {"cls": Y}))
    want = one_step(reference, ({"image": attacked, "meta": META}, {"cls": Y}))
    assert_weights_close(got, want)


#: Options that make each method's step a mean of per-example terms (no random draws over the batch).
DETERMINISTIC = {"jr": {"n_proj": "exact"}, "trades": {"start_sigma": 0.0}}


@pytest.mark.parametrize("name", NAMES)
def test_step_with_meta_dependent_logits_ignores_the_batch_order(name):
    """Permuting the batch (image, meta, label and target map together) must not change the update: it would if
    any method paired an image with another example's meta (e.g. in its attack or input gradients)."""
    perm = np.random.default_rng(3).permutation(N)
    results = []
    for rows in (np.arange(N), perm):
        model = build(name, meta_logits_base(), logits="cls", inputs="image", **DETERMINISTIC.get(name, {}))
        model.compile(optimizer=sgd(0.5), loss={"cls": sparse_ce()})
        x: Any = dict_x(rows)
        if wants_targets(model):
            x = (x, T[rows])
        results.append(one_step(model, (x, {"cls": Y[rows]})))
    assert_weights_close(results[1], results[0])


def test_logits_of_takes_a_dict_x_when_the_logits_need_the_other_inputs():
    model = build("standard", meta_logits_base(), logits="cls", inputs="image")
    model.compile(optimizer=sgd(0.0), loss={"cls": sparse_ce()})
    model.fit(tf.data.Dataset.from_tensor_slices((dict_x(), {"cls": Y})).batch(8), epochs=1, shuffle=False, verbose=0)
    want = model.base(dict_x())["cls"].numpy()
    np.testing.assert_allclose(model.logits_of(dict_x()).numpy(), want, atol=1e-6)


def test_logits_of_a_bare_image_outside_a_step_is_refused_when_the_logits_need_meta():
    model = build("standard", meta_logits_base(), logits="cls", inputs="image")
    model.compile(optimizer=sgd(0.0), loss={"cls": sparse_ce()}, run_eagerly=True)
    model.fit(tf.data.Dataset.from_tensor_slices((dict_x(), {"cls": Y})).batch(8), epochs=1, shuffle=False, verbose=0)
    # The last batch held rows 8..15; these are rows 0..7, whose meta the wrapper cannot know.
    with pytest.raises(ValueError, match="meta"):
        model.logits_of(tf.constant(X[:8]))


# ------------------------------------------------------------------------------- 8. bad batches, one line
BAD_BATCHES = {
    "image-only x": (lambda: X, lambda: {"cls": Y, "aux": AUX}, r"inputs \['image', 'meta'\].*dict"),
    "x without meta": (lambda: {"image": X}, lambda: {"cls": Y, "aux": AUX}, r"also needs \['meta'\]"),
    "y without cls": (lambda: dict_x(), lambda: {"aux": AUX}, r"labels of the logits output 'cls'"),
    "y with unknown key": (lambda: dict_x(), lambda: {"cls": Y, "typo": AUX}, r"\['typo'\].*not outputs"),
}


@pytest.mark.parametrize("mode", ["eager", "graph"])
@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_bad_batches_are_refused_in_one_line(case, mode):
    make_x, make_y, message = BAD_BATCHES[case]
    model = build("standard", dict_base(), logits="cls", inputs="image")
    model.compile(optimizer=sgd(), loss={"cls": sparse_ce()}, run_eagerly=mode == "eager")
    with pytest.raises(ValueError, match=message) as err:
        model.fit(make_x(), make_y(), batch_size=N, epochs=1, verbose=0)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------- 9. MirroredStrategy with a two-head base
MIRRORED_CASES = {
    # case: (loss, labels) of an adversarial wrapper of the two-head dict base, logits="cls", inputs="image"
    "dict-y-both-outputs": ("both", "dict-both"),
    "dict-y-cls-only": ("cls", "dict-cls"),
    "int-y": ("sparse", "int"),
    "one-hot-y-with-metrics": ("onehot+metrics", "onehot"),
}
MIRRORED = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
import keras
import test_any_classifier as t

def setup(loss, labels):
    mse = keras.losses.MeanSquaredError()
    losses = {"both": ({"cls": t.sparse_ce(), "aux": mse}, None), "cls": ({"cls": t.sparse_ce()}, None),
              "sparse": (t.sparse_ce(), None), "onehot+metrics": (t.onehot_ce(), ["accuracy"])}[loss]
    y = {"dict-both": {"cls": t.Y, "aux": t.AUX}, "dict-cls": {"cls": t.Y}, "int": t.Y, "onehot": t.ONEHOT}[labels]
    return losses, (t.dict_x(), y)

def step(loss, labels, strategy=None):
    (compiled, metrics), data = setup(loss, labels)
    scope = strategy.scope() if strategy is not None else tf.init_scope()
    with scope:
        model = t.build("adversarial", t.dict_base(), logits="cls", inputs="image")
        model.compile(optimizer=t.sgd(0.5), loss=compiled, metrics=metrics)
    return t.one_step(model, data)

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])  # one per process: see test_method_contract
results = {}
for case, (loss, labels) in t.MIRRORED_CASES.items():
    try:
        got, want = step(loss, labels, strategy), step(loss, labels)
        results[case] = {"diff": float(max(np.abs(g - w).max() for g, w in zip(got, want)))}
    except Exception as err:  # reported per case by the parent test
        results[case] = {"error": f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"}
print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="module", autouse=True)
def mirrored_process(request):
    """The MirroredStrategy subprocess (logical devices must be set before TensorFlow starts), started with the
    module's first test so that it runs alongside the in-process tests (only when a mirrored test is selected)."""
    proc = start_if_selected(request, MIRRORED)  # runs alongside the in-process tests
    yield proc
    stop(proc)


@pytest.fixture(scope="module")
def mirrored_results(mirrored_process):
    return results_of(mirrored_process)


@pytest.mark.parametrize("case", MIRRORED_CASES)
def test_mirrored_strategy_step_equals_the_single_device_step(case, mirrored_results):
    result = mirrored_results[case]
    assert "error" not in result, result.get("error")
    assert result["diff"] < 1e-5
