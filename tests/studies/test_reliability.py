"""Study reliability: damaged ledgers, leftovers of killed runs, report errors, params checked up front.

A fake kind stands in for real work (no TensorFlow): it appends its cell id
to a count file, writes a value and a small PNG into its directory.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tfrobust.config import ConfigError
from tfrobust.reports import write_report
from tfrobust.reports.files import is_temp_name, temp_name_pid
from tfrobust.reports.frame import LedgerError, load_study, read_ledger
from tfrobust.studies import (
    KINDS,
    Ledger,
    load_study_spec,
    run_kind,
    run_study,
    study_spec_from_dict,
)
from tfrobust.studies.check import KIND_CHECKS, check_params, check_study
from tfrobust.studies.leftovers import pid_alive, remove_leftovers

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "studies").glob("*.yaml"))


def fake_kind(deps, out_dir, *, v: float = 0.0):
    with Path(os.environ["STUDY_COUNT_FILE"]).open("a") as f:
        f.write(out_dir.name + "\n")
    value = v + sum(float((d / "value.txt").read_text()) for d in deps.values())
    (out_dir / "value.txt").write_text(str(value))
    (out_dir / "plot.png").write_bytes(PNG)
    return {"value": value}


STUDY = {
    "name": "rel",
    "grid": {"a": [1, 2]},
    "stages": [
        {"name": "first", "kind": "fake", "params": {"v": "${a}"}},
        {"name": "second", "kind": "fake", "needs": ["first"], "params": {"v": 10}},
    ],
    "report": {"items": [
        {"type": "table", "name": "values", "stages": ["first", "second"],
         "columns": ["first.value", "second.value"]},
        {"type": "cell_figure", "name": "plots", "stage": "first", "file": "plot.png"},
    ]},
}


@pytest.fixture
def counted(counting_kind):
    """Registers the fake kind; returns a function giving the cells computed since the last call."""
    return counting_kind(fake_kind)


def write_config(tmp_path, values=None):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(values or STUDY))
    return path


def dead_pid():
    """The id of a process that has just ended (not reused within a test)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    pid = int(proc.stdout)
    assert not pid_alive(pid)
    return pid


# ------------------------------------------------------------------ damaged ledger


