"""cli.main: every error is one line on stderr with a fitting exit status; --debug shows the traceback."""

from __future__ import annotations

import sqlite3

import pytest
import tensorflow as tf

import cli.data
from cli.main import main

HINT = "run with --debug for the traceback"


@pytest.fixture
def failing(monkeypatch):
    """Makes `tfrobust data info --dataset toy2d` raise the given exception."""
    monkeypatch.delenv("TFROBUST_DEBUG", raising=False)

    def install(error: BaseException) -> None:
        def raise_it(*args, **kwargs):
            raise error

        monkeypatch.setattr(cli.data, "dataset_info", raise_it)

    return install


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "error, code, expected",
    [
        (ValueError("bounds: lo must be\n   < hi"), 2, "error: bounds: lo must be < hi"),
        (FileNotFoundError("no model file at /x/model.keras"), 2, "error: no model file at /x/model.keras"),
        (sqlite3.DatabaseError("file is not a database"), 2,
         f"error: DatabaseError: file is not a database ({HINT})"),
        (tf.errors.NotFoundError(None, None, "/proc/x; No such file\nor directory"), 2,
         f"error: NotFoundError: /proc/x; No such file or directory ({HINT})"),
        (KeyError("arch"), 1, f"error: internal error: KeyError: 'arch' ({HINT})"),
        (TypeError("unsupported operand"), 1, f"error: internal error: TypeError: unsupported operand ({HINT})"),
        (RuntimeError(), 1, f"error: internal error: RuntimeError ({HINT})"),
        (KeyboardInterrupt(), 130, "error: interrupted"),
    ],
)
def test_errors_become_one_line(failing, run_cli, error, code, expected):
    failing(error)
    status, out, err = run_cli("data", "info", "--dataset", "toy2d")
    assert status == code
    assert lines(err) == [expected]
    assert "Traceback" not in err and out == ""


def test_debug_flag_and_env_reraise(failing, run_cli, monkeypatch):
    failing(KeyError("arch"))
    with pytest.raises(KeyError, match="arch"):
        main(["--debug", "data", "info", "--dataset", "toy2d"])
    # The flag does not stick to later calls in the same process.
    status, _, err = run_cli("data", "info", "--dataset", "toy2d")
    assert status == 1 and len(lines(err)) == 1
    monkeypatch.setenv("TFROBUST_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["data", "info", "--dataset", "toy2d"])
    monkeypatch.setenv("TFROBUST_DEBUG", "0")
    status, _, err = run_cli("data", "info", "--dataset", "toy2d")
    assert status == 1 and len(lines(err)) == 1


def test_usage_errors_and_success(run_cli, monkeypatch):
    monkeypatch.delenv("TFROBUST_DEBUG", raising=False)
    status, _, err = run_cli("data", "info", "--dataset", "imagenet")
    assert status == 2 and len(lines(err)) == 1 and lines(err)[0].startswith("error:")
    status, out, err = run_cli("data", "info", "--dataset", "toy2d")
    assert status == 0 and "toy2d" in out and err == ""
    status, out, _ = run_cli("--help")
    assert status == 0 and "--debug" in out


# ---------------------------------------------------------------------------
# cli.runs: what attack, saliency, roar and export share


@pytest.fixture
def bad_run(tmp_path):
    """A run directory with a tiny valid model.keras; tests spoil one part of it."""
    import keras

    from tfrobust.training.artifacts import save_model

    run = tmp_path / "run"
    run.mkdir()
    save_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]), run / "model.keras")
    (run / "config.yaml").write_text("data:\n  name: toy2d\n  bounds: [-1, 1]\n")
    return run


@pytest.mark.parametrize(
    "spoil, expected",
    [
        (lambda run: (run / "model.keras").unlink(), "no trained model at"),
        (lambda run: (run / "model.keras").write_bytes(b"\0" * 40), "is not a .keras model archive"),
        (lambda run: (run / "model.keras").write_bytes((run / "model.keras").read_bytes()[:300]),
         "model.keras"),
        (lambda run: (run / "config.yaml").write_text("data: [unclosed\n"), "invalid YAML"),
        (lambda run: (run / "config.yaml").write_bytes(b"\xff\xfe data"), "not a UTF-8 text file"),
        (lambda run: (run / "config.yaml").write_text("data: [1, 2]\n"), "data must be a mapping"),
        (lambda run: (run / "config.yaml").write_text("data: {bounds: '1,0'}\n"), "data.bounds"),
        (lambda run: (run / "config.yaml").write_text("data: {options: 3}\n"), "data.options"),
        (lambda run: (run / "config.yaml").write_text("- a list\n"), "mapping"),
    ],
)
def test_spoiled_run_is_one_line(bad_run, spoil, expected, run_cli, monkeypatch):
    from cli.runs import model_and_data

    monkeypatch.delenv("TFROBUST_DEBUG", raising=False)
    spoil(bad_run)
    with pytest.raises((ValueError, OSError)) as info:
        model_and_data(str(bad_run), dataset=None, split="test", data_dir=None, classes=None,
                       limit=4, bounds=None, seed=0)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert str(bad_run) in message
    # Through the CLI: exit 2, that line, no traceback.
    status, _, err = run_cli("attack", "--model", bad_run, "--norm", "linf", "--eps", "0.1", "--limit", "4")
    assert status == 2 and lines(err) == [f"error: {message}"]


def test_run_without_config_uses_the_options(bad_run):
    from cli.runs import model_and_data

    (bad_run / "config.yaml").unlink()
    path, model, ds = model_and_data(str(bad_run), dataset="toy2d", split="test", data_dir=None, classes=None,
                                     limit=4, bounds=None, seed=0)
    assert path == bad_run / "model.keras" and len(ds) == 4 and ds.input_shape == (2,)
