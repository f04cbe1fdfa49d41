"""Training Kim's VAE-GAN for the manifold distance (``tfrobust manifold train``, study kind ``vaegan``).

Split out of :mod:`tfrobust.evaluation.manifold`, which re-exports the names
that lived there (all but :func:`check_vaegan_dir` and :func:`vaegan_record`).
Ref: Kim, Seo & Jeon 2019, sec. 2.1 and appendix A.3.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfrobust.evaluation.figures import atomic_savefig, display_images
from tfrobust.evaluation.roar_scores import write_csv

__all__ = ["VAEGAN_BATCH_SIZE", "VAEGAN_BOUNDS", "VAEGAN_CONFIG_KEYS", "check_vaegan_dir", "read_history",
           "read_vaegan_config", "train_vaegan", "vaegan_record", "vaegan_settings", "write_reconstructions"]


#: Kim A.1: every dataset normalised into [-1, 1] (the decoder's tanh range).
VAEGAN_BOUNDS = (-1.0, 1.0)
#: Not stated in the paper; the authors' ``TrainerForVAEGAN`` default (``trainers.py``).
VAEGAN_BATCH_SIZE = 100
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
    dataset (A.3: 30 MNIST / 60 FMNIST / 150 CIFAR-10; else 30), batch 100, seed 0.

    Args:
        file_values: fields of :func:`read_vaegan_config` (``data``, ``vaegan``, ``epochs``, ...).
        dataset, data_dir, limit, bounds, classes, epochs, batch_size, seed: overrides (None: keep).

    Returns:
        ``{"data": DataConfig, "epochs", "batch_size", "seed", "vaegan": dict}``,
        the keyword arguments of :func:`train_vaegan`.

    Raises:
        ConfigError: unknown ``data`` fields or a bad number (names the field).
    """
    from tfrobust.config import ConfigError, DataConfig, check_int
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
    values = {name: check_int(value, name=name, minimum=0 if name == "seed" else 1) for name, value in values.items()}
    vaegan = file_values.get("vaegan") or {}
    if not isinstance(vaegan, Mapping):
        raise ConfigError(f"vaegan must be a mapping of VAE-GAN hyper-parameters, got {vaegan!r}")
    return {"data": data, **values, "vaegan": dict(vaegan)}


def vaegan_record(data: Any, ds: Any, vaegan_config: Any, *, epochs: int, batch_size: int,
                  seed: int) -> dict[str, Any]:
    """The ``config.yaml`` that :func:`train_vaegan` writes into a VAE-GAN directory.

    Args:
        data: the :class:`~tfrobust.config.DataConfig` trained on.
        ds: its training split (``bounds``, ``input_shape``, ``source``).
        vaegan_config: the ``VAEGANConfig`` (``to_dict()``).
        epochs, batch_size, seed: the training settings.

    Returns:
        The record; :func:`check_vaegan_dir` accepts a folder holding it.
    """
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


def _is_vaegan_record(values: Mapping[str, Any]) -> bool:
    """True for a ``config.yaml`` that :func:`train_vaegan` wrote (not, e.g., an input VAE-GAN YAML)."""
    data = values.get("data")
    return isinstance(values.get("vaegan"), Mapping) and isinstance(data, Mapping) and "image_shape" in data


def check_vaegan_dir(out_dir: str | os.PathLike) -> None:
    """Refuses an output folder that :func:`train_vaegan` must not write into.

    Accepted: a path that does not exist, an empty directory, or a VAE-GAN
    directory of ours (a ``config.yaml`` as :func:`train_vaegan` writes it,
    with ``data.image_shape`` and a ``vaegan`` section; resumed or, without a
    checkpoint, restarted). Anything else that holds files (a classifier run,
    a folder with an input VAE-GAN YAML as ``config.yaml``, any other files)
    is refused, so that nothing we did not create is overwritten.

    Raises:
        ValueError: one line naming ``out_dir`` and the reason.
    """
    from tfrobust.config import ConfigError, load_yaml

    out = Path(out_dir)
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"out_dir: {out} exists and is not a directory")
    if not any(out.iterdir()):
        return
    record = out / "config.yaml"
    why = "no config.yaml"
    if record.is_file():
        try:
            if _is_vaegan_record(load_yaml(record)):
                return
            why = "its config.yaml is not a VAE-GAN record of tfrobust manifold train"
        except ConfigError:
            why = "its config.yaml is not a readable YAML mapping"
    raise ValueError(f"out_dir: {out} holds files and is not a VAE-GAN directory ({why}); "
                     "give a new or empty directory")


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
        shown = display_images(np.asarray(images, np.float32), (lo, hi))
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(shown[c], cmap="gray" if shown.ndim == 3 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    return atomic_savefig(fig, path)


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
        ValueError: images of another size, ``out_dir`` holding a VAE-GAN
            trained with other settings (names them), or ``out_dir`` holding
            files that are not a VAE-GAN directory (:func:`check_vaegan_dir`).
    """
    import json

    import keras

    from tfrobust.config import dump_yaml, load_yaml
    from tfrobust.data import load_dataset
    from tfrobust.evaluation.distance import manifold_distance
    from tfrobust.models.vaegan import VAEGANConfig, build_vaegan, kim_vaegan_config
    from tfrobust.training import atomic_json, save_model

    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    check_vaegan_dir(out_dir)  # before any work: never write into a folder we did not create

    def split(name: str, limit: int | None) -> Any:
        return load_dataset(data.name, name, data_dir=data.data_dir, classes=data.classes, limit=limit,
                            bounds=data.bounds, seed=seed, **data.options)

    train_ds = split("train", data.limit)
    shape = tuple(train_ds.input_shape)
    if len(shape) != 3 or shape[:2] not in ((28, 28), (32, 32)):
        raise ValueError(f"the VAE-GAN takes 28x28 or 32x32 images; {data.name} has inputs {shape}")
    vaegan_config = VAEGANConfig.from_dict({**kim_vaegan_config(shape, data.name).to_dict(), **dict(vaegan or {})})
    record = vaegan_record(data, train_ds, vaegan_config, epochs=epochs, batch_size=batch_size, seed=seed)

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
