"""Claims in a study (issue 19): spec validation, cells stay cached, claims.csv, report.html, status, check.

A fake kind stands in for training (the ``counting_kind`` fixture): accuracy
falls with ``eps`` by a known slope plus a small deterministic wobble per
seed, so the verdicts are known in advance.
"""

from __future__ import annotations

import copy
import csv
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.study import study as study_cli
from tfrobust.config import ConfigError
from tfrobust.studies import run_study, study_spec_from_dict
from tfrobust.studies.check import check_study


def measure(deps, out_dir, *, eps: float = 0.0, seed: int = 0, fail: bool = False):
    with Path(os.environ["STUDY_COUNT_FILE"]).open("a") as f:
        f.write(out_dir.name + "\n")
    if fail:
        raise RuntimeError("planted failure")
    wobble = ((seed * 7 + round(eps * 10) * 3) % 5 - 2) * 0.01
    return {"acc": 0.9 - 0.4 * eps + wobble, "wobble": wobble}


FALLS = {"id": "acc_falls", "paper": "Paper 2019, Fig. 2: accuracy falls as eps grows", "stages": ["measure"],
         "test": "slope", "x": "eps", "y": "measure.acc", "direction": "negative"}
RISES = {"id": "acc_rises", "paper": "a claim the data contradict", "stages": ["measure"],
         "test": "correlation", "x": "eps", "y": "measure.acc", "direction": "positive"}
GAP = {"id": "gap", "paper": "Paper 2019, Table 1: eps 0 beats eps 1.5", "stages": ["measure"],
       "test": "difference", "y": "measure.acc", "group": "eps", "a": 0, "b": 1.5, "direction": "greater",
       "level": 0.9}  # three seeds a side: the exact permutation p is at least 1/20

STUDY = {
    "name": "claims",
    "grid": {"eps": [0.0, 0.5, 1.0, 1.5], "seed": [0, 1, 2]},
    "stages": [{"name": "measure", "kind": "fake", "params": {"eps": "${eps}", "seed": "${seed}"}}],
    "report": {"items": [{"type": "line", "name": "acc", "stages": ["measure"], "x": "eps", "y": "measure.acc"}]},
}


def spec(*claims, **changes):
    values = copy.deepcopy(STUDY)
    values.update(changes)
    if claims:
        values["claims"] = [dict(c) for c in claims]
    return study_spec_from_dict(values)


@pytest.fixture
def counted(counting_kind):
    return counting_kind(measure)


def read_claims(out):
    with open(out / "claims.csv", newline="", encoding="utf-8") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


def test_claims_change_no_cell_identity_or_hash(counted):
    plain = [(c.id, c.config_hash) for c in spec().cells()]
    with_claims = spec(FALLS, RISES, GAP)
    assert [(c.id, c.config_hash) for c in with_claims.cells()] == plain
    assert [c["id"] for c in with_claims.claims] == ["acc_falls", "acc_rises", "gap"]
    assert with_claims.claims[0]["level"] == 0.95


@pytest.mark.parametrize("claim, message", [
    ({**FALLS, "test": "anova"}, "claims.acc_falls.test: unknown test 'anova'"),
    ({k: v for k, v in FALLS.items() if k != "y"}, "claims.acc_falls.y: required for a slope claim"),
    ({**FALLS, "stages": ["train"]}, "claims.acc_falls.stages: unknown stage 'train'; stages: measure"),
    ("not a mapping", "claims[0]: expected a mapping"),
])
def test_spec_refuses_a_bad_claim_in_one_line(claim, message, counted):
    values = {**copy.deepcopy(STUDY), "claims": [claim]}
    with pytest.raises(ConfigError) as info:
        study_spec_from_dict(values)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_study_check_refuses_a_column_the_cells_will_not_have(counted):
    assert len(check_study(spec(FALLS, GAP))) == 12
    with pytest.raises(ConfigError, match=r"^claims\.acc_falls\.x: 'epsilon' is not a grid key of the claim's "
                                          r"stages \[measure\]; their grid keys: eps, seed"):
        check_study(spec({**FALLS, "x": "epsilon"}))
    with pytest.raises(ConfigError, match=r"^claims\.gap\.where: 'norm' is not a grid key"):
        check_study(spec({**GAP, "where": {"norm": "l2"}}))
    with pytest.raises(ConfigError, match=r"^claims\.gap\.b: 2 is not a value of grid key 'eps' in these cells; "
                                          r"its values: 0.0, 0.5, 1.0, 1.5$"):
        check_study(spec({**GAP, "b": 2}))
    assert len(check_study(spec({**GAP, "a": "0", "b": 1.50}))) == 12  # numbers match as numbers
    paired = {"id": "p", "paper": "P", "stages": ["measure"], "test": "paired", "y": "measure.acc",
              "minus": "seed", "direction": "greater"}
    assert len(check_study(spec(paired))) == 12
    with pytest.raises(ConfigError, match=r"^claims\.p\.minus: 'sed' is not a grid key"):
        check_study(spec({**paired, "minus": "sed"}))


def test_study_check_refuses_a_metric_an_attack_stage_will_not_write():
    """With a kind that declares its metrics (attack: robust_<norm>_<eps>) a misspelt metric is caught too."""
    values = {
        "name": "rc", "grid": {"training": [{"name": "std"}], "seed": [0, 1]},
        "stages": [
            {"name": "train", "kind": "train", "params": {"data": {"name": "toy2d"}, "model": {"arch": "linear"},
                                                          "epochs": 1, "seed": "${seed}"}},
            {"name": "attack", "kind": "attack", "needs": ["train"], "params": {"norms": ["linf"], "eps": [0.1]}},
        ],
        "claims": [{"id": "robust", "paper": "P", "stages": ["attack"], "test": "difference",
                    "y": "attack.robust_linf_0.2", "group": "seed", "a": 0, "b": 1, "direction": "greater"}],
    }
    with pytest.raises(ConfigError, match=r"^claims\.robust\.y: stage 'attack' will not produce 'robust_linf_0\.2' "
                                          r"\(did you mean attack\.robust_linf_0\.1\?\)"):
        check_study(study_spec_from_dict(values))
    values["claims"][0]["y"] = "attack.robust_linf_0.1"
    assert len(check_study(study_spec_from_dict(values))) == 4


