"""Distance of clean and adversarial images to the data manifold (Kim et al. 2019 sec. 2.1).

Ref: Kim, Seo & Jeon 2019, sec. 2.1 (``d_pi(x) = ||x - pi(x)||_2`` with a
VAE-GAN projection ``pi``; Fig. 1 histograms, Fig. 2 examples) and appendix
B.1 (the analysed attacks: l2 PGD, 40 iterations, cross-entropy, eps = 12).

Units: eps and distances are l2 norms in the data's own units. Kim normalises
every dataset to [-1, 1] (A.1), so the default ``eps=12`` is B.1's value for
[-1, 1] images; for data in [0, 1] the same geometry is ``eps=6``. On a 28x28
image in [-1, 1] the largest possible l2 distance is 56, so eps = 12 is a
large attack: against a standard classifier almost every attack succeeds.

Failed attacks are dropped, as in the paper ("attacks which failed to change
the prediction are removed"): an adversarial example counts when the
classifier's prediction on it differs from its prediction on the clean image.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfrobust.attacks import call_model, pgd
from tfrobust.evaluation.roar_scores import write_csv

__all__ = ["KIM_EPS", "KIM_STEPS", "VAEGAN_BATCH_SIZE", "VAEGAN_BOUNDS", "VAEGAN_CONFIG_KEYS", "manifold_distance",
           "manifold_study", "plot_adversarial_grid", "plot_manifold_histogram", "read_history",
           "read_vaegan_config", "train_vaegan", "vaegan_settings", "write_reconstructions"]

#: Kim et al. 2019 B.1: the analysed attacks (l2, eps 12 on [-1, 1] data, PGD-40, cross-entropy).
KIM_EPS = 12.0
KIM_STEPS = 40


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def manifold_distance(projector: Callable[[Any], Any], x: Any, *, batch_size: int = 256) -> np.ndarray:
    """``d_pi(x) = ||x - pi(x)||_2`` per example (Kim et al. 2019 sec. 2.1).

    Args:
        projector: any callable mapping a (B, ...) float32 batch to its
            projection of the same shape, e.g. a :class:`tfrobust.models.VAEGAN`
            (``dec(enc(x))``) or ``functools.partial(vaegan.project, optimize_steps=100)``
            (footnote 2).
        x: (N, ...) float32 inputs in the data's bounds.
        batch_size: examples per projector call.

    Returns:
        (N,) float64 distances in data units.

    Raises:
        ValueError: bad ``batch_size`` or a projection of another shape.
    """
    size = _check_batch_size(batch_size)
    x = np.asarray(x, np.float32)
    out = np.zeros(len(x), np.float64)
    for start in range(0, len(x), size):
        xb = x[start:start + size]
        projected = np.asarray(projector(xb), np.float32)
        if projected.shape != xb.shape:
            raise ValueError(f"the projector returned shape {projected.shape} for inputs of shape {xb.shape}")
        diff = (xb.astype(np.float64) - projected.astype(np.float64)).reshape(len(xb), -1)
        out[start:start + len(xb)] = np.linalg.norm(diff, axis=1)
    return out


def _predict(classifier: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    preds = [np.argmax(np.asarray(call_model(classifier, x[s:s + batch_size])), axis=-1)
             for s in range(0, len(x), batch_size)]
    return np.concatenate(preds).astype(np.int64) if preds else np.zeros(0, np.int64)


def _data_arrays(data: Any, bounds: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    if hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
        bounds = bounds if bounds is not None else getattr(data, "bounds", None)
    else:
        try:
            x, y = data
        except (TypeError, ValueError):
            raise ValueError("data must be a tfrobust Dataset or a pair (x, y)") from None
    if bounds is None:
        raise ValueError("bounds: give the data's value range (a Dataset carries it)")
    x = np.asarray(x, np.float32)
    y = np.asarray(y).astype(np.int64).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    if len(x) == 0:
        raise ValueError("data is empty")
    lo, hi = (float(b) for b in bounds)
    return x, y, (lo, hi)


def manifold_study(
    classifier: Any,
    projector: Callable[[Any], Any],
    data: Any,
    *,
    eps: float = KIM_EPS,
    steps: int = KIM_STEPS,
    norm: str = "l2",
    step_size: float | None = None,
    objective: str = "xent",
    random_start: bool = True,
    bounds: tuple[float, float] | None = None,
    batch_size: int = 256,
    seed: int = 0,
    examples: int = 8,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """d_pi of clean test images and of successful adversarial examples (Kim et al. 2019 sec. 2.1).

    Attacks every example with PGD (random start), keeps the adversarial
    examples that change the classifier's prediction and measures the
    distance of both populations to the manifold.

    Args:
        classifier: a Keras classifier (logits) or logits callable.
        projector: ``pi``, see :func:`manifold_distance`.
        data: a :class:`tfrobust.data.Dataset` or a pair ``(x, y)``: (N, ...)
            float32 within ``bounds`` and (N,) int labels.
        eps: attack radius in data units (default 12: B.1 for [-1, 1] data).
        steps: PGD iterations (B.1: 40).
        norm: ``"l2"`` (the paper's analysis) or ``"linf"``.
        step_size: PGD step size; default ``2.5 * eps / steps``.
        objective: ``"xent"`` (the paper's analysis) or ``"cw"``.
        random_start: start PGD from a uniform point of the ball (the paper
            does not say).
        bounds: value range; default ``data.bounds``.
        batch_size: examples per attack / projection batch.
        seed: attack seed (batch b uses ``seed + b``).
        examples: how many of the first examples to keep in ``"examples"`` for
            :func:`plot_adversarial_grid`.
        progress: optional ``progress(message)`` called per batch.

    Returns:
        A dict with
        ``clean`` (N,) d_pi of the clean images;
        ``adversarial`` (M,) d_pi of the successful adversarial examples;
        ``adversarial_index`` (M,) their example indices;
        ``success`` (N,) bool, the attack changed the prediction;
        ``success_rate`` M / N; ``clean_accuracy`` and ``adversarial_accuracy``
        (accuracy on the attacked images) in [0, 1];
        ``n``, ``eps``, ``steps``, ``norm``, ``objective``;
        ``examples``: dict of arrays ``index``, ``x``, ``x_projection``,
        ``x_adv``, ``x_adv_projection``, ``success`` for the first ``examples``
        images.

    Raises:
        ValueError: bad arguments or data outside ``bounds``.
    """
    size = _check_batch_size(batch_size)
    x, y, lo_hi = _data_arrays(data, bounds)
    if isinstance(examples, bool) or not isinstance(examples, (int, np.integer)) or examples < 0:
        raise ValueError(f"examples must be an integer >= 0, got {examples!r}")
    n = len(x)
    x_adv = np.empty_like(x)
    batches = math.ceil(n / size)
    for b, start in enumerate(range(0, n, size)):
        x_adv[start:start + size] = np.asarray(pgd(
            classifier, x[start:start + size], y[start:start + size], norm=norm, eps=eps, steps=steps,
            bounds=lo_hi, step_size=step_size, objective=objective, random_start=random_start,
            seed=seed + b))
        if progress is not None:
            progress(f"attacked {min(start + size, n)}/{n} (batch {b + 1}/{batches})")
    clean_pred = _predict(classifier, x, size)
    adv_pred = _predict(classifier, x_adv, size)
    success = adv_pred != clean_pred
    index = np.flatnonzero(success)
    d_clean = manifold_distance(projector, x, batch_size=size)
    d_adv = manifold_distance(projector, x_adv[index], batch_size=size)
    k = min(int(examples), n)
    shown = {
        "index": np.arange(k),
        "x": x[:k],
        "x_projection": np.asarray(projector(x[:k]), np.float32) if k else x[:0],
        "x_adv": x_adv[:k],
        "x_adv_projection": np.asarray(projector(x_adv[:k]), np.float32) if k else x[:0],
        "success": success[:k],
    }
    return {
        "clean": d_clean,
        "adversarial": d_adv,
        "adversarial_index": index,
        "success": success,
        "success_rate": float(success.mean()),
        "clean_accuracy": float(np.mean(clean_pred == y)),
        "adversarial_accuracy": float(np.mean(adv_pred == y)),
        "n": n,
        "eps": float(eps),
        "steps": int(steps),
        "norm": norm,
        "objective": objective,
        "examples": shown,
    }


def _atomic_savefig(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


def plot_manifold_histogram(results_by_model: Mapping[str, Mapping[str, Any]], out_png: str | os.PathLike, *,
                            bins: int = 50, title: str | None = None) -> Path:
    """Histograms of d_pi in the layout of Kim et al. 2019 Fig. 1 (one dataset's panel).

    Draws the clean test images once (as reference, when every model saw the
    same images; else once per model) and the successful adversarial
    examples of each classifier, as density-normalised step histograms on
    shared bins. Written with matplotlib's Agg backend, atomically.

    Args:
        results_by_model: label -> :func:`manifold_study` result (needs
            ``clean`` and ``adversarial``), in legend order.
        out_png: the PNG path.
        bins: number of shared bins.
        title: panel title (e.g. the dataset name).

    Returns:
        The PNG path.
    """
    from matplotlib.figure import Figure

    if not results_by_model:
        raise ValueError("results_by_model is empty")
    cleans = [np.asarray(r["clean"], np.float64) for r in results_by_model.values()]
    shared = all(c.shape == cleans[0].shape and np.allclose(c, cleans[0]) for c in cleans)
    series: list[tuple[str, np.ndarray, str]] = []
    if shared:
        series.append(("test images", cleans[0], "--"))
    for label, result in results_by_model.items():
        if not shared:
            series.append((f"test images ({label})", np.asarray(result["clean"], np.float64), "--"))
        adv = np.asarray(result["adversarial"], np.float64)
        series.append((f"{label} (adv., n={adv.size})", adv, "-"))
    values = np.concatenate([s[1] for s in series if s[1].size])
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for label, d, style in series:
        if d.size:
            ax.hist(d, bins=edges.tolist(), density=True, histtype="step", linestyle=style, linewidth=1.5, label=label)
        else:
            ax.plot([], [], linestyle=style, label=f"{label}: none")
    ax.set_xlabel(r"$d_\pi(x) = \|x - \pi(x)\|_2$")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _atomic_savefig(fig, Path(out_png))


def _display(images: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    lo, hi = bounds
    shown = np.clip((images - lo) / (hi - lo), 0.0, 1.0)
    return shown if shown.shape[-1] == 3 else shown.mean(axis=-1)


def plot_adversarial_grid(results_by_model: Mapping[str, Mapping[str, Any]], out_png: str | os.PathLike, *,
                          bounds: Sequence[float]) -> Path:
    """Clean images, adversarial examples and their projections (Kim et al. 2019 Fig. 2).

    One row per example; columns: the clean image and its projection, then
    for each classifier its adversarial example and that example's
    projection. Adversarial examples whose attack failed (dropped from the
    histograms) are labelled "failed".

    Args:
        results_by_model: label -> :func:`manifold_study` result (its ``examples``).
        out_png: the PNG path.
        bounds: (lo, hi) value range of the images.

    Returns:
        The PNG path.
    """
    from matplotlib.figure import Figure

    if not results_by_model:
        raise ValueError("results_by_model is empty")
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ValueError(f"bounds must satisfy lo < hi, got {tuple(bounds)}")
    first = next(iter(results_by_model.values()))["examples"]
    rows = len(first["x"])
    if rows == 0:
        raise ValueError("the results hold no examples to draw")
    columns: list[tuple[str, np.ndarray, np.ndarray | None]] = [
        ("clean", first["x"], None), (r"$\pi$(clean)", first["x_projection"], None)]
    for label, result in results_by_model.items():
        ex = result["examples"]
        columns.append((f"adv. {label}", ex["x_adv"], np.asarray(ex["success"])))
        columns.append((r"$\pi$" + f"(adv. {label})", ex["x_adv_projection"], None))
    fig = Figure(figsize=(1.3 * len(columns), 1.3 * rows + 0.5))
    axes = fig.subplots(rows, len(columns), squeeze=False)
    for c, (title, images, success) in enumerate(columns):
        shown = _display(np.asarray(images, np.float32), (lo, hi))
        for r in range(rows):
            ax = axes[r, c]
            ax.imshow(shown[r], cmap="gray" if shown.ndim == 3 else None, vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=7)
            if success is not None and not success[r]:
                ax.set_xlabel("failed", fontsize=7, color="tab:red")
    fig.tight_layout()
    return _atomic_savefig(fig, Path(out_png))


# --------------------------------------------------------------------------
# training the VAE-GAN (``tfrobust manifold train`` and the study kind ``vaegan``)

#: Kim A.1: every dataset normalised into [-1, 1] (the decoder's tanh range).
VAEGAN_BOUNDS = (-1.0, 1.0)
#: Not stated in the paper; our choice.
VAEGAN_BATCH_SIZE = 64
#: Top-level fields of a VAE-GAN YAML (``configs/kim_vaegan_*.yaml``).
VAEGAN_CONFIG_KEYS = ("description", "reference", "data", "vaegan", "epochs", "batch_size", "seed")
_VAEGAN_DATA_KEYS = ("name", "bounds", "limit", "data_dir", "classes")


def read_vaegan_config(path: str | os.PathLike | None) -> dict[str, Any]:
    """The fields of a VAE-GAN YAML (``configs/kim_vaegan_*.yaml``); ``{}`` for None.

    Raises:
        ConfigError: unknown top-level fields (one line, naming them).
    """
    from tfrobust.config import ConfigError, load_yaml

    if path is None:
        return {}
    values = load_yaml(path)
    unknown = sorted(set(values) - set(VAEGAN_CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}; known: {', '.join(VAEGAN_CONFIG_KEYS)}")
    return dict(values)


def vaegan_settings(file_values: Mapping[str, Any], *, dataset: str | None = None, data_dir: str | None = None,
                    limit: int | None = None, bounds: Any = None, classes: Any = None, epochs: int | None = None,
                    batch_size: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """Data, training and (partial) VAE-GAN settings: arguments over the config file over defaults.

    Defaults: Fashion-MNIST, bounds (-1, 1) (Kim A.1), the paper's epochs per
    dataset (A.3: 30 MNIST / 60 FMNIST / 150 CIFAR-10; else 30), batch 64, seed 0.

    Args:
        file_values: fields of :func:`read_vaegan_config` (``data``, ``vaegan``, ``epochs``, ...).
        dataset, data_dir, limit, bounds, classes, epochs, batch_size, seed: overrides (None: keep).

    Returns:
        ``{"data": DataConfig, "epochs", "batch_size", "seed", "vaegan": dict}``,
        the keyword arguments of :func:`train_vaegan`.

    Raises:
        ConfigError: unknown ``data`` fields or a bad number (names the field).
    """
    from tfrobust.config import ConfigError, DataConfig
    from tfrobust.models.vaegan import PAPER_EPOCHS

    data_values = dict(file_values.get("data") or {})
    unknown = sorted(set(data_values) - set(_VAEGAN_DATA_KEYS))
    if unknown:
        raise ConfigError(f"data: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_VAEGAN_DATA_KEYS))}")
    data = DataConfig(
        name=dataset or data_values.get("name") or "fashion_mnist",
        data_dir=data_dir or data_values.get("data_dir"),
        limit=limit if limit is not None else data_values.get("limit"),
        classes=classes if classes is not None else data_values.get("classes"),
        bounds=bounds if bounds is not None else data_values.get("bounds", VAEGAN_BOUNDS),
    )
    values = {
        "epochs": epochs if epochs is not None else file_values.get("epochs", PAPER_EPOCHS.get(data.name, 30)),
        "batch_size": batch_size if batch_size is not None else file_values.get("batch_size", VAEGAN_BATCH_SIZE),
        "seed": seed if seed is not None else file_values.get("seed", 0),
    }
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
            raise ConfigError(f"{name} must be a {'non-negative' if name == 'seed' else 'positive'} integer, "
                              f"got {value!r}")
    vaegan = file_values.get("vaegan") or {}
    if not isinstance(vaegan, Mapping):
        raise ConfigError(f"vaegan must be a mapping of VAE-GAN hyper-parameters, got {vaegan!r}")
    return {"data": data, **values, "vaegan": dict(vaegan)}


def _vaegan_record(data: Any, ds: Any, vaegan_config: Any, *, epochs: int, batch_size: int,
                   seed: int) -> dict[str, Any]:
    """The ``config.yaml`` of a VAE-GAN directory."""
    data_record: dict[str, Any] = {"name": data.name, "bounds": list(ds.bounds), "limit": data.limit,
                                   "data_dir": data.data_dir}
    if data.classes is not None:
        data_record["classes"] = list(data.classes)
    data_record.update(image_shape=list(ds.input_shape), source=ds.source)
    return {
        "reference": "Kim, Seo, Jeon 2019, sec. 2.1 and appendix A.3",
        "data": data_record,
        "vaegan": vaegan_config.to_dict(),
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
    }


def _differing_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Names of the settings (all but epochs) that differ between two records."""
    diff = []
    for key in ("data", "vaegan", "batch_size", "seed"):
        a, b = old.get(key), new.get(key)
        if key == "data" and isinstance(a, dict) and isinstance(b, dict):
            a = {k: v for k, v in a.items() if k != "source"}
            b = {k: v for k, v in b.items() if k != "source"}
        if a != b:
            diff.append(key)
    return diff


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a VAE-GAN ``history.csv`` (one per finished epoch), as floats; ``[]`` if absent."""
    import csv

    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items() if v not in (None, "")} for row in csv.DictReader(f)]


def _epoch_checkpoint(out: Path, progress: Callable[[str], None] | None) -> Any:
    """A callback that saves weights (with the three optimisers), latent-seed state and history per epoch."""
    import time

    import keras

    from tfrobust.training import atomic_json

    class EpochCheckpoint(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.started = time.time()

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started = time.time()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            ckpt = out / "checkpoint"
            ckpt.mkdir(exist_ok=True)
            tmp = ckpt / f".last.tmp{os.getpid()}.weights.h5"
            self.model.save_weights(tmp)
            os.replace(tmp, ckpt / "last.weights.h5")
            row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
                   "seconds": round(time.time() - self.started, 3)}
            rows = [r for r in read_history(out / "history.csv") if int(r["epoch"]) < row["epoch"]]
            rows = [*({**r, "epoch": int(r["epoch"])} for r in rows), row]
            write_csv(rows, out / "history.csv", list(dict.fromkeys(k for r in rows for k in r)))
            state = {"epoch": epoch + 1, "seed_state": np.asarray(self.model.seed_generator.state).tolist()}
            atomic_json(state, ckpt / "state.json")
            if progress is not None:
                summary = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
                progress(f"epoch {epoch + 1}: {summary}")

    return EpochCheckpoint()


def write_reconstructions(path: str | os.PathLike, x: Any, projected: Any, samples: Any,
                          bounds: Sequence[float]) -> Path:
    """Rows: test images, pi(x) = dec(enc(x)), decoder samples from the prior; an atomic PNG.

    Args:
        path: the PNG path.
        x, projected, samples: (K, H, W, C) images within ``bounds``.
        bounds: (lo, hi) value range.
    """
    from matplotlib.figure import Figure

    lo, hi = (float(b) for b in bounds)
    rows = [("test images", x), (r"$\pi(x)$ = dec(enc(x))", projected), ("samples dec(z), z~N(0,I)", samples)]
    cols = len(x)
    fig = Figure(figsize=(1.1 * cols, 1.25 * len(rows)))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (title, images) in enumerate(rows):
        shown = _display(np.asarray(images, np.float32), (lo, hi))
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(shown[c], cmap="gray" if shown.ndim == 3 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    return _atomic_savefig(fig, Path(path))


def train_vaegan(
    data: Any,
    out_dir: str | os.PathLike,
    *,
    epochs: int,
    batch_size: int = VAEGAN_BATCH_SIZE,
    seed: int = 0,
    vaegan: Mapping[str, Any] | None = None,
    verbose: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Trains Kim's VAE-GAN on a dataset's training split, resumably (Kim et al. 2019 A.3).

    Writes into ``out_dir``: ``config.yaml`` (data, VAE-GAN hyper-parameters,
    epochs, batch size, seed), ``history.csv`` (one row of losses per epoch),
    ``checkpoint/`` (weights with the optimisers and the latent-seed state,
    after every epoch), ``vaegan.keras`` (safe-mode loadable),
    ``reconstructions.png`` and ``metrics.json`` (``epochs``, ``test_images``,
    ``test_d_pi_mean``, ``test_d_pi_median`` on the first <= 1000 test
    images). Every write is atomic. Re-running into the same directory resumes
    after the last finished epoch; a larger ``epochs`` continues a finished
    run; a finished run with ``epochs`` at most its own is left as it is.

    Args:
        data: a :class:`tfrobust.config.DataConfig` (28x28 or 32x32 images;
            Kim: bounds (-1, 1)).
        out_dir: the VAE-GAN directory (created).
        epochs: total epochs (Kim A.3: 30 MNIST / 60 FMNIST / 150 CIFAR-10).
        batch_size: images per step.
        seed: weights, shuffling and latent draws.
        vaegan: overrides of :func:`tfrobust.models.kim_vaegan_config` (e.g. ``zdim``).
        verbose: ``fit``'s verbosity (0 silent, 1 progress bar, 2 one line per epoch).
        progress: optional ``progress(message)`` for status lines, and for one
            summary line per epoch unless ``verbose == 1`` (the bar shows them).

    Returns:
        ``{"epochs", "trained" (epochs run by this call), "resumed_from",
        "skipped" (True: the directory already held a finished run), "metrics" (the ``metrics.json`` values), "last_epoch" (the last
        ``history.csv`` row), "model" (path of vaegan.keras)}``.

    Raises:
        ValueError: images of another size, or ``out_dir`` holding a VAE-GAN
            trained with other settings (names them).
    """
    import json

    import keras

    from tfrobust.config import dump_yaml, load_yaml
    from tfrobust.data import load_dataset
    from tfrobust.models.vaegan import VAEGANConfig, build_vaegan, kim_vaegan_config
    from tfrobust.training import atomic_json, save_model

    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    def split(name: str, limit: int | None) -> Any:
        return load_dataset(data.name, name, data_dir=data.data_dir, classes=data.classes, limit=limit,
                            bounds=data.bounds, seed=seed, **data.options)

    train_ds = split("train", data.limit)
    shape = tuple(train_ds.input_shape)
    if len(shape) != 3 or shape[:2] not in ((28, 28), (32, 32)):
        raise ValueError(f"the VAE-GAN takes 28x28 or 32x32 images; {data.name} has inputs {shape}")
    vaegan_config = VAEGANConfig.from_dict({**kim_vaegan_config(shape).to_dict(), **dict(vaegan or {})})
    record = _vaegan_record(data, train_ds, vaegan_config, epochs=epochs, batch_size=batch_size, seed=seed)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "checkpoint" / "state.json"
    model_path = out / "vaegan.keras"
    done = 0
    if (out / "config.yaml").is_file() and state_path.is_file():
        differ = _differing_settings(load_yaml(out / "config.yaml"), record)
        if differ:
            raise ValueError(f"{out} holds a VAE-GAN trained with other settings ({', '.join(differ)}); "
                             "use another output directory")
        done = int(json.loads(state_path.read_text(encoding="utf-8"))["epoch"])
    history = out / "history.csv"
    if done >= epochs and model_path.is_file():
        say(f"nothing to do: {out} holds a VAE-GAN trained for {done} epoch(s) (>= epochs {epochs})")
        metrics = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else {}
        last = read_history(history)
        return {"epochs": done, "trained": 0, "resumed_from": done, "skipped": True, "metrics": metrics,
                "last_epoch": last[-1] if last else {}, "model": model_path}
    dump_yaml(record, out / "config.yaml")

    model = build_vaegan(shape, vaegan_config, seed=seed)
    model.compile()
    if done:
        model.build_optimizers()
        model.load_weights(out / "checkpoint" / "last.weights.h5")
        state = json.loads(state_path.read_text(encoding="utf-8"))
        model.seed_generator.state.assign(np.asarray(state["seed_state"], dtype="uint32"))
        say(f"resuming {out} after epoch {done}")
    say(f"training the VAE-GAN ({vaegan_config.architecture}, zdim {vaegan_config.zdim}) on {data.name} "
        f"train ({len(train_ds)} images, bounds {train_ds.bounds}) for {epochs} epoch(s), "
        f"batch {batch_size} -> {out}")
    if done < epochs:
        keras.utils.set_random_seed(seed + done)
        model.fit(train_ds.pipeline(batch_size, shuffle=True, seed=seed), epochs=epochs, initial_epoch=done,
                  verbose=verbose, shuffle=False,  # the pipeline shuffles
                  callbacks=[_epoch_checkpoint(out, None if verbose == 1 else progress)])
    save_model(model, model_path)

    test = split("test", min(1000, data.limit or 1000))
    d_test = manifold_distance(model, test.x, batch_size=256)
    k = min(8, len(test))
    samples = np.asarray(model.decoder(keras.random.normal((k, model.zdim), seed=seed), training=False))
    write_reconstructions(out / "reconstructions.png", np.asarray(test.x[:k]), model.project(test.x[:k]),
                          samples, test.bounds)
    metrics = {"epochs": epochs, "test_images": len(test), "test_d_pi_mean": float(d_test.mean()),
               "test_d_pi_median": float(np.median(d_test))}
    atomic_json(metrics, out / "metrics.json")
    last = read_history(history)
    return {"epochs": epochs, "trained": max(0, epochs - done), "resumed_from": done, "skipped": False,
            "metrics": metrics,
            "last_epoch": last[-1] if last else {}, "model": model_path}
