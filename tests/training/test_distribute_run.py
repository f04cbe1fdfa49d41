"""One training across devices and workers (``TrainConfig.strategy``, ``tfrobust train --strategy``).

Oracle: a run spread over two replicas (MirroredStrategy over two logical CPUs
in one process, or MultiWorkerMirroredStrategy over two worker processes on
localhost) equals a one-device run with the same global batch within float
rounding, for deterministic methods (standard; adversarial without random
starts: random starts fold in the replica id). Every batch here splits evenly
(64 examples, batch 16, 2 replicas). The runs happen in subprocesses, all
started by one module fixture so that they overlap (logical devices and a
multi-worker strategy must be set up before TensorFlow starts).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tfrobust.config import ConfigError, TrainConfig, train_config_from_dict
from tfrobust.training.distribute import cluster_task, get_strategy

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"data": {"name": "toy2d", "options": {"n_per_class": 32}}, "model": {"arch": "kim_toy_dnn"},
          "optimizer": {"learning_rate": 0.02}, "epochs": 2, "batch_size": 16, "seed": 3, "jit_compile": False}
#: The runs' training methods by label: (method, method options).
METHODS_RUN = {
    "standard": ("standard", {}),
    "adversarial": ("adversarial", {"attack": {"norm": "linf", "eps": 0.1, "steps": 2, "random_start": False}}),
    "random-start": ("adversarial", {"attack": {"norm": "linf", "eps": 0.1, "steps": 2, "random_start": True}}),
}
#: Weights of runs that must be equal agree to this (measured: 6e-8 on CPU; weights are O(0.4)).
ATOL = 1e-5
TIMEOUT = 300

#: argv: a JSON list of [label (METHODS_RUN), strategy, out_dir] runs, the epoch to crash before (-1: none), a log path.
RUN_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    runs, crash, log = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    if any(strategy == "mirrored" for _, strategy, _ in runs):
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tfrobust.config import train_config_from_dict
    from tfrobust.training import train
    sys.path.insert(0, os.path.dirname(sys.argv[4]))
    from test_distribute_run import CONFIG, METHODS_RUN

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == crash:
                raise KeyboardInterrupt(f"crash before epoch {epoch}")

    def finalize(work):  # where this process wrote the run, and what
        with open(log, "a") as f:
            f.write(json.dumps({"work": str(work), "files": sorted(os.listdir(work))}) + "\\n")

    for label, strategy, out in runs:
        method, options = METHODS_RUN[label]
        config = train_config_from_dict({**CONFIG, "method": method, "method_options": options, "strategy": strategy})
        try:
            result = train(config, out, verbose=0, callbacks=[Crash()] if crash >= 0 else [], finalize=finalize,
                           tensorboard=strategy == "multiworker")  # every file a worker writes; else only the runs
        except KeyboardInterrupt as err:
            print("CRASHED", err, flush=True)
            sys.exit(3)
        print("RESULT", json.dumps({"out": out, "metrics": result.metrics, "history": result.history}), flush=True)
    """
)


