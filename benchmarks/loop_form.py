"""Benchmark: which loop form (graph or XLA, a step per call or fused) PGD and SmoothGrad should default to.

Measures, in one run, on five architectures (``kim_mnist_cnn``; the plain
Keras CNN of issue 16, i.e. ``kim_mnist_cnn`` with ``padding="valid"``;
``tf_tutorial_mnist_cnn``; an MLP 784-512-512-10 (``kim_toy_dnn``); an
8-layer ``madry_cifar_resnet`` with one unit per stage) at two batch sizes,
on random inputs of the right shape (timing does not need real images):

(a) PGD-K (linf, K steps, random start) over ``K x`` one compiled
    cross-entropy input gradient of the same batch in the best mode (the
    faster of graph mode and XLA), for the library's two forms,
    ``pgd(jit_compile=False)`` (graph mode: all steps in one
    ``tf.while_loop``) and ``pgd(jit_compile=True)`` (an XLA step per call),
    and, built here from the same ops without pgd's input checks: a graph
    step per call (pgd's graph form before issue 16), and the K steps
    unrolled into one ``tf.function`` in graph mode and in XLA. The issue's
    target: PGD within 1.1x in the best mode on every model.
(b) SmoothGrad-S (``tfrobust.attribution.smoothgrad``, S = 16 samples in one
    chunk, so ``batch / 16`` images make one ``batch``-sized model call) in
    graph mode and with XLA (its device default forced: the maps of each
    chunk compiled by XLA inside the graph-mode loop), over one compiled logit
    gradient of a batch of ``batch`` inputs in the best mode.
(c) PGD's early exit on a briefly trained ``tf_tutorial_mnist_cnn`` at the
    linf radius (of a small grid) where about half the test points break:
    gradient rows spent and time with and without early exit, graph and XLA;
    and the cost of one XLA compilation for a new batch size (why the XLA
    path compacts only to powers of two).

Variants are interleaved within each repeat (load drift hits all alike) and
reported as medians, after warm-up (tracing and compiling). Benchmarks are
not tests: this reports ratios and asserts nothing. The machine may be
shared; the JSON says so (``--machine``).

Usage::

    .venv/bin/python benchmarks/loop_form.py --out benchmarks/results
    .venv/bin/python benchmarks/loop_form.py --steps 3 --batches 32 64 --repeats 1 --models mlp  # smoke run

Writes ``<out>/loop_form.json`` (atomically, after each model, with
``complete`` false until the end) and prints the tables.
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

import tfrobust.attribution.compile_mode as compile_mode  # noqa: E402
from tfrobust.attacks import get_norm, pgd  # noqa: E402
from tfrobust.attribution import smoothgrad  # noqa: E402
from tfrobust.data import load_dataset  # noqa: E402
from tfrobust.models import build_model  # noqa: E402
from tfrobust.training import atomic_json, library_versions  # noqa: E402

BOUNDS = (0.0, 1.0)
EPS = 0.1
SAMPLES = 16
MNIST = (28, 28, 1)
MODELS: dict[str, tuple[str, tuple[int, ...], dict[str, Any]]] = {
    "kim_mnist_cnn": ("kim_mnist_cnn", MNIST, {}),
    "plain_cnn": ("kim_mnist_cnn", MNIST, {"padding": "valid"}),
    "tf_tutorial_mnist_cnn": ("tf_tutorial_mnist_cnn", MNIST, {}),
    "mlp": ("kim_toy_dnn", MNIST, {"hidden": (512, 512)}),
    "resnet8": ("madry_cifar_resnet", (32, 32, 3), {"units": 1}),
}


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], Any]) -> float:
    """Seconds for ``fn()`` (which must force completion, e.g. return numpy)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(methods: dict[str, Callable[[], Any]], repeats: int, label: str) -> dict[str, float]:
    """Median seconds per method; every repeat runs each method once, in order."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    for r in range(repeats):
        for name, fn in methods.items():
            times[name].append(timed(fn))
        print(f"  {label} repeat {r + 1}/{repeats}: "
              + ", ".join(f"{n} {t[-1]:.3f}s" for n, t in times.items()), flush=True)
    return {name: median(values) for name, values in times.items()}


def input_gradient(model: keras.Model, jit: bool, objective: str = "xent") -> Callable[..., tf.Tensor]:
    """One compiled input gradient: of the cross-entropy (PGD's unit) or of the label's logit (SmoothGrad's)."""

    @tf.function(jit_compile=jit)
    def grad(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = model(x, training=False)
            if objective == "xent":
                total = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
            else:
                total = tf.reduce_sum(tf.gather(logits, y, batch_dims=1))
        return tape.gradient(total, x)

    return grad


def linf_step(model: keras.Model, x_adv: tf.Tensor, x0: tf.Tensor, y: tf.Tensor, eps: tf.Tensor,
              size: tf.Tensor) -> tf.Tensor:
    """One linf PGD step, the same ops as pgd's."""
    geometry = get_norm("linf")
    with tf.GradientTape() as tape:
        tape.watch(x_adv)
        logits = model(x_adv, training=False)
        total = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    moved = x_adv + size * geometry.normalize_step(tape.gradient(total, x_adv))
    return tf.clip_by_value(x0 + geometry.project(moved - x0, eps), *BOUNDS)


def fused_pgd(model: keras.Model, steps: int, jit: bool) -> Callable[..., tf.Tensor]:
    """All ``steps`` linf PGD steps unrolled into one ``tf.function``."""

    @tf.function(jit_compile=jit)
    def run(x_adv: tf.Tensor, x0: tf.Tensor, y: tf.Tensor, eps: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
        for _ in range(steps):
            x_adv = linf_step(model, x_adv, x0, y, eps, size)
        return x_adv

    return run


def stepwise_pgd(model: keras.Model, steps: int) -> Callable[..., tf.Tensor]:
    """``steps`` calls from Python of one graph-mode step function (pgd's graph form before issue 16)."""
    step = tf.function(lambda x_adv, x0, y, eps, size: linf_step(model, x_adv, x0, y, eps, size))

    def run(x_adv: tf.Tensor, x0: tf.Tensor, y: tf.Tensor, eps: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
        for _ in range(steps):
            x_adv = step(x_adv, x0, y, eps, size)
        return x_adv

    return run


def with_smoothgrad_jit(jit: bool, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` run with SmoothGrad's compile mode forced (the device default table, restored after)."""

    def run() -> Any:
        saved = dict(compile_mode.DEFAULT_JIT)
        compile_mode.DEFAULT_JIT.update({"CPU": jit, "GPU": jit})
        try:
            return fn()
        finally:
            compile_mode.DEFAULT_JIT.update(saved)

    return run


def pgd_row(key: str, model: keras.Model, x: tf.Tensor, y: tf.Tensor, steps: int, repeats: int,
            grads: dict[str, Any], forms: dict[str, Any]) -> dict[str, Any]:
    """(a) for one model and batch."""
    eps, size = tf.constant(EPS, tf.float32), tf.constant(2.5 * EPS / steps, tf.float32)
    start = tf.clip_by_value(x + get_norm("linf").random_start(tf.shape(x), EPS, tf.constant([0, 0])), *BOUNDS)

    def k_gradients(fn: Callable[..., tf.Tensor]) -> Callable[[], Any]:
        def run() -> Any:
            for _ in range(steps):
                g = fn(x, y)
            return g.numpy()

        return run

    def attack(jit: bool) -> Callable[[], Any]:
        return lambda: pgd(model, x, y, norm="linf", eps=EPS, bounds=BOUNDS, steps=steps,
                           step_size=2.5 * EPS / steps, seed=0, jit_compile=jit).numpy()

    methods = {"grad_graph": k_gradients(grads["graph"]), "grad_xla": k_gradients(grads["xla"]),
               "pgd_graph": attack(False), "pgd_xla": attack(True),
               **{name: (lambda fn=fn: fn(start, x, y, eps, size).numpy()) for name, fn in forms.items()}}
    first = {name: timed(fn) for name, fn in methods.items()}  # warm-up: traces and XLA compiles
    t = interleaved(methods, repeats, f"{key} b{int(x.shape[0])} PGD-{steps}")
    best = min(t["grad_graph"], t["grad_xla"])
    return {
        "model": key, "batch": int(x.shape[0]), "steps": steps,
        "k_grad_graph_s": round(t["grad_graph"], 4), "k_grad_xla_s": round(t["grad_xla"], 4),
        "grad_xla_over_graph": round(t["grad_xla"] / t["grad_graph"], 3),
        **{f"{name}_over_best_grad": round(t[name] / best, 3)
           for name in ("pgd_graph", "pgd_xla", *forms)},
        "first_call_s": {name: round(v, 2) for name, v in first.items()},
    }


def smoothgrad_row(key: str, model: keras.Model, x: tf.Tensor, y: tf.Tensor, repeats: int,
                   logit_grads: dict[str, Any]) -> dict[str, Any]:
    """(b) for one model: SmoothGrad-16 of ``len(x) / 16`` images, one model call of ``len(x)`` inputs."""
    images = max(int(x.shape[0]) // SAMPLES, 1)
    xs, ys = x[:images], y[:images]
    xt, yt = tf.tile(xs, [SAMPLES] + [1] * (x.shape.rank - 1)), tf.tile(ys, [SAMPLES])

    def smooth(jit: bool) -> Callable[[], Any]:
        return with_smoothgrad_jit(jit, lambda: smoothgrad(model, xs, ys, samples=SAMPLES, sigma=0.15,
                                                           seed=0).numpy())

    methods = {"smoothgrad_graph": smooth(False), "smoothgrad_xla": smooth(True),
               "grad_graph": lambda: logit_grads["graph"](xt, yt).numpy(),
               "grad_xla": lambda: logit_grads["xla"](xt, yt).numpy()}
    first = {name: timed(fn) for name, fn in methods.items()}
    s = interleaved(methods, repeats, f"{key} {images}x{SAMPLES} SmoothGrad-{SAMPLES}")
    best = min(s["grad_graph"], s["grad_xla"])
    return {
        "model": key, "images": images, "samples": SAMPLES, "inputs_per_call": images * SAMPLES,
        "grad_graph_s": round(s["grad_graph"], 4), "grad_xla_s": round(s["grad_xla"], 4),
        "smoothgrad_graph_over_best_grad": round(s["smoothgrad_graph"] / best, 3),
        "smoothgrad_xla_over_best_grad": round(s["smoothgrad_xla"] / best, 3),
        "smoothgrad_xla_over_graph": round(s["smoothgrad_xla"] / s["smoothgrad_graph"], 3),
        "first_call_s": {name: round(v, 2) for name, v in first.items()},
    }


def bench_model(key: str, batches: list[int], steps: int, repeats: int) -> tuple[list[dict], list[dict]]:
    arch, shape, options = MODELS[key]
    keras.utils.set_random_seed(0)
    model = build_model(arch, input_shape=shape, num_classes=10, **options)
    grads = {"graph": input_gradient(model, False), "xla": input_gradient(model, True)}
    logit_grads = {"graph": input_gradient(model, False, "logit"), "xla": input_gradient(model, True, "logit")}
    forms = {"step_graph": stepwise_pgd(model, steps), "fused_graph": fused_pgd(model, steps, False),
             "fused_xla": fused_pgd(model, steps, True)}
    rng = np.random.default_rng(0)
    rows, smooth_rows = [], []
    for batch in batches:
        x = tf.constant(rng.uniform(*BOUNDS, (batch, *shape)).astype("float32"))
        y = tf.constant(rng.integers(0, 10, batch).astype("int32"))
        rows.append(pgd_row(key, model, x, y, steps, repeats, grads, forms))
        smooth_rows.append(smoothgrad_row(key, model, x, y, repeats, logit_grads))
    return rows, smooth_rows


def bench_early_exit(steps: int, repeats: int, data_dir: str | None, batch: int) -> dict[str, Any]:
    """Early exit on a briefly trained CNN at the radius where about half the points break."""
    keras.utils.set_random_seed(0)
    train = load_dataset("fashion_mnist", "train", bounds=BOUNDS, limit=12000, data_dir=data_dir)
    test = load_dataset("fashion_mnist", "test", bounds=BOUNDS, limit=batch, data_dir=data_dir)
    model = build_model("tf_tutorial_mnist_cnn", input_shape=MNIST, num_classes=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(train.x, train.y, batch_size=128, epochs=1, verbose=0)
    x, y = tf.constant(test.x), tf.constant(test.y.astype("int32"))
    clean = np.argmax(model(x, training=False).numpy(), axis=1) == test.y

    def attack(eps: float, early: bool, jit: bool, fn: Any = model) -> tf.Tensor:
        return pgd(fn, x, y, norm="linf", eps=eps, bounds=BOUNDS, steps=steps, step_size=2.5 * eps / steps,
                   seed=0, early_exit=early, jit_compile=jit)

    def broken(x_adv: tf.Tensor) -> np.ndarray:
        return np.argmax(model(x_adv, training=False).numpy(), axis=1) != test.y

    grid = {eps: float(broken(attack(eps, True, False)).mean()) for eps in (0.01, 0.02, 0.03, 0.05, 0.08)}
    eps = min(grid, key=lambda e: abs(grid[e] - 0.5))
    seen = tf.Variable(0, dtype=tf.int64)

    def counted(inputs: tf.Tensor) -> tf.Tensor:
        seen.assign_add(tf.cast(tf.shape(inputs)[0], tf.int64))
        return model(inputs, training=False)

    # Each point's first successful iterate (k = 0: the start; steps + 1: none), from pgd(steps=k) runs.
    first = np.full(batch, steps + 1)
    for k in range(steps, -1, -1):
        first[broken(pgd(model, x, y, norm="linf", eps=eps, bounds=BOUNDS, steps=k, step_size=2.5 * eps / steps,
                         seed=0, jit_compile=False))] = k
    rows = {}
    for early in (False, True):
        seen.assign(0)
        out = attack(eps, early, False, counted)
        rows["early" if early else "full"] = {"model_rows": int(seen.numpy()), "broken": float(broken(out).mean())}
    # With early exit a point runs steps 0..first (each a gradient), or all steps and one final forward pass.
    rows["early"]["gradient_rows"] = int(np.minimum(first + 1, steps).sum())
    rows["early"]["forward_only_rows"] = int(np.sum(first >= steps))
    rows["full"]["gradient_rows"], rows["full"]["forward_only_rows"] = steps * batch, 0
    counted_ok = all(r["model_rows"] == r["gradient_rows"] + r["forward_only_rows"] for r in rows.values())
    methods = {f"{'early' if early else 'full'}_{'xla' if jit else 'graph'}":
               (lambda early=early, jit=jit: attack(eps, early, jit).numpy())
               for jit in (False, True) for early in (False, True)}
    first_call = {name: timed(fn) for name, fn in methods.items()}
    t = interleaved(methods, repeats, f"early exit eps {eps}")
    # One XLA compilation for a new batch size, as an exact compaction would pay at every new size.
    grad = input_gradient(model, True)
    xs, ys = x[: batch - 3], y[: batch - 3]
    compile_s = timed(lambda: grad(xs, ys).numpy()) - timed(lambda: grad(xs, ys).numpy())
    return {
        "model": "tf_tutorial_mnist_cnn, 1 epoch on 12000 Fashion-MNIST images (Adam 1e-3, batch 128)",
        "batch": batch, "steps": steps, "norm": "linf", "eps_grid_broken_fraction": grid, "eps": eps,
        "clean_accuracy": float(clean.mean()), "model_rows": rows, "counted_rows_match_the_oracle": counted_ok,
        "gradient_rows_saved": round(1 - rows["early"]["gradient_rows"] / rows["full"]["gradient_rows"], 3),
        "median_s": {k: round(v, 4) for k, v in t.items()},
        "early_over_full_graph": round(t["early_graph"] / t["full_graph"], 3),
        "early_over_full_xla": round(t["early_xla"] / t["full_xla"], 3),
        "first_call_s": {k: round(v, 2) for k, v in first_call.items()},
        "xla_compile_s_one_new_batch_size": round(compile_s, 2),
    }


def print_tables(result: dict[str, Any]) -> None:
    print(f"\nPGD-{result['steps']} time over {result['steps']} input gradients in the best mode")
    print(f"{'model':<22}{'batch':>6}{'xla/graph grad':>16}{'pgd graph':>11}{'pgd xla':>9}"
          f"{'step graph':>12}{'fused graph':>13}{'fused xla':>11}")
    for r in result["pgd"]:
        print(f"{r['model']:<22}{r['batch']:>6}{r['grad_xla_over_graph']:>16.2f}{r['pgd_graph_over_best_grad']:>11.2f}"
              f"{r['pgd_xla_over_best_grad']:>9.2f}{r['step_graph_over_best_grad']:>12.2f}"
              f"{r['fused_graph_over_best_grad']:>13.2f}{r['fused_xla_over_best_grad']:>11.2f}")
    print(f"\nSmoothGrad-{SAMPLES} over one logit gradient of the same number of inputs in the best mode")
    print(f"{'model':<22}{'inputs':>7}{'graph':>8}{'xla':>8}{'xla/graph':>11}")
    for r in result["smoothgrad"]:
        print(f"{r['model']:<22}{r['inputs_per_call']:>7}{r['smoothgrad_graph_over_best_grad']:>8.2f}"
              f"{r['smoothgrad_xla_over_best_grad']:>8.2f}{r['smoothgrad_xla_over_graph']:>11.2f}")
    if result.get("early_exit"):
        e = result["early_exit"]
        print(f"\nearly exit (eps {e['eps']}, broken {e['model_rows']['early']['broken']:.2f}): gradient rows saved "
              f"{e['gradient_rows_saved']:.0%}; time early/full graph {e['early_over_full_graph']:.2f}, "
              f"xla {e['early_over_full_xla']:.2f}; one XLA compile {e['xla_compile_s_one_new_batch_size']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batches", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=None, help="Fashion-MNIST files (default: the usual places)")
    parser.add_argument("--skip-early-exit", action="store_true")
    parser.add_argument("--machine", default=f"{os.cpu_count()} CPU cores, shared with other jobs while measured",
                        help="a line on the machine and its load, stored with the results")
    args = parser.parse_args()
    started = time.perf_counter()
    result: dict[str, Any] = {
        "device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU", "machine": args.machine,
        "versions": library_versions(), "steps": args.steps, "repeats": args.repeats, "samples": SAMPLES,
        "models": {k: {"arch": MODELS[k][0], "input_shape": list(MODELS[k][1]), "options": MODELS[k][2]}
                   for k in args.models},
        "pgd": [], "smoothgrad": [],
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = Path(args.out) / "loop_form.json"
    for key in args.models:
        rows, smooth_rows = bench_model(key, args.batches, args.steps, args.repeats)
        result["pgd"] += rows
        result["smoothgrad"] += smooth_rows
        atomic_json({**result, "complete": False}, path)  # what is measured so far survives an interruption
    if not args.skip_early_exit:
        result["early_exit"] = bench_early_exit(args.steps, args.repeats, args.data_dir, max(args.batches))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    atomic_json({**result, "complete": True}, path)
    print_tables(result)
    print(f"\nwrote {path} ({result['wall_s']} s)")


if __name__ == "__main__":
    main()
