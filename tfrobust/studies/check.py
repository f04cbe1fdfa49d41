"""Checks every cell of a study against its kind before any cell runs.

A misspelt param (``epoch:``) or one of the wrong type (``steps: ten``) must
not surface hours into a study, when its cell finally runs. :func:`check_study`
expands the cells of a preset and checks each cell's resolved params:

- against the kind's signature (:data:`tfrobust.registry.KINDS`, read
  without importing the kind): unknown names (with a close match as a
  hint), wrong types, required params missing;
- against what the signature cannot express: the ``check_params(params)``
  function of the kind's module, when it has one (called with the
  signature's defaults filled in; the kinds call the same function before
  any work, so the check is never stricter than the run), or
  ``KIND_CHECKS[kind]`` when set (``fn(params)`` raising
  :class:`~tfrobust.config.ConfigError`; e.g. for a kind added at run time).

The attacks a cell will run are built too, as the run builds them
(:class:`tfrobust.attacks.Attack`: options parsed by the attack's registry
entry, then its checker), so that e.g. a PGD step the run would refuse
(longer than the ball's diameter) fails before any cell runs: the training
attack of an adversarial ``train`` cell (``method_options.attack``) and
every (norm, eps) of an ``attack`` cell. An l2 sign step's length depends
on the input size; it and the data's bounds are read from the train cell's
``data`` section and the dataset registry (:data:`tfrobust.data.DATASETS`,
the ``tsipras`` ``d`` option), never from the data; what cannot be told
(an unknown dataset) is skipped. No data are read, so what only a running
kind can see (a file a param points to) is still checked when the cell runs.

Reading a spec and checking params import no TensorFlow; building the
attacks imports :mod:`tfrobust.attacks` (TensorFlow), only for cells that
configure one.

Last, every report item's and every claim's columns are checked against
what the cells will produce (:mod:`tfrobust.studies.report_check`): a
misspelt metric or grid key fails here, not after the training cells
finished.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import math
from collections.abc import Callable, Mapping
from typing import Any

from tfrobust.config import ConfigError, DataConfig, parse_number, train_config_from_dict
from tfrobust.registry import ATTACKS, KINDS
from tfrobust.studies.kinds.attack import attack_plan
from tfrobust.studies.kinds.train import train_config_values
from tfrobust.studies.spec import Cell, StudySpec

__all__ = ["KIND_CHECKS", "check_cell", "check_params", "check_study", "dataset_input_shape"]

#: kind -> ``fn(params)`` raising ConfigError (one line, naming ``<kind>.<param>``): semantic checks of a
#: kind that has no ``check_params`` in its module (e.g. one added at run time); used instead of it.
KIND_CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {}

#: The bounds an attack is checked with when the data's are not known (its checks do not depend on them).
UNKNOWN_BOUNDS = (-math.inf, math.inf)


def _semantic_check(kind: str, entry: Any) -> Callable[[Mapping[str, Any]], None] | None:
    """``KIND_CHECKS[kind]``, else the ``check_params`` of the module that defines the kind (None: none)."""
    if kind in KIND_CHECKS:
        return KIND_CHECKS[kind]
    target = getattr(entry, "target", "")
    if not target or getattr(entry, "source", "added") == "added":
        return None
    try:
        module = importlib.import_module(target.partition(":")[0])
    except ImportError as err:
        raise ConfigError(f"kind {kind!r}: cannot import {target}: {err}") from None
    check = getattr(module, "check_params", None)
    return check if callable(check) else None


def check_params(kind: str, params: Mapping[str, Any], *, kinds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``params`` of one ``kind`` cell checked as the run will, without running anything.

    Returns:
        The params converted by the kind's signature, its defaults filled in.

    Raises:
        ConfigError: one line: an unknown param (with a close match), a
            wrong type, a required param missing, or a value the kind refuses.
    """
    registry = KINDS if kinds is None else kinds
    entry = registry[kind]
    if not hasattr(entry, "parse"):  # a plain mapping of functions (tests): nothing to read
        return dict(params)
    known = [option.name for option in entry.options]
    unknown = [str(k) for k in params if k not in known]
    if unknown:
        hints = [f"{n} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(n, known, n=1, cutoff=0.8))
                 else n for n in unknown]
        where = "; an attack's or attribution's own options go under options" if "options" in known else ""
        raise ConfigError(f"unknown param(s) {', '.join(hints)} for kind {kind}; known: {', '.join(known)}{where}")
    given = entry.parse(params, prefix=kind)
    full = {option.name: option.default for option in entry.options if not option.required}
    full.update(given)
    check = _semantic_check(kind, entry)
    if check is not None:
        check(full)
    return full


def dataset_input_shape(name: Any, options: Any = None) -> tuple[int, ...] | None:
    """The shape of one input of dataset ``name`` from the registry, without reading any data.

    ``tsipras`` inputs have ``d + 1`` values (its ``d`` option, default
    :data:`tfrobust.data.DATASET_OPTIONS`). None for an unknown name or an
    unusable ``d`` (the run reports those).
    """
    from tfrobust.data import DATASET_OPTIONS, DATASETS

    spec = DATASETS.get(name) if isinstance(name, str) else None
    if spec is None:
        return None
    if name == "tsipras":
        given = options.get("d") if isinstance(options, Mapping) else None
        d = DATASET_OPTIONS["tsipras"]["d"] if given is None else given
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            return None
        return (d + 1,)
    return tuple(int(n) for n in spec.input_shape)


