"""Report items: study_frame joins, section validation, image styles, builders on small studies."""

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from tests.reports.test_build_report import REPORT, make_study
from tfrobust.reports import (
    REPORT_ITEMS,
    check_report_section,
    load_study,
    render_image,
    run_report_item,
    study_frame,
)
from tfrobust.reports.frame import require_columns
from tfrobust.reports.html import format_value


def results(rows):
    frame = pd.DataFrame(rows).fillna("")
    return frame.astype(str)


RESULTS = results([
    {"id": "teacher", "stage": "teacher", "acc": "0.9"},
    {"id": "train__model-a__eps-0.5", "stage": "train", "model": "a", "eps": "0.5", "acc": "0.8"},
    {"id": "train__model-a__eps-1.0", "stage": "train", "model": "a", "eps": "1.0", "acc": "0.7"},
    {"id": "train__model-b__eps-0.5", "stage": "train", "model": "b", "eps": "0.5", "acc": "0.6"},
    {"id": "attack__model-a", "stage": "attack", "model": "a", "robust.l2_1.5": "0.3", "note": "x"},
    {"id": "attack__model-b", "stage": "attack", "model": "b", "robust.l2_1.5": "", "note": "y"},
])


def test_study_frame_joins_and_broadcasts():
    frame = study_frame(RESULTS, ["train", "attack", "teacher"])
    assert list(frame.columns) == ["model", "eps", "train.acc", "attack.robust.l2_1.5", "attack.note", "teacher.acc"]
    assert frame["model"].tolist() == ["a", "a", "b"]
    assert frame["eps"].tolist() == [0.5, 1.0, 0.5] and frame["eps"].dtype.kind == "f"  # labels -> numbers
    assert frame["attack.robust.l2_1.5"].tolist()[:2] == [0.3, 0.3] and np.isnan(frame["attack.robust.l2_1.5"][2])
    assert frame["teacher.acc"].tolist() == [0.9, 0.9, 0.9]
    assert frame["attack.note"].tolist() == ["x", "x", "y"]


def test_study_frame_inner_join_and_missing_stage():
    only_a = RESULTS[RESULTS["id"] != "attack__model-b"]
    assert study_frame(only_a, ["train", "attack"])["model"].tolist() == ["a", "a"]
    assert study_frame(RESULTS, ["nothing"]).empty
    with pytest.raises(ValueError, match="stages"):
        study_frame(RESULTS, [])


def test_missing_column_is_one_line_listing_available():
    frame = study_frame(RESULTS, ["train"])
    with pytest.raises(ValueError) as info:
        require_columns(frame, ["train.loss"], where="report.items[0].y")
    message = str(info.value)
    assert "\n" not in message
    assert message == "report.items[0].y: no column 'train.loss'; available: model, eps, train.acc"


@pytest.mark.parametrize(("index", "change", "field"), [
    (0, {"type": "pie"}, "report.items[0].type"),
    (0, {"name": "../etc"}, "report.items[0].name"),
    (1, {"name": "robust_accuracy"}, "report.items[1].name"),
    (1, {"colour": "red"}, "report.items[1].colour"),
    (1, {"y": None}, "report.items[1].y"),
    (1, {"y": ["train.acc"]}, "report.items[1].y"),
    (1, {"scale_x": "max"}, "report.items[1].scale_x"),
    (1, {"panels": "yes"}, "report.items[1].panels"),
    (1, {"group": ["roar.mu"]}, "report.items[1].group"),
    (0, {"columns": {"other.acc": "x"}}, "report.items[0].columns"),
    (4, {"n": 0}, "report.items[4].n"),
    (4, {"style": {"maps": "jet"}}, "report.items[4].style.maps"),
    (4, {"style": {"grads": "percentile"}}, "report.items[4].style"),
    (7, {"file": "../../secret.png"}, "report.items[7].file"),
])
def test_check_report_section_names_the_field(index, change, field):
    items = [dict(item) for item in REPORT["items"]]
    items[index].update(change)
    items[index] = {k: v for k, v in items[index].items() if v is not None}
    with pytest.raises(ValueError) as info:
        check_report_section({"title": "t", "items": items})
    assert str(info.value).startswith(f"{field}:"), str(info.value)


