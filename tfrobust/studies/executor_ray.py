"""Runs a study's cells as Ray tasks, concurrently where the dependencies allow (``--executor ray``).

``run_study(spec, out, executor=RayExecutor(...))``: the driver (this process)
settles, prepares and records every cell exactly as the sequential runner does
(:class:`tfrobust.studies.runner.StudyRun`) and is the only writer of the
ledger; a worker runs :func:`tfrobust.studies.runner.execute_cell`, which
writes the cell's artifacts, its ``done`` record or ``error.txt`` into the
study directory. On a cluster that directory must be on storage every node
mounts at the same path: the driver writes a marker file (:data:`MARKER_NAME`,
a token of this run) and each task checks it first, so a worker that cannot
see the directory fails the run with one line instead of writing elsewhere.

Scheduling: cells are taken in dependency order; a cell is settled (cached,
recovered, skipped) once all its dependencies have their final state, and
submitted when it must run, at most ``workers`` at a time (default: as many
as the cluster's resources allow). Each cell asks Ray for the resources of its
kind (:data:`KIND_RESOURCES`, or a ``resources`` attribute of the kind
function, for plugins) overridden by its stage's ``resources:``; a default the
cluster cannot give (a GPU on a CPU-only cluster, more CPUs than any node has)
is cut to what the largest node has, an override it cannot give is refused
before anything runs.

Faults: a worker that dies mid-cell (killed, out of memory, node lost) gets
its cell retried from an empty cell directory, at most ``retries`` times, then
the cell is recorded ``failed`` with the reason. An exception of the kind is
not retried (it would fail again): the cell is ``failed`` as in the sequential
runner. A killed driver leaves finished cells ``done`` in the ledger (or in
their records) and the next run resumes from them. Ctrl-C cancels the running
tasks, marks their cells ``pending`` and re-raises.

Ray is imported only when a study runs with this executor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError
from tfrobust.registry import KINDS, Entry
from tfrobust.reports.files import atomic_write_text
from tfrobust.studies.runner import CellJob, CellOutcome, StudyRun, execute_cell
from tfrobust.studies.spec import Cell

__all__ = ["DEFAULT_RESOURCES", "KIND_RESOURCES", "MARKER_NAME", "RayExecutor", "StudyDirNotShared",
           "cell_resources", "check_marker", "limit_threads"]

#: The marker file the driver writes into the study directory; each task checks it first.
MARKER_NAME = ".ray-driver"

_GIB = 1024**3

#: What one cell of a kind needs when the kind declares nothing (one CPU, no GPU, no memory reservation).
DEFAULT_RESOURCES: Mapping[str, float] = {"num_cpus": 1.0, "num_gpus": 0.0, "memory": 0}

#: Per-kind defaults: ``num_cpus``, ``num_gpus`` (a fraction shares a GPU) and ``memory`` (bytes, Ray's
#: logical memory resource). Kinds that train networks get a whole GPU; kinds that only run a trained
#: model (attacks, attributions) share one.
KIND_RESOURCES: Mapping[str, Mapping[str, float]] = {
    "train": {"num_cpus": 2.0, "num_gpus": 1.0, "memory": 4 * _GIB},
    "roar": {"num_cpus": 2.0, "num_gpus": 1.0, "memory": 4 * _GIB},
    "vaegan": {"num_cpus": 2.0, "num_gpus": 1.0, "memory": 4 * _GIB},
    "attack": {"num_cpus": 1.0, "num_gpus": 0.5, "memory": 2 * _GIB},
    "manifold": {"num_cpus": 1.0, "num_gpus": 0.25, "memory": 2 * _GIB},
    "jacobian": {"num_cpus": 1.0, "num_gpus": 0.25, "memory": 2 * _GIB},
    "saliency": {"num_cpus": 1.0, "num_gpus": 0.25, "memory": 1 * _GIB},
    "gradients": {"num_cpus": 1.0, "num_gpus": 0.25, "memory": 1 * _GIB},
    "examples": {"num_cpus": 1.0, "num_gpus": 0.25, "memory": 1 * _GIB},
    "toy": {"num_cpus": 1.0, "num_gpus": 0.0, "memory": 1 * _GIB},
    "tsipras": {"num_cpus": 1.0, "num_gpus": 0.0, "memory": 1 * _GIB},
    "linear": {"num_cpus": 1.0, "num_gpus": 0.0, "memory": 1 * _GIB},
}

_RAY_NAMES = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


class StudyDirNotShared(ConfigError):
    """A worker cannot see the study directory the driver writes (not on shared storage)."""


def check_marker(out_dir: Path, token: str) -> None:
    """Checks, in a worker, that the study directory is the driver's: it exists and holds this run's marker.

    Args:
        out_dir: the study directory (absolute, as the driver sees it).
        token: the token the driver wrote into :data:`MARKER_NAME`.

    Raises:
        StudyDirNotShared: the directory or marker is missing here, or holds another run's token.
    """
    try:
        found = (out_dir / MARKER_NAME).read_text(encoding="utf-8").strip()
    except OSError:
        found = None
    if found != token:
        what = "does not exist" if not out_dir.is_dir() else f"holds no {MARKER_NAME} of this run"
        raise StudyDirNotShared(f"a Ray worker on {socket.gethostname()} cannot see the study directory {out_dir} "
                                f"(it {what} there); put --out on storage every node mounts at the same path")


def limit_threads(num_cpus: float, num_gpus: float) -> None:
    """Limits TensorFlow (and OpenMP) in this worker to its CPUs and makes it grow GPU memory as needed.

    Set through the environment TensorFlow reads when it starts; in a worker that already imported it
    (Ray reuses workers) its thread pools are set again where TensorFlow still allows it.
    """
    threads = str(max(1, int(num_cpus)))
    for name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = threads
    os.environ["TF_NUM_INTEROP_THREADS"] = "1" if num_cpus < 2 else "2"
    os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(os.environ["TF_NUM_INTEROP_THREADS"]))
    except RuntimeError:  # already initialized in this worker: its first cell's setting stays
        pass
    if num_gpus > 0:
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except (RuntimeError, ValueError):
                pass


def _run_cell_task(job: CellJob, entry: Entry, token: str, num_cpus: float, num_gpus: float) -> CellOutcome:
    """The Ray task of one cell: check the study directory, limit threads, run the cell."""
    check_marker(job.out_dir, token)
    limit_threads(num_cpus, num_gpus)
    return execute_cell(job, entry)


def _declared(entry: Entry | None) -> Mapping[str, float]:
    """A kind function's own ``resources`` attribute (for plugins), or {}."""
    if entry is None:
        return {}
    try:
        declared = getattr(entry.load(), "resources", None)
    except ConfigError:
        return {}
    return declared if isinstance(declared, Mapping) else {}