def damaged(kind, path, good):
    """Turns ``path`` (study.sqlite) into one kind of unusable ledger."""
    data = good.read_bytes()
    if kind == "text":
        path.write_text("results: 1, 2, 3\n" * 20)
    elif kind == "truncated":
        path.write_bytes(data[:len(data) // 2 + 100])
    elif kind == "header_only":
        path.write_bytes(data[:100])
    elif kind == "garbled":
        path.write_bytes(data[:4096 * 2] + b"\xff" * 4096 + data[4096 * 3:])
    elif kind == "other_database":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE photos (id INTEGER)")
        conn.close()
    elif kind == "directory":
        path.mkdir()


@pytest.fixture
def finished(tmp_path, counted):
    """A finished fake study and its good ledger's bytes."""
    out = tmp_path / "s"
    run_study(study_spec_from_dict(STUDY), out, progress=False)
    counted()
    good = tmp_path / "good.sqlite"
    shutil.copy(out / "study.sqlite", good)
    return out, good


@pytest.mark.parametrize("kind", ["text", "truncated", "header_only", "garbled", "other_database", "directory"])
def test_damaged_ledger_is_one_line_error_and_left_untouched(kind, finished, tmp_path, run_cli, counted):
    out, good = finished
    ledger = out / "study.sqlite"
    ledger.unlink()
    damaged(kind, ledger, good)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    config = write_config(tmp_path)
    for open_ in (lambda: Ledger(out), lambda: Ledger(out, create=False), lambda: read_ledger(out),
                  lambda: load_study(out), lambda: write_report(out)):
        with pytest.raises(LedgerError) as err:
            open_()
        assert isinstance(err.value, ValueError) and str(ledger) in str(err.value)
        assert len(str(err.value).splitlines()) == 1
    for args in (("status", out), ("report", out), ("run", config, "--out", out), ("run", config, "--out", out,
                                                                                   "--quiet")):
        code, _, err = run_cli("study", *args)
        assert code == 2, (args, err)
        assert err.startswith(f"error: {ledger} ") and len(err.strip().splitlines()) == 1, err
        if kind != "directory":
            assert "is not a readable SQLite study ledger" in err and "move it aside" in err.lower()
    assert counted() == []  # nothing ran
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing written or removed


def test_empty_ledger_file_is_a_new_ledger(tmp_path, counted):
    out = tmp_path / "s"
    out.mkdir()
    (out / "study.sqlite").write_bytes(b"")
    assert read_ledger(out) == ({}, [])
    summary = run_study(study_spec_from_dict(STUDY), out, progress=False)
    assert summary.ran == 4 and len(counted()) == 4


def test_ledger_moved_aside_is_rebuilt_from_cell_records(finished, tmp_path, counted):
    out, _ = finished
    results = (out / "results.csv").read_bytes()
    (out / "study.sqlite").rename(tmp_path / "aside.sqlite")
    lines = []
    summary = run_study(study_spec_from_dict(STUDY), out, progress=lines.append)
    assert counted() == []  # every cell recovered from its record, none recomputed
    assert (summary.ran, summary.cached, summary.recovered) == (0, 4, 4)
    assert "[1/4] first__a-1: done (recovered from records/first__a-1.json)" in lines
    assert (out / "results.csv").read_bytes() == results
    with Ledger(out, create=False) as ledger:
        assert ledger.counts()["done"] == 4


def test_cell_record_is_not_trusted_across_config_changes(finished, counted):
    out, _ = finished
    changed = json.loads(json.dumps(STUDY))
    changed["stages"][0]["params"]["v"] = "${a} * 3"
    (out / "study.sqlite").unlink()
    summary = run_study(study_spec_from_dict(changed), out, progress=False)
    assert summary.recovered == 0 and sorted(counted()) == ["first__a-1", "first__a-2", "second__a-1", "second__a-2"]
    assert float((out / "cells/second__a-2/value.txt").read_text()) == 6 + 10


def test_recovered_cell_whose_dependency_was_recomputed_runs_again(finished, counted):
    out, _ = finished
    (out / "records/first__a-1.json").unlink()  # this cell cannot be recovered
    (out / "study.sqlite").unlink()
    summary = run_study(study_spec_from_dict(STUDY), out, progress=False)
    assert sorted(counted()) == ["first__a-1", "second__a-1"]  # its dependent follows it
    assert summary.recovered == 2


def test_changed_config_clears_the_cell_even_after_a_kill_before_it(finished, counted):
    out, _ = finished
    changed = json.loads(json.dumps(STUDY))
    changed["stages"][1]["params"]["v"] = 20
    (out / "cells/second__a-1/stale.txt").write_text("artifact of the old config")

    def killed(line):  # the run dies after registering the new config, before reaching second__a-1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(study_spec_from_dict(changed), out, progress=killed)
    assert (out / "cells/second__a-1/stale.txt").exists() and counted() == []
    summary = run_study(study_spec_from_dict(changed), out, progress=False)
    assert sorted(counted()) == ["second__a-1", "second__a-2"] and summary.cached == 2
    assert not (out / "cells/second__a-1/stale.txt").exists()  # not resumed from the old config's files
    assert float((out / "cells/second__a-1/value.txt").read_text()) == 1 + 20
    assert json.loads((out / "records/second__a-1.json").read_text())["status"] == "done"
    assert not [p for p in (out / "cells").iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------ leftovers


def test_temp_names():
    for name, pid in ((".toy.tmp123.png", 123), (".results.csv.tmp45", 45), (".last.tmp9.weights.h5", 9),
                      (".model.tmp77", 77)):
        assert is_temp_name(name) and temp_name_pid(name) == pid
    for name in (".saliency_x1y2.png.tmp", ".tilt.csv.a8f3.tmp", "smoothgrad.npy.partial"):
        assert is_temp_name(name) and temp_name_pid(name) is None
    for name in ("toy.png", ".hidden", "tmp123.png", "notes.tmp", "run.tmp5.txt", "partial.csv"):
        assert not is_temp_name(name), name


def test_remove_leftovers_removes_only_stale_temp_names(tmp_path):
    root = tmp_path / "s"
    dead, live = dead_pid(), os.getpid()
    files = {
        "done cell, dead writer": (f"cells/done/.toy.tmp{dead}.png", True),
        "done cell, mkstemp": ("cells/done/.tilt.csv.x1y2.tmp", True),
        "done cell, partial": ("cells/done/smoothgrad.npy.partial", True),
        "root, dead writer": (f".results.csv.tmp{dead}", True),
        "figures, dead writer": (f"figures/.plots.tmp{dead}.png", True),
        "export folder, dead writer": (f"cells/run/.model.tmp{dead}/saved_model.pb", True),
        "live writer": (f"cells/run/.history.csv.tmp{live}", False),
        "owned cell, mkstemp": ("cells/run/.saliency_ab12.png.tmp", True),
        "owned cell, partial (resume state)": ("cells/run/smoothgrad.npy.partial", False),
        "other shard's cell, mkstemp": ("cells/other/.saliency_cd34.png.tmp", False),
        "other shard's cell, partial": ("cells/other/gradient.npy.partial", False),
        "artifact": ("cells/done/toy.png", False),
        "hidden user file": ("cells/done/.notes", False),
        "user file": ("notes.tmp", False),
    }
    for rel, _ in files.values():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    removed = remove_leftovers(root, owned={"run"}, done={"done"})
    assert f"cells/run/.model.tmp{dead}" in {p.relative_to(root).as_posix() for p in removed}
    for what, (rel, gone) in files.items():
        assert (root / rel).exists() != gone, what
    assert remove_leftovers(root, owned={"run"}, done={"done"}) == []


def test_run_removes_leftovers_and_report_never_shows_them(finished, capsys, counted):
    out, _ = finished
    dead = dead_pid()
    planted = [out / f"cells/first__a-1/.plot.tmp{dead}.png", out / f".results.csv.tmp{dead}",
               out / f"figures/.plots.tmp{dead}.png", out / f".report.html.tmp{dead}"]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # what a kill between open and write leaves
    hidden = [out / "cells/first__a-1/blank.png", out / "cells/first__a-1/.cache/x.png"]
    for path in hidden:
        path.parent.mkdir(parents=True, exist_ok=True)
    hidden[0].write_bytes(b"")  # an empty figure is no figure
    hidden[1].write_bytes(PNG)
    page = write_report(out).path.read_text()
    assert 'href="cells/first__a-1/plot.png"' in page
    for path in planted[:1] + hidden:
        assert path.relative_to(out).as_posix() not in page
    assert ".tmp" not in page
    lines = []
    summary = run_study(study_spec_from_dict(STUDY), out, progress=lines.append)
    assert summary.ran == 0 and counted() == []
    assert lines[0].startswith("removed 4 temp file(s) left by a killed run: ")
    assert not any(p.exists() for p in planted) and all(p.exists() for p in hidden)


# ------------------------------------------------------------------ report errors


@pytest.mark.parametrize("item, missing", [
    ({"type": "cell_figure", "name": "plots", "stage": "first", "file": "plott.png"}, "'plott.png' is missing"),
    ({"type": "table", "name": "vals", "stages": ["first"], "columns": ["first.valu"]}, "no column 'first.valu'"),
])
def test_report_item_in_error_exits_2_after_writing_the_report(item, missing, tmp_path, run_cli, counted):
    values = {**STUDY, "report": {"items": [STUDY["report"]["items"][0], item]}}
    config = write_config(tmp_path, values)
    out = tmp_path / "s"
    for args in (("run", config, "--out", out), ("run", config, "--out", out, "--quiet"), ("report", out)):
        code, text, err = run_cli("study", *args)
        assert code == 2, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: report item {item['name']}: ") and missing in err
        assert lines[0].endswith(f"; see {out / 'report.html'}") and str(out / "report.html") in text
        page = (out / "report.html").read_text()
        assert "Error in report item" in page and missing.replace("'", "&#x27;") in page
    assert len(counted()) == 4  # computed once; the reruns were cached


def test_good_report_exits_0(tmp_path, run_cli, counted):
    config = write_config(tmp_path)
    code, text, err = run_cli("study", "run", config, "--out", tmp_path / "s", "--quiet")
    assert code == 0 and err == "", err
    code, text, err = run_cli("study", "report", tmp_path / "s")
    assert code == 0 and err == "", err
    assert (tmp_path / "s/figures/plots__first__a-1.png").read_bytes() == PNG


# ------------------------------------------------------------------ params checked before any cell runs


def with_stage(params, kind="toy", preset=None):
    values = {"name": "chk", "grid": {"seed": [0, 1]},
              "stages": [{"name": "fine", "kind": "tsipras", "params": {"d": 10}},
                         {"name": "late", "kind": kind, "params": params}]}
    if preset is not None:
        values["presets"] = {"quick": {"late": preset}}
    return study_spec_from_dict(values)


@pytest.mark.parametrize("kind, params, expected", [
    ("toy", {"epoch": 3}, "stages.late.params (cell late__seed-0): unknown param(s) epoch (did you mean epochs?) "
                          "for kind toy; known: eps, epochs,"),
    ("toy", {"epochs": "three"}, "stages.late.params (cell late__seed-0): toy: option epochs of kind 'toy' must be "
                                 "int, got 'three'"),
    ("toy", {"eps": [0, -1]}, "toy.eps must be >= 0"),
    ("toy", {"seed": "${seed}", "n": 0}, "toy.n must be an integer >= 1, got 0"),
    ("attack", {"eps": [1], "options": {"steps": "ten"}}, "attack.options: option steps of attack 'pgd' must be int, "
                                                          "got 'ten'"),
    ("attack", {"eps": [1], "options": {"stepz": 3}}, "attack.options: attack 'pgd' has no option 'stepz'"),
    ("attack", {"eps": [1], "steps": 3}, "unknown param(s) steps for kind attack; known: eps, norms, attack, options,"),
    ("attack", {"options": {"steps": 3}}, "kind 'attack' needs option(s) eps"),
    ("attack", {"eps": {"l2": [1, "x"]}}, "attack.eps.l2"),
    ("attack", {"eps": 1, "norms": "l3"}, "attack.norms: choose from "),
    ("attack", {"eps": 1, "attack": "cw_l2"}, "unknown attack 'cw_l2'; choose from: "),
    ("attack", {"eps": 1, "norm_options": {"linf": {"step_size_factor": 2}}},
     "attack.norm_options: give options for the attacked norms (l2), got linf"),
    ("attack", {"eps": 1, "norm_options": {"l2": {"step_size_factor": "x"}}},
     "attack.norm_options.l2: option step_size_factor of attack 'pgd' must be float, got 'x'"),
    ("saliency", {"methods": "gradient", "options": {"smoothgrad": {"sample": 3}}},
     "saliency.options.smoothgrad: attribution 'smoothgrad' has no option 'sample'"),
    ("saliency", {"options": {"smothgrad": {}}}, "saliency.options: unknown attribution 'smothgrad'"),
    ("saliency", {"permute": 1.5}, "saliency.permute must be a fraction in [0, 1], got 1.5"),
    ("roar", {"methods": "gradient", "modes": "both"}, "roar.modes"),
    ("tsipras", {"trainings": "robust"}, "tsipras.trainings"),
    ("tsipras", {"theorem": "yes"}, "tsipras: option theorem of kind 'tsipras' must be bool, got 'yes'"),
    ("examples", {"eps": "x"}, "examples: option eps of kind 'examples' must be float"),
    ("examples", {"eps": 1, "interpolation": 1}, "examples.interpolation"),
    ("vaegan", {"data": {"nam": "mnist"}}, "vaegan.data: unknown param(s) nam"),
    ("manifold", {"eps": "x"}, "manifold: option eps of kind 'manifold' must be float"),
    ("linear", {"classes": [5]}, "linear: option classes of kind 'linear' must be (int, int), got [5]"),
    ("vaegan", {"epochs": "x"}, "vaegan: option epochs of kind 'vaegan'"),
    ("train", {"epoch": 1}, "stages.late.params (cell late__seed-0): unknown param(s) epoch (did you mean epochs?) "
                            "for kind train; known: data, model,"),
    ("train", {"epochs": 0}, "epochs"),
    ("train", {"optimizer": {"name": "adam", "learning_rat": 0.1}}, "optimizer: unknown field(s) learning_rat"),
    ("train", {"method": "jr", "method_options": {"lambda_jj": 1}}, "method_options: method 'jr' has no option"),
])
def test_check_study_names_stage_cell_and_param(kind, params, expected, tmp_path):
    spec = with_stage(params, kind)
    with pytest.raises(ConfigError) as err:
        check_study(spec)
    message = str(err.value)
    assert expected in message and len(message.splitlines()) == 1, message
    # never stricter than the run: the kind refuses them too, before it reads its dependencies
    with pytest.raises(ConfigError):
        run_kind(kind, {k: (0 if v == "${seed}" else v) for k, v in params.items()}, {}, tmp_path)


def test_check_study_sees_preset_overrides_and_accepts_good_params():
    spec = with_stage({"eps": [0, 0.5], "epochs": 3}, preset={"epoch": 1})
    assert len(check_study(spec)) == 4  # as written: fine
    with pytest.raises(ConfigError, match=r"cell late__seed-0\): unknown param\(s\) epoch"):
        check_study(spec, "quick")
    good = [("attack", {"norms": "l2,linf", "eps": {"l2": [1, 2], "linf": ["8/255"]}, "limit": None}),
            ("train", {"method": "adversarial", "method_options": {"attack": {"eps": 0}}, "epochs": 1}),
            ("roar", {"methods": ["gradient", "random"], "fill": 0.5, "fractions": 0.5}),
            ("linear", {"limit": None, "eps_test": ["0.1"], "parts": "table,top_k", "top_k": [5]}),
            ("saliency", {"methods": "gradient", "options": {"smoothgrad": {"samples": 3}}}),
            ("attack", {"eps": "8/255", "norms": ["l2", "linf"], "options": {"steps": 4},
                        "norm_options": {"linf": {"step_size_factor": 1.0}}})]
    for kind, params in good:
        assert len(check_study(with_stage(params, kind))) == 4


def test_bad_param_fails_the_run_before_any_cell(tmp_path, counted, run_cli):
    values = json.loads(json.dumps(STUDY))
    values["stages"].append({"name": "toy", "kind": "toy", "needs": ["second"], "params": {"epoch": 1}})
    with pytest.raises(ConfigError, match=r"stages\.toy\.params \(cell toy__a-1\): unknown param\(s\) epoch"):
        run_study(study_spec_from_dict(values), tmp_path / "s", progress=False)
    assert counted() == [] and not (tmp_path / "s").exists()
    config = write_config(tmp_path, values)
    for args in (("run", config, "--out", tmp_path / "s"), ("check", config)):
        code, _, err = run_cli("study", *args)
        assert code == 2 and err.startswith("error: stages.toy.params (cell toy__a-1): unknown param(s) epoch")
        assert len(err.strip().splitlines()) == 1
    assert counted() == [] and not (tmp_path / "s").exists()


def test_study_check_command_checks_every_preset(tmp_path, run_cli):
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump({"name": "c", "grid": {"k": [1, 2]},
                                      "presets": {"quick": {"t": {"n": 10}}, "paper": {"t": {"n": 0}}},
                                      "stages": [{"name": "t", "kind": "toy", "params": {"n": 100}}]},
                                     sort_keys=False))
    code, text, err = run_cli("study", "check", config, "--preset", "quick")
    assert code == 0 and text == "c (preset quick): 2 cells ok\n", err
    code, text, err = run_cli("study", "check", config)
    assert code == 2 and text.splitlines() == ["c (preset none): 2 cells ok", "c (preset quick): 2 cells ok"]
    assert err.strip() == "error: stages.t.params (cell t__k-1): toy.n must be an integer >= 1, got 0"


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_paper_configs_pass_the_check(config):
    spec = load_study_spec(config)
    for preset in (None, *spec.presets):
        assert check_study(spec, preset)


#: a value for each required param
REQUIRED = {"attack": {"eps": 0.5}, "roar": {"methods": "random"}, "examples": {"eps": 0.5}}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kinds_defaults_pass_its_own_checks(kind):
    """The signature's literal defaults are valid params (no default the kind itself would refuse)."""
    entry = KINDS[kind]
    assert entry.options and all(option.type.kind != "any" for option in entry.options), entry.describe()
    full = check_params(kind, REQUIRED.get(kind, {}))
    assert set(full) == {option.name for option in entry.options}


def test_kind_checks_of_a_kind_added_at_run_time(tmp_path, counted):
    def refuse_big(params):
        if params["v"] > 100:
            raise ConfigError(f"fake.v must be <= 100, got {params['v']:g}")

    spec = study_spec_from_dict({"name": "added", "stages": [{"name": "s", "kind": "fake", "params": {"v": 101}}]})
    assert check_study(spec)  # a kind added at run time: its signature only
    KIND_CHECKS["fake"] = refuse_big
    try:
        with pytest.raises(ConfigError, match=r"^stages\.s\.params \(cell s\): fake\.v must be <= 100, got 101$"):
            run_study(spec, tmp_path / "s", progress=False)
    finally:
        del KIND_CHECKS["fake"]
    assert counted() == [] and not (tmp_path / "s").exists()
