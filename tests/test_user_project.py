"""tfrobust dropped into a Keras project written the way users write theirs (issue 17, "Done when").

The project loads its own data from an ``.npz`` file, builds a functional
model with a dict input (an image and a side feature) and two outputs (class
logits and an auxiliary sigmoid head that also reads the side feature), with
BatchNorm and Dropout, and trains on one-hot labels with Keras' own
callbacks, listed before or after tfrobust's ``RobustAccuracy``. It then

- finds ``val_robust_accuracy`` in the ``CSVLogger`` file and in the
  ``TensorBoard`` event files, whatever the callback order, and
  ``EarlyStopping`` / ``ModelCheckpoint`` act on it;
- exports the trained classifier with :func:`tfrobust.training.export_serving`
  and serves its logits and its label-logit gradient from a process that
  cannot import tfrobust; the served values equal tfrobust's in-process
  :func:`tfrobust.attribution.logit_gradient` of the chosen logits.

The data are learnable by construction: class ``k``'s images are brighter in
the ``k``-th third of the rows, so a model that learned nothing would not
pass the accuracy floor the test sets.
"""

from __future__ import annotations

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.isolated import isolated

CLASSES = 3
SHAPE = (12, 12, 1)


def write_dataset(path, n: int, seed: int) -> None:
    """The project's own data file: images in [0, 1], a side feature, int labels, an auxiliary target."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    images = rng.uniform(0.0, 0.4, (n, *SHAPE)).astype(np.float32)
    for i, k in enumerate(labels):
        images[i, 4 * k:4 * k + 4] += 0.5
    side = rng.normal(size=(n, 2)).astype(np.float32)
    aux = (side[:, 0] > 0).astype(np.float32)
    np.savez(path, images=images, side=side, labels=labels, aux=aux)


def load_dataset(path, batch_size: int) -> tf.data.Dataset:
    """Batches of ({"image", "side"}, {"cls": one-hot, "aux"}), the way the project feeds Keras."""
    with np.load(path) as data:
        x = {"image": data["images"], "side": data["side"]}
        y = {"cls": keras.utils.to_categorical(data["labels"], CLASSES), "aux": data["aux"][:, None]}
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def build_model() -> keras.Model:
    image = keras.Input(SHAPE, name="image")
    side = keras.Input((2,), name="side")
    h = keras.layers.Conv2D(4, 3, activation="relu")(image)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dropout(0.2)(h)
    h = keras.layers.Dense(16, activation="relu")(h)
    cls = keras.layers.Dense(CLASSES, name="cls")(h)
    aux = keras.layers.Dense(1, activation="sigmoid", name="aux")(
        keras.layers.Concatenate()([keras.layers.Dense(4)(h), side]))
    return keras.Model({"image": image, "side": side}, {"cls": cls, "aux": aux}, name="project")


def event_scalars(log_dir) -> dict[str, list[float]]:
    """tag -> values of every scalar summary under ``log_dir`` (Keras' TensorBoard writes train/ and validation/)."""
    found: dict[str, list[float]] = {}
    for path in sorted(log_dir.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                key = f"{path.parent.name}/{value.tag}"
                found.setdefault(key, []).append(float(tf.make_ndarray(value.tensor)))
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    write_dataset(root / "train.npz", 192, seed=1)
    write_dataset(root / "val.npz", 48, seed=2)
    return root


@pytest.mark.parametrize("robust_first", [True, False], ids=["robust-callback-first", "robust-callback-last"])
def test_user_project_trains_logs_and_serves(project, tmp_path, robust_first):
    from tfrobust.attribution import logit_gradient
    from tfrobust.training import AdversarialModel, RobustAccuracy, export_serving

    keras.utils.set_random_seed(0)
    train = load_dataset(project / "train.npz", 32)
    val = load_dataset(project / "val.npz", 24)
    robust = AdversarialModel(build_model(), logits="cls", inputs="image",
                              attack={"norm": "linf", "eps": 0.05, "steps": 3, "bounds": (0, 1)})
    robust.compile(optimizer=keras.optimizers.Adam(3e-3),
                   loss={"cls": keras.losses.CategoricalCrossentropy(from_logits=True),
                         "aux": keras.losses.BinaryCrossentropy()},
                   metrics={"cls": [keras.metrics.CategoricalAccuracy(name="acc")]})
    measure = RobustAccuracy(val, "pgd", norm="linf", eps=0.05, bounds=(0, 1), options={"steps": 5})
    keras_callbacks = [
        keras.callbacks.CSVLogger(str(tmp_path / "history.csv")),
        keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs")),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_robust_accuracy", mode="max",
                                        save_best_only=True),
        keras.callbacks.EarlyStopping(monitor="val_robust_accuracy", mode="max", patience=50),
    ]
    callbacks = [measure, *keras_callbacks] if robust_first else [*keras_callbacks, measure]
    epochs = 4
    history = robust.fit(train, validation_data=val, epochs=epochs, callbacks=callbacks, verbose=0)

    # Every callback saw the robust accuracy, in either order.
    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == epochs
    logged = [float(r["val_robust_accuracy"]) for r in rows]
    assert logged == pytest.approx(history.history["val_robust_accuracy"])
    assert logged == pytest.approx([measure.values[e]["val_robust_accuracy"] for e in range(epochs)])
    assert all(0.0 <= v <= 1.0 for v in logged)
    # The class head learned the planted rows; the attack lowers accuracy but not below chance on this easy task.
    assert history.history["val_cls_acc"][-1] >= 0.9
    assert 1.0 / CLASSES < logged[-1] <= history.history["val_cls_acc"][-1] + 1e-9
    scalars = event_scalars(tmp_path / "logs")
    assert scalars["validation/epoch_robust_accuracy"] == pytest.approx(logged, abs=1e-6)
    assert len(scalars["train/epoch_loss"]) == epochs
    assert (tmp_path / "best.keras").is_file()  # ModelCheckpoint could read the monitored value

    # The class head is served, with its explanation, from a process without tfrobust.
    export = export_serving(robust, tmp_path / "served", smoothgrad_samples=4, bounds=(0, 1))
    with np.load(project / "val.npz") as data:
        x, y = data["images"][:10], data["labels"][:10].astype(np.int64)
    np.savez(tmp_path / "request.npz", x=x, y=y)
    proc = isolated(_SERVE, export, tmp_path / "request.npz", tmp_path / "response.npz", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "signatures logit_gradient,loss_gradient,serving_default,smoothgrad" in proc.stdout
    with np.load(tmp_path / "response.npz") as served:
        logits, explanation = served["logits"], served["logit_gradient"]
    np.testing.assert_allclose(logits, robust.classifier(x, training=False).numpy(), rtol=1e-5, atol=1e-5)
    expected = logit_gradient(robust.classifier, x, y).numpy()
    assert np.abs(expected).max() > 0  # a real gradient, not an empty map
    np.testing.assert_allclose(explanation, expected, rtol=1e-4, atol=1e-6)


_SERVE = """
import numpy as np
import tensorflow as tf
served = tf.saved_model.load(sys.argv[2])
request = np.load(sys.argv[3])
x, y = tf.constant(request["x"]), tf.constant(request["y"])
np.savez(sys.argv[4], logits=served.signatures["serving_default"](x=x)["logits"].numpy(),
         logit_gradient=served.signatures["logit_gradient"](x=x, y=y)["logit_gradient"].numpy())
print("signatures " + ",".join(sorted(served.signatures)))
"""
