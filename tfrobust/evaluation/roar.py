"""ROAR and KAR: remove (or keep) and retrain, with batched retraining and a resumable ledger.

Ref: Kim, Seo, Jeon 2019, sec. 3.2 (Figs. 4-5); Hooker et al. 2019. For every
attribution method, every fraction ``f`` and every repeat, a fresh classifier
is trained on the training set with the ``f`` most (ROAR) or least (KAR)
important pixels of each image replaced by a fill value, and tested on the
test set occluded the same way (the maps of the test images come from the
same evaluated model). The unoccluded accuracy (``f = 0``, one classifier per
repeat, shared by every method and mode) starts every curve. Scores:
``mu_ROAR = AOC(g) - AOC(random)``, ``mu_KAR = AUC(g) - AUC(random)``
(:mod:`tfrobust.evaluation.roar_scores`).

Speed: attribution maps are computed once per (model, method, split) and
cached (:func:`tfrobust.training.compute_maps`, which calls
:func:`tfrobust.attribution.attribute` with each method's options); the
pixel ranks travel with each batch and every member occludes its own copy
inside the compiled step; members are trained together as one
:class:`tfrobust.training.Ensemble`, ``group_size`` at a time (or one by one
with ``batched=False``).

Resumability: each finished member is written atomically to
``out_dir/members/<setting>/<member>.json`` (``<setting>`` hashes everything
that changes a result: data fingerprints, evaluated model weights, arch,
epochs, batch size, optimizer, fill, rank mode, seed, the attributions'
options when given) and skipped on a re-run.

Choices (documented in the report too):
- repeat ``r`` of every member starts from the same initial weights (seed
  ``seed + r``) and sees the training batches in the same order: common random
  numbers, so differences between methods are not initialisation noise;
- fill: per-channel mean of the training images (Hooker et al.; Kim: "a
  constant value"; Kim's code fills the per-channel training mean too);
- ranks: channel-summed ``|map|`` (``rank_mode="signed"`` uses the signed sum);
  equal scores in random order (``ties="random"``, Kim's code) or reading
  order (``ties="index"``);
- label: the maps are those of the evaluated model's *predicted* class
  (``label="predicted"``, the default): Kim's code ranks pixels by the loss
  gradient against ``one_hot(argmax logits)`` (``3.4 CIFAR-10 ROAR
  KAR.ipynb``, ``eval_roar_kar``), so a misclassified test image carries no
  information about its true label into the occlusion; ``label="true"``
  takes the dataset's labels;
- scores: curves closed at (1, 1/K) (``end_point="chance"``, Kim's code; see
  :mod:`tfrobust.evaluation.roar_scores`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.config import ConfigError, OptimizerConfig, to_dict
from tfrobust.data import Dataset
from tfrobust.evaluation.occlusion import TIES, fill_values, importance_ranks, occlude
from tfrobust.evaluation.roar_scores import END_POINTS, write_csv
from tfrobust.evaluation.roar_scores import scores as roar_scores
from tfrobust.models import build_model
from tfrobust.registry import ATTRIBUTIONS
from tfrobust.training import (
    atomic_json,
    build_optimizer,
    compute_maps,
    fit_members,
    library_versions,
)
from tfrobust.training.targets import load_targets, model_sha256

__all__ = ["DEFAULT_FRACTIONS", "LABELS", "MODES", "ROAR_COLUMNS", "SCORE_COLUMNS", "Member", "RoarResult",
           "check_method_options", "format_scores", "map_labels", "roar_members", "run_roar"]

MODES = ("roar", "kar")
#: Whose class the attribution maps explain: the evaluated model's prediction (Kim's code) or the label.
LABELS = ("predicted", "true")
ROAR_COLUMNS = ("method", "mode", "fraction", "repeat", "accuracy")
SCORE_COLUMNS = ("method", "mode", "area", "mu")
DEFAULT_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)


@dataclass(frozen=True)
class Member:
    """One retrained classifier: ``method``/``mode`` are empty for the unoccluded (f = 0) member."""

    method: str
    mode: str
    fraction: float
    repeat: int

    @property
    def key(self) -> str:
        if self.fraction == 0:
            return f"unoccluded_r{self.repeat}"
        return f"{self.mode}_{self.method}_f{self.fraction:g}_r{self.repeat}"


@dataclass(frozen=True)
class RoarResult:
    """What :func:`run_roar` produced: rows of ``roar.csv`` and ``scores.csv`` and the files."""

    rows: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    out_dir: Path
    trained: int
    reused: int


def roar_members(methods: Sequence[str], fractions: Sequence[float], repeats: int,
                 modes: Sequence[str]) -> list[Member]:
    """Every member a sweep needs: ``repeats`` unoccluded ones plus methods x modes x fractions x repeats."""
    members = [Member("", "", 0.0, r) for r in range(repeats)]
    members += [Member(m, mode, float(f), r) for mode in modes for m in methods for f in fractions
                for r in range(repeats)]
    return members


def _check(methods: Sequence[str], fractions: Sequence[float], repeats: int, modes: Sequence[str]) -> None:
    if not methods:
        raise ValueError("methods: give at least one attribution method")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods: duplicates in {list(methods)}")
    for method in methods:
        ATTRIBUTIONS.get_entry(method)  # an unknown name: a one-line ConfigError listing the names
    bad = [f for f in fractions if not 0.0 < float(f) <= 1.0]
    if not fractions or bad:
        raise ValueError(f"fractions must be in (0, 1] (0 is always measured), got {list(fractions)}")
    if sorted(set(map(float, fractions))) != [float(f) for f in fractions]:
        raise ValueError(f"fractions must be strictly increasing, got {list(fractions)}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    unknown = [m for m in modes if m not in MODES]
    if not modes or unknown:
        raise ValueError(f"modes must be among {', '.join(MODES)}, got {list(modes)}")


def check_method_options(methods: Sequence[str], method_options: Mapping[str, Any] | None
                         ) -> dict[str, dict[str, Any]]:
    """Each method's options checked and converted by the registry (``ATTRIBUTIONS[m].parse``).

    Args:
        methods: the attribution names of the sweep.
        method_options: attribution name -> its options, or None (defaults for all).

    Returns:
        name -> converted options, for the methods that were given options.

    Raises:
        ConfigError: not a mapping, a name that is not among ``methods``, or a
            bad option (one line naming ``method_options.<name>``).
    """
    if method_options is None:
        return {}
    if not isinstance(method_options, Mapping):
        raise ConfigError(f"method_options must map attribution names to options, got {method_options!r}")
    stray = [name for name in method_options if name not in methods]
    if stray:
        raise ConfigError(f"method_options: {', '.join(map(str, stray))} not among the methods "
                          f"({', '.join(methods)})")
    return {name: ATTRIBUTIONS[name].parse(opts, prefix=f"method_options.{name}")
            for name, opts in method_options.items()}


def _digest(values: Any) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def map_labels(model: keras.Model, data: Dataset, label: str, *, batch_size: int = 256) -> Dataset:
    """The examples whose maps rank the pixels: ``data`` itself (``"true"``) or ``data`` with
    its labels replaced by the model's predicted classes (``"predicted"``, Kim's code)."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
    if label == "true":
        return data
    logits = model.predict(np.asarray(data.x, np.float32), batch_size=batch_size, verbose=0)
    return dataclasses.replace(data, y=np.argmax(np.asarray(logits), axis=-1).astype(np.int32))


