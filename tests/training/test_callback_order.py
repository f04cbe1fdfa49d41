"""RobustAccuracy's value reaches CSVLogger, EarlyStopping, ModelCheckpoint and TensorBoard in any callback order."""

import csv
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.training import AdversarialModel, JacobianNorm, RobustAccuracy, attacked_correct

RNG = np.random.default_rng(3)
X = RNG.normal(size=(48, 4)).astype("float32")
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype("int32") + (X[:, 2] > 1.0).astype("int32")
FGSM = {"name": "fgsm", "norm": "linf", "eps": 0.3, "bounds": [-10.0, 10.0]}
EPOCHS = 5


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def read_scalars(log_dir):
    """{run subdirectory: {tag: {step: value}}} of every scalar in the event files under log_dir."""
    out = {}
    for path in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        run = out.setdefault(path.parent.relative_to(log_dir).as_posix(), {})
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars" or value.HasField("simple_value"):
                    number = value.simple_value if value.HasField("simple_value") else \
                        float(tf.make_ndarray(value.tensor))
                    run.setdefault(value.tag, {})[int(event.step)] = number
    return out


def new_max_epochs(values):
    """Epochs (0-based) whose value beats every earlier one: those ModelCheckpoint(save_best_only) saves."""
    best, out = None, []
    for epoch, value in enumerate(values):
        if best is None or value > best:
            best = value
            out.append(epoch)
    return out


ORDERS = [(position, reverse) for position in range(5) for reverse in (False, True)]


@pytest.mark.parametrize("position, reverse", ORDERS)
def test_every_callback_sees_val_robust_accuracy_in_any_order(tmp_path, position, reverse):
    model = tiny_model()
    robust = RobustAccuracy((X, Y), FGSM)
    csv_path = tmp_path / "history.csv"
    stopper = keras.callbacks.EarlyStopping(monitor="val_robust_accuracy", mode="max", patience=EPOCHS)
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch:02d}.weights.h5"),
                                                 monitor="val_robust_accuracy", mode="max",
                                                 save_best_only=True, save_weights_only=True)
    board = keras.callbacks.TensorBoard(str(tmp_path / "logs"), write_graph=False, profile_batch=0)
    others = [keras.callbacks.CSVLogger(str(csv_path)), stopper, checkpoint, board]
    if reverse:
        others.reverse()
    callbacks = others[:position] + [robust] + others[position:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # validation data in half of the cases: the value must not depend on it
        history = model.fit(X, Y, batch_size=16, epochs=EPOCHS, verbose=0, callbacks=callbacks, shuffle=False,
                            validation_data=(X, Y) if position % 2 else None)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "not available" in m or "Can save best model only" in m], messages

    computed = [robust.values[e]["val_robust_accuracy"] for e in range(EPOCHS)]
    assert sorted(robust.values) == list(range(EPOCHS))
    assert len(set(computed)) > 1  # the value moves, so that the checkpoint choice below means something
    # the final weights' value is the attacked accuracy of the fitted model
    assert computed[-1] == pytest.approx(attacked_correct(model, (X, Y), FGSM).mean())
    assert history.history["val_robust_accuracy"] == computed
    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["val_robust_accuracy"]) for r in rows] == pytest.approx(computed, abs=1e-12)
    assert stopper.best == max(computed)
    saved = sorted(int(p.name[1:3]) - 1 for p in tmp_path.glob("e*.weights.h5"))
    assert saved == new_max_epochs(computed)
    scalars = read_scalars(tmp_path / "logs")
    tb = scalars["validation"]["epoch_robust_accuracy"]
    assert [tb[e] for e in range(EPOCHS)] == pytest.approx(computed, abs=1e-6)


def test_values_arrive_with_a_wrapper_and_several_callbacks(tmp_path):
    """Two RobustAccuracy callbacks and a JacobianNorm after the logger; the model's method is restored after fit."""
    model = AdversarialModel(tiny_model(), attack={**FGSM, "name": "pgd", "steps": 1, "step_size": 0.3,
                                                   "random_start": False})
    model.compile(optimizer=keras.optimizers.SGD(0.3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    csv_path = tmp_path / "h.csv"
    first = RobustAccuracy((X, Y), FGSM, every=2)
    second = RobustAccuracy((X, Y), "fgsm", norm="linf", eps=0.1, bounds=(-10, 10), name="val_fgsm_small")
    jac = JacobianNorm(X[:8], Y[:8])
    history = model.fit(X, Y, batch_size=16, epochs=3, verbose=0, shuffle=False,
                        callbacks=[keras.callbacks.CSVLogger(str(csv_path)), first, second, jac])
    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    # every=2: measured after the second epoch only (CSVLogger fixes its columns at the first epoch)
    assert sorted(first.values) == [1]
    assert history.history["val_robust_accuracy"] == [first.values[1]["val_robust_accuracy"]]
    assert [float(r["val_fgsm_small"]) for r in rows] == pytest.approx(
        [second.values[e]["val_fgsm_small"] for e in range(3)])
    assert [float(r["jacobian_label_norm"]) for r in rows] == pytest.approx(
        [jac.values[e]["jacobian_label_norm"] for e in range(3)])
    assert "_get_metrics_result_or_logs" not in vars(model)  # the hook is gone after fit


def counting(calls):
    """A RobustAccuracy that appends to ``calls`` each time it computes."""

    class Counting(RobustAccuracy):
        def compute(self, m):
            calls.append(1)
            return super().compute(m)

    return Counting


def test_evaluate_outside_fit_runs_no_attack():
    model = tiny_model()
    calls = []
    Counting = counting(calls)
    robust = Counting((X, Y), FGSM)
    result = model.evaluate(X, Y, verbose=0, return_dict=True, callbacks=[robust])
    assert calls == [] and "val_robust_accuracy" not in result and robust.values == {}
    model.predict(X, verbose=0, callbacks=[robust])
    assert calls == []
    # in fit it computes once per epoch
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[robust])
    assert calls == [1]


def test_a_callback_left_by_a_failed_fit_does_no_work_in_the_next():
    model = tiny_model()
    calls = []
    Counting = counting(calls)
    class Boom(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise RuntimeError("boom")

    stale = Counting((X, Y), FGSM)
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[stale, Boom()])
    history = model.fit(X, Y, epochs=2, verbose=0)
    assert calls == [] and "val_robust_accuracy" not in history.history
    assert "_get_metrics_result_or_logs" not in vars(model)


def test_hand_call_of_on_epoch_end_still_writes_the_value():
    model = tiny_model()
    robust = RobustAccuracy((X, Y), FGSM, name="robust")
    robust.set_model(model)
    logs = {}
    robust.on_epoch_end(0, logs)
    assert logs == {"robust": pytest.approx(attacked_correct(model, (X, Y), FGSM).mean())}
