"""Reliability: `tfrobust train` SIGKILLed at random moments and re-run ends like an uninterrupted run.

An uninterrupted run (a subprocess) is timed by phase: start-up (data
loading, model building, resuming), each epoch, the final save (model.keras,
saved_model/, metrics.json, the report). Each kill lands at a seeded random
moment, uniform over the work the killed call still has, anchored at the
output line that starts its phase (so machine load shifts it little). After
each kill the same command is re-run; the run that finally completes must
hold the same weights as the uninterrupted run (bit for bit), one
history.csv row per epoch, and no leftover temporary files.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfrobust.training import load_model
from tfrobust.training.run import is_finished_run

ROOT = Path(__file__).resolve().parents[2]


def command(out, epochs, limit):
    return [sys.executable, "-m", "cli.main", "train", "--dataset", "fashion_mnist", "--limit", str(limit),
            "--arch", "linear", "--epochs", str(epochs), "--batch-size", "32", "--seed", "1", "--no-jit",
            "--quiet", "--out", str(out)]


class Child:
    """`tfrobust train` in a subprocess; a thread records its stdout lines with their arrival times."""

    def __init__(self, out, epochs, limit, log):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
               "KERAS_BACKEND": "tensorflow", "TFROBUST_NO_TFDS": "1"}
        self.proc = subprocess.Popen(command(out, epochs, limit), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=log, text=True, start_new_session=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.perf_counter(), line))

    def wait_line(self, prefix, after=False):
        """Arrival time of the first line starting with ``prefix`` (``after``: of the line that follows it);
        None if the process ended without one."""
        while True:
            lines = list(self.lines)
            for i, (when, line) in enumerate(lines):
                if line.startswith(prefix):
                    if not after:
                        return when
                    if i + 1 < len(lines):
                        return lines[i + 1][0]
            if self.proc.poll() is not None and not self.reader.is_alive():
                return None
            time.sleep(0.005)

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.reader.join()

    def finish(self, timeout=300):
        code = self.proc.wait(timeout=timeout)
        self.reader.join()
        return code


def committed(out):
    state = out / "backup" / "state.json"
    return json.loads(state.read_text())["epoch"] if state.exists() else 0


def progress(out):
    """Where a killed run stood: committed epochs and final artifacts present."""
    done = [n for n in ("model.keras", "saved_model", "metrics.json", "report.html") if (out / n).exists()]
    return f"committed epochs {committed(out)}, written {done}, finished {is_finished_run(out)}"


def temporaries(directory):
    return [str(p.relative_to(directory)) for p in directory.rglob(".*")
            if any(mark in p.name for mark in (".tmp", ".old", ".probe"))]


def kill_and_resume(tmp_path, *, kills, epochs, limit, seed):
    log = (tmp_path / "stderr.log").open("a")

    def failed(child):
        return (tmp_path / "stderr.log").read_text()[-2000:] + "".join(line for _, line in child.lines)[-2000:]

    # The uninterrupted run, timed: start-up (after the first line) to fit, each epoch, the final save.
    reference = tmp_path / "uninterrupted"
    child = Child(reference, epochs, limit, log)
    began = child.wait_line("training ")
    fit_began = child.wait_line("Epoch ")
    while child.proc.poll() is None and not is_finished_run(reference):
        time.sleep(0.005)
    done = time.perf_counter()
    assert child.finish() == 0, failed(child)
    last_epoch = max(i for i, (_, line) in enumerate(child.lines) if line.startswith("Epoch "))
    fit_ended = child.lines[last_epoch + 1][0]  # the last epoch's summary line
    setup, per_epoch, final = fit_began - began, (fit_ended - fit_began) / epochs, done - fit_ended
    print(f"uninterrupted: start-up {setup:.2f} s, {per_epoch:.2f} s per epoch, final save {final:.2f} s")

    out = tmp_path / "killed"
    rng = random.Random(seed)
    landed = 0
    for _ in range(kills):
        if is_finished_run(out):
            break
        # A moment drawn uniformly from the work this call still has (as the uninterrupted run timed it),
        # anchored at the line that starts its phase, so that a slower or faster machine shifts it little:
        # start-up (loading, resuming), epoch j ("Epoch j/N"), the final save and report (after the last
        # epoch's summary line; right after start-up when no epoch is left).
        left = committed(out)
        phases = [("training ", False, setup + (final if left == epochs else 0.0))]
        phases += [(f"Epoch {j + 1}/{epochs}", False, per_epoch) for j in range(left, epochs)]
        if left < epochs:
            phases.append((f"Epoch {epochs}/{epochs}", True, final))
        moment = rng.uniform(0.0, sum(d for _, _, d in phases))
        for phase in phases:
            if moment <= phase[2]:
                break
            moment -= phase[2]
        anchor, after, _ = phase
        delay = 0.9 * moment
        child = Child(out, epochs, limit, log)
        child.wait_line(anchor, after)
        time.sleep(delay)
        where = f"{delay:.2f} s after {anchor.strip()!r}{' ended' if after else ''}"
        if child.proc.poll() is None:
            child.kill()
            landed += 0 if is_finished_run(out) else 1  # a kill at exit, after the finish, does not count
            print(f"kill {where}: {progress(out)}")
        else:
            assert child.finish() == 0, failed(child)
            print(f"no kill: the run finished within {where}")
    if not is_finished_run(out):
        child = Child(out, epochs, limit, log)
        assert child.finish() == 0, failed(child)
    log.close()

    assert landed >= 1, "no kill landed before the run finished"
    expected = load_model(reference / "model.keras").get_weights()
    got = load_model(out / "model.keras").get_weights()
    assert len(expected) == len(got)
    for a, b in zip(expected, got):
        assert np.array_equal(a, b)
    assert list(pd.read_csv(out / "history.csv")["epoch"]) == list(range(epochs))
    assert temporaries(out) == []
    assert not (out / "backup").exists()
    for name in ("metrics.json", "report.html", "saved_model/saved_model.pb", "checkpoints/last.weights.h5"):
        assert (out / name).exists(), name
    return landed


def test_train_survives_three_random_kills(tmp_path):
    kill_and_resume(tmp_path, kills=3, epochs=3, limit=256, seed=11)


@pytest.mark.slow
def test_train_survives_ten_random_kills(tmp_path):
    kill_and_resume(tmp_path, kills=10, epochs=6, limit=4096, seed=39)
