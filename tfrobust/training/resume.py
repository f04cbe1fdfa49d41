"""Run directories of :func:`tfrobust.training.train`: resume, refuse, start over.

A run directory holds what one training run writes (see
:mod:`tfrobust.training.run`). This module decides what a new call may do
with an existing directory and keeps the resumable state consistent:

- **identity**: the resolved configuration a run records in ``config.yaml``,
  without what does not change the result (library versions, the command
  line, where the data files lie: ``data.data_dir`` and
  ``resolved.data_source``, whose content is covered by
  ``resolved.data_fingerprint``; the optimizer's automatic name, e.g.
  ``adam_3``). Its SHA-256 is the run's ``config_hash``.
- **backup**: ``backup/state.json`` (finished epochs, config hash and
  identity, the weights file, the states of the Keras seed generators, e.g.
  dropout's, which ``save_weights`` leaves out, and the history rows) next to
  ``backup/epochNNNN.weights.h5`` (model and optimizer variables). At the end
  of each epoch the weights file is written first, then ``state.json`` is
  replaced (the commit point), then ``history.csv`` and
  ``checkpoints/last.weights.h5`` are derived from the committed state. Every
  file is written to a temporary name and renamed, so a kill at any moment
  leaves the last committed epoch intact.
- **rules** (:meth:`RunDirectory.open`), checked before anything is written:
  a missing or empty directory starts a run; an unfinished run with the same
  identity resumes after its last committed epoch; an unfinished run with
  another identity, or a finished run (``metrics.json`` and no
  ``backup/state.json``), is refused with one line, unless ``overwrite``; a
  non-empty directory that is not a tfrobust run is always refused.
  ``overwrite`` removes only the files a run writes, never unknown ones.

One process at a time may use a run directory; in a multi-worker run, the
chief writes it and the other workers read its backup only when they start
(:meth:`RunDirectory.worker_copy`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import yaml

from tfrobust.config import dump_yaml
from tfrobust.training.artifacts import atomic_json, check_export_target

__all__ = ["TrainingDiverged", "RunDirectory", "run_identity", "config_hash", "describe_differences",
           "is_finished_run", "data_fingerprint"]

#: Files and directories a training run (and ``tfrobust train``'s report) writes.
RUN_FILES = ("config.yaml", "history.csv", "model.keras", "metrics.json", "report.html", "curves.png")
RUN_DIRS = ("backup", "checkpoints", "saved_model", "snapshots", "logs")
STATE = "state.json"
#: What each run subdirectory may hold (anything else there is kept).
_DIR_FILES = {
    "backup": re.compile(r"^(state\.json|epoch\d+\.weights\.h5|latest\.weights\.h5(\.bkp)?"
                         r"|training_metadata\.json(\.bkp)?)$"),
    "checkpoints": re.compile(r"^last\.weights\.h5$"),
    "snapshots": re.compile(r"^saliency_epoch\d+\.png$"),
    "logs": re.compile(r"^events\.out\.tfevents\..+$"),
}
#: Temporary names of the atomic writes of a run (``.NAME.tmpPID``, ``.saved_model.tmp-XXXX``, ...).
_TEMP = re.compile(r"^\.(?:config\.yaml|history\.csv|metrics\.json|report\.html|curves(?:\.png)?|model"
                   r"|saved_model|last|state\.json|epoch\d+|saliency_[\w-]*)\.(?:png\.)?(?:tmp|old|probe)")
#: Identity keys that do not change a run's result.
_NOT_IDENTITY = (("versions",), ("command",), ("data", "data_dir"), ("resolved", "data_source"),
                 ("resolved", "config_hash"), ("resolved", "optimizer", "config", "name"))


class TrainingDiverged(ValueError):
    """The loss or the weights became NaN or infinite; the run is a failed run."""


# ------------------------------------------------------------------ identity
def _plain(values: Any) -> Any:
    """JSON types only (tuples -> lists), so that a YAML round trip gives the same value."""
    return json.loads(json.dumps(values, default=str))


def run_identity(record: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a run record (``config.yaml``) that determines the result."""
    values = _plain(dict(record))
    for path in _NOT_IDENTITY:
        parent = values
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return values


