"""A whole training run from a :class:`TrainConfig`: data, model, fit, save, export.

``train(config, out_dir)`` writes into ``out_dir``:

- ``config.yaml``: every value used (resolved dataset bounds and source, model
  options with defaults, optimizer, seed, library versions, command line),
  written before training starts so a crashed run still documents itself;
- ``history.csv``: one row per epoch (loss, accuracy, validation values,
  learning rate, images/s);
- ``checkpoints/last.weights.h5``: the weights after the latest epoch;
- ``backup/``: Keras ``BackupAndRestore`` state while training runs; a killed
  run re-run with the same ``out_dir`` resumes from the last finished epoch;
- ``model.keras``: the trained classifier (the base model, logits out),
  loadable with ``keras.saving.load_model`` in safe mode;
- ``saved_model/``: a TensorFlow SavedModel whose ``serve`` endpoint and
  ``serving_default`` signature return logits;
- ``metrics.json``: test loss and accuracy, throughput, wall time.

Every file is written atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import inspect
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import tfrobust
from tfrobust.config import TrainConfig, dump_yaml, to_dict
from tfrobust.data import Dataset, load_dataset
from tfrobust.models import build_model, model_options
from tfrobust.training.artifacts import atomic_json, export_saved_model, save_model
from tfrobust.training.callbacks import Throughput
from tfrobust.training.methods import METHODS
from tfrobust.training.optimizers import build_optimizer
from tfrobust.training.targets import load_targets

__all__ = ["TrainResult", "train", "load_data", "library_versions", "load_method_targets", "method_options"]


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        out_dir: the run directory.
        model: the trained base classifier (logits out).
        metrics: test metrics and timings (also in ``metrics.json``).
        history: per-epoch logs (also in ``history.csv``).
    """

    out_dir: Path
    model: keras.Model
    metrics: dict[str, Any]
    history: dict[str, list[float]]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a result depends on."""
    return {
        "tfrobust": tfrobust.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def load_data(config: TrainConfig) -> tuple[Dataset, Dataset]:
    """Loads the train and test splits a config names."""
    data = config.data
    kwargs: dict[str, Any] = dict(
        data_dir=data.data_dir,
        classes=data.classes,
        limit=data.limit,
        bounds=data.bounds,
        seed=config.seed,
        **data.options,
    )
    test_kwargs = {**kwargs, "limit": data.limit if data.test_limit is None else data.test_limit}
    return load_dataset(data.name, "train", **kwargs), load_dataset(data.name, "test", **test_kwargs)


def _constructor_options(cls: type) -> set[str]:
    """Keyword options the tfrobust classes of ``cls``'s MRO accept (besides ``base``)."""
    inits = [vars(klass)["__init__"] for klass in cls.__mro__
             if klass.__module__.startswith("tfrobust") and "__init__" in vars(klass)]
    return {name for init in inits for name in inspect.signature(init).parameters} - {"self", "base", "kwargs"}


def method_options(config: TrainConfig, bounds: tuple[float, float]) -> dict[str, Any]:
    """The method's constructor options, with the attack's bounds defaulting to the data's.

    Keys the method class lists in ``data_options`` describe the training data
    rather than the wrapper (``targets`` of ``ir``) and are left out; the
    run's seed fills ``seed`` where the wrapper takes one.
    """
    cls = METHODS[config.method]
    options = {k: v for k, v in config.method_options.items() if k not in cls.data_options}
    attack = options.get("attack")
    if isinstance(attack, dict) and attack.get("bounds") is None:
        options["attack"] = {**attack, "bounds": [float(b) for b in bounds]}
    if "seed" in _constructor_options(cls) and "seed" not in options:
        options["seed"] = config.seed
    return options


def _check_method_options(config: TrainConfig, options: dict[str, Any]) -> None:
    """Unknown constructor options are a one-line ValueError (not a TypeError deep in Keras)."""
    cls = METHODS[config.method]
    known = _constructor_options(cls)
    unknown = sorted(set(options) - known)
    if unknown:
        allowed = sorted(known | set(cls.data_options))
        raise ValueError(f"method_options for {config.method!r}: unknown {', '.join(unknown)}; "
                         f"known: {', '.join(allowed) or 'none'}")


def load_method_targets(config: TrainConfig, train_ds: Dataset) -> np.ndarray | None:
    """The target maps a run streams with its batches (``ir``; aligned with ``train_ds``), else None.

    Raises:
        ValueError: ``ir`` without ``method_options.targets``, or maps that do
            not belong to this training data (see :func:`load_targets`).
    """
    if "targets" not in METHODS[config.method].data_options:
        return None
    path = config.method_options.get("targets")
    if not path:
        raise ValueError(f"method {config.method} needs target maps: set method_options.targets (CLI --targets DIR) "
                         "to the output of tfrobust saliency --split train")
    return load_targets(path, train_ds)


