"""build_report on a synthetic study directory: files, numbers, links, placeholders, errors."""

import json
import re
import sqlite3
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from tfrobust.reports import build_report, check_report_section, load_study, write_report
from tfrobust.studies import Ledger, study_spec_from_dict, write_results

SLOPES = {"l2": 2.0, "linf": 10.0}
EPS = {"l2": [0.0, 0.5, 1.0, 1.5], "linf": [0.0, 0.01, 0.02, 0.04]}
ACCURACY = {"standard": (0.9123, 0.0512), "adv": (0.8, 0.45)}

REPORT = {
    "title": "Synthetic study report",
    "items": [
        {"type": "table", "name": "robust_accuracy", "title": "Robust accuracy", "stages": ["train", "attack"],
         "rows": ["model"], "columns": {"train.test_accuracy": "standard", "attack.robust.l2": "PGD l2"},
         "percent": True, "caption": "accuracy in %"},
        {"type": "line", "name": "mu_vs_eps", "stages": ["roar"], "x": "eps", "y": ["roar.mu", "roar.noisy"],
         "group": ["norm"], "panels": True, "scale_x": "group_max", "correlate": True},
        {"type": "line", "name": "acc_vs_mu", "stages": ["roar"], "x": "roar.mu", "y": "roar.noisy",
         "markers_only": True, "percent": True},
        {"type": "bars", "name": "jacobian_norms", "stages": ["train"], "x": "model",
         "y": ["train.test_accuracy", "train.jacobian"]},
        {"type": "images", "name": "gradients", "stage": "gradients", "arrays": ["x", "maps", "path"], "n": 3,
         "style": {"maps": "percentile", "path": "sigma3"}},
        {"type": "images", "name": "diverging", "stage": "gradients", "arrays": ["maps"],
         "style": {"maps": "diverging"}},
        {"type": "histogram", "name": "manifold", "stage": "manifold", "value": "distance", "by": "kind"},
        {"type": "cell_figure", "name": "toy", "stage": "toy", "file": "toy.png"},
        {"type": "cell_table", "name": "per_cell", "stage": "manifold", "file": "summary.csv"},
        {"type": "table", "name": "later", "stages": ["late"], "columns": ["late.score"]},
        {"type": "line", "name": "broken", "stages": ["roar"], "x": "eps", "y": "roar.no_such_metric"},
    ],
}


def _png(path: Path, colour: str = "C1") -> None:
    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([0, 1], [0, 1], color=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=50)


def _metrics(stage: str, values: dict) -> dict:
    if stage == "train":
        acc, _ = ACCURACY[values["model"]]
        return {"test_accuracy": acc, "jacobian": 2.0 if values["model"] == "standard" else 0.5}
    if stage == "attack":
        return {"robust": {"l2": ACCURACY[values["model"]][1]}}
    if stage == "roar":
        mu = SLOPES[values["norm"]] * values["eps"] + 0.1
        return {"mu": mu, "noisy": 0.5 + 0.1 * values["eps"] + 0.01 * (values["seed"] - 0.5)}
    return {"n": 4}


def _artifacts(stage: str, cell_dir: Path, values: dict) -> None:
    rng = np.random.default_rng(0)
    if stage == "gradients":
        np.savez(cell_dir / "images.npz", x=rng.uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32),
                 maps=rng.normal(size=(4, 8, 8, 1)).astype(np.float32),
                 path=rng.normal(size=(2, 3, 8, 8, 3)).astype(np.float32),
                 y=np.array([1, 2, 3, 4]), pred=np.array([1, 2, 0, 4]), bounds=np.array([-1.0, 1.0]))
    elif stage == "manifold":
        shift = 1.0 if values["model"] == "standard" else 0.3
        pd.DataFrame({"distance": np.r_[np.linspace(0, 1, 10), np.linspace(0, 1, 10) + shift],
                      "kind": ["clean"] * 10 + ["adversarial"] * 10}).to_csv(cell_dir / "distances.csv", index=False)
        pd.DataFrame({"k": [1, 2], "acc": [0.5, shift]}).to_csv(cell_dir / "summary.csv", index=False)
    elif stage == "toy":
        _png(cell_dir / "toy.png", "C3")