def cell_resources(kind: str, override: Mapping[str, float], capacity: Mapping[str, float] | None = None,
                   *, entry: Entry | None = None, where: str = "") -> dict[str, float]:
    """What one cell asks Ray for: defaults of its kind, then the stage's ``resources:`` override.

    Args:
        kind: the cell's kind.
        override: the stage's ``resources:`` (checked by the spec).
        capacity: the most of each resource (``num_cpus``, ``num_gpus``, ``memory``) one node of the
            cluster has; None: no cut and no check.
        entry: the kind's registry entry; its function's ``resources`` attribute overrides
            :data:`KIND_RESOURCES`.
        where: names the stage in messages (``stages.train.resources``).

    Returns:
        ``num_cpus``, ``num_gpus``, ``memory``: defaults cut to ``capacity``, overrides as given.

    Raises:
        ConfigError: an override no node of the cluster can give.
    """
    wanted = {**DEFAULT_RESOURCES, **KIND_RESOURCES.get(kind, {}), **_declared(entry)}
    out = {key: float(wanted.get(key, 0)) for key in DEFAULT_RESOURCES}
    for key in DEFAULT_RESOURCES:
        if capacity is None:
            continue
        most = float(capacity.get(key, 0.0))
        if key in override and float(override[key]) > most:
            raise ConfigError(f"{where or kind}.{key}: {override[key]:g} asked, but no node of the Ray cluster "
                              f"has more than {most:g}")
        if key == "num_cpus":
            out[key] = min(out[key], most) if most > 0 else out[key]
        else:
            out[key] = min(out[key], most)
    for key, value in override.items():
        out[key] = float(value)
    out["memory"] = float(int(out["memory"]))
    return out


