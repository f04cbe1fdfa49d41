"""Command-line option values: ``--option key=value`` (see :mod:`tfrobust.registry`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tfrobust.config import ConfigError, parse_number

__all__ = ["parse_option_args", "parse_value"]


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_FRACTION = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)\s*/\s*(\d+\.?\d*|\.\d+)$")


def parse_value(text: str) -> Any:
    """A command-line option value: numbers, ``8/255`` fractions, booleans, none, lists, or a string.

    ``true``/``false``/``yes``/``no``, ``none``/``null``, ``1``, ``0.5``,
    ``8/255`` (a float), ``inf``, ``a,b`` and ``[1, 2]`` (lists of these),
    ``{...}`` (a YAML mapping); anything else stays a string.
    """
    value = text.strip()
    lower = value.lower()
    if lower in ("true", "yes", "on"):
        return True
    if lower in ("false", "no", "off"):
        return False
    if lower in ("none", "null", "~"):
        return None
    if _NUMBER.match(value):
        number = float(value)
        return int(value) if re.fullmatch(r"[-+]?\d+", value) else number
    if _FRACTION.match(value) or lower in ("inf", "+inf", "-inf"):
        return parse_number(value, name="value") if "/" in value else float(lower)
    if value.startswith(("[", "{")):
        import yaml

        try:
            loaded = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"cannot read {text!r} as a list or mapping") from None
        return loaded
    if "," in value:
        return [parse_value(part) for part in value.split(",") if part.strip()]
    return value


def parse_option_args(items: Sequence[str], *, flag: str = "--option") -> dict[str, Any]:
    """``["key=value", ...]`` (repeatable ``--option``) -> ``{key: parse_value(value)}``.

    A dotted key (``smoothgrad.samples=10``) becomes a nested mapping.

    Raises:
        ConfigError: an item without ``=``, an empty key, or a key given twice.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"{flag}: write key=value, got {item!r}")
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{flag}: {part!r} is given both as a value and as a group")
            node = child
        if parts[-1] in node:
            raise ConfigError(f"{flag}: {key} is given twice")
        try:
            node[parts[-1]] = parse_value(text)
        except ConfigError as err:
            raise ConfigError(f"{flag} {key}: {err}") from None
    return out

