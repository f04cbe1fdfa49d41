"""CLI: adversarial training and the attack table, end to end on toy2d."""

import pandas as pd
import pytest
import yaml

TOY = ["--dataset", "toy2d", "--arch", "kim_toy_dnn", "--batch-size", "64", "--lr", "0.02", "--seed", "0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from cli.main import main

    root = tmp_path_factory.mktemp("adv")
    main(["train", *TOY, "--epochs", "2", "--quiet", "--out", str(root / "std")])
    main(["train", *TOY, "--epochs", "2", "--quiet", "--method", "adversarial", "--norm", "l2",
          "--eps", "0.02", "--steps", "5", "--robust-eval", "300", "--out", str(root / "at")])
    return root


def test_adversarial_run_records_its_attack(runs):
    config = yaml.safe_load((runs / "at" / "config.yaml").read_text())
    assert config["method"] == "adversarial"
    attack = config["resolved"]["attack"]
    assert attack["norm"] == "l2" and attack["eps"] == 0.02 and attack["steps"] == 5
    assert attack["bounds"] == [-1.0, 1.0] and attack["step_size"] == pytest.approx(0.01)
    history = pd.read_csv(runs / "at" / "history.csv")
    assert {"clean_accuracy", "val_robust_accuracy"} <= set(history.columns)


def test_attack_table_for_both_models(runs, run_cli):
    results: dict = {}
    for name in ("std", "at"):
        code, out, err = run_cli("attack", "--model", runs / name, "--norm", "l2,linf", "--eps", "0.01,0.03",
                                 "--steps", "10", "--restarts", "2", "--limit", "600")
        assert code == 0, err
        assert "clean" in out and "l2 0.03" in out and "linf 0.01" in out and "worst case" in out
        table = pd.read_csv(runs / name / "robust_accuracy.csv")
        assert len(table) == 4 and set(table["norm"]) == {"l2", "linf"}
        assert (table["n"] == 600).all() and (table["dataset"] == "toy2d").all()
        rows = table.set_index(["norm", "eps"])
        assert (rows["robust_accuracy_mean"] <= rows["clean_accuracy"]).all()
        results[name] = rows["robust_accuracy_mean"]
    assert results["at"].between(0, 1).all() and results["std"].between(0, 1).all()


@pytest.mark.parametrize("args, message", [
    (["--norm", "l3", "--eps", "0.1"], "norm"),
    (["--norm", "l2", "--eps", "-0.1"], "eps"),
    (["--norm", "l2", "--eps", "abc"], "eps"),
    (["--norm", "l2", "--eps", "0.1", "--restarts", "0"], "restarts"),
    (["--norm", "l2", "--eps", "0.1", "--dataset", "fashion_mnist"], "inputs"),
    (["--norm", "l2,linf", "--eps", "l2=0.1"], "no radius for linf"),
    (["--norm", "l2", "--eps", "linf=0.1"], "names a norm"),
])
def test_attack_bad_input(runs, run_cli, args, message):
    code, _, err = run_cli("attack", "--model", runs / "std", *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err


def test_attack_with_radii_per_norm(runs, run_cli, tmp_path):
    out = tmp_path / "table.csv"
    code, text, err = run_cli("attack", "--model", runs / "at", "--norm", "l2,linf", "--eps", "l2=0.02,0.05",
                              "--eps", "linf=0.01", "--steps", "3", "--limit", "200", "--out", out)
    assert code == 0, err
    table = pd.read_csv(out)
    assert list(zip(table["norm"], table["eps"])) == [("l2", 0.02), ("l2", 0.05), ("linf", 0.01)]
    assert "l2 0.05" in text and "linf 0.01" in text


def test_adversarial_flags_need_the_adversarial_method(tmp_path, run_cli):
    code, _, err = run_cli("train", *TOY, "--eps", "0.1", "--out", tmp_path / "x")
    assert code == 2 and "adversarial" in err
    code, _, err = run_cli("train", *TOY, "--method", "adversarial", "--norm", "l2", "--out", tmp_path / "y")
    assert code == 2 and "--eps" in err and len(err.strip().splitlines()) == 1
