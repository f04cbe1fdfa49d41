"""Benchmark: wall time and headline tables of every study config's quick preset.

Runs ``tfrobust study run CONFIG --preset quick --out OUT/<name>`` for each
config in ``configs/studies/`` (or those named), one after another in fresh
processes, exactly as a user would, and records per config: the wall time of
the command, its exit status, the cells run / cached / failed (from the
summary line it prints) and the Markdown of every table its report wrote.
A config whose directory already holds a finished study reuses its cells (that
is the resume contract); pass ``--fresh`` to time it from scratch.

The issue's budget for a quick preset is 10 minutes on the 2-core CPU; the
table marks configs over ``--budget`` seconds. Benchmarks are not tests
(docs/architecture.md, Benchmarks are not tests): this reports times, it asserts nothing.

Usage::

    .venv/bin/python benchmarks/study_presets.py                 # all configs
    .venv/bin/python benchmarks/study_presets.py kim2019_fig3b demo --fresh

Writes ``<out>/study_presets.json`` (atomically, after every config) and
``<out>/study_presets.md``, and prints one line per config.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tfrobust.reports.files import atomic_write_text  # no TensorFlow import

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "studies"
SUMMARY = re.compile(r"(\d+) cells, (\d+) run, (\d+) cached, (\d+) failed, (\d+) skipped")


def tfrobust_command() -> list[str]:
    """The console script next to this interpreter (the project's venv), else ``python -m cli.main``."""
    script = Path(sys.executable).with_name("tfrobust")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli.main"]


def run_config(config: Path, out_dir: Path, *, preset: str, fresh: bool, log: Path) -> dict[str, Any]:
    """Runs one study preset in a subprocess; returns its record (times in seconds)."""
    if fresh and out_dir.exists():
        shutil.rmtree(out_dir)
    command = [*tfrobust_command(), "study", "run", str(config), "--preset", preset, "--out", str(out_dir)]
    start = time.perf_counter()
    with log.open("w") as stream:
        proc = subprocess.run(command, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - start
    text = log.read_text(errors="replace")
    record: dict[str, Any] = {"config": config.stem, "preset": preset, "returncode": proc.returncode,
                              "seconds": round(seconds, 1), "log": str(log)}
    match = SUMMARY.findall(text)
    if match:
        cells, ran, cached, failed, skipped = (int(v) for v in match[-1])
        record.update(cells=cells, ran=ran, cached=cached, failed=failed, skipped=skipped)
    tables = sorted((out_dir / "tables").glob("*.md")) if (out_dir / "tables").is_dir() else []
    record["tables"] = {path.stem: path.read_text() for path in tables}
    return record


def markdown(records: list[dict[str, Any]], budget: float) -> str:
    """A summary table (one row per config) followed by each config's report tables."""
    lines = ["| config | wall (min) | cells | failed | within budget |", "|---|---:|---:|---:|---|"]
    for r in records:
        within = "yes" if r["returncode"] == 0 and r["seconds"] <= budget else "NO"
        lines.append(f"| {r['config']} | {r['seconds'] / 60:.1f} | {r.get('cells', '?')} | "
                     f"{r.get('failed', '?')} | {within} |")
    for r in records:
        lines += ["", f"## {r['config']}", ""]
        for name, table in r["tables"].items():
            lines += [f"### {name}", "", table.strip(), ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", help="config names (default: every configs/studies/*.yaml)")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--runs", default="runs/presets", help="parent directory of the study directories")
    parser.add_argument("--out", default="benchmarks/results", help="where the JSON and Markdown go")
    parser.add_argument("--fresh", action="store_true", help="delete each study directory first")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds allowed per preset")
    args = parser.parse_args()

    names = args.configs or sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    missing = [n for n in names if not (CONFIGS / f"{n}.yaml").exists()]
    if missing:
        parser.error(f"no such study config: {', '.join(missing)} (looked in {CONFIGS})")
    runs, out = ROOT / args.runs, ROOT / args.out
    runs.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for name in names:
        record = run_config(CONFIGS / f"{name}.yaml", runs / name, preset=args.preset, fresh=args.fresh,
                            log=runs / f"{name}.log")
        records.append(record)
        print(f"{name:24s} rc={record['returncode']} {record['seconds']:7.1f} s "
              f"cells={record.get('cells', '?')} failed={record.get('failed', '?')}", flush=True)
        atomic_write_text(out / "study_presets.json", json.dumps(records, indent=2) + "\n")
        atomic_write_text(out / "study_presets.md", markdown(records, args.budget))
    print(f"-> {out / 'study_presets.json'}, {out / 'study_presets.md'}")


if __name__ == "__main__":
    main()