def test_check_report_section_required_and_top_level():
    with pytest.raises(ValueError, match=r"^report\.items\[0\]\.x: required for a line item"):
        check_report_section({"items": [{"type": "line", "name": "a", "stages": ["s"], "y": "s.m"}]})
    with pytest.raises(ValueError, match=r"^report\.colour: unknown field"):
        check_report_section({"colour": 1})
    with pytest.raises(ValueError, match=r"^report\.items\[0\]\.stages: unknown stage 'roar'"):
        check_report_section({"items": [REPORT["items"][1]]}, stages=["train"])
    assert check_report_section(None) == {"title": None, "items": []}


def test_options_are_the_builders_keyword_parameters():
    import inspect

    for kind, builder in REPORT_ITEMS.items():
        params = inspect.signature(builder).parameters
        assert list(params)[0] == "data", kind
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(params.values())[1:]), kind
        assert "name" in params and builder.__doc__, kind


def test_render_image_styles():
    rng = np.random.default_rng(0)
    grey = render_image(np.array([[[-1.0], [1.0]]]), style="image", bounds=(-1.0, 1.0))
    np.testing.assert_allclose(grey, [[[0, 0, 0], [1, 1, 1]]])
    image = rng.normal(size=(40, 40, 3))
    image[0, 0] = 1e6  # an outlier is clipped by percentile and sigma3
    for style in ("percentile", "sigma3", "diverging", "image"):
        out = render_image(image, style=style)
        assert out.shape == (40, 40, 3) and out.min() >= 0 and out.max() <= 1, style
    assert np.median(render_image(image, style="percentile")) > 0.2
    signed = render_image(np.array([[[-2.0], [0.0], [2.0]]]), style="diverging")
    assert signed[0, 0, 2] > signed[0, 0, 0] and signed[0, 2, 0] > signed[0, 2, 2]  # blue neg, red pos
    np.testing.assert_allclose(signed[0, 1], [1, 1, 1], atol=0.01)  # zero is white
    for style in ("percentile", "sigma3", "diverging", "image"):
        flat = render_image(np.zeros((4, 4, 1)), style=style)
        assert np.isfinite(flat).all()
    with pytest.raises(ValueError, match="style"):
        render_image(image, style="jet")


def test_format_value():
    assert format_value(float("nan")) == "–" and format_value(None) == "–" and format_value("") == "–"
    assert format_value(91.2345, percent=True) == "91.23" and format_value(3) == "3"
    assert format_value(1.0) == "1.0" and format_value(0.123456) == "0.1235"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return load_study(make_study(tmp_path_factory.mktemp("items") / "s", report={"items": []}))


def test_table_missing_values_and_default_rows(small):
    item = run_report_item(small, {"type": "table", "name": "plain", "stages": ["train", "toy"],
                                   "columns": ["train.test_accuracy", "toy.n"]})
    assert item.status == "ok", item.message
    table = pd.read_csv(small.root / "tables" / "plain.csv")
    assert list(table.columns) == ["model", "train.test_accuracy", "toy.n"]
    assert table["toy.n"].tolist() == [4, 4]
    item = run_report_item(small, {"type": "table", "name": "gaps", "stages": ["attack", "roar"],
                                   "columns": ["attack.robust.l2"]})
    assert item.status == "ok"
    assert "–" not in (small.root / "tables" / "gaps.md").read_text()


def test_images_error_when_file_missing(small):
    item = run_report_item(small, {"type": "images", "name": "nofile", "stage": "gradients",
                                   "file": "other.npz", "arrays": ["x"]})
    assert item.status == "error"
    assert item.message.startswith("report.items[0].file: 'other.npz' is missing in all 2 done cells of stage "
                                   "'gradients' (e.g. cells/gradients__")
    item = run_report_item(small, {"type": "images", "name": "noarray", "stage": "gradients", "arrays": ["grads"]})
    assert item.status == "error" and item.message.startswith("report.items[0].arrays: no array 'grads'")


