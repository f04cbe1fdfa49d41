"""One training across devices and workers: the ``strategy`` of a :class:`~tfrobust.config.TrainConfig`.

- ``none``: TensorFlow's default strategy (one device).
- ``mirrored``: ``tf.distribute.MirroredStrategy`` over the local GPUs, or,
  without GPUs, over the logical CPU devices (one replica unless the process
  split its CPU with ``tf.config.set_logical_device_configuration``).
- ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy``; the
  cluster and this process's task come from the ``TF_CONFIG`` environment
  variable, e.g. ``{"cluster": {"worker": ["host1:2222", "host2:2222"]},
  "task": {"type": "worker", "index": 0}}``. Every worker runs the same
  ``tfrobust train`` command; the chief (task ``chief``, else worker 0) writes
  the run directory, the other workers write the same files into a
  temporary directory of their own, removed when they finish (so that every
  worker runs the same callbacks and saves, which may hold collective ops).
  A resumed run reads its backup from the chief's run directory, which must
  therefore be on a file system every worker sees; the workers check that
  they resume from the same epoch.

``batch_size`` is the global batch: each step's batch is split among the
replicas and their gradients are summed, so a run equals a one-device run
with the same batch within float rounding when every batch (the last one of
an epoch included) splits evenly among the replicas. Per-step random draws
that fold in the replica id (PGD's random starts) differ between replica
counts: such runs are equal in distribution, not in value.

``MultiWorkerMirroredStrategy`` must be created before TensorFlow runs its
first op in the process: :func:`get_strategy` creates it once and keeps it,
so call it early (``tfrobust train`` does, before building its callbacks).

Keras 3 (up to at least 3.15) fails under ``MultiWorkerMirroredStrategy``
with one device per worker (keras-team/keras#20585): ``fit`` averages a data
batch with ``strategy.reduce`` on a nested value, and the step's scalar logs
are reduced along an axis 0 they do not have. :func:`keras_multiworker_fixes`
replaces the two functions while a run trains.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfrobust.config import STRATEGIES, ConfigError

__all__ = ["STRATEGIES", "TF_CONFIG", "get_strategy", "cluster_task", "is_chief", "worker_dir",
           "check_same_on_all_workers", "shard_by_data", "keras_multiworker_fixes", "replicas"]

#: The environment variable ``multiworker`` reads the cluster from.
TF_CONFIG = "TF_CONFIG"
#: The strategies made in this process, by name (a MultiWorkerMirroredStrategy can be set up only once).
_MADE: dict[str, tf.distribute.Strategy] = {}
#: The open :func:`worker_dir` blocks of this process: run directory (absolute) -> this worker's directory.
_WORKER_DIRS: dict[str, Path] = {}
_EXAMPLE = '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'


def cluster_task(environ: Mapping[str, str] | None = None) -> tuple[dict[str, list[str]], str, int]:
    """The cluster, task type and task index ``TF_CONFIG`` describes.

    Args:
        environ: the environment to read (default ``os.environ``).

    Returns:
        ``(cluster, task_type, task_index)``: cluster maps ``worker`` (and
        optionally ``chief``) to ``host:port`` lists.

    Raises:
        ConfigError: one line: ``TF_CONFIG`` is unset, not JSON, or does not
            name this process's task in its cluster.
    """
    text = (os.environ if environ is None else environ).get(TF_CONFIG, "")
    where = f"--strategy multiworker needs {TF_CONFIG} = {_EXAMPLE}"
    if not text.strip():
        raise ConfigError(f"{where}; {TF_CONFIG} is not set")
    try:
        values = json.loads(text)
    except ValueError as err:
        raise ConfigError(f"{where}; {TF_CONFIG} is not JSON ({err})") from None
    cluster = values.get("cluster") if isinstance(values, dict) else None
    task = values.get("task") if isinstance(values, dict) else None
    if not isinstance(cluster, dict) or not cluster or not all(
            isinstance(k, str) and isinstance(v, list) and v and all(isinstance(a, str) and a for a in v)
            for k, v in cluster.items()):
        raise ConfigError(f"{where}; its cluster must map job names to non-empty host:port lists, got {cluster!r}")
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown or len(cluster.get("chief", [])) > 1:
        raise ConfigError(f"{where}; its cluster may hold one chief and workers only, got {sorted(cluster)} "
                          f"({len(cluster.get('chief', []))} chief)")
    if not isinstance(task, dict) or task.get("type") not in cluster or isinstance(task.get("index"), bool) \
            or not isinstance(task.get("index"), int) or not 0 <= task["index"] < len(cluster[task["type"]]):
        raise ConfigError(f"{where}; its task must name a job of the cluster ({', '.join(sorted(cluster))}) "
                          f"and an index in it, got {task!r}")
    return {k: list(v) for k, v in cluster.items()}, str(task["type"]), int(task["index"])


def get_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy a config's ``strategy`` names (made once per process and kept).

    Raises:
        ConfigError: an unknown name; ``multiworker`` without a valid
            ``TF_CONFIG`` (see :func:`cluster_task`).
        RuntimeError: ``multiworker`` after TensorFlow ran its first op in
            this process (the message says to create it first).
    """
    if name not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "none":
        return tf.distribute.get_strategy()
    if name in _MADE:
        return _MADE[name]
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy: tf.distribute.Strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
    else:
        cluster_task()  # one clear line for a missing or bad TF_CONFIG, before TensorFlow reads it
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as err:
            raise RuntimeError(f"--strategy multiworker: {err}; create the strategy (tfrobust.training.distribute."
                               "get_strategy('multiworker')) before anything else runs TensorFlow ops") from err
    _MADE[name] = strategy
    return strategy


