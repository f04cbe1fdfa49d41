"""Long-format attack rows in reports: robust accuracy against attack eps, one line per training; old study
directories still report; ``percent`` never scales grid keys or the attack's eps."""

import numpy as np
import pandas as pd
import pytest

from tfrobust.reports import load_study, run_report_item
from tfrobust.reports.frame import LONG_COLUMNS, long_from_metrics
from tfrobust.reports.items.common import select_rows

ATTACK_METRICS = ("clean_accuracy", "robust_l2_1", "robust_l2_2", "robust_worst_l2_2", "robust_linf_0.1", "flags",
                  "flagged")


def _write(root, name, frame):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


@pytest.fixture
def study(tmp_path):
    """Three attack cells over ``training``: ``std`` wrote the tidy file, ``adv`` an older file (mean/worst
    columns only), ``mid`` none (rows rebuilt from its metrics); and a train stage over a numeric ``eps``."""
    rows = [
        {"id": "attack__training-std", "stage": "attack", "training": "std", "clean_accuracy": "0.9",
         "robust_l2_1": "0.5", "robust_l2_2": "0.2", "robust_linf_0.1": "0.4", "flags": "0", "flagged": ""},
        {"id": "attack__training-adv", "stage": "attack", "training": "adv", "clean_accuracy": "0.8",
         "robust_l2_1": "0.7", "robust_l2_2": "0.5", "robust_linf_0.1": "0.6", "flags": "0", "flagged": ""},
        {"id": "attack__training-mid", "stage": "attack", "training": "mid", "clean_accuracy": "0.85",
         "robust_l2_1": "0.6", "robust_l2_2": "0.3", "robust_worst_l2_2": "0.25", "robust_linf_0.1": "0.5",
         "flags": "1", "flagged": "gradient_norm l2 2"},
        {"id": "train__eps-0.5", "stage": "train", "eps": "0.5", "test_accuracy": "0.8"},
        {"id": "train__eps-2.0", "stage": "train", "eps": "2.0", "test_accuracy": "0.7"},
    ]
    _write(tmp_path, "results.csv", pd.DataFrame(rows).fillna(""))
    tidy = pd.DataFrame({"norm": ["l2", "l2", "linf"], "eps": [1.0, 2.0, 0.1], "attack": "pgd",
                         "robust_accuracy": [0.5, 0.2, 0.4], "worst_case": [0.5, 0.2, 0.4], "flags": "",
                         "steps": 40, "robust_accuracy_mean": [0.5, 0.2, 0.4]})
    _write(tmp_path, "cells/attack__training-std/robust_accuracy.csv", tidy)
    old = pd.DataFrame({"norm": ["l2", "l2", "linf"], "eps": [1.0, 2.0, 0.1], "attack": "pgd", "steps": 40,
                        "robust_accuracy_mean": [0.7, 0.5, 0.6], "robust_accuracy_worst": [0.7, 0.45, 0.6],
                        "breaks": "", "flags": ["", "", "blackbox"]})
    _write(tmp_path, "cells/attack__training-adv/robust_accuracy.csv", old)
    return load_study(tmp_path)


def test_long_frame_one_row_per_cell_norm_eps(study):
    frame = study.frame(["attack"], long="attack")
    assert len(frame) == 9
    assert [c for c in frame.columns if c.startswith("attack.") and c[7:] in LONG_COLUMNS] == \
        [f"attack.{c}" for c in LONG_COLUMNS]
    assert frame["attack.eps"].dtype.kind == "f"
    by = {(t, n, e): (r, w, f) for t, n, e, r, w, f in zip(
        frame["training"], frame["attack.norm"], frame["attack.eps"], frame["attack.robust_accuracy"],
        frame["attack.worst_case"], frame["attack.flags"].fillna(""))}
    assert by[("std", "l2", 2.0)] == (0.2, 0.2, "")
    assert by[("adv", "l2", 2.0)] == (0.5, 0.45, "")  # old file: mean and worst columns as the tidy ones
    assert by[("adv", "linf", 0.1)] == (0.6, 0.6, "blackbox")
    assert by[("mid", "l2", 2.0)] == (0.3, 0.25, "gradient_norm")  # no file: rebuilt from the metrics
    assert by[("mid", "l2", 1.0)] == (0.6, 0.6, "")  # one restart: worst is the mean
    assert frame.loc[frame["training"] == "mid", "attack.clean_accuracy"].tolist() == [0.85] * 3  # metrics kept


