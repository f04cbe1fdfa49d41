"""Target interpretations for Interpretation Regularization: compute once, cache, load aligned.

Noack et al. 2021 train with a target map ``I(x)`` per training example
(sec. 3, eq. 9), extracted beforehand from a (robust) model with SmoothGrad
(sec. 3.1: ``sigma = 0.15``, ``N = 50`` samples, logit-gradient base, then
thresholded at ``phi = 1``; sec. 4.1) and, for the ablation of sec. 4.4,
randomly permuted. :func:`compute_maps` writes such maps to disk, aligned
with the examples of a :class:`~tfrobust.data.Dataset`; :func:`load_targets`
reads them back and refuses maps that were computed for other data.

Files in ``out_dir``:

``<method>.npy``
    float32 array, shape ``dataset.x.shape``; row ``i`` is the map of example
    ``i`` of the dataset in its order (no shuffling). Plain ``.npy``
    (``np.load(..., allow_pickle=False)``).
``saliency.json``
    ``{"format": 1, "dataset": {...}, "maps": {method: {...}}}``. ``dataset``
    holds the name, split, classes, limit, bounds, source, number of examples,
    input shape and the sha256 of the labels (int32 little-endian) and of the
    inputs (float32 little-endian, C order): the alignment fingerprint.
    ``maps[method]`` holds the file name, shape, method, resolved options,
    threshold, permute, seed, batch size, model source and weight hash,
    library versions, ``mean_abs`` and the sha256 of the map values. Several
    methods computed for the same data share one directory.
``<method>.npy.partial`` and ``<method>.progress.json`` (only while running)
    the memmap being filled and the number of examples done, rewritten
    atomically every few batches. A re-run with the same arguments resumes
    from there; with other arguments or data it starts that method afresh.
    The final ``<method>.npy`` appears only by ``os.replace`` when complete.

Thresholding: ``threshold_mode="two_sided"`` (default) zeroes the band
``mean +- phi * std`` of each map, as sec. 3.1 of the paper describes;
``"upper"`` keeps only values above ``mean + phi * std`` and zeroes the rest,
negative tail included, as every version of the authors' dataset classes does
(a1noack/interp_regularization ``ir_utils/target_interps_datasets.py``,
``__getitem__``: ``torch.where(target_interp > mean + self.thresh * std,
target_interp, 0)``; their maps are signed gradients, ``abs=False`` in
``generate_target_interps.ipynb``). The authors' ``std`` is torch's sample
std (N - 1), ours the population std: a factor ``sqrt(D / (D - 1))``,
1.0006 for MNIST. Thresholding and permuting commute (a permutation keeps
each map's mean and std), so the authors' order, permute once when the data
set is built and threshold each item, gives the same maps as ours.

Determinism: a method that takes a ``seed`` (``smoothgrad``, ``random``)
gets ``(seed, batch_index)`` for each batch, and the permutation of batch
``b`` is seeded from ``(seed, b)``; the same arguments (batch size included)
give the same file, resumed or not.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tfrobust.attribution import attribute
from tfrobust.attribution import permute as permute_maps
from tfrobust.attribution import threshold as threshold_maps
from tfrobust.config import check_int
from tfrobust.data import Dataset
from tfrobust.registry import ATTRIBUTIONS, Entry
from tfrobust.training.artifacts import atomic_json, library_versions

__all__ = ["INDEX_FILE", "THRESHOLD_MODES", "compute_maps", "load_targets", "model_sha256", "saliency_index",
           "threshold_upper"]

#: Name of the metadata file of a maps directory.
INDEX_FILE = "saliency.json"
_FORMAT = 1
# Progress is recorded after this many batches or this many seconds, whichever comes first,
# and always when the computation stops on an exception.
_CHECKPOINT_BATCHES = 8
_CHECKPOINT_SECONDS = 30.0
_HASH_ROWS = 4096
#: ``two_sided``: the paper's band around the mean; ``upper``: the authors' code (module docstring).
THRESHOLD_MODES = ("two_sided", "upper")


# --------------------------------------------------------------------------
# fingerprints and small helpers


def _sha256_rows(a: np.ndarray, dtype: str) -> str:
    """sha256 of ``a`` cast to ``dtype`` (C order), hashed in row chunks."""
    h = hashlib.sha256()
    h.update(repr((tuple(a.shape), dtype)).encode())
    for start in range(0, int(a.shape[0]), _HASH_ROWS):
        chunk = np.ascontiguousarray(a[start:start + _HASH_ROWS], dtype=dtype)
        h.update(chunk.data)
    return h.hexdigest()


def _data_fingerprint(dataset: Dataset, limit: int | None) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "split": dataset.split,
        "classes": None if dataset.classes is None else list(dataset.classes),
        "limit": limit,
        "bounds": [float(b) for b in dataset.bounds],
        "source": dataset.source,
        "examples": len(dataset),
        "input_shape": list(dataset.input_shape),
        "labels_sha256": _sha256_rows(dataset.y, "<i4"),
        "inputs_sha256": _sha256_rows(dataset.x, "<f4"),
    }


_IDENTITY = ("examples", "input_shape", "labels_sha256", "inputs_sha256")


def _same_data(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in _IDENTITY)


def _describe(meta: Mapping[str, Any], *, with_limit: bool = True) -> str:
    """E.g. ``fashion_mnist train classes=5,7 limit=1000 (1000 examples)``."""
    words = [str(meta.get("name", "?")), str(meta.get("split", "?"))]
    if meta.get("classes"):
        words.append("classes=" + ",".join(str(c) for c in meta["classes"]))
    if with_limit and meta.get("limit") is not None:
        words.append(f"limit={meta['limit']}")
    return " ".join(words) + f" ({meta.get('examples', '?')} examples)"


def model_sha256(model: Any) -> str | None:
    """sha256 over the model's weights in order (dtypes, shapes, values); None without weights.

    Layer names are left out: Keras numbers auto-named layers per process, so
    the same weights rebuilt in another session must hash alike.
    """
    weights = getattr(model, "weights", None)
    if not weights:
        return None
    h = hashlib.sha256()
    for w in weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(w))
        h.update(f"{value.dtype}|{value.shape}".encode())
        h.update(value.data if value.size else b"")
    return h.hexdigest()


def _jsonable(value: Any, name: str) -> Any:
    """Options as plain JSON values (tuples become lists); ValueError otherwise."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, name) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, name) for k, v in value.items()}
    raise ValueError(f"options: {name} must be a number, string, list or None, got {value!r}")


