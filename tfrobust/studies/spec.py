"""Study specs: a YAML grid and a list of stages, expanded in code into cells.

A study file (``configs/studies/*.yaml``, read with ``yaml.safe_load``)::

    name: demo_quick
    description: standard vs adversarial training, then a PGD attack
    reference: Kim et al. 2019, B.1
    grid:                          # cells are the product of these lists
      training:                    # a value is a scalar, or a mapping with a `name`
        - {name: standard, method: standard, method_options: {}}
        - {name: adv_l2, method: adversarial, method_options: {attack: {norm: l2, eps: 1.0}}}
      seed: [0, 1]
    presets:                       # --preset NAME: deep-merged over stage params
      quick: {train: {epochs: 1, data: {limit: 1000}}, attack: {limit: 500}}
      paper: {grid: {seed: [0, 1, 2]}}      # `grid` replaces grid lists
    stages:
      - name: train
        kind: train                # a name of tfrobust.registry.KINDS
        params: {method: "${training.method}", method_options: "${training.method_options}",
                 seed: "${seed}", data: {name: fashion_mnist}}
      - name: attack
        kind: attack
        needs: [train]             # runs after the train cell with the same grid values
        over: [training, seed]     # grid keys this stage varies over (default: all)
        params: {norms: [l2], eps: [0.5, 1.0], options: {steps: 10}}   # options: the attack's (PGD)
        resources: {num_gpus: 0.25}   # optional, --executor ray only: per-cell CPUs, GPU, memory bytes

A string param that is exactly ``"${key}"`` (or ``"${key.field}"`` for a
mapping value) is replaced by the grid value, keeping its type; inside a longer
string it is formatted in, and a result that is a product or quotient of
numbers (``"${norm.eps_max} * ${scale}"`` -> ``"1.6 * 0.25"``) becomes that
number. A stage may only reference keys in its ``over``.

Grid lists are generated in code, never copied out by hand: a grid key's
value may be ``{range: [start, stop, step]}`` (stop included when it is on
the grid) or ``{linspace: [start, stop, num]}`` instead of a list.

An optional ``report`` section lists the figures and tables of the study
(checked by :func:`tfrobust.reports.check_report_section`; see
:func:`tfrobust.reports.build_report`), and an optional ``claims`` list the
papers' statements tested on the results, each with a verdict (checked by
:func:`tfrobust.reports.claims.check_claims_section`; see
:mod:`tfrobust.reports.claims`). Neither is part of any cell: adding or
changing a report item or a claim changes no cell's id or config hash, so
no cell runs again.

A *cell* is one stage at one combination of its ``over`` values. Its id is
``stage__key-label__key-label`` (grid order; labels are the values, or the
``name`` of mapping values, made filesystem-safe). A cell depends on the cells
of its ``needs`` stages whose values agree on the keys both stages vary over;
its config hash covers its kind, resolved params and its dependencies' hashes,
so a changed param changes the hash of the cell and of everything downstream.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tfrobust.config import ConfigError, load_yaml

__all__ = ["RESOURCE_KEYS", "Cell", "Stage", "StudySpec", "check_resources", "load_study_spec", "study_spec_from_dict"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\}")
_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]")
_NUMBER = r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*"
_ARITHMETIC = re.compile(rf"{_NUMBER}(?:[*/]{_NUMBER})+")
_GENERATORS = ("range", "linspace")
_SPEC_FIELDS = ("name", "description", "reference", "grid", "presets", "stages", "report", "claims")
_STAGE_FIELDS = ("name", "kind", "params", "needs", "over", "resources")
#: What a stage's ``resources:`` may set (the Ray executor's task options; no part of any cell's config hash).
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")


@dataclass(frozen=True)
class Stage:
    """One step of a study, run once per combination of its ``over`` values.

    Attributes:
        name: unique stage name (letters, digits, ``_``, ``-``; no ``__``).
        kind: the function that runs it, a name of :data:`tfrobust.registry.KINDS`.
        params: the kind's parameters; strings may reference grid keys (``${key}``).
        needs: names of the stages whose cells this stage consumes.
        over: the grid keys this stage varies over (in grid order).
        resources: what one cell of the stage needs on a Ray worker (``num_cpus`` > 0,
            ``num_gpus`` >= 0, ``memory`` bytes >= 0), overriding its kind's defaults; used by
            ``--executor ray`` only and no part of any cell's config hash.
    """

    name: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    over: tuple[str, ...] = ()
    resources: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """One unit of work: a stage at fixed grid values.

    Attributes:
        id: deterministic, filesystem-safe id (also the artifact directory name).
        stage: the stage's name.
        kind: the stage's kind.
        values: grid labels of the stage's ``over`` keys (``name`` for mapping values).
        params: resolved params (preset applied, references substituted).
        needs: dependency key -> dependency cell id. The key is the needed
            stage's name when that stage contributes one cell, else the cell id.
        config_hash: sha256 of kind, params and the dependencies' hashes.
    """

    id: str
    stage: str
    kind: str
    values: Mapping[str, Any]
    params: Mapping[str, Any]
    needs: Mapping[str, str]
    config_hash: str


def _label(value: Any) -> Any:
    return value["name"] if isinstance(value, Mapping) else value


def _id_part(value: Any) -> str:
    value = _label(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    else:
        text = repr(value) if isinstance(value, float) else str(value)
    return _UNSAFE.sub("_", text)


def _merge(base: Any, override: Any) -> Any:
    """Deep merge of mappings; anything else in ``override`` replaces ``base``."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


