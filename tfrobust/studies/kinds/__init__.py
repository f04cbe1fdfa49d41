"""Stage kinds: what a study cell does, by name (docs/architecture.md, Registries).

A kind is a function registered with ``@register("kinds", "<name>")`` in a
module of this package (or added by a plugin in the ``tfrobust.kinds`` entry
point group, or at run time with ``KINDS.add(name, fn)``)::

    fn(deps, out_dir, *, <options>) -> metrics

- ``deps``: dependency key -> artifact directory of that dependency cell (the
  key is the needed stage's name when it contributes one cell, else the
  dependency's cell id);
- ``out_dir``: the cell's own artifact directory ``cells/<id>/`` (exists);
- the keyword-only parameters are the stage's ``params``: their types and
  defaults come from the signature, so unknown or ill-typed params are refused
  (one line naming the kind and listing its params) before anything runs;
- returns a flat mapping of JSON-serializable metrics (the ledger and
  ``results.csv`` columns).

What a signature cannot express (a count >= 1, a radius >= 0, names from
another registry, options of an attack or attribution) a kind checks first
thing, in a function ``check_params(params)`` of its module (params with the
signature's defaults filled in; ConfigError naming ``<kind>.<param>``):
:func:`tfrobust.studies.check.check_study` calls the same function before any
cell runs.

:func:`run_kind` checks a cell's params against the kind's signature and runs
it. The modules import TensorFlow only when a kind runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tfrobust.registry import KINDS

__all__ = ["KINDS", "Kind", "run_kind"]

#: ``fn(deps, out_dir, **options) -> metrics``.
Kind = Callable[..., Mapping[str, Any]]


def run_kind(name: str, params: Mapping[str, Any] | None, deps: Mapping[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Runs the kind ``name`` with ``params`` checked and converted by its signature.

    Raises:
        ConfigError: an unknown kind, or a param it does not take or of the wrong type.
    """
    entry = KINDS[name]
    options = entry.parse(params or {}, prefix=name)
    return entry.load()(dict(deps), Path(out_dir), **options)
