"""`study check` validates report items' columns against what the cells will produce; kinds documented."""

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tfrobust.config import ConfigError
from tfrobust.studies import study_spec_from_dict
from tfrobust.studies.check import check_study
from tfrobust.studies.kinds.attack import LONG_COLUMNS, long_columns, long_rows, metric_names
from tfrobust.studies.kinds_doc import kinds_markdown

ROOT = Path(__file__).resolve().parents[2]


def spec_with(*items, restarts=1):
    """A standard/adversarial train stage over ``training`` and an attack stage (linf 0.1, 0.2; l2 1)."""
    train = {"data": {"name": "toy2d"}, "model": {"arch": "linear"}, "method": "adversarial",
             "method_options": {"attack": {"norm": "linf", "eps": "${training.eps}", "steps": 3}}, "epochs": 1}
    return study_spec_from_dict({
        "name": "rc",
        "grid": {"training": [{"name": "std", "eps": 0.0}, {"name": "adv", "eps": 0.1}], "seed": [0]},
        "stages": [
            {"name": "train", "kind": "train", "over": ["training"], "params": train},
            {"name": "attack", "kind": "attack", "needs": ["train"], "over": ["training"],
             "params": {"norms": ["linf", "l2"], "eps": {"linf": [0.1, 0.2], "l2": [1.0]}, "restarts": restarts}},
        ],
        "report": {"items": list(items)}})


def line(**extra):
    return {"type": "line", "name": "acc", "stages": ["attack"], "x": "attack.eps",
            "y": "attack.robust_accuracy", "group": "training", "long": "attack",
            "where": {"attack.norm": "linf"}, **extra}


def refused(spec):
    with pytest.raises(ConfigError) as info:
        check_study(spec)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_long_line_and_metric_table_pass():
    table = {"type": "table", "name": "t", "stages": ["train", "attack"], "rows": ["training"],
             "columns": {"train.test_accuracy": "clean", "attack.robust_linf_0.2": "linf 0.2",
                         "attack.robust_l2_1": "l2 1", "attack.flagged": "flags"}}
    assert len(check_study(spec_with(line(), table))) == 4


def test_misspelt_metric_is_refused_before_anything_runs():
    table = {"type": "table", "name": "t", "stages": ["attack"], "columns": ["attack.robust_linf_0.3"]}
    message = refused(spec_with(table))
    assert message.startswith("report.items[0].columns: stage 'attack' will not produce 'robust_linf_0.3'")
    assert "robust_linf_0.2" in message  # what it produces instead


def test_worst_case_metrics_exist_only_with_restarts():
    table = {"type": "table", "name": "t", "stages": ["attack"], "columns": ["attack.robust_worst_l2_1"]}
    assert "report.items[0].columns" in refused(spec_with(table))
    assert len(check_study(spec_with(table, restarts=2))) == 4


def test_long_columns_need_long():
    message = refused(spec_with(line(long=None)))
    assert message.startswith("report.items[0].x: stage 'attack' will not produce 'eps'")
    assert "set long: attack" in message


def test_bare_name_must_be_a_grid_key_of_the_items_stages():
    message = refused(spec_with(line(group="seed")))  # a grid key, but no stage of the item varies over it
    assert message.startswith("report.items[0].group: 'seed' is not a grid key of stages [attack]")
    assert "their grid keys: training" in message


def test_where_column_is_checked():
    assert refused(spec_with(line(where={"attack.nrm": "l2"}))).startswith("report.items[0].where: ")


def test_metric_names_match_what_the_kind_returns():
    params = {"eps": [0.1, 1 / 3], "norms": "linf", "restarts": 2}
    assert metric_names(params) == ["clean_accuracy", "n", "robust_linf_0.1", "robust_worst_linf_0.1",
                                    "robust_linf_0.333333", "robust_worst_linf_0.333333", "flags", "flagged"]


