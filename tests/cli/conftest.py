"""Helpers to run the CLI in-process and capture its exit status and output."""

import pytest

from cli.main import main


@pytest.fixture
def run_cli(capsys):
    def run(*args):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