def config_hash(identity: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an identity, independent of key order."""
    text = json.dumps(_plain(dict(identity)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def data_fingerprint(*arrays: np.ndarray) -> str:
    """Short SHA-256 of arrays' shapes, dtypes and bytes (the training data's content)."""
    digest = hashlib.sha256()
    for array in arrays:
        a = np.ascontiguousarray(array)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:16]


def _flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(values, Mapping) and values:
        out: dict[str, Any] = {}
        for key, value in values.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: values}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "null" if value is None else json.dumps(value)


def describe_differences(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 5) -> str:
    """``"seed 0 -> 5, optimizer.learning_rate 0.001 -> 0.01"``: what differs between two identities.

    Differences of the derived ``resolved`` section are shown only when
    nothing else differs (a new learning rate also changes the serialized
    optimizer there).
    """
    a, b = _flatten(_plain(dict(old))), _flatten(_plain(dict(new)))
    keys = [k for k in (*a, *(k for k in b if k not in a)) if a.get(k, "(unset)") != b.get(k, "(unset)")]
    main = [k for k in keys if not k.startswith("resolved.")]
    keys = main or keys
    shown = [f"{k} {_show(a.get(k, '(unset)'))} -> {_show(b.get(k, '(unset)'))}" for k in keys[:limit]]
    if len(keys) > limit:
        shown.append(f"and {len(keys) - limit} more")
    return ", ".join(shown) or "no difference"


# -------------------------------------------------------------- directories
def _is_temp(name: str) -> bool:
    return bool(_TEMP.match(name))


def _read_record(path: Path) -> dict[str, Any] | None:
    """A run record (``config.yaml`` written by a run: has ``resolved`` and ``versions``), else None."""
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if isinstance(values, dict) and isinstance(values.get("resolved"), dict) and "versions" in values:
        return values
    return None


def _read_state(backup: Path) -> dict[str, Any] | None:
    path = backup / STATE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not (isinstance(state, dict) and isinstance(state["epoch"], int) and isinstance(state["identity"], dict)
                and isinstance(state["weights"], str) and isinstance(state["history"], list)):
            raise ValueError("wrong fields")
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path} is unreadable ({type(err).__name__}); pass --overwrite "
                         "(overwrite=True) to start the run over") from None
    return state


def is_finished_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a finished training run (``metrics.json``, no ``backup/state.json``)."""
    out = Path(path)
    return (out / "metrics.json").is_file() and not (out / "backup" / STATE).exists()


def _remove_known(directory: Path, pattern: re.Pattern[str]) -> None:
    """Removes the files of ``directory`` a run writes (and temporaries); the directory if then empty."""
    if not directory.is_dir() or directory.is_symlink():
        return
    for entry in directory.iterdir():
        if entry.is_symlink() or entry.is_file():
            if pattern.match(entry.name) or _is_temp(entry.name):
                entry.unlink()
        elif entry.is_dir() and _is_temp(entry.name):
            shutil.rmtree(entry)
    if not any(directory.iterdir()):
        directory.rmdir()


