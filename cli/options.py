"""Flags that every command taking a registry entry shares: ``--option key=value``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

__all__ = ["option_flag", "parse_options"]

#: ``--option KEY=VALUE``, repeatable: an option of the chosen entry (see ``tfrobust list``).
option_flag = click.option(
    "--option", "options", multiple=True, metavar="KEY=VALUE",
    help="An option of the chosen method/attack (repeatable); values may be numbers, 8/255, true/false, "
         "none, a,b lists. `tfrobust list` shows every entry's options.")


def parse_options(values: Sequence[str]) -> dict[str, Any]:
    """The ``--option`` values as a mapping (dotted keys nest); ConfigError (exit 2) on a malformed one."""
    from tfrobust.registry import parse_option_args

    return parse_option_args(list(values))
