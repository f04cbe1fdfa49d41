"""Benchmark: ``tfrobust study run`` with the sequential runner against ``--executor ray`` on this machine.

Two studies of independent cells (no dependencies, so every cell can run at
once), each run from scratch by both executors through ``run_study``:

- ``sleep``: ``--cells`` cells of a kind that only sleeps ``--sleep`` seconds
  (no TensorFlow): what the executor itself costs. Two per-cell figures:
  ``ray_overhead_per_cell_s`` = (wall - Ray start-up - ideal) / cells, where
  ideal = the cells' own seconds (from the ledger) divided by the workers
  (noisy: it subtracts a separately timed start-up); and
  ``*_added_latency_per_cell_s``, the median over cells of the time from the
  driver starting (submitting) a cell to recording it, less the kind's own
  seconds (ledger ``finished - started - seconds``);
- ``toy``: ``--cells`` cells of the ``toy`` kind (Kim's 2-D toy, a tiny DNN:
  1 epoch on 200 points per class, a 5-step attack; one seed per cell): real
  TensorFlow work, where every Ray worker pays its own TensorFlow import and
  tracing, which the sequential runner pays once.

The Ray runs start a local Ray instance with ``--workers`` CPUs (as
``tfrobust study run --executor ray --workers N`` does) and stop it at the end;
its start-up and shutdown are timed on their own too. Wall times are of one
run each (``--repeats`` for more; the median is kept) on a machine whose load
is written into the results (``os.getloadavg``): a loaded machine slows the
parallel runs most. Writes ``results/ray_executor.json``.

Never a timed test: run it by hand (``make bench-ray``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.reports.files import atomic_write_text
from tfrobust.studies import KINDS, Ledger, run_study, study_spec_from_dict
from tfrobust.studies.executor_ray import RayExecutor


def sleep_kind(deps: Mapping[str, Path], out_dir: Path, *, seconds: float = 1.0, index: int = 0) -> dict[str, Any]:
    """A cell that only waits (the executor's own cost is what remains)."""
    time.sleep(seconds)
    (out_dir / "slept.txt").write_text(f"{seconds}\n")
    return {"slept": seconds, "index": index}


def study(kind: str, cells: int, sleep: float) -> dict[str, Any]:
    """``cells`` independent cells of the ``sleep`` or ``toy`` kind."""
    if kind == "sleep":
        stage = {"name": "cell", "kind": "bench_sleep", "params": {"seconds": sleep, "index": "${i}"}}
    else:
        stage = {"name": "cell", "kind": "toy",
                 "params": {"eps": [0.0], "epochs": 1, "n": 200, "steps": 5, "seed": "${i}"}}
    return {"name": f"bench_{kind}", "grid": {"i": list(range(cells))}, "stages": [stage]}


def ray_startup(workers: int) -> float:
    """Seconds to start and stop a local Ray instance as the executor does."""
    import ray

    tic = time.perf_counter()
    ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR, object_store_memory=256 * 1024**2)
    ray.shutdown()
    return time.perf_counter() - tic


def one_run(values: dict[str, Any], executor: RayExecutor | None) -> dict[str, float]:
    """Wall time of one run from scratch, the sum of the cells' own seconds, and the median per-cell latency the
    executor adds: from the ledger's ``started`` (the driver starts or submits the cell) to ``finished`` (the
    driver records it), less the kind's own seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        tic = time.perf_counter()
        summary = run_study(study_spec_from_dict(values), Path(tmp) / "s", progress=False, report=False,
                            executor=executor)
        wall = time.perf_counter() - tic
        if not summary.ok or summary.ran != summary.cells:
            raise RuntimeError(f"the benchmark study did not complete: {summary}")
        with Ledger(Path(tmp) / "s", create=False) as ledger:
            rows = ledger.rows("done")
    cell_seconds = sum(r["seconds"] or 0.0 for r in rows)
    added = statistics.median(r["finished"] - r["started"] - (r["seconds"] or 0.0) for r in rows)
    return {"wall_s": wall, "cell_seconds_sum": cell_seconds, "added_latency_per_cell_s": added}


def measure(kind: str, args: argparse.Namespace, startup: float) -> dict[str, Any]:
    values = study(kind, args.cells, args.sleep)
    runs: dict[str, list[dict[str, float]]] = {"sequential": [], "ray": []}
    for _ in range(args.repeats):
        runs["sequential"].append(one_run(values, None))
        print(f"{kind} sequential: {runs['sequential'][-1]['wall_s']:.1f} s", flush=True)
        runs["ray"].append(one_run(values, RayExecutor(workers=args.workers)))
        print(f"{kind} ray --workers {args.workers}: {runs['ray'][-1]['wall_s']:.1f} s", flush=True)
    seq = statistics.median(r["wall_s"] for r in runs["sequential"])
    ray_wall = statistics.median(r["wall_s"] for r in runs["ray"])
    ray_cells = statistics.median(r["cell_seconds_sum"] for r in runs["ray"])
    ideal = ray_cells / args.workers
    return {
        "study": kind, "cells": args.cells, "workers": args.workers,
        "sequential_wall_s": round(seq, 2), "ray_wall_s": round(ray_wall, 2),
        "speedup": round(seq / ray_wall, 2),
        "sequential_cell_seconds_sum": round(statistics.median(r["cell_seconds_sum"] for r in runs["sequential"]), 2),
        "ray_cell_seconds_sum": round(ray_cells, 2),
        "ray_startup_s": round(startup, 2),
        "ray_overhead_per_cell_s": round((ray_wall - startup - ideal) / args.cells, 3),
        "sequential_added_latency_per_cell_s": round(
            statistics.median(r["added_latency_per_cell_s"] for r in runs["sequential"]), 3),
        "ray_added_latency_per_cell_s": round(statistics.median(r["added_latency_per_cell_s"] for r in runs["ray"]), 3),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="results directory")
    parser.add_argument("--cells", type=int, default=8, help="independent cells per study (>= 8)")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (CPUs of the local instance)")
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds of one sleep cell")
    parser.add_argument("--repeats", type=int, default=1, help="runs per executor and study (median kept)")
    parser.add_argument("--studies", default="sleep,toy", help="comma-separated: sleep, toy")
    args = parser.parse_args()
    if args.cells < 8:
        parser.error("--cells must be >= 8")
    KINDS.add("bench_sleep", sleep_kind)
    load_before = os.getloadavg()
    startup = statistics.median(ray_startup(args.workers) for _ in range(max(1, args.repeats)))
    print(f"ray start + stop: {startup:.1f} s", flush=True)
    results = [measure(kind, args, startup) for kind in args.studies.split(",")]
    record = {"benchmark": "ray_executor", "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "loadavg_before": [round(x, 2) for x in load_before],
              "loadavg_after": [round(x, 2) for x in os.getloadavg()],
              "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": results}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "ray_executor.json", json.dumps(record, indent=2) + "\n")
    for row in results:
        print(f"{row['study']}: sequential {row['sequential_wall_s']} s, ray {row['ray_wall_s']} s "
              f"(x{row['speedup']}), overhead {row['ray_overhead_per_cell_s']} s/cell, added latency "
              f"{row['ray_added_latency_per_cell_s']} s/cell (sequential {row['sequential_added_latency_per_cell_s']})")
    print(f"-> {out / 'ray_executor.json'}")


if __name__ == "__main__":
    main()
