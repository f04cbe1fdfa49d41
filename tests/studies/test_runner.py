"""Study runner and ledger: resume after a kill, cache by config hash, failures, shards.

A fake kind stands in for training: it appends the cell's directory name to a
count file (so tests see which cells were computed), adds its params to its
dependencies' values and writes the sum as an artifact.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tfrobust.config import ConfigError
from tfrobust.studies import (
    Ledger,
    parse_shard,
    run_kind,
    run_study,
    select_shard,
    study_spec_from_dict,
)


def fake_kind(deps, out_dir, *, v: float = 0.0, fail: bool = False):
    count = Path(os.environ["STUDY_COUNT_FILE"])
    with count.open("a") as f:
        f.write(out_dir.name + "\n")
    kill_after = int(os.environ.get("STUDY_KILL_AFTER", "0"))
    if kill_after and len(count.read_text().split()) > kill_after:
        if os.environ.get("STUDY_KILL_MODE") == "interrupt":
            raise KeyboardInterrupt
        os._exit(3)  # a killed process: no cleanup, the row stays `running`
    if fail:
        raise RuntimeError("planted failure\nsecond line")
    value = v + sum(float((d / "value.txt").read_text()) for d in deps.values())
    (out_dir / "value.txt").write_text(str(value))
    return {"value": value, "nested": {"deps": len(deps)}}


STUDY = {
    "name": "fake",
    "grid": {"a": [{"name": "x", "v": 1}, {"name": "y", "v": 2}], "b": [1, 2]},
    "stages": [
        {"name": "train", "kind": "fake", "params": {"v": "${a.v}", "fail": "${a.fail}"}},
        {"name": "attack", "kind": "fake", "needs": ["train"], "params": {"v": "${b}"}},
        {"name": "summary", "kind": "fake", "needs": ["attack"], "over": ["a"]},
    ],
}


def study(**grid_a):
    values = json.loads(json.dumps(STUDY))
    for entry in values["grid"]["a"]:
        entry.setdefault("fail", False)
        entry.update(grid_a.get(entry["name"], {}))
    return values


@pytest.fixture
def counted(counting_kind):
    """Registers the fake kind; returns a function giving the cells computed since the last call."""
    return counting_kind(fake_kind)


def run(values, out, **kwargs):
    return run_study(study_spec_from_dict(values), out, progress=False, **kwargs)


def test_run_writes_ledger_artifacts_and_results(tmp_path, counted):
    summary = run(study(), tmp_path / "s")
    assert (summary.cells, summary.ran, summary.cached, summary.ok) == (10, 10, 0, True)
    assert len(counted()) == 10
    with Ledger(tmp_path / "s", create=False) as ledger:
        assert ledger.counts()["done"] == 10
        row = ledger.get("summary__a-x")
        assert row["metrics"] == {"value": 5.0, "nested": {"deps": 2}}  # attacks (1+1) + (1+2)
        assert len(row["config_hash"]) == 64 and row["seconds"] >= 0 and row["finished"] >= row["started"]
    assert float((tmp_path / "s/cells/summary__a-x/value.txt").read_text()) == 5.0
    lines = (tmp_path / "s/results.csv").read_text().splitlines()
    assert lines[0] == "id,stage,a,b,value,nested.deps"
    assert lines[1] == "train__a-x__b-1,train,x,1,1.0,0"
    assert "summary__a-y,summary,y,,7.0,2" in lines
    again = run(study(), tmp_path / "s")
    assert (again.ran, again.cached) == (0, 10) and counted() == []


def test_killed_run_resumes_without_recomputing_finished_cells(tmp_path, counted):
    reference = tmp_path / "reference"
    run(study(), reference)
    counted()
    spec_file = tmp_path / "study.yaml"
    spec_file.write_text(yaml.safe_dump(study()))
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_runner import fake_kind
        from tfrobust.studies import KINDS, load_study_spec, run_study
        KINDS["fake"] = fake_kind
        run_study(load_study_spec({str(spec_file)!r}), {str(tmp_path / "s")!r}, progress=False)
    """)
    env = {**os.environ, "STUDY_KILL_AFTER": "4"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=Path(__file__).parents[2], timeout=60)
    assert proc.returncode == 3
    before = counted()
    assert len(before) == 5  # four finished, the fifth killed while running
    with Ledger(tmp_path / "s", create=False) as ledger:
        assert ledger.counts()["done"] == 4 and ledger.get(before[-1])["status"] == "running"
    summary = run(study(), tmp_path / "s")
    after = counted()
    assert (summary.cached, summary.ran) == (4, 6)
    assert not set(before[:4]) & set(after) and before[-1] in after
    assert (tmp_path / "s/results.csv").read_text() == (reference / "results.csv").read_text()


