"""One CLI: every option has help, the same option means the same thing everywhere, summaries are whole,
logs are plain text, and every command that reads data takes --download (issue 17, item 8)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from cli.main import tfrobust
from cli.options import QUIET_HELP, keras_verbose, show_progress
from tfrobust.data import DatasetNotFoundError
from tfrobust.data import locate as locate_module
from tfrobust.data.locate import DOWNLOAD_ENV, enable_download

ROOT = Path(__file__).resolve().parents[2]
# Command subtrees exempt from the checks below (none: every command follows them).
PENDING: tuple[str, ...] = ()
#: Commands that read a trained run and a dataset: --dataset defaults to the run's.
READS_RUN = ("attack", "roar", "saliency", "manifold distance")
#: Commands that read a file-backed dataset: each takes --download.
READS_DATA = ("train", "attack", "roar", "saliency", "manifold train", "manifold distance", "theory linear",
              "data info", "study run")


def walk(cmd: click.Command = tfrobust, path: tuple[str, ...] = ()):
    """(path, command) for every command and group under ``cmd``, ``cmd`` included."""
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from walk(sub, (*path, name))


COMMANDS = {" ".join(path): cmd for path, cmd in walk()}


def option(command: str, name: str) -> click.Option:
    matches = [p for p in COMMANDS[command].params if isinstance(p, click.Option) and name in p.opts]
    assert len(matches) == 1, (command, name)
    return matches[0]


def help_page(*path: str) -> str:
    result = CliRunner().invoke(tfrobust, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_option_has_help():
    missing = [f"{name or 'tfrobust'} {opt.opts[0]}" for name, cmd in COMMANDS.items() for opt in cmd.params
               if isinstance(opt, click.Option) and not (opt.help or "").strip()
               and not {"-h", "--help"} & set(opt.opts)]
    assert not missing, missing
    assert len(COMMANDS) > 15  # the walk reached the subcommands


def test_every_argument_is_named_in_its_help():
    missing = []
    for name, cmd in COMMANDS.items():
        if name.split(" ")[0] in PENDING:
            continue
        for arg in cmd.params:
            if isinstance(arg, click.Argument) and arg.human_readable_name not in (cmd.help or ""):
                missing.append(f"{name} {arg.human_readable_name}")
    assert not missing, missing


def test_summaries_are_whole_sentences():
    groups = [path for path, cmd in walk() if isinstance(cmd, click.Group) and (path[:1] or ("",))[0] not in PENDING]
    assert () in groups and ("theory",) in groups
    for path in groups:
        page = help_page(*path)
        commands = page.split("Commands:", 1)[1]
        cut = [line for line in commands.splitlines() if line.rstrip().endswith("...")]
        assert not cut, (path, cut)
    summaries = {" ".join(path): cmd.get_short_help_str(limit=10_000) for path, cmd in walk() if path}
    # not cut after an abbreviation either ("Kim et al." ends click's first sentence)
    bad = {name: s for name, s in summaries.items()
           if not s or s.endswith("...") or s.count("(") != s.count(")") or s.endswith(" al.")}
    assert not bad, bad


def test_theory_help_lists_each_subcommand_once():
    page = help_page("theory")
    for name in ("tsipras", "linear", "toy"):
        assert len(re.findall(rf"^\s+{name}\s", page, flags=re.MULTILINE)) == 1, page


def test_dataset_defaults_to_the_runs():
    for command in READS_RUN:
        opt = option(command, "--dataset")
        assert opt.default is None and not opt.required, command
        assert "default: the" in opt.help, command


def test_split_defaults_are_stated():
    splits = [(name, opt) for name, cmd in COMMANDS.items() for opt in cmd.params
              if isinstance(opt, click.Option) and "--split" in opt.opts]
    assert splits
    for name, opt in splits:
        assert opt.help and opt.show_default and opt.default in ("train", "test"), name
        assert f"[default: {opt.default}]" in " ".join(help_page(*name.split()).split()), name


def test_out_is_always_a_directory():
    outs = [(name, opt) for name, cmd in COMMANDS.items() for opt in cmd.params
            if isinstance(opt, click.Option) and "--out" in opt.opts]
    assert len(outs) >= 8
    for name, _opt in outs:
        assert "--out DIRECTORY" in help_page(*name.split()), name


def test_quiet_has_one_meaning():
    quiet = [(name, opt) for name, cmd in COMMANDS.items() for opt in cmd.params
             if isinstance(opt, click.Option) and "--quiet" in opt.opts and name.split(" ")[0] not in PENDING]
    assert {name for name, _ in quiet} >= {"train", "roar", "saliency", "attack", "manifold train"}
    assert all(opt.help == QUIET_HELP for _, opt in quiet)


def test_progress_bars_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert not show_progress(False) and keras_verbose(False) == 2 and keras_verbose(True) == 2
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert show_progress(False) and keras_verbose(False) == 1
    assert not show_progress(True) and keras_verbose(True) == 2


def test_python_logs_of_tensorflow_and_absl_are_errors_only():
    # tests/conftest.py sets TF_CPP_MIN_LOG_LEVEL=2; the CLI's own default is 3: both silence warnings.
    for name in ("tensorflow", "absl"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.ERROR, name


def test_piped_logs_have_no_ansi_and_no_retracing(tmp_path):
    """A training (Keras fit) and saliency maps (a Keras Progbar on a terminal) with stdout piped."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TFROBUST_DEBUG", None)
    run = str(tmp_path / "run")
    script = ("import sys; from cli.main import main; "
              "main(sys.argv[1:]); main(['saliency', '--model', sys.argv[-1], '--method', "
              "'gradient', '--limit', '8', '--grid', '0', '--out', sys.argv[-1] + '_maps'])")
    proc = subprocess.run(
        [sys.executable, "-c", script, "train", "--dataset", "toy2d", "--arch", "kim_toy_dnn", "--epochs", "1",
         "--limit", "64", "--batch-size", "16", "--out", run],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout
    assert re.search(r"4/4 - .*loss", proc.stdout), proc.stdout  # one plain line for the epoch
    assert "mean |map|" in proc.stdout, proc.stdout  # the saliency maps ran too
    assert "\x1b[" not in proc.stdout and "retracing" not in proc.stdout.lower(), proc.stdout


def test_every_command_that_reads_data_takes_download():
    for command in READS_DATA:
        opt = option(command, "--download")
        assert opt.is_flag and "tensorflow-datasets" in opt.help and DOWNLOAD_ENV in opt.help, command


def test_download_sets_what_the_environment_variable_sets(monkeypatch):
    monkeypatch.setenv(DOWNLOAD_ENV, "0")
    assert not locate_module._env_flag(DOWNLOAD_ENV, False)
    result = CliRunner().invoke(tfrobust, ["data", "info", "--dataset", "toy2d", "--download"])
    assert result.exit_code == 0, result.output
    assert os.environ[DOWNLOAD_ENV] == "1" and locate_module._env_flag(DOWNLOAD_ENV, False)
    monkeypatch.setenv(DOWNLOAD_ENV, "0")
    enable_download()
    assert os.environ[DOWNLOAD_ENV] == "1"


def _stub_tfds(monkeypatch, calls: list):
    class Builder:
        def __init__(self, name):
            self.name = name

        def is_prepared(self):
            return False

        def download_and_prepare(self):
            calls.append(self.name)
            raise ConnectionError("no network in tests")

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", SimpleNamespace(builder=Builder))
    monkeypatch.delenv("TFROBUST_NO_TFDS", raising=False)


def test_missing_data_error_names_download(tmp_path, monkeypatch, run_cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(locate_module, "DEBIAN_DIRS", {"fashion_mnist": str(tmp_path / "no-debian")})
    monkeypatch.setenv("TFROBUST_DATA_DIR", str(empty))
    monkeypatch.setenv(DOWNLOAD_ENV, "0")
    for name in ("mnist", "cifar10", "fashion_mnist"):
        code, _, err = run_cli("data", "info", "--dataset", name, "--data-dir", empty)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "--download" in lines[0], err
    calls: list = []
    _stub_tfds(monkeypatch, calls)
    with pytest.raises(DatasetNotFoundError, match=r"not prepared; pass --download or set \$TFROBUST_TFDS"):
        locate_module.search("mnist")
    assert calls == []  # never fetched without the flag
    code, _, err = run_cli("data", "info", "--dataset", "mnist", "--download")
    assert code == 2 and calls == ["mnist"] and "ConnectionError: no network in tests" in err, err