def _start(runs, *, crash=-1, log, env=None):
    args = [sys.executable, "-c", RUN_SCRIPT, json.dumps([[m, s, str(o)] for m, s, o in runs]), str(crash),
            str(log), __file__]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(out, root, name, *, crash=-1, worker_out=None, random_start_out=None):
    """Two multi-worker processes training ``standard`` into ``out`` (worker 1: into ``worker_out`` when given),
    then ``random-start`` into ``random_start_out`` when given; worker i's TMPDIR is ``root/name-tmpi``."""
    ports = _free_ports(2)
    procs = []
    for index in (0, 1):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        tmp = root / f"{name}-tmp{index}"
        tmp.mkdir(exist_ok=True)
        run_dir = worker_out if index and worker_out is not None else out
        runs = [("standard", "multiworker", run_dir)]
        if random_start_out is not None:
            runs.append(("random-start", "multiworker", random_start_out))
        procs.append(_start(runs, crash=crash,
                            log=root / f"{name}-final{index}.json",
                            env={"TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(tmp)}))
    return procs


def _finish(procs, deadline):
    """(returncode, stdout, stderr) of each process; all are killed if one outlives the deadline."""
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((proc.returncode, out, err))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.communicate()
        pytest.fail(f"a training subprocess ran longer than {TIMEOUT} s")
    return results


def _results(finished):
    """The RESULT records of finished processes that must have succeeded, by out_dir."""
    found = {}
    for code, out, err in finished:
        assert code == 0, err[-3000:]
        for line in out.splitlines():
            if line.startswith("RESULT "):
                record = json.loads(line.removeprefix("RESULT "))
                found.setdefault(record["out"], []).append(record)
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every run of this module; the independent ones in parallel."""
    root = tmp_path_factory.mktemp("distribute")
    started = time.monotonic()
    deadline = started + TIMEOUT
    one_process = [(m, s, root / f"{s}-{m}") for s in ("none", "mirrored") for m in METHODS_RUN
                   if (s, m) != ("none", "random-start")]
    procs = [_start(one_process, log=root / "final.json")]
    procs += _start_workers(root / "workers", root, "workers", random_start_out=root / "workers-random-start")
    procs += _start_workers(root / "resumed", root, "killed", crash=1)
    killed = _finish(procs[3:], deadline)
    for code, _out, err in killed:
        if code != 3:
            for proc in procs[:3]:
                proc.kill()
                proc.communicate()
            pytest.fail(f"the run to kill ended with status {code}, not in its crash: {err[-3000:]}")
    shutil.copytree(root / "resumed", root / "unshared")  # the killed run, for workers that do not share it
    procs += _start_workers(root / "resumed", root, "resumed")
    unshared = _start_workers(root / "unshared", root, "unshared", worker_out=root / "elsewhere")
    finished = _finish(procs[:3] + procs[5:], deadline)
    print(f"distributed runs took {time.monotonic() - started:.0f} s")
    return {"root": root, "results": _results(finished), "killed": killed, "unshared": _finish(unshared, deadline)}


def weights(run_dir):
    from tfrobust.training import load_model

    return [w.numpy() for w in load_model(Path(run_dir) / "model.keras").weights]


def max_difference(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(weights(a), weights(b), strict=True))


def record(run_dir):
    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text())


# ------------------------------------------------------------- validation
def test_strategy_is_validated_with_one_line():
    assert TrainConfig().strategy == "none"
    assert train_config_from_dict({"strategy": "mirrored"}).strategy == "mirrored"
    for bad in ("gpu", "", None, 2):
        with pytest.raises(ConfigError, match=r"^strategy must be one of none, mirrored, multiworker, got") as err:
            TrainConfig(strategy=bad)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("tf_config, match", [
    (None, "TF_CONFIG is not set"),
    ("{cluster", "TF_CONFIG is not JSON"),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "non-empty host:port lists"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
     "one chief and workers only"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "an index in it"),
    ('{"cluster": {"worker": ["a:1"]}}', "its task must name a job"),
])
def test_bad_tf_config_is_one_line(tf_config, match):
    environ = {} if tf_config is None else {"TF_CONFIG": tf_config}
    with pytest.raises(ConfigError, match=match) as err:
        cluster_task(environ)
    assert "\n" not in str(err.value) and str(err.value).startswith("--strategy multiworker needs TF_CONFIG")


def test_tf_config_names_the_task():
    text = '{"cluster": {"chief": ["c:1"], "worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    assert cluster_task({"TF_CONFIG": text}) == ({"chief": ["c:1"], "worker": ["a:1", "b:2"]}, "worker", 1)


def test_multiworker_without_tf_config_is_refused_before_tensorflow_starts(monkeypatch, run_cli, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG is not set"):
        get_strategy("multiworker")
    code, out, err = run_cli("train", "--dataset", "toy2d", "--arch", "kim_toy_dnn", "--strategy", "multiworker",
                             "--out", tmp_path / "run")
    assert code != 0 and "TF_CONFIG is not set" in err and not (tmp_path / "run").exists()
    code, out, _ = run_cli("train", "--help")
    assert code == 0 and "--strategy [none|mirrored|multiworker]" in out


# --------------------------------------------------------- equal results
def test_one_device_record_leaves_the_strategy_out(runs):
    """Runs of the default strategy record no ``strategy`` or ``replicas``: their config hash is what it was
    before the field existed, so their unfinished runs still resume."""
    values = record(runs["root"] / "none-standard")
    assert "strategy" not in values and "replicas" not in values["resolved"]
    assert train_config_from_dict(values).strategy == "none"


@pytest.mark.parametrize("method", ["standard", "adversarial"])
def test_mirrored_run_equals_one_device_run(runs, method):
    one, mirrored = runs["root"] / f"none-{method}", runs["root"] / f"mirrored-{method}"
    assert max_difference(one, mirrored) < ATOL
    a, b = runs["results"][str(one)][0], runs["results"][str(mirrored)][0]
    np.testing.assert_allclose(b["history"]["loss"], a["history"]["loss"], atol=ATOL)
    assert a["history"]["loss"][1] < a["history"]["loss"][0]  # it trained
    np.testing.assert_allclose(b["metrics"]["test_loss"], a["metrics"]["test_loss"], atol=ATOL)
    values = record(mirrored)
    assert values["strategy"] == "mirrored" and values["resolved"]["replicas"] == 2


def test_two_workers_equal_one_process_and_only_the_chief_writes(runs):
    root = runs["root"]
    out = root / "workers"
    assert max_difference(root / "none-standard", out) < ATOL
    chief, worker = runs["results"][str(out)]  # one RESULT per worker process
    one = runs["results"][str(root / "none-standard")][0]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):  # reduced over all replicas: the same everywhere
        assert chief["history"][key] == worker["history"][key], key
        np.testing.assert_allclose(chief["history"][key], one["history"][key], atol=ATOL, err_msg=key)
    values = record(out)
    assert values["strategy"] == "multiworker" and values["resolved"]["replicas"] == 2
    expected = ["checkpoints", "config.yaml", "history.csv", "logs", "metrics.json", "model.keras", "saved_model"]
    assert sorted(os.listdir(out)) == expected
    final = [json.loads((root / f"workers-final{i}.json").read_text().splitlines()[0]) for i in (0, 1)]
    assert final[0]["work"] == str(out)
    assert Path(final[1]["work"]).parent.parent == root / "workers-tmp1"  # the non-chief wrote its own copy ...
    assert "model.keras" in final[1]["files"] and "saved_model" in final[1]["files"]
    assert os.listdir(root / "workers-tmp1") == []  # ... and removed it


def test_two_workers_draw_what_two_mirrored_replicas_draw(runs):
    """PGD's random starts fold in the replica id: two workers and two replicas in one process draw the same."""
    root = runs["root"]
    assert max_difference(root / "mirrored-random-start", root / "workers-random-start") < ATOL
    assert max_difference(root / "mirrored-random-start", root / "mirrored-adversarial") > 100 * ATOL  # it drew


def test_killed_multiworker_run_resumes_after_its_last_epoch(runs):
    root = runs["root"]
    for code, out, err in runs["killed"]:
        assert code == 3 and "CRASHED crash before epoch 1" in out, err[-3000:]
    out = root / "resumed"
    for result in runs["results"][str(out)]:
        assert result["metrics"]["epochs_run_in_this_call"] == 1  # epoch 0 came from the backup
        assert len(result["history"]["loss"]) == 2
    assert max_difference(root / "none-standard", out) < ATOL
    assert not (out / "backup").exists() and (out / "metrics.json").is_file()
    assert os.listdir(root / "killed-tmp1") == [] and os.listdir(root / "resumed-tmp1") == []


def test_workers_that_do_not_share_the_run_directory_are_refused(runs):
    """The chief resumes after epoch 1, a worker that cannot see the chief's directory would start over:
    every worker stops with one line instead of training out of step."""
    for code, out, err in runs["unshared"]:
        assert code != 0 and "RESULT" not in out
        assert "ValueError: the workers disagree on the number of finished epochs to resume after" in err, err[-3000:]
    assert not (runs["root"] / "elsewhere").exists() and not (runs["root"] / "unshared" / "model.keras").exists()
    assert os.listdir(runs["root"] / "unshared-tmp1") == []  # the worker's temporary directory went with it


def test_cli_strategy_reaches_the_run(run_cli, tmp_path):
    """``tfrobust train --strategy mirrored`` (one logical CPU in this process: one replica) trains and records it."""
    code, out, err = run_cli("train", "--dataset", "toy2d", "--arch", "kim_toy_dnn", "--limit", "32", "--epochs", "1",
                             "--batch-size", "16", "--strategy", "mirrored", "--no-tensorboard", "--quiet",
                             "--out", tmp_path / "run")
    assert code == 0, err
    values = record(tmp_path / "run")
    assert values["strategy"] == "mirrored" and values["resolved"]["replicas"] == 1
    assert (tmp_path / "run" / "model.keras").is_file()


def test_study_train_stage_takes_mirrored_and_refuses_multiworker():
    from tfrobust.registry import KINDS
    from tfrobust.studies.kinds.train import check_params, train_config_values

    assert {o.name: o.default for o in KINDS["train"].options}["strategy"] == "none"
    params = {"method": "standard", "strategy": "mirrored"}
    check_params(params)
    assert train_config_from_dict(train_config_values(params)).strategy == "mirrored"
    with pytest.raises(ConfigError, match="^strategy: multiworker is not supported in a study") as err:
        check_params({**params, "strategy": "multiworker"})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("examples, batch_size, replicas, uneven", [
    (64, 16, 2, None), (70, 16, 2, None), (64, 16, 1, None), (64, 15, 2, "batch_size 15"),
    (65, 16, 2, r"the last batch of an epoch \(1\)"), (66, 16, 4, r"the last batch of an epoch \(2\)"),
])
def test_batches_that_do_not_split_evenly_are_warned_about(examples, batch_size, replicas, uneven):
    import warnings

    from tfrobust.training.run import _warn_uneven_batches

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _warn_uneven_batches(examples, batch_size, replicas)
    if uneven is None:
        assert not caught
    else:
        assert len(caught) == 1 and "does not split evenly" in str(caught[0].message)
        assert re.match(uneven, str(caught[0].message))