def make_study(root: Path, *, report: dict | None = None, results_csv: bool = True) -> Path:
    """A finished-but-partial study: done stages, a pending stage, one failed cell, artifacts."""
    kinds = {"fake": lambda params, deps, out: {}}
    spec = study_spec_from_dict({
        "name": "synthetic", "description": "a study made up for report tests (run `make <x>`)",
        "reference": "Kim et al. 2019",
        "grid": {"model": ["standard", "adv"], "norm": ["l2", "linf"], "eps": [0.0, 1.0], "seed": [0, 1]},
        "stages": [
            {"name": "train", "kind": "fake", "over": ["model"]},
            {"name": "attack", "kind": "fake", "over": ["model"]},
            {"name": "roar", "kind": "fake", "over": ["norm", "eps", "seed"]},
            {"name": "gradients", "kind": "fake", "over": ["model"]},
            {"name": "manifold", "kind": "fake", "over": ["model"]},
            {"name": "toy", "kind": "fake", "over": []},
            {"name": "late", "kind": "fake", "over": ["model"]},
        ]}, kinds=kinds)
    cells = [c for c in spec.cells() if c.stage != "roar"]
    root.mkdir(parents=True, exist_ok=True)
    with Ledger(root) as ledger:
        ledger.set_meta({"name": "synthetic", "preset": "quick",
                         "description": "a study made up for report tests (run `make <x>`)",
                         "reference": "Kim et al. 2019", "report": json.dumps(report if report is not None else REPORT)})
        ledger.sync(cells)
        for cell in cells:
            if cell.stage == "late":
                continue
            cell_dir = root / "cells" / cell.id
            cell_dir.mkdir(parents=True, exist_ok=True)
            _artifacts(cell.stage, cell_dir, dict(cell.values))
            ledger.start(cell.id)
            ledger.finish(cell.id, _metrics(cell.stage, dict(cell.values)), 1.5)
        ledger.fail("late__model-adv", "RuntimeError: boom <b>", 0.5)
        # roar: the grid is a product in the spec; write the eps sweep per norm directly.
        with sqlite3.connect(root / "study.sqlite") as conn:
            for norm, sweep in EPS.items():
                for eps in sweep:
                    for seed in (0, 1):
                        values = {"norm": norm, "eps": eps, "seed": seed}
                        conn.execute("INSERT INTO cells (id, stage, kind, grid, params, config_hash, status, metrics, "
                                     "seconds) VALUES (?, 'roar', 'fake', ?, '{}', 'h', 'done', ?, 2.0)",
                                     (f"roar__norm-{norm}__eps-{eps!r}__seed-{seed}", json.dumps(values),
                                      json.dumps(_metrics("roar", values))))
        if results_csv:
            write_results(root, ledger=ledger)
    _png(root / "cells" / "train__model-adv" / "curves.png")
    return root


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = make_study(tmp_path_factory.mktemp("study") / "s")
    return root, write_report(root)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.scripts += tag == "script"
        for key in ("src", "href"):
            if attrs.get(key) and not attrs[key].startswith("#"):
                self.links.append(attrs[key])


