"""Table-driven fuzz test of the CLI: every bad invocation is refused cleanly.

For each case of ``tests/cli/fuzz_cases.py``: a non-zero exit status, exactly
one non-empty line on stderr starting with ``error`` (not an internal error;
for cases with ``expect``, naming what is wrong), no ``Traceback`` in stdout
or stderr, and no file of the workspace created, changed or removed, except
new files below the case's own target path. The CLI runs in-process
(``cli.main.main``) against tiny fixtures built once per module
(``fuzz_workspace.py``). The controls check that each command's valid base
invocation gets through all its checks, so that every case fails by its own
bad input; a command added to the CLI without cases fails the coverage test.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import traceback
import warnings
from collections import Counter
from pathlib import Path

import pytest

from cli.main import main, tfrobust
from tests.cli.fuzz_cases import CASES, CONTROLS
from tests.cli.fuzz_workspace import Case, build_workspace, command_path, command_paths

MIN_CASES = 150
MIN_CASES_PER_COMMAND = 3


_HASHES: dict[tuple, str] = {}


def _sha256(path: Path) -> str:
    """sha256 of a file, cached by (path, inode, size, mtime_ns): an unchanged stat is not re-read."""
    st = path.stat()
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _HASHES[key]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path below ``root``: ("dir",) or ("file", size, sha256)."""
    tree: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames:
            tree[str((base / name).relative_to(root))] = ("dir",)
        for name in filenames:
            path = base / name
            tree[str(path.relative_to(root))] = ("file", path.stat().st_size, _sha256(path))
    return tree


