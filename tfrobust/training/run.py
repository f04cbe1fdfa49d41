"""A whole training run from a :class:`TrainConfig`: data, model, fit, save, export.

``train(config, out_dir)`` writes into ``out_dir``:

- ``config.yaml``: every value used (resolved dataset bounds, source and a
  fingerprint of the training data, model options with defaults, optimizer,
  seed, the run's ``config_hash``, library versions, command line), written
  before training starts so a crashed run still documents itself;
- ``history.csv``: one row per finished epoch (loss, accuracy, validation
  values, images/s);
- ``checkpoints/last.weights.h5``: the weights (and optimizer state) after
  the latest finished epoch whose loss and weights are finite;
- ``backup/``: the resumable state while the run is unfinished (see
  :mod:`tfrobust.training.resume`); kept until every file below is written;
- ``model.keras``: the trained classifier (the base model, logits out),
  loadable with ``keras.saving.load_model`` in safe mode;
- ``saved_model/``: a TensorFlow SavedModel whose ``serve`` endpoint and
  ``serving_default`` signature return logits;
- ``metrics.json``: test loss and accuracy, throughput, wall time;
- ``logs/``: TensorBoard event files (unless ``tensorboard`` is off): every
  numeric value of each finished epoch's logs as a scalar tagged with its
  ``history.csv`` column (loss, accuracy, val_accuracy, val_robust_accuracy,
  the method's regularizer terms, Jacobian norms, ...; step = epoch number)
  and the logit-gradient saliency maps of the first test images
  (``saliency/...`` images, from the caller's :class:`SaliencySnapshot` when
  it logs there, else from one of 8 images the run adds).

Every file is written atomically (temp file + ``os.replace``); leftovers of a
killed call are removed by the next one.

Resuming: a call into the directory of an unfinished run (killed, or killed
while saving) with the same configuration (same ``config_hash``) continues
after the last finished epoch and ends with the same weights, bit for bit on
CPU, as an uninterrupted run: epoch ``e`` sees batches that depend only on
``(seed, e)`` (:func:`tfrobust.data.pipeline.make_pipeline` with
``epochs=``); the backup holds the model and optimizer variables (the
optimizer's step counter seeds the adversarial and Jacobian wrappers'
per-step draws) and the Keras seed-generator states (dropout), which
``save_weights`` leaves out. A different configuration, a finished run, or a
directory that is not a run is refused before anything is written, unless
``overwrite=True`` (which removes only the files a run writes).

Distribution: ``config.strategy`` (``none``, ``mirrored``, ``multiworker``;
see :mod:`tfrobust.training.distribute`) trains over several devices or
worker processes with ``batch_size`` as the global batch. A multi-worker
run's chief writes ``out_dir``; every other worker writes the same files
into a temporary directory of its own and removes it. The strategy (unless
``none``) and the replica count are part of the run's identity: a run
resumes only under the strategy and replica count it started with.

Divergence: a NaN or infinite loss (checked every batch) or weights (checked
every epoch and at the end) raise :class:`TrainingDiverged` (a
``ValueError``); the last finite epoch stays in ``checkpoints/`` and
``backup/``, and no ``model.keras`` or ``metrics.json`` is written.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.config import TrainConfig, to_dict
from tfrobust.data import Dataset, load_dataset
from tfrobust.data.pipeline import make_pipeline
from tfrobust.models import build_model, model_options
from tfrobust.registry import METHODS
from tfrobust.training.artifacts import (
    atomic_json,
    check_export_target,
    export_saved_model,
    library_versions,
    save_model,
)
from tfrobust.training.callbacks import EpochScalars, SaliencySnapshot, Throughput
from tfrobust.training.callbacks.best_checkpoint import BestCheckpoint, holdout_split
from tfrobust.training.distribute import (
    check_same_on_all_workers,
    get_strategy,
    keras_multiworker_fixes,
    replicas,
    shard_by_data,
    worker_dir,
)
from tfrobust.training.optimizers import build_optimizer
from tfrobust.training.resume import (
    RunDirectory,
    TrainingDiverged,
    data_fingerprint,
    is_finished_run,
)
from tfrobust.training.robust_model import RobustModel
from tfrobust.training.targets import load_targets

__all__ = ["TrainResult", "TrainingDiverged", "check_method_options", "train", "load_data", "library_versions",
           "load_method_targets", "method_options", "is_finished_run"]

#: The event files TensorBoard writers create (tf.summary.create_file_writer).
_EVENTS = re.compile(r"^events\.out\.tfevents\..+$")


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        out_dir: the run directory.
        model: the trained base classifier (logits out).
        metrics: test metrics and timings (also in ``metrics.json``).
        history: per-epoch logs of every finished epoch, also those of an
            earlier, interrupted call (also in ``history.csv``).
    """

    out_dir: Path
    model: keras.Model
    metrics: dict[str, Any]
    history: dict[str, list[float]]


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