def _resolve_options(entry: Entry, options: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the options as given, checked and converted; every option but the seed, defaults filled in, as JSON)."""
    if isinstance(options, Mapping) and "seed" in options:
        raise ValueError("options: pass the seed as compute_maps(seed=...), not as an option")
    given = entry.parse(options, prefix="options")
    resolved = {**{o.name: o.default for o in entry.options if o.name != "seed"}, **given}
    return given, {k: _jsonable(v, k) for k, v in sorted(resolved.items())}


def _batch_seed(seed: int, batch: int) -> int:
    """A 63-bit integer seed for batch ``batch``, derived from ``(seed, batch)``."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def _check_number(value: Any, name: str, lo: float, hi: float | None) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(v) or v < lo or (hi is not None and v > hi):
        where = f"in [{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
        raise ValueError(f"{name} must be a number {where}, got {value!r}")
    return v


def _read_json(path: Path) -> dict[str, Any]:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {path}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from err
    if not isinstance(values, dict):
        raise ValueError(f"cannot read {path}: expected a JSON object")
    return values


def saliency_index(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``saliency.json`` of a maps directory written by :func:`compute_maps`.

    Args:
        out_dir: the directory.

    Returns:
        ``{"format": 1, "dataset": {...}, "maps": {method: {...}}}`` (see the module docstring).

    Raises:
        FileNotFoundError: no ``saliency.json`` there (the message names the file).
        ValueError: the file is not a maps index.
    """
    path = Path(out_dir) / INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {INDEX_FILE} at {path} (not a tfrobust saliency directory)")
    index = _read_json(path)
    if not isinstance(index.get("dataset"), dict) or not isinstance(index.get("maps"), dict):
        raise ValueError(f"{path} is not a tfrobust saliency index (no dataset/maps entries)")
    return index


def _update_index(out: Path, method: str, entry: dict[str, Any] | None,
                  dataset_meta: dict[str, Any]) -> None:
    """Sets (or, with ``entry=None``, removes) the entry of ``method``, atomically."""
    path = out / INDEX_FILE
    index: dict[str, Any] = {"format": _FORMAT, "dataset": dataset_meta, "maps": {}}
    if path.is_file():
        old = saliency_index(out)
        if _same_data(old["dataset"], dataset_meta):
            index["maps"] = dict(old["maps"])
            if dataset_meta.get("limit") is None:  # the same data: a known limit stays true
                index["dataset"] = {**dataset_meta, "limit": old["dataset"].get("limit")}
    if entry is None:
        index["maps"].pop(method, None)
    else:
        index["maps"][method] = entry
    atomic_json(index, path)


# --------------------------------------------------------------------------
# compute_maps


def _open_partial(partial: Path, progress_file: Path, key: str, shape: tuple[int, ...],
                  batch_size: int) -> tuple[np.memmap, int]:
    """The memmap to fill and the examples already done (0 after a clean restart)."""
    n = shape[0]
    try:
        state = _read_json(progress_file)
        done = state.get("done")
        if (state.get("key") == key and isinstance(done, int) and 0 <= done <= n
                and (done % batch_size == 0 or done == n)):
            mm = np.lib.format.open_memmap(partial, mode="r+")
            if mm.shape == shape and mm.dtype == np.float32:
                return mm, done
            del mm
    except (OSError, ValueError):
        pass  # missing or unreadable: start afresh
    for stale in (progress_file, partial):
        stale.unlink(missing_ok=True)
    mm = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=shape)
    atomic_json({"key": key, "done": 0, "total": n}, progress_file)
    return mm, 0


def threshold_upper(maps: np.ndarray, phi: float) -> np.ndarray:
    """Keeps the values of each map above ``mean + phi * std`` and zeroes the rest.

    Mean and population std over all values of each map; a constant map
    becomes all zeros. The authors' thresholding (module docstring).

    Args:
        maps: (N, ...) float maps.
        phi: >= 0.

    Returns:
        (N, ...) float32 array, same shape.
    """
    arr = np.asarray(maps)
    flat = arr.reshape(arr.shape[0], -1).astype(np.float64)
    if flat.shape[1] == 0:
        return arr.astype(np.float32)
    mean = flat.mean(axis=1, keepdims=True)
    std = flat.std(axis=1, keepdims=True)
    keep = (flat > mean + phi * std) & (std > 0)
    return np.where(keep, flat, 0.0).astype(np.float32).reshape(arr.shape)


def _map_stats(maps: np.ndarray) -> tuple[float, str, bool]:
    """mean |value|, sha256 of the values, all finite; in row chunks."""
    total, finite = 0.0, True
    for start in range(0, int(maps.shape[0]), _HASH_ROWS):
        chunk = np.asarray(maps[start:start + _HASH_ROWS], dtype=np.float64)
        total += float(np.abs(chunk).sum())
        finite = finite and bool(np.isfinite(chunk).all())
    mean_abs = total / maps.size if maps.size else 0.0
    return mean_abs, _sha256_rows(maps, "<f4"), finite


def compute_maps(
    model: Any,
    dataset: Dataset,
    *,
    method: str = "smoothgrad",
    out_dir: str | os.PathLike[str],
    batch_size: int = 128,
    options: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    permute: float | None = None,
    seed: int = 0,
    threshold_mode: str = "two_sided",
    progress: bool = True,
    model_source: str | None = None,
    limit: int | None = None,
) -> Path:
    """Attribution maps of every example of ``dataset``, in order, written to ``out_dir``.

    Maps are computed batch by batch (the model runs with ``training=False``)
    by :func:`tfrobust.attribution.attribute` (the dataset's bounds go to an
    attribution that takes ``bounds``), then optionally
    thresholded (:func:`tfrobust.attribution.threshold` with ``phi``) and
    permuted (:func:`tfrobust.attribution.permute` with fraction ``p``), in
    that order. The result is resumable: progress is recorded every few
    batches (and when an exception stops the loop), a re-run with the same
    arguments continues where it stopped, and a finished method is not
    recomputed. See the module docstring for the files.

    Args:
        model: classifier returning logits, e.g. a ``keras.Model``.
        dataset: the examples; maps are aligned with ``dataset.x`` row by row.
        method: a name in :data:`tfrobust.registry.ATTRIBUTIONS`
            (``smoothgrad`` for Noack's targets).
        out_dir: directory for ``<method>.npy`` and ``saliency.json``; created if needed.
        batch_size: examples per attribution call, >= 1.
        options: keyword options of the method, e.g. for ``smoothgrad``
            ``{"samples": 50, "sigma": 0.15, "base": "logit_gradient"}``
            (sigma absolute, in data units; Noack sec. 4.1). The seed is not an option.
        threshold: ``phi`` >= 0: zero values within ``mean +- phi * std`` of
            each map (Noack sec. 3.1 uses 1); None: no thresholding.
        threshold_mode: ``two_sided`` (default, the paper's text) or
            ``upper`` (keep only values above ``mean + phi * std``: the
            authors' code; see the module docstring). Recorded in the index
            (and the cache key) only when ``upper``.
        permute: fraction ``p`` in [0, 1] of pixels permuted in each map
            (Noack sec. 4.4); None: no permutation.
        seed: non-negative int; batch ``b`` uses ``(seed, b)`` for the
            method's noise and a seed derived from it for the permutation.
        progress: show a ``keras.utils.Progbar`` on stdout.
        model_source: where the model came from (recorded only).
        limit: the ``limit`` the dataset was loaded with (recorded only, for messages).

    Returns:
        Path of ``out_dir/<method>.npy``: float32, shape ``dataset.x.shape``.

    Raises:
        ValueError: unknown method or option, an argument out of range, maps of
            the wrong shape, or ``out_dir`` already holding other methods' maps
            for different data.

    Ref: Noack et al. 2021, sec. 3.1, 4.1 and 4.4.
    """
    entry = ATTRIBUTIONS[method]
    batch_size = check_int(batch_size, name="batch_size", minimum=1)
    seed = check_int(seed, name="seed", minimum=0)
    phi = _check_number(threshold, "threshold", 0.0, None)
    p = _check_number(permute, "permute", 0.0, 1.0)
    if threshold_mode not in THRESHOLD_MODES:
        raise ValueError(f"threshold_mode must be one of {', '.join(THRESHOLD_MODES)}, got {threshold_mode!r}")
    if limit is not None:
        limit = check_int(limit, name="limit", minimum=1)
    given, opts = _resolve_options(entry, options)
    takes_seed = entry.accepts("seed")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shape = tuple(int(s) for s in dataset.x.shape)
    n = shape[0]
    data_meta = _data_fingerprint(dataset, limit)
    settings = {
        "method": method,
        "options": opts,
        "threshold": phi,
        "permute": p,
        "seed": seed,
        "batch_size": batch_size,
        "model_sha256": model_sha256(model),
    }
    if threshold_mode != "two_sided":  # absent for the default: existing caches keep their keys
        settings["threshold_mode"] = threshold_mode
    key = hashlib.sha256(json.dumps(
        {**settings, **{k: data_meta[k] for k in _IDENTITY}}, sort_keys=True).encode()).hexdigest()

    final = out / f"{method}.npy"
    partial = out / f"{method}.npy.partial"
    progress_file = out / f"{method}.progress.json"
    old_index = saliency_index(out) if (out / INDEX_FILE).exists() else None
    if old_index is not None and not _same_data(old_index["dataset"], data_meta):
        others = sorted(m for m in old_index["maps"] if m != method)
        if others:
            raise ValueError(
                f"{out} already holds maps ({', '.join(others)}) of "
                f"{_describe(old_index['dataset'])}, not of {_describe(data_meta)}; "
                "write these maps to another --out directory")
    old_entry = (old_index or {}).get("maps", {}).get(method)
    if old_entry is not None and old_entry.get("key") == key and final.is_file():
        if progress:
            print(f"{method}: complete in {final}, nothing to do")
        return final
    if old_entry is not None or final.exists():
        # The old result is stale: forget it before anything new is written.
        _update_index(out, method, None, data_meta if old_index is None else old_index["dataset"])
        final.unlink(missing_ok=True)

    maps_out, done = _open_partial(partial, progress_file, key, shape, batch_size)
    bar = None
    if progress:
        resumed = f", resuming after {done}" if done else ""
        print(f"{method}: {n} examples{resumed} -> {final}")
        bar = keras.utils.Progbar(n, unit_name="example")
    if bar is not None and done:
        bar.update(done)
    recorded, last_time, since = done, time.monotonic(), 0

    def checkpoint(mm: np.memmap) -> None:
        nonlocal recorded, last_time, since
        mm.flush()
        atomic_json({"key": key, "done": done, "total": n}, progress_file)
        recorded, last_time, since = done, time.monotonic(), 0

    try:
        for start in range(done, n, batch_size):
            stop = min(start + batch_size, n)
            batch = start // batch_size
            kwargs = dict(given)
            if takes_seed:
                kwargs["seed"] = (seed, batch)
            maps = attribute(method, model, dataset.x[start:stop], dataset.y[start:stop],
                             bounds=dataset.bounds, **kwargs)
            maps = np.asarray(keras.ops.convert_to_numpy(maps), dtype=np.float32)
            if maps.shape != (stop - start, *shape[1:]):
                raise ValueError(f"{method} returned maps of shape {maps.shape} for inputs of "
                                 f"shape {(stop - start, *shape[1:])}")
            if phi is not None:
                maps = threshold_upper(maps, phi) if threshold_mode == "upper" else threshold_maps(maps, phi)
            if p is not None:
                maps = permute_maps(maps, p, seed=_batch_seed(seed, batch))
            maps_out[start:stop] = maps
            done, since = stop, since + 1
            if bar is not None:
                bar.update(done)
            if since >= _CHECKPOINT_BATCHES or time.monotonic() - last_time >= _CHECKPOINT_SECONDS:
                checkpoint(maps_out)
    except BaseException:
        if done > recorded:
            checkpoint(maps_out)  # keep every finished batch
        raise
    finally:
        maps_out.flush()

    mean_abs, values_sha256, finite = _map_stats(maps_out)
    del maps_out
    if not finite:
        raise ValueError(f"{method} produced NaN or inf values (see {partial}); "
                         "check the model and the method's options")
    os.replace(partial, final)
    record: dict[str, Any] = {
        **settings,
        "file": final.name,
        "shape": list(shape),
        "dtype": "float32",
        "mean_abs": mean_abs,
        "values_sha256": values_sha256,
        "model_source": model_source,
        "key": key,
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _update_index(out, method, record, data_meta)
    progress_file.unlink(missing_ok=True)
    return final


# --------------------------------------------------------------------------
# load_targets


def _entry_for(path: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(maps file, its index entry, the index's dataset block) for a dir or a .npy path."""
    if path.is_dir():
        index = saliency_index(path)
        methods = sorted(index["maps"])
        if not methods:
            raise ValueError(f"{path / INDEX_FILE} lists no finished maps; run tfrobust saliency --out {path}")
        if len(methods) > 1:
            raise ValueError(f"{path} holds maps of several methods ({', '.join(methods)}); "
                             f"pass one file, e.g. {path / (methods[0] + '.npy')}")
        entry = index["maps"][methods[0]]
        file = path / str(entry.get("file", methods[0] + ".npy"))
        if not file.is_file():
            raise FileNotFoundError(f"target maps {file} listed in {path / INDEX_FILE} are missing")
        return file, entry, index["dataset"]
    if not path.exists():
        raise FileNotFoundError(f"no target maps at {path} (expected a tfrobust saliency "
                                "directory or a <method>.npy file in one)")
    if path.suffix != ".npy":
        raise ValueError(f"{path} is not a target-maps file (expected a tfrobust saliency "
                         "directory or a <method>.npy file in one)")
    index = saliency_index(path.parent)
    for entry in index["maps"].values():
        if isinstance(entry, dict) and entry.get("file") == path.name:
            return path, entry, index["dataset"]
    raise ValueError(f"{path.name} is not listed in {path.parent / INDEX_FILE} (unfinished or "
                     f"foreign file); rerun tfrobust saliency --out {path.parent}")


def load_targets(path: str | os.PathLike[str], dataset: Dataset) -> np.ndarray:
    """Target maps written by :func:`compute_maps`, checked to be aligned with ``dataset``.

    Args:
        path: a maps directory holding exactly one method's maps, or a
            ``<method>.npy`` file inside such a directory.
        dataset: the examples the maps must belong to (same count, labels and
            inputs, in the same order).

    Returns:
        (N, ...) float32 array, shape ``dataset.x.shape``; row ``i`` belongs to example ``i``.

    Raises:
        FileNotFoundError: the directory, file or ``saliency.json`` is missing (names it).
        ValueError: several methods in the directory, an unreadable or altered
            file, or maps computed for other data; one line saying what differs
            and how to fix it.

    Ref: Noack et al. 2021, sec. 3 (targets ``I(x)`` per training example).
    """
    file, entry, meta = _entry_for(Path(path))
    current = _data_fingerprint(dataset, None)
    fix = (f"rerun tfrobust saliency --split {dataset.split} with the same "
           "--dataset/--classes/--limit/--bounds" + ("/--seed" if dataset.source == "synthetic" else ""))
    computed = f"targets {file} were computed for {_describe(meta)}"
    if meta.get("examples") != current["examples"]:
        raise ValueError(f"{computed} but the training data has {current['examples']} examples "
                         f"({_describe(current, with_limit=False)}); {fix}")
    if meta.get("labels_sha256") != current["labels_sha256"]:
        raise ValueError(f"{computed} but the training data ({_describe(current, with_limit=False)}) "
                         f"has other labels or another order; {fix}")
    if meta.get("input_shape") != current["input_shape"] or meta.get("inputs_sha256") != current["inputs_sha256"]:
        raise ValueError(f"{computed} but the training data ({_describe(current, with_limit=False)}) "
                         f"has the same labels and other inputs (bounds {tuple(dataset.bounds)} vs "
                         f"{tuple(meta.get('bounds') or ())}, or other files); {fix}")
    try:
        maps = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"cannot read target maps {file}: {first}; rerun tfrobust saliency") from err
    if not isinstance(maps, np.ndarray) or maps.dtype != np.float32:
        raise ValueError(f"target maps {file} are not a float32 array; rerun tfrobust saliency")
    if tuple(maps.shape) != tuple(dataset.x.shape):
        raise ValueError(f"target maps {file} have shape {tuple(maps.shape)} but the inputs have "
                         f"shape {tuple(dataset.x.shape)}; {fix}")
    expected = entry.get("values_sha256")
    if expected is not None and _sha256_rows(maps, "<f4") != expected:
        raise ValueError(f"target maps {file} changed after they were written (checksum mismatch); "
                         "rerun tfrobust saliency")
    return maps
