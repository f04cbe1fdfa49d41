"""Benchmark: PGD cost and strength against compiled gradients, ART, and a standard train step.

Measures, in one run on the same model and batches (``kim_mnist_cnn`` on
Fashion-MNIST in [-1, 1], batch 128, PGD-K with step size ``2.5 * eps / K``):

(a) PGD-K time over ``K x`` the time of one compiled (``tf.function``)
    cross-entropy input gradient of the same batch; target <= 1.1.
(b) our ``pgd`` against ART's ``ProjectedGradientDescent`` with a
    ``TensorFlowV2Classifier`` (same norm, eps, eps_step, K iterations, one
    random start, batch 128), linf eps 0.1 and l2 eps 2.0: throughput ratio
    ours/ART (target >= 3) and robust accuracy of both on the same test
    images (target: ours <= ART's, i.e. at least as strong).
(c) time of an ``AdversarialModel`` (PGD-K linf eps 0.1, graph mode) train
    step over a ``RobustModel`` (standard) train step, ``train_on_batch`` on
    the same batches; target <= 1.15 x (2K+3)/3 (the issue's cost model: a
    standard step is 3 passes, each PGD step 2), with ``track_clean=False``
    and, for information, ``track_clean=True`` (one more forward pass).

Times are medians over ``--repeats`` runs, measured after warm-up (tracing);
methods are interleaved within each repeat so load drift hits all alike.
Benchmarks are not tests (docs/architecture.md, Benchmarks are not tests): this reports ratios, it asserts
nothing. ART is not a dependency of tfrobust; ``make bench-pgd`` installs it
into ``benchmarks/.art`` and puts it on ``PYTHONPATH``. Without ART (or with
``--skip-art``) parts (a) and (c) still run and the JSON says why (b) is absent.

Usage::

    make bench-pgd
    PYTHONPATH=benchmarks/.art .venv/bin/python benchmarks/pgd.py --out benchmarks/results
    .venv/bin/python benchmarks/pgd.py --skip-art --steps 5 --batches 2 --repeats 1

Writes ``<out>/pgd.json`` (atomically) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bench_common import (  # noqa: E402
    BOUNDS,
    INPUT_SHAPE,
    NUM_CLASSES,
    import_art,
    make_predict,
    median,
    timed,
    train_standard,
)

from tfrobust.attacks import PGD, pgd  # noqa: E402
from tfrobust.data import load_dataset  # noqa: E402
from tfrobust.models import build_model  # noqa: E402
from tfrobust.training import (  # noqa: E402
    AdversarialModel,
    RobustModel,
    atomic_json,
    library_versions,
    load_model,
)

DEFAULT_MODEL = Path("benchmarks/results/kim_fmnist_graph/model.keras")
NORMS = {"linf": 0.1, "l2": 2.0}  # eps on [-1, 1] data (linf 0.1: Kim et al.'s scale)
TARGET_GRADIENT_RATIO = 1.1
TARGET_ART_SPEEDUP = 3.0
TARGET_TRAIN_SLACK = 1.15


# --------------------------------------------------------------------- model
def get_model(path: str | None, data_dir: str | None) -> tuple[keras.Model, str]:
    """The trained model to attack, and where it came from."""
    candidate = Path(path) if path else DEFAULT_MODEL
    if candidate.is_file():
        return load_model(candidate), str(candidate)
    if path:
        raise SystemExit(f"error: no model file at {path}")
    print(f"no model at {DEFAULT_MODEL}: training kim_mnist_cnn for 1 epoch on 6000 images", flush=True)
    base, _, _ = train_standard("kim_mnist_cnn", images=6000, epochs=1, data_dir=data_dir)
    return base, "trained here: 1 epoch, 6000 images, Adam 1e-3"


def make_input_gradient(model: keras.Model, jit_compile: bool = False) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """One compiled cross-entropy input gradient: the unit PGD's cost is measured in."""

    @tf.function(jit_compile=jit_compile)
    def input_gradient(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as input_tape:
            input_tape.watch(x)
            logits = model(x, training=False)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        return input_tape.gradient(loss, x)

    return input_gradient


def accuracy(predict: Callable[[Any], np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict(x) == y))


# ----------------------------------------------------------------------- ART
def make_art_attacks(model: keras.Model, steps: int, batch: int) -> dict[str, Any]:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    classifier = TensorFlowV2Classifier(
        model=model,
        nb_classes=NUM_CLASSES,
        input_shape=INPUT_SHAPE,
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=BOUNDS,
    )
    attacks = {}
    for norm, eps in NORMS.items():
        attacks[norm] = ProjectedGradientDescent(
            classifier, norm=np.inf if norm == "linf" else 2, eps=eps, eps_step=2.5 * eps / steps,
            max_iter=steps, targeted=False, num_random_init=1, batch_size=batch, verbose=False,
        )
    return attacks


# ------------------------------------------------------- (a) and (b): attacks
def check_adversarial(name: str, x_adv: np.ndarray, x: np.ndarray) -> None:
    """Both attacks must return points of the eps-ball inside the bounds (else the comparison is void)."""
    norm = name.split("_")[-1]
    delta = (x_adv - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.sqrt((delta ** 2).sum(axis=1))
    if size.max() > NORMS[norm] * (1 + 1e-4) + 1e-6:
        raise RuntimeError(f"{name}: perturbation {size.max():.5g} exceeds eps {NORMS[norm]}")
    if x_adv.min() < BOUNDS[0] - 1e-6 or x_adv.max() > BOUNDS[1] + 1e-6:
        raise RuntimeError(f"{name}: adversarial examples outside bounds {BOUNDS}")


def bench_attacks(model: keras.Model, x: np.ndarray, y: np.ndarray, *, steps: int, batch: int,
                  repeats: int, art_attacks: dict[str, Any] | None) -> dict[str, Any]:
    """Interleaved timings of K compiled gradients, our PGD and ART's PGD on the same batches."""
    n_batches = len(x) // batch
    xb = [tf.constant(x[i * batch:(i + 1) * batch]) for i in range(n_batches)]
    yb = [tf.constant(y[i * batch:(i + 1) * batch]) for i in range(n_batches)]
    y_onehot = np.eye(NUM_CLASSES, dtype=np.float32)[y]
    input_gradient = make_input_gradient(model)
    input_gradient_xla = make_input_gradient(model, jit_compile=True)
    predict = make_predict(model)

    def gradients(fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            out = []
            for xi, yi in zip(xb, yb):
                for _ in range(steps):
                    g = fn(xi, yi)
                out.append(g.numpy())
            return np.concatenate(out)

        return run

    run_gradients = gradients(input_gradient)

    def run_ours(norm: str) -> Callable[[], np.ndarray]:
        def attack() -> np.ndarray:
            out = []
            for i, (xi, yi) in enumerate(zip(xb, yb)):
                adv = pgd(model, xi, yi, norm=norm, eps=NORMS[norm], steps=steps, bounds=BOUNDS,
                          step_size=2.5 * NORMS[norm] / steps, random_start=True, seed=i)
                out.append(adv.numpy())
            return np.concatenate(out)

        return attack

    def run_art(norm: str) -> Callable[[], np.ndarray]:
        return lambda: art_attacks[norm].generate(x=x, y=y_onehot)

    methods: dict[str, Callable[[], np.ndarray]] = {"gradients": run_gradients,
                                                    "gradients_xla": gradients(input_gradient_xla)}
    for norm in NORMS:
        methods[f"ours_{norm}"] = run_ours(norm)
    if art_attacks:
        for norm in NORMS:
            methods[f"art_{norm}"] = run_art(norm)

    # Warm-up: trace the compiled gradient and PGD steps; ART runs eagerly (no tracing),
    # so a few images suffice for its first calls. An ART failure drops ART, not the run.
    print("warm-up (tracing) ...", flush=True)
    warmup: dict[str, float] = {}
    art_error = None
    warmup["gradients"], _ = timed(lambda: input_gradient(xb[0], yb[0]).numpy())
    warmup["gradients_xla"], _ = timed(lambda: input_gradient_xla(xb[0], yb[0]).numpy())
    predict(xb[0])
    for norm in NORMS:
        warmup[f"ours_{norm}"], _ = timed(lambda norm=norm: pgd(
            model, xb[0], yb[0], norm=norm, eps=NORMS[norm], steps=2, bounds=BOUNDS, seed=0).numpy())
        if art_attacks and art_error is None:
            try:
                warmup[f"art_{norm}"], _ = timed(
                    lambda norm=norm: art_attacks[norm].generate(x=x[:16], y=y_onehot[:16]))
            except Exception as err:  # e.g. an incompatibility with Keras 3
                art_error = f"ART run failed: {type(err).__name__}: {str(err).strip()[:300]}"
                print(art_error, flush=True)
    if art_error is not None:
        art_attacks = None
        methods = {name: fn for name, fn in methods.items() if not name.startswith("art_")}

    times: dict[str, list[float]] = {name: [] for name in methods}
    robust: dict[str, list[float]] = {name: [] for name in methods if not name.startswith("gradients")}
    for r in range(repeats):
        for name, fn in methods.items():
            seconds, out = timed(fn)
            times[name].append(seconds)
            if not name.startswith("gradients"):
                check_adversarial(name, out, x)
                robust[name].append(accuracy(predict, out, y))
            print(f"  repeat {r + 1}/{repeats} {name:<10} {seconds:7.2f} s", flush=True)

    n = n_batches * batch
    result: dict[str, Any] = {
        "art_error": art_error,
        "examples": n,
        "clean_accuracy": accuracy(predict, x, y),
        "warmup_seconds": warmup,
        "seconds": {name: {"median": median(v), "all": v} for name, v in times.items()},
    }
    t_grad = median(times["gradients"]) / (steps * n_batches)  # one gradient of one batch
    result["one_gradient_seconds"] = t_grad
    t_grad_xla = median(times["gradients_xla"]) / (steps * n_batches)
    result["one_gradient_seconds_xla"] = t_grad_xla
    result["gradient_ratio"] = {}
    result["ours"] = {}
    for norm in NORMS:
        t_ours = median(times[f"ours_{norm}"])
        result["gradient_ratio"][norm] = {
            "pgd_seconds_per_batch": t_ours / n_batches,
            "k_gradients_seconds_per_batch": steps * t_grad,
            "ratio": t_ours / (n_batches * steps * t_grad),
            "ratio_vs_xla_gradients": t_ours / (n_batches * steps * t_grad_xla),
            "target_max": TARGET_GRADIENT_RATIO,
        }
        result["ours"][norm] = {
            "eps": NORMS[norm],
            "images_per_second": n / t_ours,
            "robust_accuracy": robust[f"ours_{norm}"][0],
            "robust_accuracy_all_repeats": robust[f"ours_{norm}"],
        }
    if art_attacks:
        result["art"] = {}
        for norm in NORMS:
            t_art, t_ours = median(times[f"art_{norm}"]), median(times[f"ours_{norm}"])
            result["art"][norm] = {
                "eps": NORMS[norm],
                "images_per_second": n / t_art,
                "speedup_ours_over_art": t_art / t_ours,
                "speedup_target_min": TARGET_ART_SPEEDUP,
                "robust_accuracy_art": median(robust[f"art_{norm}"]),
                "robust_accuracy_art_all_repeats": robust[f"art_{norm}"],
                "robust_accuracy_ours": robust[f"ours_{norm}"][0],
                "ours_at_least_as_strong": robust[f"ours_{norm}"][0] <= median(robust[f"art_{norm}"]),
            }
    return result


# ----------------------------------------------------------- (c) train steps
def bench_train_steps(x: np.ndarray, y: np.ndarray, *, steps: int, batch: int, repeats: int) -> dict[str, Any]:
    """Seconds per ``train_on_batch`` step: standard vs PGD-K adversarial (graph mode)."""
    n_batches = len(x) // batch
    xb = [x[i * batch:(i + 1) * batch] for i in range(n_batches)]
    yb = [y[i * batch:(i + 1) * batch] for i in range(n_batches)]
    attack = PGD(norm="linf", eps=NORMS["linf"], steps=steps, bounds=BOUNDS)

    def make(kind: str) -> keras.Model:
        keras.utils.set_random_seed(0)
        base = build_model("kim_mnist_cnn", input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES)
        if kind == "standard":
            model = RobustModel(base)
        else:
            model = AdversarialModel(base, attack=attack, track_clean=(kind == "adversarial_track_clean"))
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile=False)
        return model

    kinds = ("standard", "adversarial", "adversarial_track_clean")
    models = {kind: make(kind) for kind in kinds}
    warmup = {}
    print("warm-up train steps (tracing) ...", flush=True)
    for kind, model in models.items():
        warmup[kind], _ = timed(lambda model=model: model.train_on_batch(xb[0], yb[0]))
        model.train_on_batch(xb[-1], yb[-1])

    per_step: dict[str, list[float]] = {kind: [] for kind in kinds}
    for r in range(repeats):
        for kind, model in models.items():
            def run(model: keras.Model = model) -> None:
                for xi, yi in zip(xb, yb):
                    model.train_on_batch(xi, yi)  # returns numpy logs: forces completion

            seconds, _ = timed(run)
            per_step[kind].append(seconds / n_batches)
            print(f"  repeat {r + 1}/{repeats} {kind:<24} {seconds / n_batches:7.3f} s/step", flush=True)

    t_std = median(per_step["standard"])
    target = (2 * steps + 3) / 3 * TARGET_TRAIN_SLACK
    result: dict[str, Any] = {
        "mode": "graph (jit_compile=False)",
        "attack": attack.to_dict(),
        "steps_timed_per_repeat": n_batches,
        "warmup_seconds": warmup,
        "seconds_per_step": {kind: {"median": median(v), "all": v} for kind, v in per_step.items()},
        "standard_images_per_second": batch / t_std,
        "cost_model": "standard step = 3 passes, PGD step = 2: adversarial = (2K+3)/3 standard steps",
        "target_max": target,
    }
    for kind in ("adversarial", "adversarial_track_clean"):
        ratio = median(per_step[kind]) / t_std
        result[kind] = {"ratio": ratio, "images_per_second": batch / median(per_step[kind]),
                        "within_target": ratio <= target}
    result["adversarial_track_clean"]["cost_model_with_clean_pass"] = (2 * steps + 4) / 3 * TARGET_TRAIN_SLACK
    return result


# ---------------------------------------------------------------------- main
def print_table(summary: dict[str, Any]) -> None:
    k = summary["settings"]["steps"]
    att = summary["attacks"]
    print(f"\nPGD-{k}, batch {summary['settings']['batch']}, {att['examples']} test images, "
          f"clean accuracy {att['clean_accuracy']:.3f}; one compiled input gradient "
          f"{att['one_gradient_seconds'] * 1e3:.0f} ms ({att['one_gradient_seconds_xla'] * 1e3:.0f} ms with XLA)")
    print("(a) PGD-K / (K x compiled gradient)      target <= 1.10")
    for norm, row in att["gradient_ratio"].items():
        print(f"    {norm:<5} {row['ratio']:6.3f}   ({row['pgd_seconds_per_batch']:.3f} s vs "
              f"{row['k_gradients_seconds_per_batch']:.3f} s per batch); "
              f"vs K XLA gradients {row['ratio_vs_xla_gradients']:.3f}")
    print("(b) ours vs ART                           target: speedup >= 3, ours acc <= ART acc")
    if "art" in att:
        print(f"    {'norm':<5} {'eps':>4} {'ours img/s':>10} {'ART img/s':>10} {'speedup':>8} "
              f"{'ours acc':>9} {'ART acc':>8}")
        for norm, row in att["art"].items():
            print(f"    {norm:<5} {row['eps']:>4g} {att['ours'][norm]['images_per_second']:>10.1f} "
                  f"{row['images_per_second']:>10.1f} {row['speedup_ours_over_art']:>8.2f} "
                  f"{row['robust_accuracy_ours']:>9.3f} {row['robust_accuracy_art']:>8.3f}")
    else:
        print(f"    ART not run: {summary['art']['reason']}")
        for norm, row in att["ours"].items():
            print(f"    ours {norm:<5} {row['images_per_second']:8.1f} img/s, robust acc {row['robust_accuracy']:.3f}")
    tr = summary["train_step"]
    s = tr["seconds_per_step"]
    print(f"(c) adversarial / standard train step    target <= 1.15 x (2K+3)/3 = {tr['target_max']:.2f}")
    print(f"    standard {s['standard']['median']:.3f} s/step ({tr['standard_images_per_second']:.0f} img/s)")
    for kind in ("adversarial", "adversarial_track_clean"):
        print(f"    {kind:<24} {s[kind]['median']:.3f} s/step  ratio {tr[kind]['ratio']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results", help="output directory")
    parser.add_argument("--model", default=None,
                        help=f"trained .keras classifier (default {DEFAULT_MODEL} if present, else train one)")
    parser.add_argument("--steps", type=int, default=10, help="PGD iterations K")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=4, help="timed batches (attack examples = batches x batch)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; medians are reported")
    parser.add_argument("--skip-art", action="store_true", help="do not compare with ART")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    if args.steps < 1 or args.batch < 1 or args.batches < 1 or args.repeats < 1:
        raise SystemExit("error: --steps, --batch, --batches and --repeats must be >= 1")

    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = args.batch * args.batches
    model, model_source = get_model(args.model, args.data_dir)
    test = load_dataset("fashion_mnist", "test", bounds=BOUNDS, limit=n, data_dir=args.data_dir)
    train = load_dataset("fashion_mnist", "train", bounds=BOUNDS, limit=n, data_dir=args.data_dir)

    art_info: dict[str, Any] = {"requested": not args.skip_art}
    art_attacks = None
    if args.skip_art:
        art_info.update(available=False, reason="--skip-art")
    else:
        art, reason = import_art("art.attacks.evasion", "art.estimators.classification")
        if art is None:
            art_info.update(available=False, reason=f"cannot import ART ({reason}); run `make bench-pgd`")
        else:
            art_info.update(available=True, version=art.__version__)
            try:
                art_attacks = make_art_attacks(model, args.steps, args.batch)
            except Exception as err:
                art_info.update(available=False, reason=f"ART setup failed: {type(err).__name__}: {err}")
    if not art_info.get("available"):
        print(f"ART comparison skipped: {art_info['reason']}", flush=True)

    print(f"== (a)+(b) attacks: PGD-{args.steps} on {n} test images", flush=True)
    np.random.seed(0)  # ART draws its random starts from numpy's global generator
    attacks = bench_attacks(model, test.x, test.y, steps=args.steps, batch=args.batch,
                            repeats=args.repeats, art_attacks=art_attacks)
    art_error = attacks.pop("art_error")
    if art_error is not None:
        art_info.update(available=False, reason=art_error)
    print(f"== (c) train steps: standard vs PGD-{args.steps} adversarial", flush=True)
    train_step = bench_train_steps(train.x, train.y, steps=args.steps, batch=args.batch, repeats=args.repeats)

    versions = library_versions()
    versions["art"] = art_info.get("version")
    summary = {
        "benchmark": "pgd",
        "settings": {
            "steps": args.steps, "batch": args.batch, "batches": args.batches, "repeats": args.repeats,
            "bounds": list(BOUNDS), "eps": NORMS, "step_size": "2.5 * eps / steps",
            "random_start": True, "restarts": 1, "l2_step": "normalized", "objective": "xent",
            "model": model_source, "dataset": "fashion_mnist", "architecture": "kim_mnist_cnn",
        },
        "targets": {
            "pgd_over_k_gradients_max": TARGET_GRADIENT_RATIO,
            "speedup_over_art_min": TARGET_ART_SPEEDUP,
            "robust_accuracy": "ours <= ART",
            "adversarial_over_standard_train_step_max": "1.15 * (2K+3)/3",
        },
        "art": art_info,
        "attacks": attacks,
        "train_step": train_step,
        "devices": [d.device_type for d in tf.config.list_physical_devices()],
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "versions": versions,
        "wall_seconds": time.perf_counter() - started,
    }
    path = atomic_json(summary, out / "pgd.json")
    print_table(summary)
    print(f"wall {summary['wall_seconds']:.0f} s; results in {path}")


if __name__ == "__main__":
    main()
