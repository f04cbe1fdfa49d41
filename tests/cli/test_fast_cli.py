"""The fast CLI (issue 15): help pages, `list`, `study status` and `study report` import no TensorFlow.

Each check runs ``cli.main.main`` in a fresh interpreter and reads its
``sys.modules`` afterwards: the assertions are on what was imported, not on
time (the wall times are printed for the record; `pytest -s` shows them).
Also: `tfrobust list`, the choices read from the registries, and the
``--option`` splitting of commands that take several attributions.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

import click
import click.testing
import pytest

from cli.main import tfrobust
from cli.options import LazyChoice, entry_options, parse_partial, registry_choice
from tests.cli.fuzz_workspace import command_paths
from tfrobust.config import ConfigError
from tfrobust.registry import ATTRIBUTIONS, KINDS, METHODS, REGISTRIES

ROOT = Path(__file__).resolve().parents[2]
#: Never imported by a help page, `list` or `study status`; TensorFlow and Keras never by `study report` either.
HEAVY = ("tensorflow", "keras", "matplotlib", "pandas", "scipy")
TF = ("tensorflow", "keras")
_MARK = "@@modules@@"

# Runs each argument list of argv[1] (JSON) through cli.main.main in this one interpreter and prints, after
# each, its exit status, its time and the heavy top-level modules loaded so far.
_SNIPPET = f"""
import contextlib, io, json, sys, time
start = time.perf_counter()
from cli.main import main
results = []
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    results.append({{"argv": argv, "code": code, "seconds": time.perf_counter() - start, "out": out.getvalue(),
                     "heavy": sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))}})
print({_MARK!r} + json.dumps(results))
"""


def run_fresh(*argvs: list[str]) -> tuple[list[dict], float]:
    """Runs the argument lists in order in one fresh interpreter: (one record per argv, wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _SNIPPET, json.dumps([list(map(str, a)) for a in argvs])],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    wall = time.perf_counter() - start
    line = [text for text in proc.stdout.splitlines() if text.startswith(_MARK)]
    assert proc.returncode == 0 and line, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(line[0][len(_MARK):]), wall


def test_no_help_page_imports_tensorflow():
    """Every group's and command's --help, one after the other: after each, nothing heavy is loaded."""
    argvs = [[*path.split(), "--help"] for path in command_paths(tfrobust)]
    assert len(argvs) > 20 and ["list", "--help"] in argvs
    records, wall = run_fresh(*argvs)
    print(f"\n{len(argvs)} help pages in one interpreter: {wall:.2f} s wall")
    for record in records:
        assert record["code"] == 0, record
        assert record["out"].startswith("Usage:"), record
        assert record["heavy"] == [], f"{' '.join(record['argv'])} imported {record['heavy']}"


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """A finished two-cell study of a kind that imports nothing heavy (run in process)."""
    from cli.main import main

    def count(deps, out_dir, *, k: int = 1):
        """Returns k."""
        return {"k": k}

    root = tmp_path_factory.mktemp("fast")
    config = root / "s.yaml"
    config.write_text("name: fast\ngrid: {k: [1, 2]}\nstages:\n  - {name: s, kind: h7_count, params: {k: '${k}'}}\n")
    KINDS.add("h7_count", count)
    try:
        main(["study", "run", str(config), "--out", str(root / "study"), "--quiet", "--no-report"])
    except SystemExit as exit_:
        assert not exit_.code, exit_.code
    finally:
        KINDS.remove("h7_count")
    return root / "study"


@pytest.mark.parametrize("argv, allowed", [
    (["--help"], ()),
    (["list"], ()),
    (["study", "status", "{study}"], ()),  # reads the ledger with sqlite3 only
    (["study", "report", "{study}"], ("matplotlib", "pandas", "scipy")),
], ids=["help", "list", "study-status", "study-report"])
def test_fast_command_imports_no_tensorflow(argv, allowed, study_dir):
    argv = [a.replace("{study}", str(study_dir)) for a in argv]
    (record,), wall = run_fresh(argv)
    print(f"\ntfrobust {' '.join(argv)}: {wall:.2f} s wall (interpreter included), {record['seconds']:.2f} s in it")
    assert record["code"] == 0, record
    assert set(record["heavy"]) <= set(allowed), f"imported {record['heavy']}"
    assert not set(record["heavy"]) & set(TF)
    if argv[:2] == ["study", "status"]:
        assert "study fast (preset none): 2 cells" in record["out"]
    if argv[:2] == ["study", "report"]:
        assert "report" in record["out"].splitlines()[-1]


