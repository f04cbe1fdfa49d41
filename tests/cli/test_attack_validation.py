"""``tfrobust attack``: radii beyond float32, NaN models and ``--out`` are one-line errors, checked early.

Uses a tiny untrained toy2d model saved by hand (no training run), so every
test takes about a second.
"""

from __future__ import annotations

import math
import os

import keras
import pandas as pd
import pytest
import yaml

FAST = ["--limit", "40", "--steps", "1", "--batch-size", "40"]


def _run_dir(root, name, bias=0.0):
    run = root / name
    run.mkdir()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
        2, bias_initializer=keras.initializers.Constant(bias))])
    model.save(run / "model.keras")
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"name": "toy2d"}}))
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("attack_validation")
    return {"ok": _run_dir(root, "ok"), "nan": _run_dir(root, "nan", bias=math.nan)}


@pytest.fixture
def no_attack(monkeypatch):
    """Fails the test if an attack starts (the error must come first)."""
    import tfrobust.evaluation as evaluation

    def never(*args, **kwargs):
        raise AssertionError("the attack ran before the options were checked")

    monkeypatch.setattr(evaluation, "robust_accuracy_table", never)


def one_line_error(code, err):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


def test_autoattack_table_with_flags(runs, run_cli, tmp_path):
    """The suite from the command line: a table, the members' breaks and the gradient-masking checks."""
    out = tmp_path / "aa.csv"
    code, text, err = run_cli("attack", "--model", runs["ok"], "--attack", "autoattack", "--option", "version=fast",
                              "--option", "steps=2", "--option", "queries=10", "--norm", "linf", "--eps", "0.05,0.1",
                              "--limit", "24", "--batch-size", "24", "--out", out)
    assert code == 0, err
    table = pd.read_csv(out)
    assert list(table["attack"]) == ["autoattack", "autoattack"]
    assert all(b.startswith("apgd-ce ") and "square " in b for b in table["breaks"])
    checks = pd.read_csv(tmp_path / "aa.checks.csv")
    assert set(checks["check"]) == {"blackbox", "monotone", "chance", "convergence", "zero_gradients"}
    assert ("no flag raised" in text) == (checks["status"] != "raised").all()
    assert "checks         " in text


@pytest.mark.parametrize("args, message", [
    (["--norm", "l2", "--eps", "1e39"], "--eps=1e+39 overflows float32"),
    (["--norm", "linf", "--eps", "0.1,inf"], "--eps must be a finite number"),
    (["--norm", "linf", "--eps", "nan"], "--eps: expected a number"),
    (["--norm", "l2", "--eps", "l2=-1e39"], "--eps must be >= 0"),
    (["--norm", "l2", "--eps", "0.5", "--step-size", "1e300"], "--step-size=1e+300 overflows float32"),
    (["--norm", "l2", "--eps", "0.5", "--step-size", "1e-50"], "--step-size=1e-50 is too small for float32"),
    (["--norm", "l2", "--eps", "1e30"], "too large for the l2 attack"),
    (["--norm", "l2", "--eps", "1e19", "--step-size", "1e19"], "too large for the l2 attack"),
])
def test_radii_and_step_sizes_are_checked_before_attacking(runs, run_cli, no_attack, tmp_path, args, message):
    code, _, err = run_cli("attack", "--model", runs["ok"], *args, *FAST, "--out", tmp_path / "t.csv")
    assert message in one_line_error(code, err)
    assert not (tmp_path / "t.csv").exists()


def test_nan_model_is_an_error_not_a_table(runs, run_cli, tmp_path):
    out = tmp_path / "nan.csv"
    code, text, err = run_cli("attack", "--model", runs["nan"], "--norm", "linf", "--eps", "0.1", *FAST,
                              "--out", out)
    line = one_line_error(code, err)  # the clean pass fails, before any attack (or progress line)
    assert "model produced non-finite logits on 40 of 40 clean images" in line
    assert not out.exists() and "clean" not in text


