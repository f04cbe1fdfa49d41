"""Readable training report (issue 17.7): named lines, a robust-accuracy panel, regularizer panels, scrolling tables."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
import pytest
import yaml

from tfrobust.reports.training import curve_panels, history_figure, write_training_report

TOY = ["--dataset", "toy2d", "--arch", "kim_toy_dnn", "--batch-size", "16", "--lr", "0.02", "--seed", "0",
       "--limit", "48", "--epochs", "2", "--quiet", "--no-tensorboard"]


@pytest.fixture(scope="module")
def adversarial_run(tmp_path_factory):
    """A real adversarial run on 48 toy2d points, 2 epochs, with val_robust_accuracy (CLI --robust-eval)."""
    from cli.main import main

    out = tmp_path_factory.mktemp("readable") / "at"
    main(["train", *TOY, "--method", "adversarial", "--norm", "l2", "--eps", "0.05", "--steps", "2",
          "--robust-eval", "32", "--out", str(out)])
    return out


def _legends(fig):
    return {ax.get_title(): [t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes}


def test_adversarial_run_names_its_lines_and_plots_robust_accuracy(adversarial_run):
    history = pd.read_csv(adversarial_run / "history.csv")
    config = yaml.safe_load((adversarial_run / "config.yaml").read_text())
    assert {"loss", "accuracy", "clean_accuracy", "val_accuracy", "val_robust_accuracy"} <= set(history.columns)
    legends = _legends(history_figure(history, config))
    assert list(legends) == ["Loss", "Accuracy", "Robust accuracy"]
    assert legends["Accuracy"] == ["adversarial (training batches)", "clean (training batches)", "clean (test)"]
    assert legends["Loss"] == ["adversarial (training batches)", "clean (training batches)", "clean (test)"]
    assert legends["Robust accuracy"] == ["clean (test)", "adversarial (test, l2 eps=0.05)"]
    robust = next(p for p in curve_panels(history, config) if p.title == "Robust accuracy")
    assert [line.column for line in robust.lines] == ["val_accuracy", "val_robust_accuracy"]


def test_adversarial_report_page(adversarial_run):
    text = write_training_report(adversarial_run).read_text()
    assert (adversarial_run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "<li>adversarial (training batches): <code>accuracy</code></li>" in text
    assert "<li>clean (test): <code>val_accuracy</code></li>" in text

    class Tables(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parents: list[str | None] = []
            self.last: str | None = None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.parents.append(self.last)
            self.last = f"{tag}.{dict(attrs).get('class')}"

    parser = Tables()
    parser.feed(text)
    assert parser.parents == ["div.scroll", "div.scroll"]  # history and metrics tables scroll in their box
    assert ".scroll{overflow-x:auto" in text


def _history(**columns):
    base = {"epoch": [0, 1, 2], "loss": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.7, 0.8], "val_loss": [1.1, 0.7, 0.5],
            "val_accuracy": [0.45, 0.65, 0.75], "images_per_second": [10.0, 20.0, 30.0],
            "train_seconds": [1.0, 1.0, 1.0]}
    base.update(columns)
    return pd.DataFrame(base)


def _spec(history, config=None):
    return [(p.title, [(line.column, line.label) for line in p.lines]) for p in curve_panels(history, config)]


def test_trades_panels_name_penalty_and_kl():
    history = _history(trades_penalty=[0.6, 0.3, 0.2], trades_kl=[0.1, 0.05, 0.03])
    assert _spec(history, {"method": "trades"}) == [
        ("Loss", [("loss", "clean (training batches), CE + TRADES penalty"), ("val_loss", "clean (test)")]),
        ("Accuracy", [("accuracy", "clean (training batches)"), ("val_accuracy", "clean (test)")]),
        ("Regularizer terms", [("trades_penalty", "trades_penalty"), ("trades_kl", "trades_kl")])]


def test_ir_panels_split_penalty_norms_and_cosines():
    history = _history(ir_penalty=[1.0, 0.5, 0.2], target_cosine=[0.1, 0.3, 0.5],
                       label_jacobian_norm=[3.0, 2.0, 1.0], jacobian_other_norm=[4.0, 3.0, 2.0])
    spec = dict(_spec(history, {"method": "ir", "model_selection": "best_validation"}))
    assert list(spec) == ["Loss", "Accuracy", "Regularizer terms", "Jacobian norms", "Target cosine"]
    assert spec["Loss"][0] == ("loss", "clean (training batches), CE + penalty")
    assert spec["Accuracy"][1] == ("val_accuracy", "clean (validation, held out of train)")
    assert [c for c, _ in spec["Jacobian norms"]] == ["label_jacobian_norm", "jacobian_other_norm"]
    assert spec["Regularizer terms"] == [("ir_penalty", "ir_penalty")]
    assert spec["Target cosine"] == [("target_cosine", "target_cosine")]


def test_partly_adversarial_batches_and_missing_columns():
    history = _history(clean_accuracy=[0.6, 0.8, 0.9], val_robust_accuracy=[float("nan")] * 3)
    spec = dict(_spec(history, {"method": "adversarial", "method_options": {"adversarial_fraction": 0.5}}))
    assert spec["Accuracy"][0] == ("accuracy", "training batches (50% adversarial)")
    assert "Robust accuracy" not in spec  # an all-missing column draws no panel
    assert all("seconds" not in c for lines in spec.values() for c, _ in lines)  # timings are no curves
    assert dict(_spec(history))["Accuracy"][0] == ("accuracy", "adversarial (training batches)")  # from columns


def test_ensemble_and_unknown_columns_get_their_own_panels():
    history = _history(m0_loss=[1.0, 0.5, 0.3], m0_accuracy=[0.5, 0.6, 0.7], custom_metric=[1.0, 2.0, 3.0])
    spec = dict(_spec(history, {"method": "ensemble"}))
    assert spec["Ensemble members"] == [("m0_loss", "m0_loss"), ("m0_accuracy", "m0_accuracy")]
    assert spec["Other logged values"] == [("custom_metric", "custom_metric")]
    assert spec["Loss"][0] == ("loss", "train")
    fig = history_figure(history, {"method": "ensemble"})
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy", "Ensemble members", "Other logged values"]


def test_robust_accuracy_under_another_name_joins_the_robust_panel():
    history = _history(val_robust_accuracy_linf=[0.1, 0.2, 0.3])
    spec = dict(_spec(history, {"method": "standard"}))
    assert spec["Robust accuracy"] == [("val_accuracy", "clean (test)"),
                                       ("val_robust_accuracy_linf", "val_robust_accuracy_linf")]
    assert "Other logged values" not in spec
