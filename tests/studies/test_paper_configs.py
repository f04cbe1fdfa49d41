"""Every shipped study config: it loads, both presets expand, train cells are valid training
configs, IR targets name a dependency, and every paper figure / table has its config."""

from pathlib import Path

import pytest

from tfrobust.config import train_config_from_dict
from tfrobust.studies import load_study_spec

CONFIGS = sorted(Path("configs/studies").glob("*.yaml"))

#: The figures and tables of issue 7, each with one config.
REQUIRED = [
    "kim2019_fig1", "kim2019_fig2", "kim2019_fig3b", "kim2019_fig4", "kim2019_fig5", "kim2019_fig6",
    "tsipras2019_fig1", "tsipras2019_fig2", "tsipras2019_fig3", "tsipras2019_fig4", "tsipras2019_fig5",
    "tsipras2019_fig6", "tsipras2019_fig7", "tsipras2019_table4", "tsipras2019_theorems",
    "noack2021_table1", "noack2021_table2", "noack2021_fig3", "noack2021_fig4", "demo",
]


def test_every_paper_figure_and_table_has_a_config():
    names = {path.stem for path in CONFIGS}
    assert not set(REQUIRED) - names
    for path in CONFIGS:
        assert load_study_spec(path).name == path.stem


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_expands_with_both_presets(path):
    spec = load_study_spec(path)
    assert {"quick", "paper"} <= set(spec.presets)
    assert spec.description and spec.reference and spec.report.get("items")
    quick, paper = spec.cells("quick"), spec.cells("paper")
    assert quick and len(quick) <= len(paper)
    assert len({c.id for c in paper}) == len(paper)
    for cells in (quick, paper):
        ids = {c.id for c in cells}
        for cell in cells:
            assert set(cell.needs.values()) <= ids
            if cell.kind != "train":
                continue
            config = train_config_from_dict(dict(cell.params))  # validates every field
            targets = config.method_options.get("targets") if config.method == "ir" else None
            if targets is not None:
                assert str(targets).split("/")[0] in cell.needs, f"{cell.id}: targets {targets!r} is no dependency"
    # the quick preset trains on a subset (CPU minutes; benchmarks/study_presets.py measures its wall
    # time against the 10-minute budget), the paper preset does not shrink the data
    quick_limits = [c.params.get("data", {}).get("limit") for c in quick if c.kind == "train"]
    assert all(limit is not None and limit <= 6000 for limit in quick_limits)


def test_kim_fig4_grid_is_generated_from_b3():
    spec = load_study_spec("configs/studies/kim2019_fig4.yaml")
    train = [c for c in spec.cells("paper") if c.stage == "train"]
    assert len(train) == 2 * 2 * 21                    # norm x objective x 21 radii (B.3)
    radii = sorted({(c.values["norm"], c.params["method_options"]["attack"]["eps"]) for c in train})
    l2 = [e for n, e in radii if n == "l2"]
    linf = [e for n, e in radii if n == "linf"]
    assert l2[0] == 0 and l2[-1] == pytest.approx(1.6) and l2[1] == pytest.approx(0.08)
    assert linf[-1] == pytest.approx(0.04) and linf[1] == pytest.approx(0.002)