def _is_multiworker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        bool(strategy.extended._in_multi_worker_mode())


def replicas(strategy: tf.distribute.Strategy) -> int:
    """Replicas that share each global batch."""
    return int(strategy.num_replicas_in_sync)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run directory: always, except a multi-worker run's non-chief workers."""
    if not _is_multiworker(strategy):
        return True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0
                                    and "chief" not in resolver.cluster_spec().as_dict())


@contextlib.contextmanager
def worker_dir(out: str | os.PathLike, strategy: tf.distribute.Strategy) -> Iterator[Path]:
    """Where this process writes a run: ``out`` for the chief; for another worker ``run`` in a new
    temporary directory, removed (with everything in it) when the block ends.

    Nested blocks for the same ``out`` give the same directory (a caller that writes next to the run, such
    as ``tfrobust train``'s snapshot callback, opens the block around :func:`~tfrobust.training.train`).
    """
    out = Path(out)
    if is_chief(strategy):
        yield out
        return
    key = os.path.abspath(out)
    if key in _WORKER_DIRS:
        yield _WORKER_DIRS[key]
        return
    resolver = strategy.cluster_resolver
    tmp = Path(tempfile.mkdtemp(prefix=f"tfrobust-{resolver.task_type}{resolver.task_id}-"))
    _WORKER_DIRS[key] = tmp / "run"
    try:
        yield tmp / "run"
    finally:
        del _WORKER_DIRS[key]
        shutil.rmtree(tmp, ignore_errors=True)


def check_same_on_all_workers(strategy: tf.distribute.Strategy, value: int, what: str) -> None:
    """Raises ValueError (on every worker) unless all workers hold the same integer ``value``.

    Every worker must call it at the same point (it runs a collective op).
    """
    if not _is_multiworker(strategy):
        return
    local = tf.constant([float(value), float(value) ** 2, 1.0], tf.float64)
    per_replica = strategy.run(lambda: tf.identity(local))
    total, squares, count = (float(v) for v in strategy.reduce("SUM", per_replica, axis=None).numpy())
    if abs(total * total - count * squares) > 1e-6 * max(1.0, count * squares):
        raise ValueError(f"the workers disagree on {what} (this worker: {value}, mean {total / count:g}); "
                         "the run directory must be on a file system every worker sees")


def shard_by_data(dataset: tf.data.Dataset, strategy: tf.distribute.Strategy) -> tf.data.Dataset:
    """``dataset`` with its multi-worker auto-sharding set to DATA (in-memory data has no files to split)."""
    if not _is_multiworker(strategy):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


@contextlib.contextmanager
def keras_multiworker_fixes(strategy: tf.distribute.Strategy) -> Iterator[None]:
    """While the block runs, Keras's TensorFlow trainer works under a multi-worker strategy (see the module
    docstring); a no-op for other strategies."""
    if not _is_multiworker(strategy):
        yield
        return
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    reduce_before = tf_trainer.reduce_per_replica
    build_before = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction not in ("auto", "mean") or not tf_trainer._collective_all_reduce_multi_worker(strategy):
            return reduce_before(values, strategy, reduction)

        def one(value: Any) -> Any:  # a scalar has no axis 0: average it over the replicas
            local = strategy.experimental_local_results(value)[0] \
                if isinstance(value, tf.distribute.DistributedValues) else value
            shape = getattr(local, "shape", None)
            if shape is not None and shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return reduce_before(value, strategy, reduction)

        return tree.map_structure(one, values)

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> Any:
        if iterator is None:
            return build_before(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:  # shapes only: this worker's first replica's part of the batch
            batch = next(batches)
            data_batch = tree.map_structure(
                lambda v: self.distribute_strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues) else v, batch)
            break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = reduce_before
        tf_trainer.TensorFlowTrainer._maybe_symbolic_build = build_before
