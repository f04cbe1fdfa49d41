"""Training run report: curves PNG and summary page from a run's saved files (no TensorFlow, no training)."""

import json

import pandas as pd
import pytest
import yaml

from tfrobust.reports import plot_history, write_training_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(root, *, history=True):
    root.mkdir(parents=True)
    (root / "metrics.json").write_text(json.dumps({"test_accuracy": 0.87654, "test_examples": 20,
                                                   "train_examples": 100}))
    (root / "config.yaml").write_text(yaml.safe_dump({"model": {"arch": "tiny_cnn"}, "data": {"name": "fmnist"},
                                                      "method": "standard"}))
    if history:
        pd.DataFrame({"epoch": [0, 1, 2], "loss": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.7, 0.8],
                      "val_loss": [1.1, 0.7, 0.5], "val_accuracy": [0.45, 0.65, 0.75]}).to_csv(root / "history.csv",
                                                                                             index=False)
    return root


def test_report_has_curves_and_facts(tmp_path):
    run = make_run(tmp_path / "run")
    page = write_training_report(run)
    assert page == run / "report.html"
    text = page.read_text()
    assert "<b>tiny_cnn</b> on <b>fmnist</b>, method standard: test accuracy <b>0.8765</b> on 20" in text
    assert "curves.png" in text and "val_accuracy" in text
    assert (run / "curves.png").read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "curves.png", "history.csv", "metrics.json",
                                                     "report.html"]  # no temp file left


def test_report_without_history_draws_nothing(tmp_path):
    run = make_run(tmp_path / "run", history=False)
    text = write_training_report(run).read_text()
    assert "Learning curves" not in text and not (run / "curves.png").exists()


def test_unfinished_run_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        write_training_report(tmp_path / "run")


def test_plot_history_without_epoch_column(tmp_path):
    out = plot_history(pd.DataFrame({"loss": [0.9, 0.5], "accuracy": [0.6, 0.8]}), tmp_path / "c.png")
    assert out.read_bytes()[:8] == PNG_MAGIC and sorted(p.name for p in tmp_path.iterdir()) == ["c.png"]