def _data_facts(params: Mapping[str, Any]) -> tuple[tuple[float, float], tuple[int, ...] | None]:
    """(bounds, input shape) of a train cell's ``data`` section, from the dataset registry where the
    section does not say; unknown: unbounded and None (the parts that need them are skipped)."""
    from tfrobust.data import DATASETS

    data = params.get("data")
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        return UNKNOWN_BOUNDS, None
    name = data.get("name", DataConfig.name)
    bounds: Any = data.get("bounds")
    if bounds is None:
        spec = DATASETS.get(name) if isinstance(name, str) else None
        bounds = spec.default_bounds if spec is not None else UNKNOWN_BOUNDS
    try:
        lo, hi = (parse_number(b, name="data.bounds") for b in bounds)
    except (ConfigError, TypeError, ValueError):
        return UNKNOWN_BOUNDS, None  # the training config reports it
    return (lo, hi), dataset_input_shape(name, data.get("options"))


def _train_attack(params: Mapping[str, Any]) -> None:
    """The training attack of an adversarial train cell (``method_options.attack``), built as the run
    builds it (:meth:`tfrobust.attacks.Attack.from_config`, with the dataset's bounds and input shape)."""
    config = train_config_from_dict(train_config_values(params))
    attack = config.method_options.get("attack") if config.method == "adversarial" else None
    if not isinstance(attack, Mapping):
        return  # the method reports a missing or malformed attack
    from tfrobust.attacks import Attack

    bounds, shape = _data_facts(params)
    Attack.from_config(attack, bounds=bounds, input_shape=shape,
                       prefix="method_options.attack").check_trainable("method_options.attack")


def _attack_cell(params: Mapping[str, Any], bounds: tuple[float, float], input_shape: tuple[int, ...] | None) -> None:
    """Builds every (norm, eps) attack of an attack cell (``params``: converted, defaults filled in) as
    :func:`tfrobust.evaluation.robust_accuracy_table` does."""
    from tfrobust.attacks import Attack

    name = params.get("attack", "pgd")
    factor = {o.name: o.default for o in ATTACKS[name].options}.get("step_size_factor")
    norms, radii_of, options_of = attack_plan(params)
    for norm in norms:
        options = options_of[norm]
        how = ""
        if factor is not None and options.get("step_size") is None:
            how = f" (step_size_factor {float(options.get('step_size_factor', factor)):g} * eps / steps)"
        for eps in radii_of[norm]:
            try:
                Attack.build(name, norm=norm, eps=eps, bounds=bounds, options=options, input_shape=input_shape)
            except ValueError as err:
                raise ConfigError(f"attack {name} ({norm}, eps {eps:g}{how}): {' '.join(str(err).split())}") from None


def _in_cell(cell: Cell, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except (ConfigError, ValueError, TypeError) as err:
        detail = " ".join(str(err).split())
        raise ConfigError(f"stages.{cell.stage}.params (cell {cell.id}): {detail}") from None


def check_cell(cell: Cell, *, kinds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Checks one cell's params against its kind (see the module docstring); returns them converted.

    An attack cell's attacks are built without its train cell's data (unbounded, input size
    unknown); :func:`check_study` builds them again with it.

    Raises:
        ConfigError: one line naming the stage, the cell, the param and what is wrong.
    """
    params = _in_cell(cell, lambda: check_params(cell.kind, cell.params, kinds=kinds))
    if kinds is None or kinds is KINDS:
        if cell.kind == "train":
            _in_cell(cell, lambda: _train_attack(params))
        elif cell.kind == "attack":
            _in_cell(cell, lambda: _attack_cell(params, UNKNOWN_BOUNDS, None))
    return params


def check_study(spec: StudySpec, preset: str | None = None, *,
                kinds: Mapping[str, Any] | None = None) -> list[Cell]:
    """Checks every cell of a study (one preset) before any runs; returns the cells.

    Args:
        spec: the study.
        preset: a preset name, or None for the params as written.
        kinds: the registered kinds (default :data:`tfrobust.registry.KINDS`):
            a cell of an unregistered kind is an error.

    Raises:
        ConfigError: unknown preset or kind, or the first cell whose params its
            kind refuses (one line: stage, cell, param, what is wrong, and the
            known params for an unknown one); then the first attack cell whose
            l2 sign steps are too long for its train cell's inputs; then the
            first report item, then the first claim, naming a column the cells will not produce
            (:func:`tfrobust.studies.report_check.check_report_columns`,
            :func:`~tfrobust.studies.report_check.check_claim_columns`).
    """
    registry = KINDS if kinds is None else kinds
    cells = spec.cells(preset)
    unknown = sorted({c.kind for c in cells} - set(registry))
    if unknown:
        raise ConfigError(f"unknown stage kind(s) {', '.join(unknown)}; registered: {', '.join(registry)}")
    checked = {cell.id: check_cell(cell, kinds=kinds) for cell in cells}
    if registry is KINDS:
        by_id = {cell.id: cell for cell in cells}
        for cell in cells:
            if cell.kind != "attack":
                continue
            trains = [checked[i] for i in cell.needs.values() if i in by_id and by_id[i].kind == "train"]
            if len(trains) == 1:
                bounds, shape = _data_facts(trains[0])
                _in_cell(cell, functools.partial(_attack_cell, checked[cell.id], bounds, shape))
        from tfrobust.studies.report_check import check_claim_columns, check_report_columns

        check_report_columns(spec, cells, checked, kinds=registry)
        check_claim_columns(spec, cells, checked, kinds=registry)
    return cells
