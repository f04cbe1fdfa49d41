"""Benchmark: ROAR/KAR retraining as one batched Ensemble vs sequential fits.

Trains the same ``--members`` classifiers (identical initial weights in both
paths) on ``--limit`` Fashion-MNIST training images for ``--epochs``, member
``m`` seeing its own ROAR-style occlusion (a fixed random ranking per member,
the top ``f_m`` fraction of pixels replaced by the training mean, ``f_m``
spread over 0.1..0.9), then scores every member on ``--test-limit`` test
images occluded the same way. Two paths, both through
``tfrobust.training.fit_members``:

- sequential: ``batched=False``, one compile + fit + evaluation per member;
- batched: ``batched=True``, one ``Ensemble`` compiled once for all members.

Wall time of the whole ``fit_members`` call (compilation, training and test
accuracy included; ``jit_compile="auto"``, i.e. graph mode on CPU-only
machines), for (a) a 16-channel CNN (conv16-pool-conv16-pool-dense, built
here) and (b) ``kim_mnist_cnn``. Both paths see the same batches in the same
order (a shuffle that does not reshuffle per iterator), so their test
accuracies agree up to float rounding; they are reported side by side.
Times are medians over ``--repeats`` (default 1: each run includes
compilation); the two paths alternate their order from repeat to repeat.
Benchmarks are not tests (docs/architecture.md, Benchmarks are not tests): this reports ratios, asserts nothing.

Usage::

    .venv/bin/python benchmarks/roar_ensemble.py
    .venv/bin/python benchmarks/roar_ensemble.py --members 3 --limit 1000 --archs cnn16

Writes ``<out>/roar_ensemble.json`` (atomically) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfrobust.data import load_dataset  # noqa: E402
from tfrobust.models import build_model  # noqa: E402
from tfrobust.training import atomic_json, fit_members, library_versions  # noqa: E402

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
ARCHS = ("cnn16", "kim_mnist_cnn")
ISSUE_REFERENCE = {"cnn16": 1.9, "kim_mnist_cnn": 1.08}  # naive multi-branch model, from the issue


def cnn16() -> keras.Model:
    """conv16-pool-conv16-pool-dense (3x3 'same' ReLU convolutions, 2x2 max-pooling)."""
    inputs = keras.Input(INPUT_SHAPE)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES)(h), name="cnn16")


def build(arch: str) -> keras.Model:
    if arch == "cnn16":
        return cnn16()
    return build_model(arch, input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES)


def occlusions(members: int, fill: float, seed: int) -> tuple[list[Callable[[tf.Tensor], tf.Tensor]], list[float]]:
    """Per-member ROAR-style input functions: replace the top-f_m ranked pixels by ``fill``."""
    rng = np.random.default_rng(seed)
    fractions = np.linspace(0.1, 0.9, members).tolist() if members > 1 else [0.5]
    pixels = INPUT_SHAPE[0] * INPUT_SHAPE[1]
    fns = []
    for fraction in fractions:
        ranks = rng.permutation(pixels).reshape(INPUT_SHAPE)  # rank 0 = most important
        removed = tf.constant(ranks < round(fraction * pixels))

        def occlude(x: tf.Tensor, removed: tf.Tensor = removed) -> tf.Tensor:
            return tf.where(removed, tf.constant(fill, x.dtype), x)

        fns.append(occlude)
    return fns, fractions


def pipeline(x: np.ndarray, y: np.ndarray, batch: int, shuffle: bool) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:  # same order for every iterator: both paths and all members see the same batches
        ds = ds.shuffle(len(x), seed=0, reshuffle_each_iteration=False)
    return ds.batch(batch).prefetch(tf.data.AUTOTUNE)


def run_path(arch: str, reference: list[list[np.ndarray]], fns: list[Any], train: Any, test: Any,
             *, batched: bool, epochs: int, batch: int) -> tuple[float, list[float]]:
    """Seconds of one ``fit_members`` call and the members' test accuracies."""
    keras.backend.clear_session()
    members = []
    for weights in reference:
        member = build(arch)
        member.set_weights(weights)
        members.append(member)
    train_ds = pipeline(train.x, train.y, batch, shuffle=True)
    test_ds = pipeline(test.x, test.y, 500, shuffle=False)
    start = time.perf_counter()
    accuracies = fit_members(members, fns, train_ds, test_ds, epochs=epochs,
                             optimizer=lambda: keras.optimizers.Adam(1e-3), batched=batched)
    return time.perf_counter() - start, [float(a) for a in accuracies]