def test_out_checks_happen_before_the_attack(runs, run_cli, no_attack, tmp_path):
    unrelated = tmp_path / "notes.csv"
    unrelated.write_text("my,own\n1,2\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    cases = [
        (unrelated, "exists and is not a table written by tfrobust attack"),
        (tmp_path / "notes.txt", "exists and is not a directory"),
        (unrelated / "t.csv", "is not a directory"),
    ]
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    cases.append((link, "is a symbolic link"))
    for out, message in cases:
        code, _, err = run_cli("attack", "--model", runs["ok"], "--norm", "linf", "--eps", "0.1", *FAST,
                               "--out", out)
        line = one_line_error(code, err)
        assert message in line and "--out" in line, line
    assert unrelated.read_text() == "my,own\n1,2\n"  # untouched
    assert not (tmp_path / "elsewhere.csv").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_out_in_a_read_only_directory(runs, run_cli, no_attack, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, _, err = run_cli("attack", "--model", runs["ok"], "--norm", "linf", "--eps", "0.1", *FAST,
                               "--out", locked / "sub" / "t.csv")
        assert "no permission to write in" in one_line_error(code, err)
    finally:
        locked.chmod(0o755)


def test_default_out_never_replaces_an_unrelated_file(runs, run_cli, no_attack):
    mine = runs["ok"] / "robust_accuracy.csv"
    mine.write_text("someone else's results\n")
    try:
        code, _, err = run_cli("attack", "--model", runs["ok"], "--norm", "linf", "--eps", "0.1", *FAST)
        assert "robust_accuracy.csv exists and is not a table written by tfrobust attack" in one_line_error(code, err)
        assert mine.read_text() == "someone else's results\n"
    finally:
        mine.unlink()


def test_new_parents_are_created_and_an_earlier_table_is_replaced(runs, run_cli, tmp_path):
    out = tmp_path / "new" / "deeper" / "table.csv"
    for eps in ("0.1", "0.05,0.2"):
        code, _, err = run_cli("attack", "--model", runs["ok"], "--norm", "linf", "--eps", eps, *FAST,
                               "--out", out)
        assert code == 0, err
    table = pd.read_csv(out)
    assert list(table["eps"]) == [0.05, 0.2] and (table["n"] == 40).all()  # the second run's table
    # no temp files left; the gradient-masking checks beside the table
    assert sorted(p.name for p in out.parent.iterdir()) == ["table.checks.csv", "table.csv"]
    checks = pd.read_csv(out.parent / "table.checks.csv")
    assert list(checks.columns) == ["check", "status", "norm", "eps", "figure", "threshold", "message"]
    assert set(checks["status"]) <= {"raised", "passed", "skipped"} and len(checks) >= 4


@pytest.mark.parametrize("args, message", [
    (["--attack", "deepfool"], "'deepfool' is not one of 'apgd', 'autoattack', 'fgsm', 'pgd', 'square'"),
    (["--checks", "blackbox,speed"], "unknown check 'speed'; choose from: all, none, blackbox"),
    (["--attack", "fgsm", "--steps", "3"], "attack 'fgsm' has no option 'steps'; its options: objective"),
    (["--option", "steps=ten"], "option steps of attack 'pgd' must be int, got 'ten'"),
    (["--option", "stepz=3"], "attack 'pgd' has no option 'stepz'"),
    (["--option", "steps"], "--option: write key=value, got 'steps'"),
    (["--option", "steps=3", "--steps", "4"], "--option steps: given twice (also as --steps)"),
    (["--option", "update=nesterov"], "update must be one of steepest, momentum"),
    (["--option", "l2_step=diagonal"], "option l2_step of attack 'pgd' must be one of normalized, sign"),
    (["--l2-step", "diagonal"], "'diagonal' is not one of 'normalized', 'sign'"),
    (["--objective", "hinge"], "'hinge' is not one of 'xent', 'cw'"),
])
def test_attack_and_its_options_are_checked_before_attacking(runs, run_cli, no_attack, tmp_path, args, message):
    code, _, err = run_cli("attack", "--model", runs["ok"], "--norm", "linf", "--eps", "0.1", "--limit", "40",
                           *args, "--out", tmp_path / "t.csv")
    assert message in one_line_error(code, err)
    assert not (tmp_path / "t.csv").exists()


def test_any_registered_attack_and_norm_with_options(runs, run_cli, tmp_path):
    out = tmp_path / "t.csv"
    common = ["--model", runs["ok"], "--eps", "0.1,0.3", "--limit", "40", "--batch-size", "40", "--out", out]
    code, text, err = run_cli("attack", *common, "--attack", "fgsm", "--norm", "l1,linf", "--option", "objective=cw")
    assert code == 0, err
    table = pd.read_csv(out)
    assert (table["attack"] == "fgsm").all() and (table["objective"] == "cw").all() and (table["steps"] == 1).all()
    assert table["step_size"].tolist() == pytest.approx(table["eps"].tolist())  # one step of eps
    assert "fgsm (objective=cw)" in text and "l1 0.3" in text
    code, text, err = run_cli("attack", *common, "--norm", "l2", "--steps", "4", "--option", "update=momentum",
                              "--option", "momentum=0.5")
    assert code == 0, err
    table = pd.read_csv(out)  # the earlier table is replaced
    assert (table["attack"] == "pgd").all() and (table["steps"] == 4).all() and list(table["norm"]) == ["l2", "l2"]
    assert table["step_size"].tolist() == pytest.approx([2.5 * 0.1 / 4, 2.5 * 0.3 / 4])


def test_out_is_a_results_directory(runs, run_cli, tmp_path):
    """--out DIR writes DIR/robust_accuracy.csv and its checks; an unrelated table there is never replaced."""
    out = tmp_path / "results"
    code, _, err = run_cli("attack", "--model", runs["ok"], "--norm", "linf", "--eps", "0.1", *FAST, "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["robust_accuracy.checks.csv", "robust_accuracy.csv"]
    assert list(pd.read_csv(out / "robust_accuracy.csv")["eps"]) == [0.1]
    other = tmp_path / "other"
    other.mkdir()
    (other / "robust_accuracy.csv").write_text("someone else's\n")
    code, _, err = run_cli("attack", "--model", runs["ok"], "--norm", "linf", "--eps", "0.1", *FAST,
                           "--out", other)
    assert "exists and is not a table written by tfrobust attack" in one_line_error(code, err)
    assert (other / "robust_accuracy.csv").read_text() == "someone else's\n"