def _ranks(model: keras.Model, data: Dataset, methods: Sequence[str], maps_dir: Path, *, rank_mode: str,
           ties: str, seed: int, batch_size: int, progress: bool,
           options: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """(N, R, H, W) int16 pixel ranks of every method (0 = most important); maps cached in ``maps_dir``."""
    per_method = []
    for i, method in enumerate(methods):
        out = maps_dir / method  # one directory per method: load_targets wants a single map set
        # compute_maps calls tfrobust.attribution.attribute with the data's bounds and these options
        compute_maps(model, data, method=method, out_dir=out, batch_size=batch_size, seed=seed,
                     options=options.get(method), progress=progress)
        ranks = importance_ranks(load_targets(out, data), mode=rank_mode, ties=ties, seed=seed + 7919 * i)
        per_method.append(ranks.astype(np.int16))
    return np.stack(per_method, axis=1)


def _pipeline(data: Dataset, ranks: np.ndarray, batch_size: int, *, shuffle: bool, seed: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(({"x": np.asarray(data.x, np.float32), "ranks": ranks},
                                             np.asarray(data.y, np.int32)))
    if shuffle:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _input_fn(member: Member, method_index: dict[str, int], fill: np.ndarray) -> Any:
    if member.fraction == 0:
        return lambda features: features["x"]
    r = method_index[member.method]
    keep = member.mode == "kar"
    fraction = member.fraction

    def occluded(features: Any) -> tf.Tensor:
        return occlude(features["x"], features["ranks"][:, r], fraction, keep=keep, fill=fill)

    return occluded


def _rows(members: Sequence[Member], accuracy: dict[str, float], methods: Sequence[str],
          modes: Sequence[str]) -> list[dict[str, Any]]:
    """roar.csv rows; each unoccluded member is listed as the f = 0 point of every method and mode."""
    rows = []
    for mode in modes:
        for method in methods:
            for m in members:
                if m.fraction == 0 or (m.method == method and m.mode == mode):
                    rows.append({"method": method, "mode": mode, "fraction": m.fraction,
                                 "repeat": m.repeat, "accuracy": accuracy[m.key]})
    rows.sort(key=lambda r: (r["mode"], r["method"], r["fraction"], r["repeat"]))
    return rows


def run_roar(
    model: keras.Model,
    train: Dataset,
    test: Dataset,
    *,
    out_dir: str | os.PathLike,
    methods: Sequence[str],
    arch: str,
    arch_options: dict[str, Any] | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    repeats: int = 3,
    modes: Sequence[str] = ("roar",),
    epochs: int = 5,
    batch_size: int = 128,
    optimizer: OptimizerConfig | None = None,
    fill: str | float = "mean",
    rank_mode: str = "abs",
    label: str = "predicted",
    ties: str = "random",
    end_point: str = "chance",
    batched: bool = True,
    group_size: int = 8,
    seed: int = 0,
    jit_compile: Any = "auto",
    progress: bool = True,
) -> RoarResult:
    """Runs (or resumes) a ROAR/KAR sweep and writes roar.csv and scores.csv.

    The figure (curves.png) is drawn from roar.csv by
    :func:`tfrobust.reports.write_roar_figure` (the CLI does it).

    Args:
        model: the evaluated classifier (logits out); its attributions rank the pixels.
        train: the training split the members retrain on (images (N, H, W, C)).
        test: the test split the members are scored on.
        out_dir: results directory (created); a re-run resumes in it.
        methods: attribution names (``tfrobust.registry.ATTRIBUTIONS``); include
            ``"random"`` for the baseline the scores are relative to.
        arch: registry name of the retrained classifiers (e.g. the evaluated model's).
        arch_options: options of ``arch``.
        method_options: attribution name -> its options (validated by
            ``ATTRIBUTIONS[name].parse``; e.g. ``{"smoothgrad": {"samples":
            20}}``); methods left out use their defaults. The data's bounds
            reach an attribution that takes ``bounds``; the seed is ``seed``.
        fractions: occluded fractions in (0, 1], increasing (Kim: 0.1 ... 0.9).
        repeats: classifiers per (method, mode, fraction) (Kim: 3).
        modes: ``"roar"`` (replace the most important pixels) and/or ``"kar"``.
        epochs: training epochs of each member.
        batch_size: batch size of the retraining (and of the map computation).
        optimizer: the members' optimizer (default Adam 1e-3).
        fill: ``"mean"`` (per-channel training mean) or a constant in data units.
        rank_mode: ``"abs"`` or ``"signed"`` channel reduction of the maps.
        label: ``"predicted"`` (maps of the evaluated model's predicted class,
            Kim's code) or ``"true"`` (of the dataset's label).
        ties: order of equal scores, ``"random"`` (seeded; Kim's code) or
            ``"index"`` (reading order); see :func:`importance_ranks`.
        end_point: ``"chance"`` (curves end at (1, 1/K), Kim's code) or
            ``"none"`` for the scores (:func:`tfrobust.evaluation.scores`).
        batched: train ``group_size`` members at once as one ensemble; False: one by one.
        group_size: members per ensemble (memory and compile time grow with it).
        seed: seeds the maps (random baseline), member weights and batch order.
        jit_compile: Keras ``jit_compile`` of the members' training.
        progress: progress bars (maps, members).

    Returns:
        A :class:`RoarResult`.

    Raises:
        ValueError: bad methods, method options, fractions, repeats, modes, group
            size, label, ties, end point, or data without image shape.
    """
    _check(methods, fractions, repeats, modes)
    options = check_method_options(methods, method_options)
    for name, value, choices in (("label", label, LABELS), ("ties", ties, TIES), ("end_point", end_point, END_POINTS)):
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be an integer >= 1, got {group_size!r}")
    if len(train.input_shape) != 3:
        raise ValueError(f"ROAR occludes pixels of images (H, W, C); {train.name} has inputs {train.input_shape}")
    optimizer = optimizer or OptimizerConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # maps/<split> (true labels) or maps/<split>-predicted: the two never share a cache directory.
    suffix = "" if label == "true" else "-predicted"
    train_maps, test_maps = out / "maps" / f"train{suffix}", out / "maps" / f"test{suffix}"
    train_ranks = _ranks(model, map_labels(model, train, label, batch_size=batch_size), methods, train_maps,
                         rank_mode=rank_mode, ties=ties, seed=seed, batch_size=batch_size, progress=progress,
                         options=options)
    test_ranks = _ranks(model, map_labels(model, test, label, batch_size=batch_size), methods, test_maps,
                        rank_mode=rank_mode, ties=ties, seed=seed + 1, batch_size=batch_size, progress=progress,
                        options=options)
    fill_vec = fill_values(np.asarray(train.x), kind=fill)
    setting = {
        "train": json.loads((train_maps / methods[0] / "saliency.json").read_text())["dataset"],
        "test": json.loads((test_maps / methods[0] / "saliency.json").read_text())["dataset"],
        "model_sha256": model_sha256(model), "arch": arch, "arch_options": arch_options or {},
        "epochs": epochs, "batch_size": batch_size, "optimizer": to_dict(optimizer),
        "fill": fill if isinstance(fill, str) else float(fill), "rank_mode": rank_mode, "seed": seed,
        "label": label, "ties": ties,  # the members learn the true labels, whatever labels the maps used:
        "labels": [hashlib.sha256(np.asarray(d.y, "<i4").tobytes()).hexdigest() for d in (train, test)],
    }
    if options:  # absent without options: the ledgers of earlier runs keep their keys
        setting["method_options"] = {name: options[name] for name in sorted(options)}
    ledger = out / "members" / _digest(setting)[:16]
    ledger.mkdir(parents=True, exist_ok=True)
    atomic_json(setting, ledger / "setting.json")

    # One read of the ledger: every member of either mode that an earlier run finished.
    accuracy: dict[str, float] = {}
    for m in roar_members(methods, fractions, repeats, MODES):
        path = ledger / f"{m.key}.json"
        if path.is_file():
            try:
                accuracy[m.key] = float(json.loads(path.read_text())["accuracy"])
            except (ValueError, KeyError, TypeError):
                path.unlink()  # a corrupt record is recomputed, never trusted
    members = roar_members(methods, fractions, repeats, modes)
    todo = [m for m in members if m.key not in accuracy]
    reused = len(members) - len(todo)

    method_index = {name: i for i, name in enumerate(methods)}
    train_data = _pipeline(train, train_ranks, batch_size, shuffle=True, seed=seed)
    test_data = _pipeline(test, test_ranks, batch_size, shuffle=False, seed=seed)
    steps = -(-len(train) // batch_size) * epochs
    bar = keras.utils.Progbar(len(members), unit_name="member") if progress else None
    if bar is not None:
        bar.update(reused)
    size = group_size if batched else 1
    for start in range(0, len(todo), size):
        group = todo[start:start + size]
        nets = []
        for m in group:
            keras.utils.set_random_seed(seed + m.repeat)  # common initial weights per repeat
            nets.append(build_model(arch, input_shape=tuple(train.input_shape), num_classes=train.num_classes,
                                    **(arch_options or {})))
        accs = fit_members(nets, [_input_fn(m, method_index, fill_vec) for m in group], train_data, test_data,
                           epochs=epochs, optimizer=lambda: build_optimizer(optimizer, total_steps=steps),
                           batched=batched and len(group) > 1, jit_compile=jit_compile, verbose=0)
        for m, acc in zip(group, accs):
            accuracy[m.key] = float(acc)
            atomic_json({"member": m.key, "method": m.method, "mode": m.mode, "fraction": m.fraction,
                         "repeat": m.repeat, "accuracy": float(acc), "versions": library_versions()},
                        ledger / f"{m.key}.json")
        if bar is not None:
            bar.add(len(group))

    # A mode finished by an earlier run into the same directory (ROAR, then --keep) joins the table.
    table_modes = [mode for mode in MODES if mode in modes or all(
        m.key in accuracy for m in roar_members(methods, fractions, repeats, (mode,)))]
    rows = _rows(roar_members(methods, fractions, repeats, table_modes), accuracy, methods, table_modes)
    scored = roar_scores(rows, baseline="random", end_point=end_point, num_classes=train.num_classes)
    write_csv(rows, out / "roar.csv", ROAR_COLUMNS)
    write_csv(scored, out / "scores.csv", SCORE_COLUMNS)
    return RoarResult(rows=rows, scores=scored, out_dir=out, trained=len(todo), reused=reused)


def format_scores(rows: Sequence[dict[str, Any]], scored: Sequence[dict[str, Any]]) -> str:
    """A text table: mean accuracy (%) per fraction, area and mu per (mode, method)."""
    fractions = sorted({float(r["fraction"]) for r in rows})
    header = f"{'mode':<5} {'method':<16}" + "".join(f"{f:>8g}" for f in fractions) + f"{'area':>9}{'mu':>9}"
    lines = [header]
    for s in scored:
        means = []
        for f in fractions:
            accs = [float(r["accuracy"]) for r in rows if r["method"] == s["method"] and r["mode"] == s["mode"]
                    and float(r["fraction"]) == f]
            means.append(f"{100 * float(np.mean(accs)):8.2f}" if accs else f"{'':>8}")
        lines.append(f"{s['mode']:<5} {s['method']:<16}" + "".join(means)
                     + f"{float(s['area']):9.4f}{float(s['mu']):9.4f}")
    return "\n".join(lines)