def check_method_options(config: TrainConfig) -> dict[str, Any]:
    """``config.method_options`` checked against the method's options and converted to their types.

    Raises:
        ConfigError: an unknown method (the line lists the registered ones),
            or an unknown option, a value of the wrong type or a required
            option missing (the line names the method and lists its options).
    """
    return METHODS[config.method].parse(config.method_options, prefix="method_options")


def method_options(config: TrainConfig, bounds: tuple[float, float]) -> dict[str, Any]:
    """The keyword options a run constructs the method's wrapper with.

    ``config.method_options`` checked by :func:`check_method_options`, then
    completed by the method's :meth:`~tfrobust.training.RobustModel.run_options`
    (by default the run's seed fills ``seed`` and the data's ``bounds`` fill
    ``bounds`` where the wrapper takes them and the options leave them out).
    Data options (``data_options``, e.g. target maps) stay in: the wrapper
    accepts and ignores them.
    """
    options = check_method_options(config)
    cls = METHODS[config.method].load()
    return cls.run_options(options, bounds=(float(bounds[0]), float(bounds[1])), seed=config.seed)


def load_method_targets(config: TrainConfig, train_ds: Dataset) -> np.ndarray | None:
    """The target maps a run streams with its batches (methods whose ``data_options`` hold
    ``targets``; aligned with ``train_ds``), else None.

    Raises:
        ValueError: such a method without ``method_options.targets``, or maps
            that do not belong to this training data (see :func:`load_targets`).
    """
    if "targets" not in METHODS[config.method].load().data_options:
        return None
    path = config.method_options.get("targets")
    if not path:
        raise ValueError(f"method {config.method} needs target maps: set method_options.targets (CLI --option targets=DIR) "
                         "to the output of tfrobust saliency --split train")
    return load_targets(path, train_ds)


def _resolved_config(
    config: TrainConfig, train_ds: Dataset, test_ds: Dataset, model: RobustModel,
    optimizer: keras.optimizers.Optimizer, replicas: int = 1,
) -> dict[str, Any]:
    base: keras.Model = getattr(model, "base", model)
    values = to_dict(config)
    if values.get("strategy") == "none":
        del values["strategy"]  # the default: left out, so the records (and hashes) of one-device runs stay as they were
    values["data"]["bounds"] = [float(b) for b in train_ds.bounds]
    values["model"]["options"] = {**model_options(config.model.arch), **config.model.options}
    values["method_options"] = to_dict(method_options(config, train_ds.bounds))
    for key in METHODS[config.method].load().data_options:  # paths: recorded absolute
        if config.method_options.get(key) is not None:
            values["method_options"][key] = str(Path(config.method_options[key]).resolve())
    values["resolved"] = {
        "data_source": train_ds.source,
        "data_fingerprint": data_fingerprint(train_ds.x, train_ds.y),
        "train_examples": len(train_ds),
        "test_examples": len(test_ds),
        "input_shape": list(train_ds.input_shape),
        "num_classes": int(train_ds.num_classes),
        "class_names": list(train_ds.class_names),
        "parameters": int(base.count_params()),
        "optimizer": keras.saving.serialize_keras_object(optimizer),
        "loss": "sparse categorical cross-entropy on logits",
    }
    if config.strategy != "none":
        values["resolved"]["replicas"] = int(replicas)
    values["resolved"].update(to_dict(model.run_record()))
    values["versions"] = library_versions()
    values["command"] = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    return values


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    verbose: Any = "auto",
    callbacks: list[keras.callbacks.Callback] | tuple[keras.callbacks.Callback, ...] = (),
    overwrite: bool = False,
    finalize: Callable[[Path], object] | None = None,
    tensorboard: bool | None = None,
) -> TrainResult:
    """Trains the model a config describes and saves every artifact.

    Args:
        config: the run's configuration.
        out_dir: directory for the artifacts listed in the module docstring;
            created if missing. Re-running into the directory of an
            unfinished (killed) run with the same configuration resumes it
            after its last finished epoch.
        verbose: Keras ``fit`` verbosity (``"auto"``/1: progress bar, 2: one
            line per epoch, 0: silent).
        callbacks: extra Keras callbacks (their logs go into ``history.csv``).
        overwrite: start over in a directory that holds a finished run or an
            unfinished run of another configuration, removing only the files
            a run writes (unknown files stay).
        finalize: called with the run directory after every artifact is
            written and before the backup is removed (``tfrobust train``
            writes its report here), so a call killed during it is finished
            by the next call.
        tensorboard: write TensorBoard logs to ``out_dir/logs`` (None: the
            config's ``tensorboard`` field, on when the config has none).
            Skipped, with a warning, when ``logs/`` holds anything but event
            files (it is then not the run's own).

    Returns:
        A :class:`TrainResult` (on every worker of a multi-worker run; ``out_dir`` is the chief's).

    Raises:
        ValueError: unknown dataset, architecture or method, bad options;
            ``multiworker`` without a valid ``TF_CONFIG`` (a ``ConfigError``);
            ``out_dir`` holds a finished run or an unfinished run of another
            configuration (without ``overwrite``), or files that are not a
            tfrobust run; the backup cannot be resumed.
        TrainingDiverged: the loss or the weights became NaN or infinite.
        FileNotFoundError: the dataset's files cannot be found.
    """
    check_method_options(config)  # an unknown method or option: one line, before the data is read
    strategy = get_strategy(config.strategy)  # first: a multi-worker strategy precedes every TensorFlow op
    out = Path(out_dir)
    with worker_dir(out, strategy) as work, keras_multiworker_fixes(strategy):
        return _train(config, out, work, strategy, verbose=verbose, callbacks=callbacks, overwrite=overwrite,
                      finalize=finalize, tensorboard=tensorboard)


