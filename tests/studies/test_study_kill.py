"""Reliability: `tfrobust study run` SIGKILLed at seeded random moments, re-run until it completes.

Each killed run is a real ``python -m cli.main study run`` process (TensorFlow
and all) on cheap cells (the 2-D toy and Tsipras's linear study on tiny
settings). The kill moment is seeded: after the m-th "running" or "done in"
line of the run (m random, kept small enough that every planned kill still
finds a cell to interrupt), plus a random delay. After every kill and at the
end the test checks:

- no cell that the ledger had as done before a run is started again by it
  (nothing finished is ever recomputed);
- no temp file (nor SQLite journal) is left anywhere in the study directory;
- ``results.csv`` is byte-identical to that of an uninterrupted run.
"""

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tfrobust.reports.files import is_temp_name
from tfrobust.reports.frame import read_ledger

ROOT = Path(__file__).parents[2]
LINE = re.compile(r"^\[\d+/\d+\] (\S+): (running|done in|done \(recovered)")


def study(seeds):
    return {
        "name": "killed",
        "grid": {"seed": list(seeds)},
        "stages": [
            {"name": "toy", "kind": "toy", "over": [],
             "params": {"eps": [0, 0.5], "epochs": 2, "n": 100, "steps": 3, "batch_size": 50, "seed": 0}},
            {"name": "linear", "kind": "tsipras", "over": ["seed"],
             "params": {"d": 20, "n_train": 300, "n_test": 300, "epochs": 2, "batch_size": 100,
                        "attack_steps": 2, "theorem": False, "seed": "${seed}"}},
        ],
        "report": {"items": [
            {"type": "table", "name": "accuracy", "stages": ["linear"],
             "columns": ["linear.standard_accuracy_standard", "linear.adversarial_accuracy_adversarial"]},
            {"type": "cell_figure", "name": "toy", "stage": "toy", "file": "toy.png"},
        ]},
    }


def env():
    return {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
            "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def start(config, out, log):
    with open(log, "w") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "cli.main", "study", "run", str(config), "--out", str(out)],
                                stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT, env=env())


def events(log):
    """(cell id, event) per progress line of a run's output."""
    text = log.read_text() if log.exists() else ""
    return [m.groups() for m in map(LINE.match, text.splitlines()) if m]


def done_cells(out):
    return {c["id"] for c in read_ledger(out)[1] if c["status"] == "done"}


def wait_for(proc, log, event, count, timeout=120.0):
    """Waits until the run printed ``count`` lines of ``event``; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(e == event for _, e in events(log)) >= count:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise AssertionError(f"no {event!r} line #{count} within {timeout} s:\n{log.read_text()}")


def leftovers(out):
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if is_temp_name(p.name) or p.name.startswith(".") or p.name.endswith(("-journal", "-wal")))


def kill_and_resume(tmp_path, *, seeds, kills, seed, max_delay):
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(study(seeds), sort_keys=False))
    cells = 1 + len(seeds)
    reference = tmp_path / "reference"
    uninterrupted = start(config, reference, tmp_path / "reference.log")  # meanwhile, on the other core
    try:
        plan = _kill_until_done(tmp_path, config, cells, kills=kills, seed=seed, max_delay=max_delay)
        assert uninterrupted.wait(timeout=300) == 0, (tmp_path / "reference.log").read_text()
    finally:
        if uninterrupted.poll() is None:
            uninterrupted.kill()
            uninterrupted.wait()
    out = tmp_path / "killed"
    assert done_cells(out) == done_cells(reference) and len(done_cells(out)) == cells
    assert leftovers(out) == [], f"temp files left: {leftovers(out)}"
    assert (out / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()
    assert (out / "report.html").is_file() and (out / "figures" / "toy__toy.png").is_file()
    return plan


def _kill_until_done(tmp_path, config, cells, *, kills, seed, max_delay):
    """Runs the study into tmp_path/killed, SIGKILLing ``kills`` runs, until one completes; returns the plan."""
    out = tmp_path / "killed"
    rng = random.Random(seed)
    plan, killed, run = [], 0, 0
    done: set[str] = set()
    finished: Counter[str] = Counter()  # "done in" lines per cell, over all runs
    while True:
        run += 1
        log = tmp_path / f"run{run}.log"
        left = kills - killed
        remaining = cells - len(done)
        proc = start(config, out, log)
        try:
            if left:
                # the m-th "running" line leaves m - 1 more cells done, "done in" m: keep one cell per later kill
                event = rng.choice(["running", "done in"]) if remaining - left >= 1 else "running"
                most = remaining - (left - 1) - (event == "done in")
                m, delay = rng.randint(1, max(1, most)), rng.uniform(0.0, max_delay)
                plan.append((event, m, round(delay, 3)))
                if wait_for(proc, log, event, m):
                    time.sleep(delay)
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL)
                        killed += 1
            code = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        started = [c for c, e in events(log) if e == "running"]
        finished.update(c for c, e in events(log) if e == "done in")
        context = f"seed {seed}, plan {plan}, run {run}:\n{log.read_text()}"
        assert not set(started) & done, f"finished cells recomputed ({set(started) & done}); {context}"
        now = done_cells(out)
        assert done <= now, context
        done = now
        assert max(finished.values(), default=0) <= 1, f"a cell finished twice ({finished}); {context}"
        if code == 0:
            break
        assert code == -signal.SIGKILL, context
        assert run <= kills + 3, f"the study does not complete; {context}"
    assert killed == kills, f"only {killed} of {kills} kills landed; seed {seed}, plan {plan}"
    return plan


def test_study_survives_three_kills(tmp_path):
    kill_and_resume(tmp_path, seeds=[0, 1], kills=3, seed=20240611, max_delay=0.8)


@pytest.mark.slow
def test_study_survives_many_kills(tmp_path):
    kill_and_resume(tmp_path, seeds=list(range(8)), kills=12, seed=7, max_delay=1.0)
