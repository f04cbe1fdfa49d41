"""Shared test set-up: quiet TensorFlow, Keras on the TensorFlow backend."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Never let tensorflow-datasets try a download from a test.
os.environ.setdefault("TFROBUST_NO_TFDS", "1")

import pytest  # noqa: E402  (after the environment is set)


@pytest.fixture
def run_cli(capsys):
    """Runs the CLI in process: ``run_cli("study", "status", path) -> (exit code, stdout, stderr)``."""
    from cli.main import main

    def run(*args):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
