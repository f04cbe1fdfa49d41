"""Checks a study's report items against the columns its cells will produce, before any cell runs.

:func:`tfrobust.reports.check_report_section` (run when a study file is read)
checks each item's options and that a ``stage.metric`` reference names one of
the item's stages. This module goes further with the cells of a preset:

- a bare column name must be a grid key one of the item's stages varies over
  (the only bare columns :func:`tfrobust.reports.frame.study_frame` has);
- ``stage.metric`` must be a metric the stage's cells return, when its kind
  declares them: a function ``metric_names(params) -> list[str]`` in the
  kind's module (params converted, defaults filled in; e.g. the ``attack``
  kind's ``robust_<norm>_<eps>`` for its own norms and radii). Stages of kinds
  that do not declare their metrics (``train`` returns its run's
  ``metrics.json``) are not checked past the stage name;
- with ``long: <stage>``, that stage's long columns (``<stage>.norm``,
  ``.eps``, ``.attack``, ``.robust_accuracy``, ``.worst_case``, ``.flags``, ...)
  are columns too.

The spec's claims (:mod:`tfrobust.reports.claims`) are checked the same way
(:func:`check_claim_columns`): their ``x``, ``y``, ``group``, ``by`` and
``where`` columns, against the claim's stages and ``long``; and a
``difference`` claim's ``a`` and ``b`` against the labels of its grid key
``group``.
"""

from __future__ import annotations

import difflib
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tfrobust.config import ConfigError
from tfrobust.studies.spec import Cell, StudySpec

__all__ = ["check_claim_columns", "check_columns", "check_report_columns", "item_references", "produced_columns"]

#: Item options whose values are column references (a name, a list, or ``{column: label}``).
_COLUMN_OPTIONS = ("x", "y", "group", "rows", "columns", "where")


def _module_function(kind: str, name: str, kinds: Mapping[str, Any]) -> Callable[..., Any] | None:
    entry = kinds.get(kind)
    target = getattr(entry, "target", "")
    if not target or getattr(entry, "source", "added") == "added":
        return None
    try:
        module = importlib.import_module(target.partition(":")[0])
    except ImportError:
        return None
    function = getattr(module, name, None)
    return function if callable(function) else None


def produced_columns(cells: Sequence[Cell], params: Mapping[str, Mapping[str, Any]], *,
                     kinds: Mapping[str, Any]) -> dict[str, set[str] | None]:
    """Stage -> the metric names its cells return (None: the kind does not declare them).

    Args:
        cells: the cells of one preset.
        params: cell id -> its params checked by the kind (defaults filled in).
        kinds: the registered kinds.
    """
    out: dict[str, set[str] | None] = {}
    for cell in cells:
        names = _module_function(cell.kind, "metric_names", kinds)
        if names is None:
            out[cell.stage] = None
            continue
        known = out.setdefault(cell.stage, set())
        if known is not None:
            known.update(names(params[cell.id]))
    return out


def _long_columns(kind: str, kinds: Mapping[str, Any]) -> list[str] | None:
    columns = _module_function(kind, "long_columns", kinds)
    return list(columns()) if columns is not None else None