def test_report_files_exist_and_are_linked(study):
    root, report = study
    assert report.path == root / "report.html"
    page = report.path.read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(page)
    assert parser.scripts == 0
    assert all(not re.match(r"^[a-z]+:|^/", link) for link in parser.links), "links must be relative"
    for link in parser.links:
        assert (root / link).is_file(), link
    figures = sorted(p.relative_to(root).as_posix() for p in (root / "figures").glob("*.png"))
    assert figures == ["figures/acc_vs_mu.png", "figures/diverging.png", "figures/gradients.png",
                       "figures/jacobian_norms.png", "figures/manifold.png", "figures/mu_vs_eps.png",
                       "figures/toy__toy.png"]
    for figure in figures:
        assert f'src="{figure}"' in page
        assert (root / figure).read_bytes()[:4] == b"\x89PNG"
    for table in ("robust_accuracy", "mu_vs_eps_correlation", "manifold", "jacobian_norms", "per_cell"):
        assert (root / "tables" / f"{table}.csv").is_file() and (root / "tables" / f"{table}.md").is_file()
        assert f'href="tables/{table}.csv"' in page
    assert 'src="cells/train__model-adv/curves.png"' in page  # shown by no item: still a thumbnail
    assert 'src="cells/toy/toy.png"' not in page and 'href="cells/toy/toy.png"' in page  # item "toy" shows it
    assert not list(root.rglob(".*tmp*")), "temp files left behind"


def test_report_facts_placeholder_and_error(study):
    root, report = study
    page = report.path.read_text(encoding="utf-8")
    assert "<title>Synthetic study report</title>" in page
    for text in ("a study made up for report tests", "Kim et al. 2019", "quick", "done: 25", "failed: 1",
                 "pending: 1", "All results", "Cell artifacts"):
        assert text in page, text
    assert "RuntimeError: boom &lt;b&gt;" in page and "<b>" not in page  # escaped
    assert "(run <code>make &lt;x&gt;</code>)" in page  # `code` spans of the description, escaped inside
    assert f"{9 * 1.5 + 0.5 + 16 * 2.0:.1f} s" in page
    status = {item.name: item for item in report.items}
    assert status["later"].status == "pending"
    assert status["later"].message == "not computed yet: 0 of 2 cells of stage 'late' done"
    assert "not computed yet: 0 of 2 cells" in page
    assert status["broken"].status == "error"
    assert report.errors == (status["broken"].message,)
    assert status["broken"].message.startswith("report.items[10].y: no column 'roar.no_such_metric'; available:")
    assert "roar.mu" in status["broken"].message
    assert all(status[n].status == "ok" for n in ("robust_accuracy", "mu_vs_eps", "gradients", "manifold", "toy",
                                                  "per_cell"))


def test_table_numbers(study):
    root, _ = study
    table = pd.read_csv(root / "tables" / "robust_accuracy.csv")
    assert list(table.columns) == ["model", "standard", "PGD l2"]
    assert table["model"].tolist() == ["standard", "adv"]
    np.testing.assert_allclose(table["standard"], [91.23, 80.0])
    np.testing.assert_allclose(table["PGD l2"], [5.12, 45.0])
    markdown = (root / "tables" / "robust_accuracy.md").read_text()
    assert "| standard | 91.23 | 5.12 |" in markdown and "|---|---:|---:|" in markdown


def test_correlation_table_of_planted_relation(study):
    root, _ = study
    table = pd.read_csv(root / "tables" / "mu_vs_eps_correlation.csv")
    assert list(table.columns) == ["norm", "y", "n", "pearson", "spearman"]
    exact = table[table["y"] == "roar.mu"]
    assert exact["norm"].tolist() == ["l2", "linf"] and exact["n"].tolist() == [8, 8]
    np.testing.assert_allclose(exact["pearson"], 1.0)
    np.testing.assert_allclose(exact["spearman"], 1.0)
    noisy = table[table["y"] == "roar.noisy"]
    assert ((noisy["pearson"] > 0) & (noisy["pearson"] < 1.0)).all()  # eps plus seed noise


def test_cell_table_stacks_cells(study):
    root, _ = study
    table = pd.read_csv(root / "tables" / "per_cell.csv")
    assert list(table.columns) == ["model", "k", "acc"]
    assert table["model"].tolist() == ["standard", "standard", "adv", "adv"]
    np.testing.assert_allclose(table["acc"], [0.5, 1.0, 0.5, 0.3])