def _train(
    config: TrainConfig,
    out: Path,
    work: Path,
    strategy: tf.distribute.Strategy,
    *,
    verbose: Any,
    callbacks: list[keras.callbacks.Callback] | tuple[keras.callbacks.Callback, ...],
    overwrite: bool,
    finalize: Callable[[Path], object] | None,
    tensorboard: bool | None,
) -> TrainResult:
    """:func:`train` under ``strategy``: reads the run from ``out``, writes it into ``work`` (``out`` but for a
    multi-worker run's non-chief workers)."""
    chief = work == out
    train_ds, test_ds = load_data(config)  # fail on bad data before touching out_dir
    options = method_options(config, train_ds.bounds)
    targets = load_method_targets(config, train_ds)
    val_ds = None
    if config.model_selection == "best_validation":  # hold out the first examples, as Noack's MNIST_val
        train_ds, val_ds, targets = holdout_split(train_ds, config.validation_size, targets=targets)
    check_export_target(work / "saved_model")  # a foreign saved_model/ is refused now, not after training
    _warn_uneven_batches(len(train_ds), config.batch_size, replicas(strategy))
    started = time.time()

    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    steps_per_epoch = math.ceil(len(train_ds) / config.batch_size)
    with strategy.scope():  # variables (model, optimizer, metrics) mirrored over the replicas
        base = build_model(
            config.model.arch,
            input_shape=tuple(train_ds.input_shape),
            num_classes=int(train_ds.num_classes),
            **config.model.options,
        )
        model = METHODS[config.method](base, **options)
        if not isinstance(model, RobustModel):
            raise ValueError(f"method {config.method!r} built a {type(model).__name__}, not a RobustModel")
        model.check_input_shape(tuple(train_ds.input_shape))  # e.g. attack steps longer than the ball
        optimizer = build_optimizer(config.optimizer, total_steps=steps_per_epoch * config.epochs)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=config.jit_compile,  # "auto", True or False (validated by TrainConfig)
        )
        record = _resolved_config(config, train_ds, test_ds, model, optimizer, replicas(strategy))
        if chief:
            run = RunDirectory.open(out, record, overwrite=overwrite)  # refuses before anything is written
        else:  # resumes from the chief's backup (read only; with overwrite, the chief starts over)
            run = (RunDirectory(out, record, None) if overwrite else RunDirectory.open(out, record)).worker_copy(work)
        check_same_on_all_workers(strategy, run.epochs_done, "the number of finished epochs to resume after")
        run.start()
        first_epoch = run.epochs_done
        run.restore(model)

    throughput = Throughput(len(train_ds))
    test_pipe = shard_by_data(test_ds.pipeline(config.batch_size), strategy)
    validation = test_pipe if config.validate else None
    selector = None
    if config.model_selection != "last":
        validation = shard_by_data(val_ds.pipeline(config.batch_size), strategy) if val_ds is not None else test_pipe
        selector = BestCheckpoint(
            config.epochs, start_fraction=config.selection_start,
            selection="validation" if val_ds is not None else "test_set",
            filepath=work / "checkpoints" / "best.weights.h5")
    all_callbacks: list[keras.callbacks.Callback] = [
        throughput,
        *callbacks,  # before the recorder, so values they add (val_robust_accuracy) are logged
        *([selector] if selector is not None else []),
        run.callback(),  # checks the loss every batch; commits each finite epoch (backup, history, checkpoint)
        *_tensorboard_callbacks(config, work, test_ds, callbacks, tensorboard),  # committed epochs only
    ]
    lo = train_ds.bounds[0]
    train_pipe = shard_by_data(make_pipeline(
        train_ds.x, train_ds.y, config.batch_size, shuffle=True, seed=config.seed,
        augment=config.data.augment, targets=targets, fill=lo if math.isfinite(lo) else 0.0,
        epochs=(first_epoch, config.epochs),  # epoch e's batches depend on (seed, e) only: resumable
    ), strategy)
    if first_epoch < config.epochs:
        model.fit(
            train_pipe,
            validation_data=validation,
            epochs=config.epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps_per_epoch,
            callbacks=all_callbacks,
            shuffle=False,  # the pipeline shuffles, seeded
            verbose=verbose,
        )
    elif selector is not None:  # every epoch was done before (killed while saving): load the selected weights
        selector.set_model(model)
        selector.on_train_begin()
        selector.on_train_end()
    run.check_finite(model, "at the end of training")
    test = model.evaluate(test_pipe, return_dict=True, verbose=0)

    save_model(base, work / "model.keras")
    export_saved_model(base, work / "saved_model")
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
    if selector is not None:
        metrics.update(selector.summary())
    atomic_json(metrics, work / "metrics.json")
    if finalize is not None:
        finalize(work)
    history = run.history()
    run.finish()  # only now: a call killed before this point is finished by the next one
    return TrainResult(out_dir=out, model=base, metrics=metrics, history=history)