def changes(before: dict[str, tuple], after: dict[str, tuple], target: str | None) -> list[str]:
    """What changed outside ``target`` (new paths below ``target`` are allowed; the rest are not)."""
    def allowed(path: str) -> bool:
        return target is not None and (path == target or path.startswith(target + "/"))

    found = [f"removed {p}" for p in sorted(set(before) - set(after))]
    found += [f"changed {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    found += [f"created {p}" for p in sorted(set(after) - set(before)) if not allowed(p)]
    return found


class _Records(logging.Handler):
    """Collects WARNING+ log records (a user would see them on stderr).

    TensorFlow's "triggered tf.function retracing" warning is left out: it
    counts traces across the whole process, so it comes from running many
    commands in one test process, not from the command at hand.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "triggered tf.function retracing" not in message:
            self.lines.append(f"[log {record.name}] {message}")


def invoke(argv: list[str]) -> tuple[int, str, str]:
    """Runs ``tfrobust argv`` in-process like the console script: (exit status, stdout, stderr).

    An exception escaping ``main`` is printed as Python would (a traceback,
    status 1); warnings a user would see and WARNING+ log records count as
    stderr lines.
    """
    out, err = io.StringIO(), io.StringIO()
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", category)
            try:
                main(argv)
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            except Exception:  # what the console script would print before dying
                err.write(traceback.format_exc())
                code = 1
    finally:
        root.removeHandler(records)
    extra = [f"[warning {w.category.__name__}] {w.message}" for w in caught] + records.lines
    stderr = err.getvalue() + "".join(line + "\n" for line in extra)
    return code, out.getvalue(), stderr


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The fixtures (built once) and a pristine copy to restore from after a case damaged them."""
    root = tmp_path_factory.mktemp("fuzz")
    ws = root / "ws"
    build_workspace(ws)
    pristine = root / "pristine"
    shutil.copytree(ws, pristine)
    return ws, pristine, snapshot(ws)


def run_case(case: Case, workspace) -> tuple[int, str, str, list[str], str]:
    """Runs one case in the workspace: (status, stdout, stderr, files changed outside its target, shown).

    The case's target is removed afterwards and damaged fixtures are restored.
    """
    ws, pristine, clean = workspace
    target = case.target()
    argv = case.argv(ws)
    try:
        code, stdout, stderr = invoke(argv)
        after = snapshot(ws)
    finally:
        if target is not None:
            path = ws / target
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    damage = changes(clean, after, target)
    if snapshot(ws) != clean:  # leave the fixtures intact for the next case
        shutil.rmtree(ws)
        shutil.copytree(pristine, ws)
    shown = f"tfrobust {' '.join(argv)}\nexit {code}\nstdout:\n{stdout[-2000:]}\nstderr:\n{stderr[-3000:]}"
    return code, stdout, stderr, damage, shown


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_invocation_is_refused_cleanly(case: Case, workspace, monkeypatch):
    monkeypatch.chdir(workspace[0])  # relative writes land in the watched tree
    code, stdout, stderr, damage, shown = run_case(case, workspace)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stdout + stderr, f"traceback\n{shown}"
    assert code != 0, f"exit 0\n{shown}"
    assert len(lines) == 1, f"{len(lines)} stderr lines\n{shown}"
    line = lines[0]
    assert line.startswith("error"), f"stderr line does not start with 'error'\n{shown}"
    assert len(line.strip()) > len("error: "), f"empty message\n{shown}"
    assert "internal error" not in line, f"bad input reported as an internal error\n{shown}"
    if case.expect is not None:
        assert case.expect.lower() in line.lower(), f"the error does not mention {case.expect!r}\n{shown}"
    assert not damage, f"files changed: {damage}\n{shown}"


class ReachedWork(Exception):
    """Raised by a stub of a command's expensive work: every check before it passed."""


def _reached(*args, **kwargs):
    raise ReachedWork("the base invocation got through its checks")


def _cheap_cell(deps, out_dir, *, eps: float | list[float] = 0.0, n: int = 10, epochs: int = 1, steps: int = 1,
                seed: int = 0):
    """Stands in for the toy kind (the tiny study's params, nothing computed)."""
    return {"cells_ran": 1}


#: Where each control's expensive work is stubbed (module, attribute); the commands import them at call time.
STUBS = {
    "control-attack": ("tfrobust.evaluation", "robust_accuracy_table"),
    "control-attack-out-dir": ("tfrobust.evaluation", "robust_accuracy_table"),
    "control-roar": ("tfrobust.evaluation", "run_roar"),
    "control-theory-tsipras": ("tfrobust.theory", "linear_tsipras_experiment"),
    "control-theory-linear": ("tfrobust.theory.linear_features", "linear_features_experiment"),
    "control-theory-toy": ("tfrobust.theory.toy", "toy_experiment"),
}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CONTROLS])
def test_base_invocation_succeeds(case: Case, workspace, monkeypatch):
    """The valid invocations the cases start from pass every check (so a case fails by its own bad input).

    Their expensive work is stubbed: reaching it (or finishing) is success.
    """
    import importlib

    from tfrobust.registry import KINDS

    monkeypatch.chdir(workspace[0])
    if case.id in STUBS:
        module, name = STUBS[case.id]
        monkeypatch.setattr(importlib.import_module(module), name, _reached)
    KINDS.add("toy", _cheap_cell)  # replaces the built-in toy kind in this process until removed
    try:
        code, stdout, stderr, damage, shown = run_case(case, workspace)
    finally:
        KINDS.remove("toy")
    assert code == 0 or "ReachedWork" in stderr, shown
    if code == 0:
        assert not damage, f"files changed: {damage}\n{shown}"


def test_case_table_covers_every_command():
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids), [i for i, n in Counter(ids).items() if n > 1]
    assert len(CASES) >= MIN_CASES
    counts = Counter(command_path(tfrobust, c.args) for c in CASES)
    paths = command_paths(tfrobust)
    assert {"", "train", "theory toy", "study report"} <= set(paths)  # the walk sees groups and commands
    thin = {p or "(root)": counts[p] for p in paths if counts[p] < MIN_CASES_PER_COMMAND}
    assert not thin, f"commands with fewer than {MIN_CASES_PER_COMMAND} fuzz cases: {thin}"
