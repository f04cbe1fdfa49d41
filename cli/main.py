"""Entry point: the ``tfrobust`` click group and its one-line error handling."""

from __future__ import annotations

import os
import sqlite3
import sys
import zipfile
from typing import Any, NoReturn

import click

from cli.attack import attack
from cli.data import data
from cli.export import export
from cli.listing import list_entries
from cli.manifold import manifold
from cli.options import SummaryGroup
from cli.roar import roar
from cli.saliency import saliency
from cli.study import study
from cli.theory import theory
from cli.train import train

__all__ = ["main", "tfrobust"]


#: Whether errors re-raise with their traceback (``--debug`` or ``$TFROBUST_DEBUG``); set per call of main.
_debug = {"on": False}

_HINT = "run with --debug for the traceback"


@click.group(cls=SummaryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tfrobust")
@click.option("--debug", is_flag=True,
              help="Show the full Python traceback of an error (also $TFROBUST_DEBUG=1).")
def tfrobust(debug: bool) -> None:
    """Adversarial robustness and gradient interpretability for Keras 3.

    Implements Kim et al. 2019, Tsipras et al. 2019 and Noack et al. 2021.
    """
    _debug["on"] = _debug["on"] or debug


tfrobust.add_command(data)
tfrobust.add_command(train)
tfrobust.add_command(export)
tfrobust.add_command(attack)
tfrobust.add_command(roar)
tfrobust.add_command(saliency)
tfrobust.add_command(theory)
tfrobust.add_command(manifold)
tfrobust.add_command(study)
tfrobust.add_command(list_entries)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _env_debug() -> bool:
    return os.environ.get("TFROBUST_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


def _input_error(err: Exception) -> bool:
    """Whether ``err`` reports bad input or a failing environment rather than a bug in tfrobust.

    ValueError covers tfrobust's ConfigError and CorruptDataError, OSError its
    DatasetNotFoundError; TensorFlow's OpError (file not found, resource
    exhausted, ...) is checked only when TensorFlow is already imported.
    """
    if isinstance(err, (ValueError, OSError, sqlite3.DatabaseError, zipfile.BadZipFile, EOFError)):
        return True
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(err, yaml.YAMLError):
        return True
    tf = sys.modules.get("tensorflow")
    errors = getattr(tf, "errors", None)
    return errors is not None and isinstance(err, errors.OpError)


def _describe(err: Exception) -> tuple[str, bool]:
    """The error as one line, and whether it came from outside tfrobust and Python's builtins.

    tfrobust's (and Python's) ValueError/OSError messages stand on their own;
    any other error is prefixed with its type name.
    """
    message = getattr(err, "message", None) if type(err).__module__.startswith("tensorflow") else None
    text = _one_line(message if isinstance(message, str) else str(err))
    own = type(err).__module__.split(".")[0] in ("tfrobust", "builtins")
    if own and isinstance(err, (ValueError, OSError)) and text:
        return text, False
    return (f"{type(err).__name__}: {text}" if text else type(err).__name__), True


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {_one_line(message)}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> Any:
    """Runs the CLI. Every error ends as one line on stderr (``error: ...``), no traceback.

    Exit status 2: bad input (usage errors, missing or corrupt files, invalid
    values, TensorFlow's op errors); 1: an unexpected internal error (the line
    names its type and says how to see the traceback); 130: interrupted.
    With ``--debug`` (before the command) or ``$TFROBUST_DEBUG=1`` errors
    are re-raised with their full traceback.
    """
    _debug["on"] = _env_debug()
    try:
        rv = tfrobust.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort as abort:
        if _debug["on"]:
            raise
        interrupted = isinstance(abort.__cause__ or abort.__context__, KeyboardInterrupt)
        _fail("interrupted" if interrupted else "aborted", 130)
    except KeyboardInterrupt:
        if _debug["on"]:
            raise
        _fail("interrupted", 130)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except click.ClickException as err:
        if _debug["on"]:
            raise
        _fail(err.format_message(), 2)
    except Exception as err:
        if _debug["on"]:
            raise
        text, foreign = _describe(err)
        if _input_error(err):
            _fail(f"{text} ({_HINT})" if foreign else text, 2)
        _fail(f"internal error: {text} ({_HINT})", 1)
    if isinstance(rv, int) and not isinstance(rv, bool) and rv:
        sys.exit(rv)  # a command's ctx.exit(n)
    return rv


if __name__ == "__main__":
    main()
