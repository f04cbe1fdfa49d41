"""Benchmark: Kim et al. 2019 A.2 standard training on all of Fashion-MNIST.

Trains ``kim_mnist_cnn`` for 5 epochs with Adam 1e-3 on data in [-1, 1]
(configs/kim_fmnist_standard.yaml; the paper reports 90.6% test accuracy),
once in graph mode and once with ``jit_compile=True`` (XLA), and reports test
accuracy and training images/s side by side. Throughput excludes the first
epoch (tracing and compilation) when more than one epoch runs.

Not part of ``make test``. Usage::

    .venv/bin/python benchmarks/train_kim_fmnist.py --out benchmarks/results
    .venv/bin/python benchmarks/train_kim_fmnist.py --epochs 1 --limit 6000 --modes graph
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from tfrobust.config import load_train_config, replace  # noqa: E402
from tfrobust.training import atomic_json, library_versions, train  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "kim_fmnist_standard.yaml"
PAPER_ACCURACY = 0.906  # Kim et al. 2019 A.2, FMNIST


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results", help="output directory")
    parser.add_argument("--epochs", type=int, default=None, help="override the config's 5 epochs")
    parser.add_argument("--limit", type=int, default=None, help="use the first N images per split")
    parser.add_argument("--modes", default="graph,xla", help="comma list of graph,xla")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    base = load_train_config(CONFIG)
    data = replace(base.data, limit=args.limit, data_dir=args.data_dir)
    base = replace(base, data=data, epochs=args.epochs or base.epochs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        if mode not in ("graph", "xla"):
            raise SystemExit(f"error: unknown mode {mode!r}; use graph or xla")
        config = replace(base, jit_compile=(mode == "xla"))
        print(f"== {mode}: {config.epochs} epochs of kim_mnist_cnn on fashion_mnist", flush=True)
        started = time.perf_counter()
        result = train(config, out / f"kim_fmnist_{mode}", verbose=2, overwrite=True)
        rows.append({
            "mode": mode,
            "jit_compile": config.jit_compile,
            "epochs": config.epochs,
            "train_examples": result.metrics["train_examples"],
            "test_accuracy": result.metrics["test_accuracy"],
            "images_per_second": result.metrics["images_per_second"],
            "images_per_second_first_epoch": result.metrics["images_per_second_first_epoch"],
            "wall_seconds": time.perf_counter() - started,
        })
    summary = {
        "benchmark": "train_kim_fmnist",
        "paper_test_accuracy": PAPER_ACCURACY,
        "devices": [d.device_type for d in tf.config.list_physical_devices()],
        "cpu_count": os.cpu_count(),
        "versions": library_versions(),
        "runs": rows,
    }
    if len(rows) == 2:
        summary["xla_over_graph_throughput"] = rows[1]["images_per_second"] / rows[0]["images_per_second"]
    atomic_json(summary, out / "train_kim_fmnist.json")
    print(f"{'mode':<6} {'epochs':>6} {'test acc':>9} {'img/s':>8} {'img/s ep1':>10} {'wall s':>8}")
    for r in rows:
        print(f"{r['mode']:<6} {r['epochs']:>6} {r['test_accuracy']:>9.4f} {r['images_per_second']:>8.0f} "
              f"{r['images_per_second_first_epoch']:>10.0f} {r['wall_seconds']:>8.0f}")
    print(f"paper: {PAPER_ACCURACY:.3f}; results in {out / 'train_kim_fmnist.json'}")


if __name__ == "__main__":
    main()
