"""`tfrobust export` and export_saved_model never delete what they did not create."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.training.artifacts import EXPORT_MARKER, export_saved_model, save_model


def tiny_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory holding model.keras and a config.yaml."""
    run = tmp_path_factory.mktemp("export") / "run"
    run.mkdir()
    save_model(tiny_model(), run / "model.keras")
    (run / "config.yaml").write_text("seed: 0\n")
    return run


def snapshot(directory):
    """{relative path: bytes} of every file under ``directory``."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def served(path, x):
    loaded = tf.saved_model.load(str(path))
    return loaded.serve(tf.constant(x)).numpy()


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and "Traceback" not in err
    return lines[0]


def test_project_folder_with_other_files_is_refused(tmp_path, run_dir, run_cli):
    project = tmp_path / "project"
    (project / "notes").mkdir(parents=True)
    (project / "README.md").write_text("mine")
    (project / "notes" / "a.txt").write_text("also mine")
    before = snapshot(project), snapshot(run_dir)
    code, out, err = run_cli("export", "--model", run_dir, "--out", project)
    assert code == 2 and "exported" not in out
    line = one_error_line(err)
    assert "not empty" in line and "README.md" in line
    assert (snapshot(project), snapshot(run_dir)) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # no temporary leftovers


@pytest.mark.parametrize("where", ["run", "parent", "symlink", "file_parent"])
def test_target_holding_the_source_is_refused(tmp_path, run_dir, run_cli, where):
    model_arg = run_dir / "model.keras" if where == "file_parent" else run_dir
    out = {"run": run_dir, "parent": run_dir.parent, "file_parent": run_dir}.get(where)
    if where == "symlink":
        out = tmp_path / "link"
        out.symlink_to(run_dir, target_is_directory=True)
    before = snapshot(run_dir.parent)
    code, _, err = run_cli("export", "--model", model_arg, "--out", out)
    assert code == 2
    line = one_error_line(err)
    assert ("contains" if where in ("parent", "file_parent") else " is ") in line
    assert "choose a new directory for the SavedModel" in line
    assert snapshot(run_dir.parent) == before


def test_new_empty_and_earlier_exports(tmp_path, run_dir, run_cli):
    x = np.ones((2, 3), "float32")
    expected = keras.saving.load_model(run_dir / "model.keras")(x).numpy()
    for target in (tmp_path / "new" / "sm", tmp_path / "empty"):
        if target.name == "empty":
            target.mkdir()
        code, out, err = run_cli("export", "--model", run_dir, "--out", target)
        assert code == 0, err
        marker = json.loads((target / EXPORT_MARKER).read_text())
        assert marker["tool"] == "tfrobust"
        reference = tmp_path / f"mode-{target.name}"
        reference.mkdir()
        assert target.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777  # not mkdtemp's 0700
        reference.rmdir()
        np.testing.assert_allclose(served(target, x), expected, atol=1e-6)
    # Exporting again replaces the earlier export, and leaves no hidden temporary directories.
    code, _, err = run_cli("export", "--model", run_dir, "--out", tmp_path / "empty")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "new"]
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["sm"]


def test_unwritable_target_is_one_line(tmp_path, run_dir, run_cli):
    code, _, err = run_cli("export", "--model", run_dir, "--out", "/proc/tfrobust-no/such")
    assert code == 2
    assert "/proc/tfrobust-no/such" in one_error_line(err)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli("export", "--model", run_dir, "--out", blocker / "sub")
    assert code == 2 and "not a directory" in one_error_line(err)
    assert blocker.read_text() == "x"


def test_replacement_is_atomic_and_legacy_exports_are_recognised(tmp_path):
    x = np.ones((1, 3), "float32")
    first, second = tiny_model(1), tiny_model(2)
    target = tmp_path / "run" / "saved_model"
    export_saved_model(first, target)
    # A run from before the marker existed: a plain Keras SavedModel is still replaceable.
    (target / EXPORT_MARKER).unlink()
    export_saved_model(second, target)
    np.testing.assert_allclose(served(target, x), second(x).numpy(), atol=1e-6)
    assert (target / EXPORT_MARKER).is_file()
    # A failing export leaves the earlier one untouched and no temporary directory behind.
    before = snapshot(target)

    def broken(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "disk full")

    first.export = broken
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(first, target)
    assert snapshot(target) == before
    assert sorted(os.listdir(target.parent)) == ["saved_model"]


@pytest.mark.parametrize("extra", ["notes.txt", "variables/mine.txt", "assets/data.csv"])
def test_unmarked_savedmodel_with_extra_files_is_refused(tmp_path, extra):
    target = tmp_path / "sm"
    export_saved_model(tiny_model(), target)
    (target / EXPORT_MARKER).unlink()
    (target / extra).write_text("keep me")
    before = snapshot(target)
    with pytest.raises(ValueError, match="not an earlier tfrobust export") as info:
        export_saved_model(tiny_model(), target)
    assert extra in str(info.value) and "\n" not in str(info.value)
    assert snapshot(target) == before


def test_marked_export_with_a_user_file_is_refused(tmp_path):
    target = tmp_path / "sm"
    export_saved_model(tiny_model(), target)
    (target / "README").write_text("keep me")
    with pytest.raises(ValueError, match="README"):
        export_saved_model(tiny_model(), target)
    assert (target / "README").read_text() == "keep me"


def test_protect_refuses_equal_and_containing_targets(tmp_path):
    source = tmp_path / "a" / "b" / "model.keras"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"x")
    for target in (tmp_path / "a", tmp_path / "a" / "b"):
        with pytest.raises(ValueError, match="contains"):
            export_saved_model(tiny_model(), target, protect=[source])
    assert source.read_bytes() == b"x"