def test_line_without_groups_and_partial_stage(tmp_path):
    root = make_study(tmp_path / "s", report={"items": []})
    with sqlite3.connect(root / "study.sqlite") as conn:  # one more roar cell, not done yet
        conn.execute("INSERT INTO cells (id, stage, kind, grid, params, config_hash, status) "
                     "VALUES ('roar__norm-l2__eps-9.0__seed-0', 'roar', 'fake', ?, '{}', 'h', 'pending')",
                     (json.dumps({"norm": "l2", "eps": 9.0, "seed": 0}),))
    data = load_study(root)
    item = run_report_item(data, {"type": "line", "name": "flat", "stages": ["roar"], "x": "eps",
                                  "y": ["roar.mu", "roar.noisy"], "panels": False, "logx": False})
    assert item.status == "partial" and item.message == "partial: 16 of 17 cells of stage 'roar' done"
    assert (root / "figures" / "flat.png").is_file()
    item = run_report_item(data, {"type": "line", "name": "bad_x", "stages": ["roar"], "x": "norm", "y": "roar.mu"})
    assert item.status == "error" and item.message == "report.items[0].x: column 'norm' is not numeric"


def test_histogram_draws_a_part_shared_by_every_cell_once(small, monkeypatch):
    import tfrobust.reports.items.histogram as histogram

    figures = []
    real_save = histogram.save_figure
    monkeypatch.setattr(histogram, "save_figure",
                        lambda data, figure, rel: figures.append(figure) or real_save(data, figure, rel))
    item = run_report_item(small, {"type": "histogram", "name": "shared", "stage": "manifold",
                                   "value": "distance", "by": "kind"})
    assert item.status == "ok", item.message
    labels = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    # the fixture's clean distances are the same in both cells; the adversarial ones differ
    assert labels.count("clean (same in 2 cells)") == 1 and len(labels) == 3
    assert sum("adversarial" in label for label in labels) == 2
    assert len(pd.read_csv(small.root / "tables" / "shared.csv")) == 4  # the summary keeps every cell


def path_titles(tmp_path, monkeypatch, **extra):
    """The tile titles of an images item over the fixture's 2 interpolation paths of 3 steps (one list per path),
    with predictions 1,1,7 and 2,5,8 along them and ``extra`` arrays saved in each cell's images.npz."""
    import tfrobust.reports.items.images as images

    root = make_study(tmp_path / "s", report={"items": []})
    for npz_path in sorted(root.glob("cells/gradients__*/images.npz")):
        with np.load(npz_path) as npz:
            arrays = dict(npz)
        np.savez(npz_path, **arrays, pred_path=np.array([[1, 1, 7], [2, 5, 8]]), **extra)
    figures = []
    real_save = images.save_figure
    monkeypatch.setattr(images, "save_figure",
                        lambda data, figure, rel: figures.append(figure) or real_save(data, figure, rel))
    item = run_report_item(load_study(root), {"type": "images", "name": "paths", "stage": "gradients",
                                              "arrays": ["path"]})
    assert item.status == "ok", item.message
    axes = figures[0].axes  # one row of tiles per axes
    assert all(len(ax.patches) == 3 for ax in axes[:2])  # a frame per tile
    return [[t.get_text() for t in ax.texts] for ax in axes[:2]]


def test_interpolation_paths_are_titled_with_the_prediction_at_every_step(tmp_path, monkeypatch):
    # the label and the clean prediction at the start, then the prediction at each step to the end
    assert path_titles(tmp_path, monkeypatch) == [["y=1 pred=1", "pred=1", "pred=7"], ["y=2 pred=2", "pred=5", "pred=8"]]


def test_image_titles_name_the_classes_when_the_cell_saved_them(tmp_path, monkeypatch):
    names = [f"class {i}" for i in range(8)]  # ids 0..7; 8 and above have no name and stay ids
    assert path_titles(tmp_path, monkeypatch, class_names=np.array(names)) == [
        ["y=class 1 pred=class 1", "pred=class 1", "pred=class 7"], ["y=class 2 pred=class 2", "pred=class 5", "pred=8"]]