@contextlib.contextmanager
def _quiet_raylet_messages() -> Iterator[None]:
    """Drops the raylet's messages Ray prints to the driver's stdout (a paragraph per dead worker), even with
    ``log_to_driver=False``: the executor says in one line what happened to the cell instead."""
    module = sys.modules.get("ray._private.worker")
    original = getattr(module, "print_to_stdstream", None)
    if module is None or original is None:
        yield
        return

    def filtered(data: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping) and data.get("pid") == "raylet":
            return None
        return original(data, *args, **kwargs)

    module.print_to_stdstream = filtered  # type: ignore[attr-defined]
    try:
        yield
    finally:
        module.print_to_stdstream = original  # type: ignore[attr-defined]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:  # pragma: no cover - ray is a declared dependency
        raise ConfigError(f"--executor ray needs the ray package ({err}); pip install 'ray>=2.9'") from None
    return ray


class RayExecutor:
    """Runs cells as Ray tasks (see the module docstring).

    Args:
        address: None: start a new local Ray instance (stopped at the end; never one that ``ray start``
            left running here, nor ``$RAY_ADDRESS``); ``auto``, ``HOST:PORT`` or
            ``ray://HOST:PORT``: join that cluster. When Ray is already initialized in this process, that
            instance is used and left running.
        workers: at most this many cells at once; for a local instance also its number of CPUs
            (default: this machine's CPUs).
        retries: how many times a cell whose worker died is run again from an empty directory.
        poll_seconds: how often the driver wakes up while waiting for tasks (Ctrl-C is seen then).

    Raises:
        ConfigError: ``workers`` < 1 or ``retries`` < 0.
    """

    def __init__(self, address: str | None = None, *, workers: int | None = None, retries: int = 2,
                 poll_seconds: float = 0.5) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {workers}")
        if retries < 0:
            raise ConfigError(f"retries must be >= 0, got {retries}")
        self.address = address
        self.workers = workers
        self.retries = retries
        self.poll_seconds = poll_seconds

    def _connect(self, ray: Any) -> bool:
        """Initializes Ray; True when this call started it (and must shut it down)."""
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if self.address is None:
                ray.init(address="local", num_cpus=self.workers or os.cpu_count() or 1,
                         include_dashboard=False, object_store_memory=256 * 1024**2, **quiet)
            else:
                ray.init(address=self.address, **quiet)
        except Exception as err:
            where = f"at {self.address}" if self.address else "locally"
            text = " ".join(str(err).split())[:300]
            raise ConfigError(f"cannot start or join Ray {where}: {type(err).__name__}: {text}") from None
        return True

    @staticmethod
    def _capacity(ray: Any) -> dict[str, float]:
        """The most CPUs, GPUs and memory any alive node of the cluster has."""
        most = {key: 0.0 for key in DEFAULT_RESOURCES}
        for node in ray.nodes():
            if not node.get("Alive", node.get("alive", False)):
                continue
            have = node.get("Resources", {})
            for key, name in _RAY_NAMES.items():
                most[key] = max(most[key], float(have.get(name, 0.0)))
        return most

    def run(self, study: StudyRun) -> None:
        """Runs the cells of ``study`` on Ray (see the module docstring)."""
        ray = _import_ray()
        started = self._connect(ray)
        marker = study.out / MARKER_NAME
        try:
            capacity = self._capacity(ray)
            resources = {}
            for cell in study.cells:
                stage = next(s for s in study.spec.stages if s.name == cell.stage)
                entry = KINDS[cell.kind]
                resources[cell.id] = cell_resources(cell.kind, stage.resources, capacity, entry=entry,
                                                    where=f"stages.{stage.name}.resources")
            token = uuid.uuid4().hex
            atomic_write_text(marker, token + "\n")
            task = ray.remote(max_retries=0)(_run_cell_task)
            with _quiet_raylet_messages():
                self._schedule(ray, task, study, resources, token)
        finally:
            marker.unlink(missing_ok=True)
            if started:
                ray.shutdown()

    def _submit(self, ray: Any, task: Any, study: StudyRun, cell: Cell, need: Mapping[str, float], token: str,
                *, clean: bool = False) -> Any:
        job = study.prepare(cell, clean=clean)
        options: dict[str, Any] = {"num_cpus": need["num_cpus"], "num_gpus": need["num_gpus"],
                                   "name": f"cell:{cell.id}"}
        if need["memory"] > 0:
            options["memory"] = int(need["memory"])
        if need["num_gpus"] > 0:
            options["max_calls"] = 1  # TensorFlow keeps GPU memory until its process ends
        return task.options(**options).remote(job, KINDS[cell.kind], token, need["num_cpus"], need["num_gpus"])

    def _schedule(self, ray: Any, task: Any, study: StudyRun, resources: Mapping[str, Mapping[str, float]],
                  token: str) -> None:
        limit = self.workers or len(study.cells) or 1
        waiting = list(study.cells)  # not settled yet, in dependency order
        ready: list[Cell] = []  # settled, must run, not submitted yet
        running: dict[Any, tuple[Cell, int, float]] = {}  # ref -> cell, attempt, submitted at
        claimed: dict[str, Cell] = {}  # prepared (ledger row running) and not recorded yet
        try:
            while waiting or ready or running:
                unsettled = []
                for cell in waiting:
                    if any(d not in study.state for d in cell.needs.values()):
                        unsettled.append(cell)
                    elif study.settle(cell):
                        ready.append(cell)
                waiting = unsettled
                while ready and len(running) < limit:
                    cell = ready.pop(0)
                    claimed[cell.id] = cell  # before prepare: an interrupt inside _submit still resets the row
                    ref = self._submit(ray, task, study, cell, resources[cell.id], token)
                    running[ref] = (cell, 0, time.time())
                if not running:
                    if waiting and not ready:  # cannot happen with cells in dependency order
                        raise RuntimeError(f"cells wait on dependencies outside the run: {waiting[0].id}")
                    continue
                finished, _ = ray.wait(list(running), num_returns=1, timeout=self.poll_seconds)
                for ref in finished:
                    cell, attempt, since = running.pop(ref)
                    try:
                        outcome = self._outcome(ray, study, cell, ref, attempt, since)
                    except BaseException:
                        study.interrupted(cell.id)
                        raise
                    if outcome is None:  # the worker died: run it again from an empty directory
                        again = self._submit(ray, task, study, cell, resources[cell.id], token, clean=True)
                        running[again] = (cell, attempt + 1, time.time())
                    else:
                        study.record(cell, outcome)
                        claimed.pop(cell.id, None)
        except BaseException:  # Ctrl-C, a lost cluster, a worker that cannot see the study directory
            for ref in running:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: S110 - the task may be gone already; the ledger matters here
                    pass
            for cell_id in claimed:  # every cell started and not recorded, submitted or not
                if cell_id not in study.state:  # recorded (done/failed) before the interrupt: keep it
                    study.interrupted(cell_id)
            raise

    def _outcome(self, ray: Any, study: StudyRun, cell: Cell, ref: Any, attempt: int,
                 since: float) -> CellOutcome | None:
        """A finished task's outcome; None to retry it (its worker died and retries are left).

        Raises:
            StudyDirNotShared: the worker could not see the study directory.
        """
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # raised outside the kind (execute_cell catches the kind's)
            cause = getattr(err, "cause", None)
            if isinstance(cause, StudyDirNotShared):
                raise StudyDirNotShared(str(cause)) from None
            reason = " ".join(str(cause if cause is not None else err).split())
        except (ray.exceptions.RayError, OSError) as err:  # the worker died, its node was lost
            reason = f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
            if attempt < self.retries:
                study.say(f"{study.tag(cell)}: worker lost ({type(err).__name__}); "
                          f"retry {attempt + 1} of {self.retries} from an empty cell directory")
                return None
            reason = f"worker lost {attempt + 1} time(s), last: {reason}"
        cell_dir = study.out / "cells" / cell.id
        if cell_dir.is_dir():
            (cell_dir / "error.txt").write_text(reason + "\n", encoding="utf-8")
        return CellOutcome(cell.id, None, reason, time.time() - since)