def _evaluate(text: str) -> float:
    """``"1.6 * 0.25"`` or ``"8 / 255"`` (left to right), rounded to 12 significant digits."""
    parts = re.split(r"([*/])", text)
    out = float(parts[0])
    for op, number in zip(parts[1::2], parts[2::2]):
        value = float(number)
        if op == "/" and value == 0:
            raise ConfigError(f"division by zero in {text.strip()!r}")
        out = out * value if op == "*" else out / value
    return float(f"{out:.12g}")


def _generate(spec: Any, where: str) -> list[float]:
    """Expands ``{range: [start, stop, step]}`` (stop included when on the grid) or
    ``{linspace: [start, stop, num]}`` into numbers rounded to 12 significant digits."""
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in _GENERATORS:
        raise ConfigError(f"{where}: expected a non-empty list of values, or {{range: [start, stop, step]}} "
                          f"or {{linspace: [start, stop, num]}}")
    kind, args = next(iter(spec.items()))
    if (not isinstance(args, list) or len(args) != 3
            or any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in args)):
        raise ConfigError(f"{where}.{kind}: expected three numbers [start, stop, {'step' if kind == 'range' else 'num'}]")
    start, stop, third = (float(a) for a in args)
    if kind == "range":
        if third <= 0 or stop < start:
            raise ConfigError(f"{where}.range: needs step > 0 and stop >= start, got {args}")
        count = int(math.floor((stop - start) / third + 1e-9)) + 1
        values = [start + i * third for i in range(count)]
    else:
        if third != int(third) or third < 1 or (third == 1 and start != stop):
            raise ConfigError(f"{where}.linspace: num must be an integer >= 2 (1 when start == stop), got {args[2]!r}")
        num = int(third)
        values = [start + (stop - start) * i / max(num - 1, 1) for i in range(num)]
    return [float(f"{v:.12g}") for v in values]


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        return {m.group(1) for m in _REF.finditer(value)}
    if isinstance(value, Mapping):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _lookup(match: re.Match[str], values: Mapping[str, Any], where: str) -> Any:
    key, attr = match.group(1), match.group(2)
    if key not in values:
        raise ConfigError(f"{where}: ${{{key}}} is not a grid key this stage varies over "
                          f"(over: {', '.join(values) or 'none'})")
    value = values[key]
    if attr is None:
        return value
    if not isinstance(value, Mapping) or attr not in value:
        raise ConfigError(f"{where}: ${{{key}.{attr}}}: grid value {_label(value)!r} has no field {attr!r}")
    return value[attr]