# Lazy packages: importing them (or their light modules) loads nothing heavy; every public name still resolves.
_LIGHT = ("import tfrobust.reports, tfrobust.studies, tfrobust.reports.ledgerfile, tfrobust.reports.files, "
          "tfrobust.studies.ledger")


def test_the_lazy_packages_and_light_modules_import_nothing_heavy():
    code = f"import sys; {_LIGHT}; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["[]"]


def _type_checking_imports(package: str) -> dict[str, str]:
    """Name -> module of the imports under ``if TYPE_CHECKING:`` in a package's ``__init__.py``."""
    tree = ast.parse((ROOT / package.replace(".", "/") / "__init__.py").read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    return {alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}


@pytest.mark.parametrize("package", ["tfrobust.reports", "tfrobust.studies"])
def test_every_public_name_of_a_lazy_package_resolves_to_its_module(package):
    """``__all__``, the names for type checkers and what ``__getattr__`` loads agree, object for object."""
    module = importlib.import_module(package)
    homes = _type_checking_imports(package)
    assert sorted(homes) == sorted(module.__all__) and len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is getattr(importlib.import_module(homes[name]), name), name
        assert name in dir(module)
    namespace: dict = {}
    exec(f"from {package} import *", namespace)
    assert set(module.__all__) <= set(namespace)
    assert importlib.import_module(f"{package}.ledger" if package.endswith("studies") else f"{package}.frame")
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        exec(f"from {package} import no_such_name", {})


def test_frame_re_exports_the_ledger_reader():
    from tfrobust.reports import frame, ledgerfile

    for name in ("LEDGER_NAME", "RESULTS_NAME", "LedgerError", "check_ledger", "flatten_metrics", "read_ledger"):
        assert getattr(frame, name) is getattr(ledgerfile, name) and name in frame.__all__
    assert issubclass(ledgerfile.LedgerError, ValueError)
    assert ledgerfile.flatten_metrics({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": 1, "a.c": "[1, 2]", "d": "x"}


def test_status_reads_a_study_in_a_fresh_interpreter_without_pandas(study_dir):
    """`study status` then `study report` in one interpreter: the report still loads what it needs."""
    records, _ = run_fresh(["study", "status", study_dir], ["study", "report", study_dir])
    assert [r["code"] for r in records] == [0, 0], records
    assert records[0]["heavy"] == [] and "pandas" in records[1]["heavy"]
    assert (study_dir / "report.html").is_file()


def test_report_of_a_study_without_figure_items_imports_no_matplotlib(study_dir):
    """The report items import matplotlib only to draw; this study's report has no item at all."""
    (record,), wall = run_fresh(["study", "report", study_dir])
    print(f"\ntfrobust study report (no figure items): {wall:.2f} s wall, {record['seconds']:.2f} s in it")
    assert record["code"] == 0, record
    assert record["heavy"] == ["pandas"], f"imported {record['heavy']}"
    assert "report" in record["out"].splitlines()[-1]


def test_list_shows_every_entry_with_its_options(run_cli):
    code, text, err = run_cli("list")
    assert code == 0, err
    for name, registry in REGISTRIES.items():
        assert f"{name} ({len(registry)}):" in text
        for entry in registry.values():
            assert f"\n  {entry.name}" in text
            for option in entry.options:
                assert option.describe() in text
    code, text, err = run_cli("list", "methods")
    assert code == 0, err
    assert text.startswith("methods (") and "attributions (" not in text


def test_list_shows_an_added_entry_its_source_and_options(run_cli):
    def doubled(model, x, y, *, alpha: float = 0.5, mode: str = "a"):
        """Twice nothing (a test entry)."""

    ATTRIBUTIONS.add("h7_doubled", doubled)
    try:
        code, text, err = run_cli("list", "attributions")
    finally:
        ATTRIBUTIONS.remove("h7_doubled")
    assert code == 0, err
    assert "  h7_doubled  Twice nothing (a test entry).  [added]\n      alpha: float = 0.5\n      mode: str = 'a'" in text


@pytest.mark.parametrize("argv, message", [
    (["list", "attackz"], "'attackz' is not one of"),
    (["list", "methods", "kinds"], "unexpected extra argument"),
    (["list", "--verbose"], "no such option"),
])
def test_list_bad_input_is_one_line(run_cli, argv, message):
    code, text, err = run_cli(*argv)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert message in err.lower()


def test_registry_choices_follow_the_registry():
    choice = registry_choice("kinds")
    assert list(choice.choices) == KINDS.names()

    def noop(deps, out_dir):
        """Nothing."""
        return {}

    KINDS.add("h7_noop", noop)
    try:
        assert "h7_noop" in choice.choices
        assert choice.convert("h7_noop", None, None) == "h7_noop"
    finally:
        KINDS.remove("h7_noop")
    with pytest.raises(click.BadParameter, match="h7_noop"):
        choice.convert("h7_noop", None, None)


def test_a_lazy_choice_with_a_metavar_reads_no_names_for_help():
    calls = []

    def names():
        calls.append(1)
        return ["a", "b"]

    @click.command()
    @click.option("--arch", type=LazyChoice(names, metavar="ARCH"))
    def command(arch):
        click.echo(arch)

    runner = click.testing.CliRunner()
    assert "--arch ARCH" in runner.invoke(command, ["--help"]).output and not calls
    assert runner.invoke(command, ["--arch", "b"]).output == "b\n" and calls
    result = runner.invoke(command, ["--arch", "c"])
    assert result.exit_code == 2 and "'c' is not one of 'a', 'b'" in result.output


class TestEntryOptions:
    """``--option`` on commands that take several attributions (saliency, roar)."""

    def test_a_bare_key_goes_to_every_chosen_entry_that_has_it(self):
        out = entry_options("attributions", ["smoothgrad", "random", "gradient"], {"seed": 3})
        assert out == {"smoothgrad": {"seed": 3}, "random": {"seed": 3}, "gradient": {}}

    def test_a_dotted_key_goes_to_its_entry_only_and_is_converted(self):
        out = entry_options("attributions", ["smoothgrad", "random"],
                            {"smoothgrad": {"samples": 10.0, "sigma": 1}, "seed": 1})
        assert out == {"smoothgrad": {"samples": 10, "sigma": 1.0, "seed": 1}, "random": {"seed": 1}}
        assert isinstance(out["smoothgrad"]["samples"], int) and isinstance(out["smoothgrad"]["sigma"], float)

    @pytest.mark.parametrize("options, message", [
        ({"samples": 3}, "--option samples: none of the chosen attributions has this option (gradient: no options"),
        ({"smoothgrad": {"samples": 3}}, "smoothgrad is not one of the chosen attributions (gradient)"),
        ({"gradient": {"samples": 3}}, "attribution 'gradient' has no option 'samples'"),
    ])
    def test_an_option_no_chosen_entry_has_is_one_line(self, options, message):
        with pytest.raises(ConfigError) as info:
            entry_options("attributions", ["gradient"], options)
        assert message in str(info.value) and "\n" not in str(info.value)

    def test_an_ill_typed_value_names_the_option_and_type(self):
        with pytest.raises(ConfigError, match="option samples of attribution 'smoothgrad' must be int, got 'many'"):
            entry_options("attributions", ["smoothgrad"], {"samples": "many"})


def test_partial_options_may_leave_out_required_ones():
    """train --option: the required ``attack`` of adversarial may come from --config or --norm/--eps."""
    entry = METHODS["adversarial"]
    assert any(option.required for option in entry.options)
    assert parse_partial(entry, {"adversarial_fraction": 1}) == {"adversarial_fraction": 1.0}
    with pytest.raises(ConfigError, match="needs option"):
        entry.parse({"adversarial_fraction": 1})
    with pytest.raises(ConfigError, match="^--option: method 'adversarial' has no option 'bogus'; its options: attack"):
        parse_partial(entry, {"bogus": 1})
    with pytest.raises(ConfigError, match="^--option: option adversarial_fraction of method 'adversarial' must be"):
        parse_partial(entry, {"adversarial_fraction": "half"})


def test_help_defaults_match_the_library_constants():
    """The manifold help states constants of a TensorFlow module as text (to stay fast): they must agree."""
    from click.testing import CliRunner

    from tfrobust.evaluation.manifold import KIM_KAPPA, KIM_STEP_SIZES
    from tfrobust.evaluation.vaegan_training import VAEGAN_BATCH_SIZE

    runner = CliRunner()
    distance = " ".join(runner.invoke(tfrobust, ["manifold", "distance", "--help"]).output.split())
    assert f"default {KIM_KAPPA:g}, the authors' code" in distance
    assert f"default {KIM_STEP_SIZES['l2']:g}, the authors' code" in distance
    train = " ".join(runner.invoke(tfrobust, ["manifold", "train", "--help"]).output.split())
    assert f"Batch size (default {VAEGAN_BATCH_SIZE}, Kim A.3)" in train