def test_long_rows_put_the_tidy_columns_first_and_keep_the_old_ones():
    from tfrobust.evaluation.robust_accuracy import COLUMNS

    row = dict.fromkeys(COLUMNS, 0)
    table = pd.DataFrame([{**row, "norm": "l2", "eps": 0.5, "attack": "pgd", "robust_accuracy_mean": 0.4,
                           "robust_accuracy_worst": 0.3, "flags": "blackbox"}])
    tidy = long_rows(table)
    assert tuple(tidy.columns[:len(LONG_COLUMNS)]) == LONG_COLUMNS
    assert set(COLUMNS) <= set(tidy.columns) and list(tidy.columns) == long_columns()
    assert tidy.loc[0, "robust_accuracy"] == 0.4 and tidy.loc[0, "worst_case"] == 0.3
    assert tidy.loc[0, "flags"] == "blackbox"


def test_study_check_cli_names_the_report_column(tmp_path):
    import yaml

    from cli.study import study

    table = {"type": "table", "name": "t", "stages": ["attack"], "columns": ["attack.robust_linf_0.3"]}
    config = tmp_path / "s.yaml"
    raw = {"name": "rc", "grid": {"training": [{"name": "std", "eps": 0.0}]},
           "stages": [{"name": "train", "kind": "train", "over": ["training"],
                       "params": {"data": {"name": "toy2d"}, "model": {"arch": "linear"}, "epochs": 1}},
                      {"name": "attack", "kind": "attack", "needs": ["train"], "over": ["training"],
                       "params": {"norms": "linf", "eps": 0.1}}],
           "report": {"items": [table]}}
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(study, ["check", str(config)])
    assert result.exit_code != 0
    assert "report.items[0].columns: stage 'attack' will not produce 'robust_linf_0.3'" in str(result.exception or "") \
        + result.output


def test_committed_kinds_doc_is_the_generated_text():
    committed = (ROOT / "docs" / "kinds.md").read_text()
    assert committed == kinds_markdown(), "regenerate: python -m tfrobust.studies.kinds_doc > docs/kinds.md"


def test_kinds_doc_lists_every_param_with_type_and_default():
    from tfrobust.registry import KINDS

    text = kinds_markdown()
    for name in KINDS:
        assert f"## `{name}`" in text
        for option in KINDS[name].options:
            assert f"- `{option.name}`: " in text
    assert "- `eps`: `float | list[float] | Mapping[str, Any]`, required" in text
    assert "- `restarts`: `int`, default `1`" in text


def test_tiny_study_reports_robust_accuracy_against_attack_eps_per_training_eps(tmp_path, monkeypatch):
    """End to end: two tiny train cells (eps 0 and 0.1), their attack cells' long rows, one line each."""
    import matplotlib.axes

    from tfrobust.studies import run_study

    drawn = []
    original = matplotlib.axes.Axes.plot

    def spy(self, x, y, *args, **kwargs):
        drawn.append((kwargs.get("label"), list(x), list(y)))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", spy)
    train = {"data": {"name": "toy2d", "limit": 64}, "model": {"arch": "linear"}, "method": "adversarial",
             "method_options": {"attack": {"norm": "linf", "eps": "${training.eps}", "steps": 2}},
             "epochs": 1, "batch_size": 32}
    spec = study_spec_from_dict({
        "name": "tiny", "grid": {"training": [{"name": "std", "eps": 0.0}, {"name": "adv", "eps": 0.1}]},
        "stages": [{"name": "train", "kind": "train", "over": ["training"], "params": train},
                   {"name": "attack", "kind": "attack", "needs": ["train"], "over": ["training"],
                    "params": {"norms": "linf", "eps": [0.05, 0.1, 0.2], "limit": 32, "checks": "none",
                               "options": {"steps": 2}}}],
        "report": {"items": [line()]}})
    summary = run_study(spec, tmp_path / "out", progress=False)
    assert summary.ok and not summary.report_errors, summary.report_errors
    assert (tmp_path / "out" / "figures" / "acc.png").is_file()
    lines = {label: (x, y) for label, x, y in drawn}
    assert set(lines) == {"training=std", "training=adv"}
    for x, y in lines.values():
        assert [round(v, 6) for v in x] == [0.05, 0.1, 0.2]
        assert len(y) == 3 and all(0.0 <= v <= 1.0 for v in y)  # fractions (no percent)