def test_long_from_metrics_ignores_other_columns():
    rows = long_from_metrics({"id": "x", "robust_l2_0.5": "0.4", "robust_accuracy_x": "1", "robust_l2_bad": "2",
                              "flagged": ""})
    assert rows.to_dict("records") == [{"norm": "l2", "eps": "0.5", "attack": "", "robust_accuracy": "0.4",
                                        "worst_case": "0.4", "flags": ""}]


def test_where_keeps_matching_rows_and_compares_numbers(study):
    frame = study.frame(["attack"], long="attack")
    assert select_rows(frame, {"attack.norm": "linf"})["attack.robust_accuracy"].tolist() == [0.4, 0.6, 0.5]
    assert len(select_rows(frame, {"attack.eps": [1, 2]})) == 6
    with pytest.raises(ValueError, match=r"^where: no column 'attack.nrm'; available: training"):
        select_rows(frame, {"attack.nrm": "l2"})


def test_line_of_robust_accuracy_against_attack_eps_one_line_per_training(study, monkeypatch):
    drawn = []
    import matplotlib.axes

    original = matplotlib.axes.Axes.plot

    def spy(self, x, y, *args, **kwargs):
        drawn.append((kwargs.get("label"), list(np.round(x, 6)), list(np.round(y, 6))))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", spy)
    item = run_report_item(study, {"type": "line", "name": "ra", "stages": ["attack"], "long": "attack",
                                   "where": {"attack.norm": "l2"}, "x": "attack.eps",
                                   "y": "attack.robust_accuracy", "group": "training", "percent": True})
    assert item.status == "ok", item.message
    assert (study.root / "figures" / "ra.png").is_file()
    assert sorted(drawn) == [("training=adv", [1.0, 2.0], [70.0, 50.0]), ("training=mid", [1.0, 2.0], [60.0, 30.0]),
                             ("training=std", [1.0, 2.0], [50.0, 20.0])]


def test_line_errors_name_the_option(study):
    item = run_report_item(study, {"type": "line", "name": "ra", "stages": ["attack"], "long": "attack",
                                   "where": {"attack.nrm": "l2"}, "x": "attack.eps", "y": "attack.robust_accuracy"})
    assert item.status == "error" and item.message.startswith("report.items[0].where: no column 'attack.nrm'")
    item = run_report_item(study, {"type": "line", "name": "ra", "stages": ["attack"], "x": "attack.eps",
                                   "y": "attack.robust_accuracy"})  # without long: no such column
    assert item.status == "error" and item.message.startswith("report.items[0].x: no column 'attack.eps'")
    item = run_report_item(study, {"type": "line", "name": "ra", "stages": ["attack"], "long": "train",
                                   "x": "attack.eps", "y": "attack.robust_accuracy"})
    assert item.status == "error" and item.message.startswith("report.items[0].long: expected one of the item's")


def test_old_wide_columns_still_report(study):
    item = run_report_item(study, {"type": "table", "name": "wide", "stages": ["attack"], "percent": True,
                                   "columns": {"attack.robust_l2_2": "l2 2", "attack.robust_linf_0.1": "linf 0.1"}})
    assert item.status == "ok", item.message
    table = pd.read_csv(study.root / "tables" / "wide.csv")
    assert table["l2 2"].tolist() == pytest.approx([20.0, 50.0, 30.0])


def test_table_percent_never_scales_a_grid_key(study):
    item = run_report_item(study, {"type": "table", "name": "pct", "stages": ["train"], "percent": True,
                                   "columns": {"eps": "train eps", "train.test_accuracy": "accuracy"}})
    assert item.status == "ok", item.message
    table = pd.read_csv(study.root / "tables" / "pct.csv")
    assert table["train eps"].tolist() == [0.5, 2.0]  # was 50 and 200
    assert table["accuracy"].tolist() == pytest.approx([80.0, 70.0])
    assert "| 0.5 |" in (study.root / "tables" / "pct.md").read_text().replace("  ", " ")


def test_long_table_scales_accuracies_not_eps(study):
    item = run_report_item(study, {"type": "table", "name": "lt", "stages": ["attack"], "long": "attack",
                                   "where": {"training": "std"}, "percent": True, "rows": ["training"],
                                   "columns": {"attack.norm": "norm", "attack.eps": "eps",
                                               "attack.robust_accuracy": "robust", "attack.worst_case": "worst"}})
    assert item.status == "ok", item.message
    table = pd.read_csv(study.root / "tables" / "lt.csv")
    assert table["eps"].tolist() == [1.0, 2.0, 0.1]
    assert table["robust"].tolist() == pytest.approx([50.0, 20.0, 40.0])
    assert table["worst"].tolist() == pytest.approx([50.0, 20.0, 40.0])