def _clean_temporaries(out: Path) -> None:
    """Removes leftovers of interrupted atomic writes (a killed run) from ``out`` and its run subdirectories."""
    for directory in (out, *(out / d for d in RUN_DIRS if d != "saved_model")):
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            if not _is_temp(entry.name):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _atomic_text(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _link_or_copy(source: Path, target: Path) -> None:
    """Puts a copy of ``source`` at ``target`` atomically (a hard link where the file system allows)."""
    tmp = target.with_name(f".{target.name.split('.')[0]}.tmp{os.getpid()}.weights.h5")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _format(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def write_history(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Writes epoch rows as CSV (``epoch`` first, other columns sorted) atomically; no rows: no file."""
    if not rows:
        path.unlink(missing_ok=True)
        return
    columns = ["epoch", *sorted({k for row in rows for k in row} - {"epoch"})]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_format(row[c]) if c in row else "" for c in columns])
    _atomic_text(buffer.getvalue(), path)


def _seed_variables(model: keras.Model) -> list[Any]:
    """States of the model's Keras seed generators (e.g. dropout's): variables that are not weights."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(np.asarray(value)))
    except (TypeError, ValueError):
        return True  # not a number: nothing to check


def _nonfinite_weights(model: keras.Model) -> list[str]:
    """Paths of the model's floating-point weights holding NaN or inf."""
    bad = []
    for v in model.weights:
        if v.dtype in ("float16", "bfloat16", "float32", "float64") and \
                not bool(tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v)))):
            bad.append(getattr(v, "path", v.name))
    return bad


