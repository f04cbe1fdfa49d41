"""Benchmark: SmoothGrad cost, and IR / JR train steps against a standard train step.

Measures, in one run on the same model and batches (``--arch``, default
``kim_mnist_cnn``, on Fashion-MNIST in [0, 1]):

(a) SmoothGrad-S (``samples=S``, chunked, one compiled call) on a batch of B
    images against
      - ONE compiled logit-gradient call on a batch of ``S * B`` images
        (target: ratio <= 1.2 on every device), and
      - S sequential compiled logit-gradient calls on noisy copies of the
        batch (target on a GPU: >= 5x faster; on a 2-core CPU both are
        compute-bound and the ratio is only reported).
(b) one train step (``train_on_batch``, batch 128) of
    ``InterpretationRegularizedModel`` (with target maps) and of
    ``JacobianRegularizedModel`` (``n_proj=1``) over a standard
    ``RobustModel`` step; target <= 3x. In graph mode and with XLA
    (``jit_compile=True``).

Times are medians over ``--repeats`` runs after warm-up (tracing); the
compared variants are interleaved within a repeat so load drift hits all
alike. Benchmarks are not tests (docs/architecture.md, Benchmarks are not tests): this reports ratios and
asserts nothing.

Usage::

    .venv/bin/python benchmarks/regularization.py --out benchmarks/results
    .venv/bin/python benchmarks/regularization.py --repeats 1 --samples 10   # quick look

Writes ``<out>/regularization.json`` (atomically) and prints a table.
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

from tfrobust.attribution import logit_gradient, smoothgrad  # noqa: E402
from tfrobust.data import load_dataset  # noqa: E402
from tfrobust.models import build_model  # noqa: E402
from tfrobust.training import (  # noqa: E402
    InterpretationRegularizedModel,
    JacobianRegularizedModel,
    RobustModel,
    atomic_json,
    library_versions,
)


def median_times(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall time of each callable, interleaved over ``repeats`` rounds (after one warm-up)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def smoothgrad_part(model: keras.Model, x: np.ndarray, y: np.ndarray, *, samples: int, sigma: float,
                    chunk: int | None, repeats: int) -> dict[str, Any]:
    big_x = tf.constant(np.repeat(x, samples, axis=0))
    big_y = tf.constant(np.repeat(y, samples, axis=0))
    x_t, y_t = tf.constant(x), tf.constant(y)
    noise = [tf.constant(np.random.default_rng(s).normal(0, sigma, x.shape).astype("float32"))
             for s in range(samples)]

    def smooth() -> Any:
        return smoothgrad(model, x_t, y_t, samples=samples, sigma=sigma, chunk=chunk).numpy()

    def one_big_call() -> Any:
        return logit_gradient(model, big_x, big_y).numpy()

    def sequential() -> Any:
        total = 0.0
        for e in noise:
            total = total + logit_gradient(model, x_t + e, y_t)
        return total.numpy()

    t = median_times({"smoothgrad": smooth, "one_call_on_SxB": one_big_call, "sequential": sequential},
                     repeats)
    return {
        "batch": len(x), "samples": samples, "sigma": sigma, "chunk": chunk,
        "seconds": t,
        "smoothgrad_over_one_big_call": t["smoothgrad"] / t["one_call_on_SxB"],
        "sequential_over_smoothgrad": t["sequential"] / t["smoothgrad"],
    }


def train_step_part(arch: str, x: np.ndarray, y: np.ndarray, targets: np.ndarray, *, jit: bool,
                    steps: int, repeats: int) -> dict[str, Any]:
    def wrapper(kind: str) -> keras.Model:
        keras.utils.set_random_seed(0)
        base = build_model(arch, input_shape=x.shape[1:], num_classes=10)
        model = {"standard": lambda: RobustModel(base),
                 "ir": lambda: InterpretationRegularizedModel(base, lambda_d=3.0, lambda_m=0.15),
                 "jr": lambda: JacobianRegularizedModel(base, lambda_j=0.32, n_proj=1)}[kind]()
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile=jit)
        return model

    models = {kind: wrapper(kind) for kind in ("standard", "ir", "jr")}
    batches = [(x[i::steps], y[i::steps], targets[i::steps]) for i in range(steps)]

    def run(kind: str) -> Callable[[], Any]:
        model = models[kind]

        def go() -> Any:
            for bx, by, bt in batches:
                inputs = (bx, bt) if kind == "ir" else bx
                logs = model.train_on_batch(inputs, by, return_dict=True)
            return logs
        return go

    t = median_times({kind: run(kind) for kind in models}, repeats)
    per_step = {kind: seconds / steps for kind, seconds in t.items()}
    return {
        "jit_compile": jit, "batch": len(batches[0][0]), "steps_timed": steps,
        "seconds_per_step": per_step,
        "ir_over_standard": per_step["ir"] / per_step["standard"],
        "jr_over_standard": per_step["jr"] / per_step["standard"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="kim_mnist_cnn")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--sigma", type=float, default=0.15)
    parser.add_argument("--sg-batch", type=int, default=16, help="images per SmoothGrad call")
    parser.add_argument("--chunk", type=int, default=None, help="SmoothGrad chunk (default: library's)")
    parser.add_argument("--batch-size", type=int, default=128, help="train-step batch")
    parser.add_argument("--steps", type=int, default=5, help="train steps per timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    data = load_dataset("fashion_mnist", "train", limit=args.batch_size * args.steps, bounds=(0, 1))
    x, y = np.asarray(data.x), np.asarray(data.y)
    rng = np.random.default_rng(0)
    targets = rng.normal(size=x.shape).astype("float32")

    keras.utils.set_random_seed(0)
    model = build_model(args.arch, input_shape=x.shape[1:], num_classes=10)
    result: dict[str, Any] = {
        "arch": args.arch, "device": tf.config.list_physical_devices("GPU") and "gpu" or "cpu",
        "cpu_count": os.cpu_count(), "versions": library_versions(),
    }
    print("SmoothGrad ...", flush=True)
    result["smoothgrad"] = smoothgrad_part(model, x[:args.sg_batch], y[:args.sg_batch],
                                           samples=args.samples, sigma=args.sigma, chunk=args.chunk,
                                           repeats=args.repeats)
    result["train_step"] = []
    for jit in (False, True):
        print(f"train steps (jit_compile={jit}) ...", flush=True)
        result["train_step"].append(train_step_part(args.arch, x, y, targets, jit=jit, steps=args.steps,
                                                    repeats=args.repeats))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_json(result, out / "regularization.json")

    sg = result["smoothgrad"]
    print(f"\n{args.arch}, {result['device']}, SmoothGrad-{sg['samples']} on {sg['batch']} images")
    for name, seconds in sg["seconds"].items():
        print(f"  {name:<18} {seconds:8.3f} s")
    print(f"  smoothgrad / one call on {sg['samples']}x batch: {sg['smoothgrad_over_one_big_call']:.2f} (target <= 1.2)")
    print(f"  sequential / smoothgrad: {sg['sequential_over_smoothgrad']:.2f} (GPU target >= 5)")
    for part in result["train_step"]:
        s = part["seconds_per_step"]
        print(f"train step, batch {part['batch']}, jit={part['jit_compile']}: standard {s['standard']:.3f} s, "
              f"IR {s['ir']:.3f} s ({part['ir_over_standard']:.2f}x), JR {s['jr']:.3f} s "
              f"({part['jr_over_standard']:.2f}x)  (target <= 3x)")
    print(f"wrote {out / 'regularization.json'}")


if __name__ == "__main__":
    main()
