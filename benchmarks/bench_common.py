"""What the benchmark scripts share: timing, the Fashion-MNIST setting, a trained model, and ART's import.

The scripts run as ``python benchmarks/<name>.py``, so this directory is on
``sys.path`` and they import this module as ``bench_common``.
"""

from __future__ import annotations

import importlib
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.data import load_dataset
from tfrobust.models import build_model
from tfrobust.training import RobustModel

#: Fashion-MNIST as the benchmarks use it: images in [-1, 1] (Kim et al.'s scale).
BOUNDS = (-1.0, 1.0)
INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds for ``fn()`` (which must return numpy, i.e. force completion), and its result."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def compile_classifier(model: keras.Model) -> None:
    """Adam 1e-3, sparse cross-entropy on logits, accuracy: how every benchmark model is trained."""
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])


def train_standard(arch: str, *, images: int, epochs: int, data_dir: str | None,
                   seed: int = 0) -> tuple[keras.Model, float, int]:
    """A ``arch`` classifier trained normally on the first ``images`` Fashion-MNIST training images.

    Returns:
        the trained model (logits), the training seconds and the number of images.
    """
    keras.utils.set_random_seed(seed)
    train = load_dataset("fashion_mnist", "train", bounds=BOUNDS, limit=images, data_dir=data_dir)
    base = build_model(arch, input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES)
    model = RobustModel(base)
    compile_classifier(model)
    print(f"training {arch}: {epochs} epoch(s) on {len(train.y)} images", flush=True)
    seconds, _ = timed(lambda: model.fit(train.pipeline(128, shuffle=True, seed=seed), epochs=epochs, verbose=2))
    return base, seconds, len(train.y)


def make_predict(model: keras.Model, batch: int = 256) -> Callable[[Any], np.ndarray]:
    """Compiled ``argmax`` predictions of ``model`` on numpy images, in batches of ``batch``."""
    fn = tf.function(lambda x: tf.argmax(model(x, training=False), axis=-1, output_type=tf.int32))

    def predict(x: Any) -> np.ndarray:
        x = np.asarray(x)
        return np.concatenate([fn(tf.constant(x[i:i + batch])).numpy() for i in range(0, len(x), batch)])

    return predict


def import_art(*modules: str) -> tuple[Any, str | None]:
    """The ``art`` module (after importing ``modules`` too), or None and the reason it cannot be used."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "PyTorch not found" etc.
            import art
            for name in modules:
                importlib.import_module(name)
    except Exception as err:  # ImportError, or a failure inside ART's own imports
        return None, f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
    return art, None