def bench_arch(arch: str, train: Any, test: Any, *, members: int, epochs: int, batch: int,
               repeats: int) -> dict[str, Any]:
    keras.utils.set_random_seed(0)
    reference = [build(arch).get_weights() for _ in range(members)]
    params = int(sum(w.size for w in reference[0]))
    fns, fractions = occlusions(members, float(train.x.mean()), seed=0)
    times: dict[str, list[float]] = {"sequential": [], "batched": []}
    accuracies: dict[str, list[list[float]]] = {"sequential": [], "batched": []}
    for r in range(repeats):
        order = ("sequential", "batched") if r % 2 == 0 else ("batched", "sequential")
        for path in order:
            seconds, acc = run_path(arch, reference, fns, train, test, batched=path == "batched",
                                    epochs=epochs, batch=batch)
            times[path].append(seconds)
            accuracies[path].append(acc)
            print(f"  {arch:<14} repeat {r + 1}/{repeats} {path:<10} {seconds:7.1f} s  "
                  f"acc {' '.join(f'{a:.3f}' for a in acc)}", flush=True)
    t_seq, t_bat = statistics.median(times["sequential"]), statistics.median(times["batched"])
    diff = np.abs(np.array(accuracies["sequential"]) - np.array(accuracies["batched"]))
    return {
        "params_per_member": params,
        "fractions": fractions,
        "seconds": {path: {"median": statistics.median(v), "all": v} for path, v in times.items()},
        "ratio_sequential_over_batched": t_seq / t_bat,
        "issue_reference_ratio": ISSUE_REFERENCE.get(arch),
        "test_accuracy": {path: v[0] for path, v in accuracies.items()},
        "test_accuracy_all_repeats": accuracies,
        "max_abs_accuracy_difference": float(diff.max()),
    }


def print_table(summary: dict[str, Any]) -> None:
    s = summary["settings"]
    print(f"\n{s['members']} members, {s['epochs']} epoch(s) of {s['train_images']} Fashion-MNIST images, "
          f"batch {s['batch']}, {s['test_images']} test images; wall time of fit_members incl. compilation "
          f"(median of {s['repeats']}); devices {summary['devices']}")
    print(f"{'arch':<14} {'sequential s':>12} {'batched s':>10} {'seq/bat':>8} {'issue':>6}   "
          f"test accuracy sequential | batched")
    for arch, row in summary["archs"].items():
        acc = row["test_accuracy"]
        ref = row["issue_reference_ratio"]
        print(f"{arch:<14} {row['seconds']['sequential']['median']:>12.1f} {row['seconds']['batched']['median']:>10.1f} "
              f"{row['ratio_sequential_over_batched']:>8.2f} {ref if ref else '-':>6}   "
              f"{' '.join(f'{a:.3f}' for a in acc['sequential'])} | {' '.join(f'{a:.3f}' for a in acc['batched'])}"
              f"  (max diff {row['max_abs_accuracy_difference']:.4f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results", help="output directory")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=3000, help="training images")
    parser.add_argument("--test-limit", type=int, default=2000, help="test images")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1, help="timed repeats; medians are reported")
    parser.add_argument("--archs", default=",".join(ARCHS), help=f"comma-separated subset of {','.join(ARCHS)}")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    archs = [a for a in args.archs.split(",") if a]
    if min(args.members, args.epochs, args.limit, args.test_limit, args.batch, args.repeats) < 1:
        raise SystemExit("error: --members, --epochs, --limit, --test-limit, --batch and --repeats must be >= 1")
    if not archs or set(archs) - set(ARCHS):
        raise SystemExit(f"error: --archs must name some of {', '.join(ARCHS)}")

    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train = load_dataset("fashion_mnist", "train", limit=args.limit, data_dir=args.data_dir)
    test = load_dataset("fashion_mnist", "test", limit=args.test_limit, data_dir=args.data_dir)
    results = {}
    for arch in archs:
        print(f"== {arch}", flush=True)
        results[arch] = bench_arch(arch, train, test, members=args.members, epochs=args.epochs,
                                   batch=args.batch, repeats=args.repeats)
    summary = {
        "benchmark": "roar_ensemble",
        "settings": {
            "members": args.members, "epochs": args.epochs, "train_images": len(train.x),
            "test_images": len(test.x), "batch": args.batch, "repeats": args.repeats,
            "dataset": "fashion_mnist", "bounds": list(train.bounds), "optimizer": "Adam(1e-3)",
            "jit_compile": "auto", "layout": "multi-branch Ensemble (members as sub-models, one graph)",
            "occlusion": "per-member fixed random ranking, top fraction replaced by the training mean",
            "timed": "whole fit_members call: compile + fit + test accuracy",
        },
        "archs": results,
        "devices": [d.device_type for d in tf.config.list_physical_devices()],
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "versions": library_versions(),
        "wall_seconds": time.perf_counter() - started,
    }
    path = atomic_json(summary, out / "roar_ensemble.json")
    print_table(summary)
    print(f"wall {summary['wall_seconds']:.0f} s; results in {path}")


if __name__ == "__main__":
    main()
