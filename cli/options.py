"""What every command taking a registry entry shares: ``--option key=value`` and choices read from registries.

Choices are read when a value is checked or a help page is shown, never at
import: registry names come from the registries' source (no TensorFlow); the
architectures' names (:data:`ARCH_CHOICE`) need Keras, so their help shows a
metavar instead of the list.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import click

__all__ = ["ARCH_CHOICE", "QUIET_HELP", "LazyChoice", "SummaryGroup", "download_flag", "entry_options",
           "keras_verbose", "option_flag", "parse_options", "parse_partial", "quiet_flag", "registry_choice",
           "show_progress"]

#: ``--option KEY=VALUE``, repeatable: an option of the chosen entry (see ``tfrobust list``).
option_flag = click.option(
    "--option", "options", multiple=True, metavar="KEY=VALUE",
    help="An option of the chosen method, attack or attribution (repeatable); values may be numbers, 8/255, "
         "true/false, none, a,b lists; dotted keys nest (attack.steps=10). `tfrobust list` shows every "
         "entry's options.")


#: What ``--quiet`` means in every command that has it.
QUIET_HELP = ("No progress output (progress bars, per-item lines); a training logs one line per epoch. Results, "
              "warnings and errors still print. Progress bars are also off when stdout is not a terminal.")

#: ``--quiet``: the one meaning of :data:`QUIET_HELP`.
quiet_flag = click.option("--quiet", is_flag=True, help=QUIET_HELP)


def show_progress(quiet: bool) -> bool:
    """Whether to draw progress bars: not ``--quiet`` and stdout is a terminal (no ANSI bars in logs)."""
    return not quiet and sys.stdout.isatty()


def keras_verbose(quiet: bool) -> int:
    """Keras ``fit`` verbosity: 1 (a progress bar) on a terminal, 2 (one line per epoch) when quiet or piped."""
    return 1 if show_progress(quiet) else 2


def _enable_download(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        from tfrobust.data.locate import enable_download

        enable_download()
    return value


#: ``--download``: let tensorflow-datasets fetch MNIST, Fashion-MNIST or CIFAR-10 when no local files are found.
download_flag = click.option(
    "--download", is_flag=True, expose_value=False, callback=_enable_download,
    help="If the dataset (mnist, fashion_mnist, cifar10) is found nowhere locally, download it through "
         "tensorflow-datasets (the same as $TFROBUST_TFDS_DOWNLOAD=1; needs a network).")


class SummaryGroup(click.Group):
    """A group whose command list shows each command's whole summary (``short_help``, else the first
    sentence of its help), wrapped rather than cut off with ``...``."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def parse_options(values: Sequence[str]) -> dict[str, Any]:
    """The ``--option`` values as a mapping (dotted keys nest); ConfigError (exit 2) on a malformed one."""
    from tfrobust.registry import parse_option_args

    return parse_option_args(list(values))


class LazyChoice(click.Choice):
    """A :class:`click.Choice` whose names come from ``names()``, called each time they are needed.

    With ``metavar`` the help page shows it instead of the names, so that
    ``--help`` does not call ``names`` (for names that need an import).
    """

    def __init__(self, names: Callable[[], Iterable[str]], *, metavar: str | None = None) -> None:
        # click.Choice.__init__ would read the names now; set its fields here instead.
        self._names = names
        self._metavar = metavar
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self._names())

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        if self._metavar is not None:
            return self._metavar
        return super().get_metavar(param, ctx)


def registry_choice(registry: str) -> LazyChoice:
    """The names of ``tfrobust.registry.REGISTRIES[registry]`` (``"methods"``, ``"norms"``, ...) as a choice."""

    def names() -> list[str]:
        from tfrobust.registry import REGISTRIES

        return REGISTRIES[registry].names()

    return LazyChoice(names)


#: ``--arch``: a name of ``tfrobust.registry.MODELS`` (read from the source: no TensorFlow).
ARCH_CHOICE = registry_choice("models")


def parse_partial(entry: Any, values: Mapping[str, Any], *, prefix: str = "--option") -> dict[str, Any]:
    """``values`` checked against ``entry``'s options like :meth:`~tfrobust.registry.Entry.parse`, except
    that required options may be missing (they may come from elsewhere, e.g. a config file).

    Raises:
        ConfigError: an unknown option or a value of the wrong type (one line).
    """
    lenient = dataclasses.replace(entry, options=tuple(
        dataclasses.replace(option, default=None) if option.required else option for option in entry.options))
    return lenient.parse(values, prefix=prefix)


def entry_options(registry: str, names: Sequence[str], options: Mapping[str, Any], *,
                  flag: str = "--option") -> dict[str, dict[str, Any]]:
    """``--option`` values split among the chosen entries ``names`` and checked against each one's options.

    ``NAME.key=value`` (a nested mapping under a chosen name) goes to that
    entry only; a bare ``key=value`` goes to every chosen entry that has the
    option ``key``.

    Returns:
        name -> its options, converted by :meth:`tfrobust.registry.Entry.parse`.

    Raises:
        ConfigError: a group naming an entry that is not chosen, a bare key no
            chosen entry has, or a value of the wrong type (one line).
    """
    from tfrobust.config import ConfigError
    from tfrobust.registry import REGISTRIES

    reg = REGISTRIES[registry]
    entries = {name: reg[name] for name in names}
    given: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, value in options.items():
        if key in entries and isinstance(value, Mapping):
            given[key].update(value)
            continue
        if isinstance(value, Mapping) and key in reg:
            raise ConfigError(f"{flag} {key}.*: {key} is not one of the chosen {reg.name} ({', '.join(names)})")
        takers = [name for name, entry in entries.items() if any(o.name == key for o in entry.options)]
        if not takers:
            known = "; ".join(f"{name}: {', '.join(o.name for o in entry.options) or 'no options'}"
                              for name, entry in entries.items())
            raise ConfigError(f"{flag} {key}: none of the chosen {reg.name} has this option ({known})")
        for name in takers:
            given[name][key] = value
    return {name: entries[name].parse(values, prefix=flag) for name, values in given.items()}