def _substitute(value: Any, values: Mapping[str, Any], where: str) -> Any:
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return copy.deepcopy(_lookup(whole, values, where))
        text = _REF.sub(lambda m: str(_label(_lookup(m, values, where))), value)
        if text != value and _ARITHMETIC.fullmatch(text):
            return _evaluate(text)
        return text
    if isinstance(value, Mapping):
        return {k: _substitute(v, values, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_substitute(v, values, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _check_fields(values: Any, known: Sequence[str], where: str) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    unknown = sorted(str(k) for k in set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return dict(values)


def _check_grid(grid: Any, where: str) -> dict[str, tuple[Any, ...]]:
    if not isinstance(grid, Mapping):
        raise ConfigError(f"{where}: expected a mapping of grid key -> list of values")
    out: dict[str, tuple[Any, ...]] = {}
    for key, values in grid.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ConfigError(f"{where}: grid key {key!r} must be an identifier (letters, digits, _)")
        if isinstance(values, Mapping):
            values = _generate(values, f"{where}.{key}")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.{key}: expected a non-empty list of values")
        labels = []
        for value in values:
            if isinstance(value, Mapping):
                if not isinstance(value.get("name"), (str, int, float)) or isinstance(value.get("name"), bool):
                    raise ConfigError(f"{where}.{key}: a mapping value needs a `name` (used in cell ids)")
            elif value is not None and not isinstance(value, (str, int, float, bool)):
                raise ConfigError(f"{where}.{key}: values must be scalars or mappings, got {value!r}")
            labels.append(_id_part(value))
        duplicates = sorted({x for x in labels if labels.count(x) > 1})
        if duplicates:
            raise ConfigError(f"{where}.{key}: values give the same cell id part {', '.join(duplicates)}")
        out[key] = tuple(values)
    return out


def _topological(stages: Mapping[str, Stage]) -> list[str]:
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = path[path.index(name):] + [name]
            raise ConfigError(f"stages: dependency cycle {' -> '.join(cycle)}")
        state[name] = "active"
        for need in stages[name].needs:
            visit(need, [*path, name])
        state[name] = "done"
        order.append(name)

    for name in stages:
        visit(name, [])
    return order


@dataclass(frozen=True)
class StudySpec:
    """A validated study: grid, presets and stages (see the module docstring).

    Attributes:
        name: the study's name.
        description: free text.
        reference: the paper section it reproduces.
        grid: grid key -> values (a cell is one combination).
        presets: preset name -> overrides (stage name -> params to deep-merge,
            or ``grid`` -> grid key -> replacement list).
        stages: stages in dependency order.
        report: the validated ``report`` section (figures and tables drawn by
            :func:`tfrobust.reports.build_report`; empty: the generic report).
        claims: the validated ``claims`` (:mod:`tfrobust.reports.claims`); not part of any cell.
    """

    name: str
    grid: Mapping[str, tuple[Any, ...]]
    stages: tuple[Stage, ...]
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""
    reference: str = ""
    report: Mapping[str, Any] = field(default_factory=dict)
    claims: tuple[Mapping[str, Any], ...] = ()

    def cells(self, preset: str | None = None) -> list[Cell]:
        """All cells, dependencies before dependents (stage order, then grid order).

        Raises:
            ConfigError: unknown preset, or a preset override that references a
                grid key its stage does not vary over.
        """
        grid = dict(self.grid)
        overrides: Mapping[str, Any] = {}
        if preset is not None:
            if preset not in self.presets:
                raise ConfigError(f"unknown preset {preset!r}; this study has: {', '.join(self.presets) or 'none'}")
            overrides = self.presets[preset]
            grid.update(_check_grid(overrides.get("grid", {}), f"presets.{preset}.grid"))
        cells: list[Cell] = []
        hashes: dict[str, str] = {}
        by_stage: dict[str, list[Cell]] = {}
        for stage in self.stages:
            params = _merge(stage.params, overrides.get(stage.name, {}))
            combos = itertools.product(*(grid[key] for key in stage.over))
            by_stage[stage.name] = []
            for combo in combos:
                values = dict(zip(stage.over, combo))
                cell_id = "__".join([stage.name, *(f"{k}-{_id_part(v)}" for k, v in values.items())])
                resolved = _substitute(params, values, f"stages.{stage.name}.params")
                labels = {k: _label(v) for k, v in values.items()}
                needs: dict[str, str] = {}
                for need in stage.needs:
                    matching = [c for c in by_stage[need]
                                if all(c.values[k] == labels[k] for k in c.values if k in labels)]
                    for dep in matching:
                        needs[need if len(matching) == 1 else dep.id] = dep.id
                dep_hashes = [hashes[d] for d in needs.values()]
                payload = json.dumps({"kind": stage.kind, "params": resolved, "needs": dep_hashes},
                                     sort_keys=True, default=str)
                cell = Cell(id=cell_id, stage=stage.name, kind=stage.kind, values=labels, params=resolved,
                            needs=needs, config_hash=hashlib.sha256(payload.encode()).hexdigest())
                by_stage[stage.name].append(cell)
                hashes[cell.id] = cell.config_hash
                cells.append(cell)
        return cells


def _check_report(section: Any, stages: Mapping[str, Stage]) -> dict[str, Any]:
    """The ``report`` section, validated by :func:`tfrobust.reports.check_report_section`
    (item types, options, column references; every stage an item reads is a stage here)."""
    if section is None:
        return {}
    from tfrobust.reports import check_report_section

    try:
        return check_report_section(section, stages=list(stages))
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _check_claims(section: Any, stages: Mapping[str, Stage]) -> tuple[dict[str, Any], ...]:
    """The ``claims`` list, validated by :func:`tfrobust.reports.claims.check_claims_section`
    (tests, fields, column references; every stage a claim reads is a stage here)."""
    if section is None:
        return ()
    from tfrobust.reports.claims import check_claims_section

    try:
        return tuple(check_claims_section(section, stages=list(stages)))
    except ValueError as err:
        raise ConfigError(str(err)) from None


def study_spec_from_dict(values: Any, *, kinds: Mapping[str, Any] | None = None) -> StudySpec:
    """Validates a parsed study file (see the module docstring).

    Args:
        values: the parsed YAML mapping.
        kinds: the stage kind registry (default :data:`tfrobust.registry.KINDS`). Only the kind
            names are checked here; the params, whose values may reference the grid, are checked
            per cell by :func:`tfrobust.studies.check.check_study`.

    Raises:
        ConfigError: unknown fields, unknown stage in ``needs``, cycles,
            unknown grid key in ``over`` or params, unknown kind, bad presets, a bad
            report item or claim (one line naming it and the field).
    """
    if kinds is None:
        from tfrobust.registry import KINDS

        kinds = KINDS
    spec = _check_fields(values, _SPEC_FIELDS, "study")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"name: a study needs a name of letters, digits, _ and -, got {name!r}")
    for text in ("description", "reference"):
        if not isinstance(spec.get(text, ""), str):
            raise ConfigError(f"{text}: expected text")
    grid = _check_grid(spec.get("grid") or {}, "grid")
    raw_stages = spec.get("stages")
    if not isinstance(raw_stages, list) or not raw_stages:
        raise ConfigError("stages: expected a non-empty list of stages")
    stages: dict[str, Stage] = {}
    for i, raw in enumerate(raw_stages):
        where = f"stages[{i}]"
        entry = _check_fields(raw, _STAGE_FIELDS, where)
        stage_name = entry.get("name")
        if not isinstance(stage_name, str) or not _NAME.match(stage_name) or "__" in stage_name:
            raise ConfigError(f"{where}.name: letters, digits, _ and - (no __), got {stage_name!r}")
        where = f"stages.{stage_name}"
        if stage_name in stages or stage_name == "grid":
            raise ConfigError(f"{where}: the stage name {stage_name!r} is taken")
        kind = entry.get("kind")
        if kind not in kinds:
            raise ConfigError(f"{where}.kind: unknown kind {kind!r}; choose from: {', '.join(kinds)}")
        params = entry.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"{where}.params: expected a mapping")
        needs = entry.get("needs") or []
        over = entry.get("over", list(grid))
        for list_name, items in (("needs", needs), ("over", over)):
            if not isinstance(items, list) or len(set(map(str, items))) != len(items):
                raise ConfigError(f"{where}.{list_name}: expected a list without duplicates")
        bad = [k for k in over if k not in grid]
        if bad:
            raise ConfigError(f"{where}.over: unknown grid key(s) {', '.join(map(str, bad))}; "
                              f"grid: {', '.join(grid) or 'none'}")
        missing = sorted(_references(params) - set(over))
        if missing:
            raise ConfigError(f"{where}.params: references ${{{missing[0]}}}, which is not in its over "
                              f"({', '.join(over) or 'none'})" if missing[0] in grid else
                              f"{where}.params: references unknown grid key ${{{missing[0]}}}")
        resources = check_resources(entry.get("resources"), f"{where}.resources")
        stages[stage_name] = Stage(name=stage_name, kind=str(kind), params=dict(params),
                                   needs=tuple(needs), over=tuple(k for k in grid if k in over),
                                   resources=resources)
    for stage in stages.values():
        unknown = [n for n in stage.needs if n not in stages]
        if unknown:
            raise ConfigError(f"stages.{stage.name}.needs: unknown stage(s) {', '.join(map(str, unknown))}")
    order = _topological(stages)
    presets_raw = spec.get("presets") or {}
    if not isinstance(presets_raw, Mapping):
        raise ConfigError("presets: expected a mapping of preset name -> overrides")
    presets: dict[str, dict[str, Any]] = {}
    for preset, overrides in presets_raw.items():
        entry = _check_fields(overrides or {}, ["grid", *stages], f"presets.{preset}")
        for stage_name, override in entry.items():
            if not isinstance(override, Mapping):
                raise ConfigError(f"presets.{preset}.{stage_name}: expected a mapping")
        unknown = sorted(set(entry.get("grid", {})) - set(grid))
        if unknown:
            raise ConfigError(f"presets.{preset}.grid: unknown grid key(s) {', '.join(map(str, unknown))}")
        presets[str(preset)] = entry
    report = _check_report(spec.get("report"), stages)
    claims = _check_claims(spec.get("claims"), stages)
    result = StudySpec(name=name, grid=grid, stages=tuple(stages[n] for n in order), presets=presets,
                       description=spec.get("description", "") or "", reference=spec.get("reference", "") or "",
                       report=report, claims=claims)
    for preset in presets:
        result.cells(preset)  # preset overrides must resolve too
    return result


def check_resources(values: Any, where: str) -> dict[str, float]:
    """A stage's ``resources:`` checked: ``num_cpus`` > 0, ``num_gpus`` >= 0, ``memory`` (bytes) >= 0.

    Args:
        values: the mapping as written (None or missing: no override).
        where: the field's name for messages (``stages.train.resources``).

    Returns:
        The mapping with numbers (``memory`` as an int).

    Raises:
        ConfigError: not a mapping, an unknown key, or a value that is not a number in range.
    """
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {', '.join(RESOURCE_KEYS)}")
    out: dict[str, float] = {}
    for key, value in values.items():
        if key not in RESOURCE_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}; choose from: {', '.join(RESOURCE_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
        if key == "num_cpus" and not value > 0:
            raise ConfigError(f"{where}.num_cpus must be > 0, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where}.{key} must be >= 0, got {value!r}")
        out[str(key)] = int(value) if key == "memory" else float(value)
    return out


def load_study_spec(path: str | os.PathLike[str], *, kinds: Mapping[str, Any] | None = None) -> StudySpec:
    """Loads and validates a study file (``yaml.safe_load``; errors name the field)."""
    return study_spec_from_dict(load_yaml(path), kinds=kinds)