def item_references(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(option, column reference)`` of every column an item names (x, y, group, rows, columns, where)."""
    refs: list[tuple[str, str]] = []
    for option in _COLUMN_OPTIONS:
        value = item.get(option)
        if value is None:
            continue
        names = [value] if isinstance(value, str) else list(value)  # a mapping lists its keys
        refs.extend((option, str(n)) for n in names)
    return refs


def check_columns(spec: StudySpec, references: Sequence[tuple[str, str]], *, stages: Sequence[str],
                  long: str | None, metrics: Mapping[str, set[str] | None], kinds: Mapping[str, Any],
                  where: str, what: str = "stages") -> None:
    """Checks the column references of one report item or claim against what its stages will produce.

    Args:
        spec: the study.
        references: ``(option, column reference)`` pairs (:func:`item_references`).
        stages: the stages the item or claim joins.
        long: its ``long`` stage, or None.
        metrics: :func:`produced_columns` of the preset's cells.
        kinds: the registered kinds.
        where: the field prefix of messages (``report.items[2]``, ``claims.<id>``).
        what: how messages name the stages.

    Raises:
        ConfigError: one line, ``<where>.<option>: ...``, naming the column and what the stage
            produces (or the grid keys) instead.
    """
    over = {stage.name: list(stage.over) for stage in spec.stages}
    kind_of = {stage.name: stage.kind for stage in spec.stages}
    keys = [k for s in stages for k in over.get(s, [])]
    for option, ref in references:
        stage, dot, metric = ref.partition(".")
        if not dot:
            if ref not in keys:
                raise ConfigError(f"{where}.{option}: {ref!r} is not a grid key of {what} "
                                  f"[{', '.join(stages)}]; their grid keys: {', '.join(dict.fromkeys(keys)) or 'none'}"
                                  f" (a metric is written stage.metric)")
            continue
        known = metrics.get(stage)
        if known is None:
            continue  # the kind does not declare its metrics
        available = set(known)
        if stage == long:
            available.update(_long_columns(kind_of.get(stage, ""), kinds) or [])
        if metric not in available:
            close = difflib.get_close_matches(metric, sorted(available), n=1, cutoff=0.6)
            hint = f" (did you mean {stage}.{close[0]}?)" if close else ""
            long_note = "" if stage == long or _long_columns(kind_of.get(stage, ""), kinds) is None else \
                f"; set long: {stage} for its per-(norm, eps) rows"
            raise ConfigError(f"{where}.{option}: stage {stage!r} will not produce {metric!r}{hint}; it "
                              f"produces: {', '.join(sorted(available))}{long_note}")


def check_report_columns(spec: StudySpec, cells: Sequence[Cell], params: Mapping[str, Mapping[str, Any]], *,
                         kinds: Mapping[str, Any]) -> None:
    """Checks every report item's column references against what ``cells`` will produce.

    Raises:
        ConfigError: one line, ``report.items[i].<option>: ...``, naming the column, and what the
            stage produces (or the grid keys) instead.
    """
    items = (spec.report or {}).get("items") or []
    if not items:
        return
    metrics = produced_columns(cells, params, kinds=kinds)
    for i, item in enumerate(items):
        stages = list(item.get("stages") or ([item["stage"]] if "stage" in item else []))
        check_columns(spec, item_references(item), stages=stages, long=item.get("long"), metrics=metrics,
                      kinds=kinds, where=f"report.items[{i}]")


def check_claim_columns(spec: StudySpec, cells: Sequence[Cell], params: Mapping[str, Mapping[str, Any]], *,
                        kinds: Mapping[str, Any]) -> None:
    """Checks every claim's column references (x, y, group, by, where) against what ``cells`` will produce.

    Raises:
        ConfigError: one line, ``claims.<id>.<field>: ...``, naming the column, and what the
            stage produces (or the grid keys) instead.
    """
    if not spec.claims:
        return
    from tfrobust.reports.claims import claim_references

    metrics = produced_columns(cells, params, kinds=kinds)
    for claim in spec.claims:
        where = f"claims.{claim['id']}"
        check_columns(spec, claim_references(claim), stages=list(claim["stages"]), long=claim.get("long"),
                      metrics=metrics, kinds=kinds, where=where, what="the claim's stages")
        group = str(claim.get("group"))
        if claim["test"] != "difference" or "." in group:
            continue
        labels = list(dict.fromkeys(c.values[group] for c in cells if c.stage in claim["stages"] and group in c.values))
        for field in ("a", "b"):
            if labels and not any(_same_label(claim[field], label) for label in labels):
                raise ConfigError(f"{where}.{field}: {claim[field]!r} is not a value of grid key {group!r} in "
                                  f"these cells; its values: {', '.join(map(str, labels))}")


def _same_label(value: Any, label: Any) -> bool:
    """A claim's group value matches a grid label as a report's ``where`` does: numbers as numbers."""
    if str(value) == str(label):
        return True
    try:
        return math.isclose(float(value), float(label), rel_tol=1e-6, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False