def test_end_to_end_claims_csv_report_and_status(tmp_path, counted):
    out = tmp_path / "s"
    first = run_study(spec(), out, progress=False)
    assert (first.ran, first.cached) == (12, 0) and len(counted()) == 12
    assert not (out / "claims.csv").exists() and first.claims is None
    lines: list[str] = []
    again = run_study(spec(FALLS, RISES, GAP), out, progress=lines.append)
    assert (again.ran, again.cached) == (0, 12) and counted() == []  # adding claims recomputes nothing
    assert again.claims == out / "claims.csv" and again.report_errors == ()
    rows = read_claims(out)
    assert list(rows) == ["acc_falls", "acc_rises", "gap"]
    assert [rows[i]["verdict"] for i in rows] == ["reproduced", "contradicted", "reproduced"]
    assert float(rows["acc_falls"]["low"]) <= -0.4 <= float(rows["acc_falls"]["high"]) < 0  # true slope inside
    assert rows["acc_falls"]["n"] == "12" and rows["gap"]["n"] == "6" and rows["gap"]["level"] == "0.9"
    assert float(rows["gap"]["value"]) == pytest.approx(0.6, abs=0.03)
    assert "claims: 2 reproduced, 1 contradicted -> " in "\n".join(lines)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<section id="claims">' in page and "acc_falls" in page
    assert page.index('<section id="claims">') < page.index("<h2>Contents</h2>") < page.index('id="item-acc"')
    result = CliRunner().invoke(study_cli, ["status", str(out)])
    assert result.exit_code == 0, result.output
    text = result.output.splitlines()
    start = next(i for i, line in enumerate(text) if line.startswith("claims ("))
    assert text[start - 1].startswith("  compute")  # right after the cell counts
    assert text[start + 1].split()[0] == "reproduced" and text[start + 1].endswith("n=12  acc_falls")
    assert text[start + 2].split()[0] == "contradicted" and text[start + 3].endswith("gap")
    assert "[" in text[start + 1] and "]" in text[start + 1]


def test_claims_of_unfinished_cells_are_pending(tmp_path, counted):
    values = copy.deepcopy(STUDY)
    values["grid"]["seed"] = [{"name": 0, "fail": False}, {"name": 1, "fail": False}, {"name": 2, "fail": True}]
    values["stages"][0]["params"] = {"eps": "${eps}", "seed": "${seed.name}", "fail": "${seed.fail}"}
    values["claims"] = [FALLS]
    out = tmp_path / "s"
    summary = run_study(study_spec_from_dict(values), out, progress=False, report=False)
    assert len(summary.failed) == 4 and summary.report is None
    row = read_claims(out)["acc_falls"]
    assert row["verdict"] == "pending" and "8 of 12 cells of stage 'measure' done" in row["note"]
    status = CliRunner().invoke(study_cli, ["status", str(out)]).output
    assert any(line.split()[:1] == ["pending"] and line.endswith("acc_falls") for line in status.splitlines())


def test_status_says_when_claims_are_not_evaluated_yet(tmp_path, counted):
    out = tmp_path / "s"
    run_study(spec(FALLS), out, progress=False)
    (out / "claims.csv").unlink()
    output = CliRunner().invoke(study_cli, ["status", str(out)]).output
    assert f"claims: 1, not evaluated yet (`tfrobust study report {out}`)" in output


def test_removing_the_claims_empties_claims_csv(tmp_path, counted):
    out = tmp_path / "s"
    run_study(spec(FALLS), out, progress=False)
    assert list(read_claims(out)) == ["acc_falls"]
    run_study(spec(), out, progress=False)
    assert read_claims(out) == {} and (out / "claims.csv").read_text().startswith("id,paper,statistic")


def test_a_claim_on_a_metric_no_cell_wrote_is_a_report_error(tmp_path, counted):
    """The fake kind declares no metrics, so `study check` cannot see the typo; the run reports it like a
    report item in error (the CLI then exits 2), and the other claims still get their verdicts."""
    bad = {**FALLS, "id": "typo", "y": "measure.accuracy"}
    summary = run_study(spec(FALLS, bad), tmp_path / "s", progress=False)
    assert summary.ok and summary.report_errors == (
        "claims.typo.y: no column 'measure.accuracy'; available: eps, seed, measure.acc, measure.wobble",)
    rows = read_claims(tmp_path / "s")
    assert rows["typo"]["verdict"] == "error" and rows["acc_falls"]["verdict"] == "reproduced"


def test_claims_csv_follows_the_run_cell_by_cell(tmp_path, counted):
    out = tmp_path / "s"
    seen: list[str] = []

    def progress(line):
        if line.startswith("[12/12]") and line.endswith("running fake"):  # the last cell is about to run
            row = read_claims(out)["acc_falls"]
            seen.append(row["verdict"])
            assert "provisional: 11 of 12 cells of stage 'measure' done" in row["note"]

    run_study(spec(FALLS), out, progress=progress)
    assert seen == ["pending"] and read_claims(out)["acc_falls"]["verdict"] == "reproduced"
