"""Entry point: the ``tfrobust`` click group and its one-line error handling."""

from __future__ import annotations

import sys
from typing import Any

import click

from cli.attack import attack
from cli.data import data
from cli.export import export
from cli.manifold import manifold
from cli.roar import roar
from cli.saliency import saliency
from cli.study import study
from cli.theory import theory
from cli.train import train

__all__ = ["main", "tfrobust"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tfrobust")
def tfrobust() -> None:
    """Adversarial robustness and gradient interpretability for Keras 3.

    Implements Kim et al. 2019, Tsipras et al. 2019 and Noack et al. 2021.
    """


tfrobust.add_command(data)
tfrobust.add_command(train)
tfrobust.add_command(export)
tfrobust.add_command(attack)
tfrobust.add_command(roar)
tfrobust.add_command(saliency)
tfrobust.add_command(theory)
tfrobust.add_command(manifold)
tfrobust.add_command(study)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def main(argv: list[str] | None = None) -> Any:
    """Runs the CLI; bad input exits with status 2 and one line on stderr."""
    try:
        return tfrobust.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except click.ClickException as err:
        click.echo(f"error: {_one_line(err.format_message())}", err=True)
        sys.exit(2)
    except (ValueError, OSError) as err:  # bad input from the library: no traceback
        click.echo(f"error: {_one_line(str(err))}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