def test_histogram_summary(study):
    root, _ = study
    table = pd.read_csv(root / "tables" / "manifold.csv")
    assert len(table) == 4 and set(table["kind"]) == {"clean", "adversarial"}
    row = table[(table["model"] == "standard") & (table["kind"] == "adversarial")].iloc[0]
    assert row["count"] == 10 and row["mean"] == pytest.approx(1.5) and row["median"] == pytest.approx(1.5)


def test_results_rebuilt_from_ledger(tmp_path):
    root = make_study(tmp_path / "s", results_csv=False)
    assert not (root / "results.csv").exists()
    data = load_study(root)
    assert len(data.results) == 8 + 16 + 1 and "robust.l2" in data.results.columns
    report = write_report(root)
    assert report.errors and (root / "tables" / "robust_accuracy.csv").is_file()
    assert not (root / "results.csv").exists()  # read-only: nothing written to the study's own files


def test_study_without_report_section_and_bad_items(tmp_path):
    root = make_study(tmp_path / "s", report={"items": [{"type": "nope", "name": "x"},
                                                        {"type": "table", "name": "t", "stages": ["train"],
                                                         "columns": ["train.test_accuracy"]}]})
    report = write_report(root, title="Custom")
    assert [i.status for i in report.items] == ["error", "ok"]
    assert report.items[0].message.startswith("report.items[0].type: unknown item type 'nope'")
    assert "<title>Custom</title>" in report.path.read_text()
    with sqlite3.connect(root / "study.sqlite") as conn:
        conn.execute("DELETE FROM meta WHERE key = 'report'")
    path = build_report(root)
    page = path.read_text()
    assert "<title>synthetic</title>" in page and "All results" in page


def test_not_a_study(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a study directory"):
        build_report(tmp_path)


def test_report_section_of_this_file_is_valid():
    checked = check_report_section(REPORT)
    assert [i["name"] for i in checked["items"]][:2] == ["robust_accuracy", "mu_vs_eps"]
    assert checked["items"][2]["y"] == ["roar.noisy"]


def test_reports_package_imports_no_tensorflow():
    code = ("import sys, tfrobust.reports, tfrobust.reports.study; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


_NO_FIGURES = {"items": [
    {"type": "table", "name": "robust_accuracy", "stages": ["train", "attack"], "rows": ["model"],
     "columns": {"train.test_accuracy": "standard", "attack.robust.l2": "PGD l2"}},
    {"type": "cell_table", "name": "per_cell", "stage": "manifold", "file": "summary.csv"},
    {"type": "table", "name": "later", "stages": ["late"], "columns": ["late.score"]},
    {"type": "line", "name": "broken", "stages": ["roar"], "x": "eps", "y": "roar.no_such_metric"},
]}


def test_a_report_without_figures_imports_no_matplotlib(tmp_path):
    """Tables, placeholders and error items load no matplotlib (slow to import); the first figure item does."""
    root = make_study(tmp_path / "s", report=_NO_FIGURES)
    code = ("import sys; from tfrobust.reports import load_study, run_report_item, write_report\n"
            f"report = write_report({str(root)!r})\n"
            "print([i.status for i in report.items], 'matplotlib' in sys.modules)\n"
            "item = run_report_item(load_study(report.path.parent), {'type': 'bars', 'name': 'b', "
            "'stages': ['train'], 'x': 'model', 'y': 'train.jacobian'})\n"
            "print(item.status, 'matplotlib' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["['ok', 'ok', 'pending', 'error'] False", "ok True"]
    assert (root / "tables" / "per_cell.csv").is_file() and (root / "figures" / "b.png").is_file()
    assert not (root / "figures" / "broken.png").exists()


def test_importing_the_report_modules_loads_no_matplotlib():
    code = ("import sys, tfrobust.reports.study, tfrobust.reports.items, tfrobust.reports.roar, "
            "tfrobust.reports.training; print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["[]"]