def _warn_uneven_batches(examples: int, batch_size: int, replicas: int) -> None:
    """Warns when a batch does not split evenly among the replicas: Keras then averages the replicas' mean
    losses with equal weights, which differs from the one-device mean over the batch."""
    if replicas <= 1:
        return
    last = examples % batch_size
    if batch_size % replicas or last % replicas:
        shown = f"batch_size {batch_size}" if batch_size % replicas else f"the last batch of an epoch ({last})"
        warnings.warn(f"{shown} does not split evenly among {replicas} replicas: its replicas' losses are "
                      "averaged with equal weights, so the run differs slightly from a one-device run",
                      stacklevel=3)


#: How many test images the saliency maps in ``logs/`` show when the caller logs none.
TENSORBOARD_IMAGES = 8


def _tensorboard_callbacks(config: TrainConfig, out: Path, test_ds: Dataset,
                           callbacks: Any, enabled: bool | None) -> list[keras.callbacks.Callback]:
    """The callbacks that write ``out/logs``: scalars of every epoch's logs, and saliency images unless a caller's
    :class:`SaliencySnapshot` already logs there. Empty when off, or when ``logs/`` is not the run's own."""
    if not (getattr(config, "tensorboard", True) if enabled is None else enabled):
        return []
    log_dir = out / "logs"
    foreign = sorted(e.name for e in log_dir.iterdir() if not (e.is_file() and _EVENTS.match(e.name))) \
        if log_dir.is_dir() else []
    if foreign or (log_dir.exists() and not log_dir.is_dir()):
        shown = ", ".join(foreign[:3]) or "a file"
        warnings.warn(f"{log_dir} holds what a run does not write ({shown}); no TensorBoard logs written",
                      stacklevel=3)
        return []
    found: list[keras.callbacks.Callback] = [EpochScalars(log_dir)]
    logs_images = any(isinstance(c, SaliencySnapshot) and c.log_dir is not None
                      and Path(c.log_dir).resolve() == log_dir.resolve() for c in callbacks)
    if not logs_images and len(test_ds):
        n = min(TENSORBOARD_IMAGES, len(test_ds))
        found.insert(0, SaliencySnapshot(test_ds.x[:n], test_ds.y[:n], out_dir=None, log_dir=log_dir,
                                         max_images=n, bounds=test_ds.bounds))
    return found