def _resolved_config(
    config: TrainConfig, train_ds: Dataset, test_ds: Dataset, model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
) -> dict[str, Any]:
    base = getattr(model, "base", model)
    values = to_dict(config)
    values["data"]["bounds"] = [float(b) for b in train_ds.bounds]
    values["model"]["options"] = {**model_options(config.model.arch), **config.model.options}
    values["method_options"] = to_dict(method_options(config, train_ds.bounds))
    for key in METHODS[config.method].data_options:
        if key in config.method_options:
            values["method_options"][key] = str(Path(config.method_options[key]).resolve())
    values["resolved"] = {
        "data_source": train_ds.source,
        "train_examples": len(train_ds),
        "test_examples": len(test_ds),
        "input_shape": list(train_ds.input_shape),
        "num_classes": int(train_ds.num_classes),
        "class_names": list(train_ds.class_names),
        "parameters": int(base.count_params()),
        "optimizer": keras.saving.serialize_keras_object(optimizer),
        "loss": "sparse categorical cross-entropy on logits",
    }
    attack = getattr(model, "attack", None)
    if attack is not None:
        values["resolved"]["attack"] = {**attack.to_dict(), "step_size": attack.resolved_step_size}
    values["versions"] = library_versions()
    values["command"] = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    return values


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    verbose: Any = "auto",
    callbacks: list[keras.callbacks.Callback] | tuple[keras.callbacks.Callback, ...] = (),
) -> TrainResult:
    """Trains the model a config describes and saves every artifact.

    Args:
        config: the run's configuration.
        out_dir: directory for the artifacts listed in the module docstring;
            created if missing. Re-running into the directory of a killed run
            resumes it from its last finished epoch.
        verbose: Keras ``fit`` verbosity (``"auto"``/1: progress bar, 2: one
            line per epoch, 0: silent).
        callbacks: extra Keras callbacks.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: unknown dataset, architecture or method, bad options.
        FileNotFoundError: the dataset's files cannot be found.
    """
    if config.method not in METHODS:
        raise ValueError(f"unknown method {config.method!r}; choose from: {', '.join(METHODS)}")
    out = Path(out_dir)
    train_ds, test_ds = load_data(config)  # fail on bad data before touching out_dir
    options = method_options(config, train_ds.bounds)
    _check_method_options(config, options)
    targets = load_method_targets(config, train_ds)
    started = time.time()

    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    base = build_model(
        config.model.arch,
        input_shape=tuple(train_ds.input_shape),
        num_classes=int(train_ds.num_classes),
        **config.model.options,
    )
    model = METHODS[config.method](base, **options)
    steps_per_epoch = math.ceil(len(train_ds) / config.batch_size)
    optimizer = build_optimizer(config.optimizer, total_steps=steps_per_epoch * config.epochs)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=config.jit_compile,  # "auto", True or False (validated by TrainConfig)
    )
    out.mkdir(parents=True, exist_ok=True)  # only now: bad options above leave no trace
    (out / "checkpoints").mkdir(exist_ok=True)
    dump_yaml(_resolved_config(config, train_ds, test_ds, model, optimizer), out / "config.yaml")

    backup_dir = out / "backup"
    history_path = out / "history.csv"
    if not backup_dir.exists() and history_path.exists():
        history_path.unlink()  # a fresh run, not a resumed one: start the log anew
    throughput = Throughput(len(train_ds))
    all_callbacks: list[keras.callbacks.Callback] = [
        throughput,
        *callbacks,  # before the loggers, so values they add (val_robust_accuracy) are logged
        keras.callbacks.TerminateOnNaN(raise_error=True),  # never let a NaN delete the backup
        keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=True),
        keras.callbacks.CSVLogger(str(history_path), append=True),
        keras.callbacks.ModelCheckpoint(
            str(out / "checkpoints" / "last.weights.h5"), save_weights_only=True
        ),
    ]
    train_pipe = train_ds.pipeline(
        config.batch_size, shuffle=True, seed=config.seed, augment=config.data.augment,
        targets=targets,
    )
    test_pipe = test_ds.pipeline(config.batch_size)
    history = model.fit(
        train_pipe,
        validation_data=test_pipe if config.validate else None,
        epochs=config.epochs,
        callbacks=all_callbacks,
        shuffle=False,  # the pipeline shuffles, seeded
        verbose=verbose,
    )
    test = model.evaluate(test_pipe, return_dict=True, verbose=0)

    save_model(base, out / "model.keras")
    export_saved_model(base, out / "saved_model")
    seconds = throughput.epoch_seconds
    steady = seconds[1:] or seconds
    metrics: dict[str, Any] = {
        "test_accuracy": float(test["accuracy"]),
        "test_loss": float(test["loss"]),
        "train_examples": len(train_ds),
        "test_examples": len(test_ds),
        "epochs_run_in_this_call": len(seconds),
        "images_per_second": (len(train_ds) * len(steady) / sum(steady)) if steady else None,
        "images_per_second_first_epoch": (len(train_ds) / seconds[0]) if seconds else None,
        "wall_seconds": time.time() - started,
        "jit_compile": bool(model.jit_compile),
    }
    atomic_json(metrics, out / "metrics.json")
    return TrainResult(out_dir=out, model=base, metrics=metrics, history=dict(history.history))
