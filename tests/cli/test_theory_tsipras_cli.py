"""CLI: ``tsipras`` (the ``theory tsipras`` command) writes its CSVs and rejects bad values in one line."""

import pandas as pd
import pytest
from click.testing import CliRunner

from cli.theory_tsipras import tsipras

SMALL = ["--d", "900", "--eta", "0.1", "--n-train", "3000", "--n-test", "2000", "--epochs", "4"]


@pytest.fixture
def run_theory(run_cli, monkeypatch):
    """``run_cli`` with the command mounted on the main group (the ``theory`` group is wired elsewhere)."""
    from cli.main import tfrobust

    monkeypatch.setitem(tfrobust.commands, "tsipras", tsipras)
    return lambda *args: run_cli("tsipras", *args)


def test_tsipras_writes_both_csvs(tmp_path):
    result = CliRunner().invoke(tsipras, [*SMALL, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "robust feature sign(x_1)" in out and "averaged sign(sum x_i)" in out and "Theorem 2.1" in out
    assert "55/55 hold exactly" in out
    rows = pd.read_csv(tmp_path / "run" / "tsipras.csv")
    assert list(rows["training"]) == ["standard", "adversarial"]
    assert {"d", "eta", "p", "eps", "standard_accuracy", "adversarial_accuracy", "theorem_bound",
            "robust_weight", "nonrobust_weight_mean_abs"} <= set(rows.columns)
    rows = rows.set_index("training")
    assert list(rows["eps"]) == pytest.approx([0.2, 0.2]) and (rows["d"] == 900).all()
    assert rows.loc["standard", "standard_accuracy"] > 0.97 > 0.03 > rows.loc["standard", "adversarial_accuracy"]
    assert rows.loc["adversarial", "adversarial_accuracy"] == pytest.approx(0.7, abs=0.04)
    grid = pd.read_csv(tmp_path / "run" / "theorem.csv")
    assert len(grid) == 55 and grid["holds"].all() and grid["population_holds"].all()


@pytest.mark.parametrize("args, message", [
    (["--p", "0.5"], "--p"),
    (["--p", "1.2"], "--p"),
    (["--p", "abc"], "--p"),
    (["--eta", "0"], "--eta"),
    (["--eta", "-0.1"], "--eta"),
    (["--d", "0"], "--d"),
    (["--eps", "-0.1"], "--eps"),
    (["--epochs", "0"], "--epochs"),
])
def test_tsipras_bad_input_is_one_line(run_theory, tmp_path, args, message):
    code, _, err = run_theory(*args, "--out", tmp_path / "bad")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert not (tmp_path / "bad").exists()


def test_tsipras_bad_input_standalone(tmp_path):
    result = CliRunner().invoke(tsipras, ["--p", "0.4", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "Invalid value for --p" in result.output and "(0.5, 1)" in result.output


def test_tsipras_requires_out():
    result = CliRunner().invoke(tsipras, [])
    assert result.exit_code == 2 and "--out" in result.output
