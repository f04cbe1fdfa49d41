"""CLI: `tfrobust study run/status/report`, end to end on a tiny real train -> attack, and bad input."""

import csv

import pytest
import yaml

from tests.cli.test_saliency_cli import write_idx
from tfrobust.studies import KINDS


def test_run_status_report_train_then_attack(tmp_path, run_cli):
    data_dir = write_idx(tmp_path / "mnist")
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump({
        "name": "tiny",
        "grid": {"seed": [0, 1]},
        "presets": {"quick": {"attack": {"eps": [0.1]}}},
        "stages": [
            {"name": "train", "kind": "train",
             "params": {"data": {"name": "mnist", "data_dir": str(data_dir), "bounds": [-1, 1]},
                        "model": {"arch": "linear"}, "epochs": 1, "batch_size": 8, "seed": "${seed}"}},
            {"name": "attack", "kind": "attack", "needs": ["train"],
             "params": {"norms": "l2,linf", "eps": [0.1, 0.5], "options": {"steps": 2}, "limit": 6,
                        "batch_size": 4}},
        ],
    }))
    out = tmp_path / "out"
    code, text, err = run_cli("study", "run", config, "--out", out, "--preset", "quick", "--shard", "0/1")
    assert code == 0, err
    assert "[4/4] attack__seed-1: done" in text and "4 cells, 4 run, 0 cached" in text
    assert (out / "cells/train__seed-0/model.keras").is_file()
    assert (out / "cells/attack__seed-1/robust_accuracy.csv").is_file()
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ["train__seed-0", "train__seed-1", "attack__seed-0", "attack__seed-1"]
    attack = rows[2]
    assert attack["seed"] == "0" and attack["n"] == "6"
    assert 0 <= float(attack["robust_linf_0.1"]) <= float(attack["clean_accuracy"]) <= 1
    assert float(rows[0]["test_accuracy"]) >= 0 and rows[0]["robust_l2_0.1"] == ""

    code, text, err = run_cli("study", "run", config, "--out", out, "--preset", "quick", "--quiet")
    assert code == 0, err
    assert text.strip().splitlines() == ["study tiny: 4 cells, 0 run, 4 cached, 0 failed, 0 skipped",
                                         f"report: {out / 'report.html'}"]
    assert "attack__seed-1" in (out / "report.html").read_text()

    code, text, err = run_cli("study", "status", out)
    assert code == 0, err
    assert "study tiny (preset quick): 4 cells" in text and "done     4" in text

    (out / "results.csv").unlink()
    code, text, err = run_cli("study", "report", out)
    assert code == 0, err
    assert "attack__seed-1" in text and (out / "results.csv").is_file()
    assert text.strip().splitlines()[-1] == f"report         {out / 'report.html'}"


def fail_on_odd(deps, out_dir, *, k: int):
    """Fails for odd k."""
    if k % 2:
        raise ValueError(f"odd k={k}")
    return {"k": k}


@pytest.fixture
def odd_kind():
    KINDS.add("odd", fail_on_odd)
    yield
    KINDS.remove("odd")


def test_failed_cells_exit_1_and_status_lists_them(tmp_path, run_cli, odd_kind):
    config = tmp_path / "s.yaml"
    config.write_text("name: odd\ngrid: {k: [1, 2]}\nstages:\n"
                      "  - {name: s, kind: odd, params: {k: '${k}'}}\n"
                      "  - {name: t, kind: odd, needs: [s], params: {k: 0}}\n")
    code, text, err = run_cli("study", "run", config, "--out", tmp_path / "o", "--quiet")
    assert code == 1
    assert err.strip() == f"error: 1 cell(s) failed, 1 skipped; see `tfrobust study status {tmp_path / 'o'}`"
    code, text, err = run_cli("study", "status", tmp_path / "o")
    assert code == 0
    assert "failed   s__k-1: ValueError: odd k=1" in text
    assert "skipped  t__k-1: dependency s__k-1 failed" in text
    code, text, err = run_cli("study", "report", tmp_path / "o")
    assert code == 0 and "s__k-2" in text and "s__k-1" not in text


def test_bad_input_is_one_line_exit_2(tmp_path, run_cli):
    config = tmp_path / "s.yaml"
    config.write_text("name: x\ngrid: {k: [1]}\nstages:\n  - {name: s, kind: train, params: {}}\n")
    cases = [
        (("study", "run", tmp_path / "missing.yaml", "--out", tmp_path / "o"), "cannot read config"),
        (("study", "run", config, "--out", tmp_path / "o", "--preset", "quick"), "unknown preset 'quick'"),
        (("study", "run", config, "--out", tmp_path / "o", "--shard", "2/2"), "--shard must be i/n"),
        (("study", "status", tmp_path / "nowhere"), "no study ledger"),
        (("study", "report", tmp_path / "nowhere"), "no study ledger"),
    ]
    for args, message in cases:
        code, text, err = run_cli(*args)
        assert code == 2, args
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    config.write_text("name: x\nstages:\n  - {name: s, kind: trian}\n")
    code, text, err = run_cli("study", "run", config, "--out", tmp_path / "o")
    assert code == 2 and "stages.s.kind: unknown kind 'trian'" in err
    assert not (tmp_path / "o").exists()