def test_interrupt_leaves_the_cell_pending_and_resumable(tmp_path, counted, monkeypatch):
    monkeypatch.setenv("STUDY_KILL_AFTER", "2")
    monkeypatch.setenv("STUDY_KILL_MODE", "interrupt")
    with pytest.raises(KeyboardInterrupt):
        run(study(), tmp_path / "s")
    interrupted = counted()[-1]
    with Ledger(tmp_path / "s", create=False) as ledger:
        assert ledger.get(interrupted)["status"] == "pending" and ledger.counts()["done"] == 2
    monkeypatch.delenv("STUDY_KILL_AFTER")
    summary = run(study(), tmp_path / "s")
    assert (summary.cached, summary.ran) == (2, 8)


def test_changed_param_reruns_only_the_cell_and_its_dependents(tmp_path, counted):
    run(study(), tmp_path / "s")
    counted()
    summary = run(study(y={"v": 20}), tmp_path / "s")
    rerun = sorted(counted())
    assert rerun == ["attack__a-y__b-1", "attack__a-y__b-2", "summary__a-y", "train__a-y__b-1", "train__a-y__b-2"]
    assert (summary.ran, summary.cached) == (5, 5)
    assert float((tmp_path / "s/cells/summary__a-y/value.txt").read_text()) == (20 + 1) + (20 + 2)


def test_failing_cell_skips_its_dependents_and_the_rest_continue(tmp_path, counted):
    summary = run(study(x={"fail": True}), tmp_path / "s")
    assert sorted(summary.failed) == ["train__a-x__b-1", "train__a-x__b-2"]
    assert sorted(summary.skipped) == ["attack__a-x__b-1", "attack__a-x__b-2", "summary__a-x"]
    assert summary.ran == 5 and not summary.ok
    with Ledger(tmp_path / "s", create=False) as ledger:
        row = ledger.get("train__a-x__b-1")
        assert row["status"] == "failed" and row["error"] == "RuntimeError: planted failure second line"
        assert ledger.get("summary__a-x")["error"].startswith("dependency attack__a-x__b-1 skipped")
        assert ledger.counts() == {"pending": 0, "running": 0, "done": 5, "failed": 2, "skipped": 3}
    assert "Traceback" in (tmp_path / "s/cells/train__a-x__b-1/error.txt").read_text()
    assert "train__a-x__b-1" not in (tmp_path / "s/results.csv").read_text()
    counted()
    fixed = run(study(), tmp_path / "s")
    assert (fixed.ran, fixed.cached, fixed.ok) == (5, 5, True)
    assert not (tmp_path / "s/cells/train__a-x__b-1/error.txt").exists()


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_cover_every_cell_once_with_whole_components(count):
    values = study()
    values["grid"]["b"] = [1, 2, 3, 4]
    values["stages"] = values["stages"][:2]  # train -> attack: one component per grid point
    cells = study_spec_from_dict(values, kinds={"fake": fake_kind}).cells()
    shards = [select_shard(cells, i, count) for i in range(count)]
    ids = [c.id for shard in shards for c in shard]
    assert sorted(ids) == sorted(c.id for c in cells) and len(ids) == len(set(ids))
    for shard in shards:
        members = {c.id for c in shard}
        assert all(dep in members for c in shard for dep in c.needs.values())
    assert [c.id for c in select_shard(cells, 0, count)] == [c.id for c in shards[0]]  # stable


def test_shards_run_into_one_directory(tmp_path, counted):
    for i in range(3):
        run(study(), tmp_path / "s", shard=(i, 3))
    assert sorted(counted()) == sorted(c.id for c in study_spec_from_dict(study()).cells())
    with Ledger(tmp_path / "s", create=False) as ledger:
        assert ledger.counts()["done"] == 10


def test_parse_shard():
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)


def test_params_are_checked_by_the_kinds_signature_before_any_cell(tmp_path, counted):
    values = study()
    values["stages"][1]["params"] = {"v": "${b}", "w": 1}
    with pytest.raises(ConfigError, match=r"^stages\.attack\.params \(cell attack__a-x__b-1\): unknown param\(s\) w "
                                          r"for kind fake; known: v, fail$"):
        run(values, tmp_path / "s")
    values["stages"][1]["params"] = {"v": "ten"}
    with pytest.raises(ConfigError, match=r"\(cell attack__a-x__b-1\): .*option v of kind 'fake' must be float, "
                                          r"got 'ten'"):
        run(values, tmp_path / "s")
    assert counted() == [] and not (tmp_path / "s").exists()


def test_run_kind_converts_params_by_the_signature(tmp_path, counted):
    (tmp_path / "dep").mkdir()
    (tmp_path / "dep" / "value.txt").write_text("2.5")
    (tmp_path / "cell").mkdir()
    metrics = run_kind("fake", {"v": 1}, {"dep": tmp_path / "dep"}, tmp_path / "cell")
    assert metrics == {"value": 3.5, "nested": {"deps": 1}} and counted() == ["cell"]
    with pytest.raises(ConfigError, match="option fail of kind 'fake' must be bool, got 'yes'"):
        run_kind("fake", {"fail": "yes"}, {}, tmp_path / "cell")
    assert counted() == []
