"""CLI: ``toy`` (tfrobust theory toy) writes tilt.csv and toy.png; bad input is one line."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from cli.theory_toy import toy


def test_toy_writes_table_and_figure(tmp_path):
    out = tmp_path / "toy"
    result = CliRunner().invoke(toy, ["--eps", "0,0.5", "--epochs", "2", "--n", "100", "--steps", "2",
                                      "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out / "tilt.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["train_eps"]) for r in rows] == [0.0, 0.5]
    assert {"tilt_degrees", "clean_accuracy", "robust_accuracy", "attack_eps"} <= set(rows[0])
    assert all(float(r["attack_eps"]) == 1.0 for r in rows)
    assert (out / "toy.png").read_bytes()[:4] == b"\x89PNG"
    assert "tilt (deg)" in result.output and "tilt.csv" in result.output


@pytest.mark.parametrize("args, message", [
    (["--eps", "0,-0.25"], "--eps"),
    (["--eps", "0,abc"], "--eps"),
    (["--eps", "0,,0.5"], "--eps"),
    (["--eps", "0.5,0.5"], "duplicate"),
    (["--attack-eps", "-1"], "--attack-eps"),
    (["--epochs", "0"], "--epochs"),
    (["--n", "0"], "--n"),
])
def test_toy_bad_input_is_one_line(tmp_path, args, message):
    result = CliRunner().invoke(toy, [*args, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "x").exists()


def test_toy_needs_out():
    result = CliRunner().invoke(toy, [])
    assert result.exit_code != 0 and "--out" in result.output