class RunDirectory:
    """The run directory of one :func:`tfrobust.training.train` call (see the module docstring).

    Create it with :meth:`open`; then :meth:`start`, :meth:`restore` (when
    :attr:`epochs_done` > 0), :meth:`callback` for ``fit``, and :meth:`finish`
    once every artifact is written.
    """

    def __init__(self, path: Path, record: Mapping[str, Any], state: dict[str, Any] | None) -> None:
        self.path = path
        self.record = dict(record)
        self.identity = run_identity(record)
        self.config_hash = config_hash(self.identity)
        self.state = state
        self.rows: list[dict[str, Any]] = list(state["history"]) if state else []

    @property
    def backup(self) -> Path:
        return self.path / "backup"

    @property
    def epochs_done(self) -> int:
        """Epochs finished and committed by an earlier call (0 for a new run)."""
        return int(self.state["epoch"]) if self.state else 0

    # -------------------------------------------------------------- checks
    @classmethod
    def open(cls, path: str | os.PathLike, record: Mapping[str, Any], *, overwrite: bool = False) -> RunDirectory:
        """Checks what ``path`` holds against a new run's record; nothing is written unless ``overwrite``.

        Raises:
            ValueError: one line: ``path`` is not a directory, holds files that
                are not a tfrobust run, holds a finished run, or an unfinished
                run with other settings (the differences are named); the last
                two only without ``overwrite``.
        """
        out = Path(path)
        if not out.exists():
            return cls(out, record, None)
        if not out.is_dir():
            raise ValueError(f"{out} exists and is not a directory; choose another output directory")
        entries = sorted(e.name for e in out.iterdir())
        if not entries:
            return cls(out, record, None)
        old = _read_record(out / "config.yaml")
        backup = out / "backup"
        try:
            state = _read_state(backup) if backup.is_dir() else None
        except ValueError:
            if not overwrite:
                raise
            state = {"unreadable": True}  # a run's backup, about to be removed
        unknown = [n for n in entries if n not in RUN_FILES and n not in RUN_DIRS and not _is_temp(n)]
        if old is None and state is None and (unknown or (out / "config.yaml").exists()):
            shown = ", ".join((unknown or ["config.yaml"])[:4]) + (" ..." if len(unknown) > 4 else "")
            raise ValueError(f"{out} is not empty and is not a tfrobust run (it holds {shown}); "
                             "choose a new or empty output directory")
        new = cls(out, record, None)
        if overwrite:
            new._remove_run_files()
            return new
        if state is None and (out / "metrics.json").is_file():
            detail = ""
            if old is not None and config_hash(run_identity(old)) != new.config_hash:
                detail = f" with other settings ({describe_differences(run_identity(old), new.identity)})"
            raise ValueError(f"{out} already holds a finished run{detail}; pass --overwrite (overwrite=True) "
                             "to replace it, or choose another output directory")
        if state is None and backup.is_dir() and any(_DIR_FILES["backup"].match(n) and not n.startswith("epoch")
                                                     for n in os.listdir(backup)):
            raise ValueError(f"{out} holds an unfinished run of an older tfrobust (no backup/{STATE}); "
                             "pass --overwrite (overwrite=True) to start it over")
        before = state["identity"] if state else (run_identity(old) if old else None)
        if before is not None and config_hash(before) != new.config_hash:
            raise ValueError(f"{out} holds an unfinished run with other settings "
                             f"({describe_differences(before, new.identity)}); rerun with its settings to "
                             "resume it, or pass --overwrite (overwrite=True) to start over")
        new.state = state
        new.rows = list(state["history"]) if state else []
        return new

    def worker_copy(self, path: str | os.PathLike) -> RunDirectory:
        """This run's committed state (backup weights, seed states, history) in a new directory ``path``.

        A multi-worker run's non-chief workers (:mod:`tfrobust.training.distribute`) resume from the chief's
        run directory and write only into their own ``path``. Call it before training starts: the chief
        commits no epoch until every worker trains.
        """
        new = RunDirectory(Path(path), self.record, None)
        if self.state is not None and "weights" in self.state:
            new.backup.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.backup / self.state["weights"], new.backup / self.state["weights"])
            new.state, new.rows = dict(self.state), list(self.rows)
        return new

    def _remove_run_files(self) -> None:
        """``overwrite``: removes what a run writes; unknown files (and directories holding them) stay."""
        out = self.path
        saved = out / "saved_model"
        if saved.is_dir() and not saved.is_symlink():
            check_export_target(saved)  # refuses (ValueError) a directory that is not an earlier export
        _clean_temporaries(out)
        if saved.exists() or saved.is_symlink():
            if saved.is_symlink():
                saved.unlink()
            elif saved.is_dir():
                shutil.rmtree(saved)
        for name, pattern in _DIR_FILES.items():
            _remove_known(out / name, pattern)
        for name in RUN_FILES:
            entry = out / name
            if entry.is_file() or entry.is_symlink():
                entry.unlink()

    # --------------------------------------------------------------- state
    def start(self) -> None:
        """Creates the directory, removes leftovers of a killed call, writes ``config.yaml`` (new runs) and
        re-derives ``history.csv`` and ``checkpoints/last.weights.h5`` from the committed state."""
        out = self.path
        out.mkdir(parents=True, exist_ok=True)
        (out / "checkpoints").mkdir(exist_ok=True)
        _clean_temporaries(out)
        if self.backup.is_dir():
            keep = self.state["weights"] if self.state else None
            for entry in self.backup.iterdir():
                if entry.name.startswith("epoch") and entry.name != keep and _DIR_FILES["backup"].match(entry.name):
                    entry.unlink()  # written by a killed call before its state.json was committed
        if self.state is None or not (out / "config.yaml").is_file():
            dump_yaml({**self.record, "resolved": {**self.record["resolved"], "config_hash": self.config_hash}},
                      out / "config.yaml")
        write_history(self.rows, out / "history.csv")
        if self.state is not None:
            _link_or_copy(self.backup / self.state["weights"], out / "checkpoints" / "last.weights.h5")

    def restore(self, model: keras.Model) -> None:
        """Loads the committed model, optimizer and seed-generator states into a compiled ``model``.

        Raises:
            ValueError: the backup does not fit the model or cannot be read.
        """
        if self.state is None:
            return
        path = self.backup / self.state["weights"]
        try:
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(path)
        except (OSError, ValueError, KeyError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(f"cannot resume from {path}: {first}; pass --overwrite (overwrite=True) "
                             "to start the run over") from err
        seeds = _seed_variables(model)
        saved = self.state.get("seed_states", [])
        if len(saved) != len(seeds):
            raise ValueError(f"cannot resume from {path}: {len(saved)} seed-generator states saved, the model "
                             f"has {len(seeds)}; pass --overwrite (overwrite=True) to start the run over")
        for variable, value in zip(seeds, saved):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def commit_epoch(self, model: keras.Model, epoch: int, logs: Mapping[str, Any]) -> None:
        """Saves the state after ``epoch`` (0-based) atomically, then derives history and checkpoint."""
        self.backup.mkdir(exist_ok=True)
        name = f"epoch{epoch + 1:04d}.weights.h5"
        tmp = self.backup / f".epoch{epoch + 1:04d}.tmp{os.getpid()}.weights.h5"
        model.save_weights(tmp)
        os.replace(tmp, self.backup / name)
        row = {"epoch": int(epoch), **{k: _plain_value(v) for k, v in logs.items()}}
        rows = [r for r in self.rows if int(r["epoch"]) < epoch] + [row]
        state = {
            "epoch": int(epoch) + 1,
            "config_hash": self.config_hash,
            "identity": self.identity,
            "weights": name,
            "seed_states": [np.asarray(v.numpy()).tolist() for v in _seed_variables(model)],
            "history": rows,
        }
        atomic_json(state, self.backup / STATE)  # the commit point
        self.state, self.rows = state, rows
        for entry in self.backup.iterdir():
            if entry.name != name and entry.name.startswith("epoch") and _DIR_FILES["backup"].match(entry.name):
                entry.unlink()
        write_history(rows, self.path / "history.csv")
        _link_or_copy(self.backup / name, self.path / "checkpoints" / "last.weights.h5")

    def check_finite(self, model: keras.Model, where: str) -> None:
        """Raises :class:`TrainingDiverged` if a weight of ``model`` is NaN or infinite."""
        bad = _nonfinite_weights(model)
        if bad:
            shown = ", ".join(bad[:2]) + (", ..." if len(bad) > 2 else "")
            self._diverged(f"{len(bad)} weight tensor(s) became NaN or infinite ({shown}) {where}")

    def _diverged(self, what: str) -> None:
        kept = (f"the last finite state (epoch {self.epochs_done}) stays in checkpoints/last.weights.h5 and backup/"
                if self.state else "no epoch finished with finite values, so no checkpoint was kept")
        raise TrainingDiverged(f"training diverged: {what}; {kept}; no model.keras or metrics.json written "
                               "(try a lower learning rate)")

    def callback(self) -> keras.callbacks.Callback:
        """The ``fit`` callback that checks every batch's loss and commits every finite epoch."""
        return _Recorder(self)

    def history(self) -> dict[str, list[Any]]:
        """The committed per-epoch logs, column -> values (without ``epoch``)."""
        columns = sorted({k for row in self.rows for k in row} - {"epoch"})
        return {c: [row.get(c) for row in self.rows] for c in columns}

    def finish(self) -> None:
        """Removes the backup (``state.json`` first) and any temporaries: the run is finished."""
        if self.backup.is_dir():
            (self.backup / STATE).unlink(missing_ok=True)
            _remove_known(self.backup, _DIR_FILES["backup"])
        _clean_temporaries(self.path)
        self.state = None


def _plain_value(value: Any) -> Any:
    array = np.asarray(value)
    if array.ndim == 0 and array.dtype.kind in "biuf":
        return array.item()
    return str(value)


class _Recorder(keras.callbacks.Callback):
    """Raises :class:`TrainingDiverged` on a non-finite loss or weights; commits each finished epoch."""

    def __init__(self, run: RunDirectory) -> None:
        super().__init__()
        self.run = run
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
            self.run._diverged(f"the loss became {float(np.asarray(loss))} in epoch {self._epoch + 1}, "
                               f"batch {batch + 1}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
            self.run._diverged(f"the loss of epoch {epoch + 1} is {float(np.asarray(loss))}")
        self.run.check_finite(self.model, f"in epoch {epoch + 1}")
        self.run.commit_epoch(self.model, epoch, logs or {})
