"""Checks every cell of a study against its kind before any cell runs.

A misspelt param (``epoch:``) or one of the wrong type (``steps: ten``) must
not surface hours into a study, when its cell finally runs. :func:`check_study`
expands the cells of a preset and checks each cell's resolved params:

- the names: every param must be one the kind knows (its ``*_PARAMS`` tuple
  in :mod:`tfrobust.studies.kinds` / :mod:`tfrobust.studies.analysis`; a
  ``train`` cell's params are a training config, checked by
  :func:`tfrobust.config.train_config_from_dict`);
- the types and ranges the kind itself enforces when it runs (integers and
  their minimum, numbers, choices, lists of names, mappings), never stricter.

The attacks a cell will run are built here too, so that a PGD the run
would refuse (a step longer than the ball's diameter,
:func:`tfrobust.attacks.check_step_length`) fails before any cell runs: the
training attack of an adversarial ``train`` cell (``method_options.attack``)
and every (norm, eps) of an ``attack`` stage. An l2 sign step's length
depends on the input size; it is read from the dataset registry
(:data:`tfrobust.data.DATASETS`, the ``tsipras`` ``d`` option), never from
the data; for an unknown dataset that part is skipped. Building a PGD
imports TensorFlow (only for such cells). No data are read, so what only a
running kind can see (an attribution method's name, a file a param points
to) is still checked when the cell runs. Kinds registered without an entry in
:data:`KIND_CHECKS` (e.g. a test's own kind) have their params checked by
nothing here; register ``KIND_CHECKS["mine"] = fn`` (``fn(params)`` raising
:class:`~tfrobust.config.ConfigError`) to add one.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tfrobust.config import ConfigError, DataConfig, parse_number, train_config_from_dict
from tfrobust.studies import analysis as _analysis
from tfrobust.studies import kinds as _kinds
from tfrobust.studies.spec import Cell, StudySpec

__all__ = ["KIND_CHECKS", "check_cell", "check_study", "dataset_input_shape"]

Rule = Callable[[Any, str], None]
"""``rule(value, where)``: raises ConfigError naming ``where`` (``<kind>.<param>``) when the value is bad."""


def _integer(minimum: int, *, none: bool = True, not_one: bool = False) -> Rule:
    def rule(value: Any, where: str) -> None:
        if value is None and none:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{where} must be an integer >= {minimum}, got {value!r}")
        if not_one and value == 1:
            raise ConfigError(f"{where}: give >= 2 points (both ends) or 0 for none, got 1")
    return rule


def _number(minimum: float | None = None, *, none: bool = True, positive: bool = False) -> Rule:
    def rule(value: Any, where: str) -> None:
        if value is None and none:
            return
        number = parse_number(value, name=where)
        if minimum is not None and number < minimum:
            raise ConfigError(f"{where} must be >= {minimum:g}, got {value!r}")
        if positive and number <= 0:
            raise ConfigError(f"{where} must be > 0, got {value!r}")
    return rule


def _numbers(minimum: float | None = None) -> Rule:
    """A number or a non-empty list of numbers (``8/255`` allowed)."""
    def rule(value: Any, where: str) -> None:
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items:
            raise ConfigError(f"{where}: give one or more numbers, got {value!r}")
        for item in items:
            _number(minimum, none=False)(item, where)
    return rule


def _integers(minimum: int) -> Rule:
    def rule(value: Any, where: str) -> None:
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in items):
            raise ConfigError(f"{where}: give one or more integers >= {minimum}, got {value!r}")
    return rule


def _choice(*choices: Any) -> Rule:
    def rule(value: Any, where: str) -> None:
        if value not in choices:
            raise ConfigError(f"{where}: choose from {', '.join(map(str, choices))}, got {value!r}")
    return rule


def _names(choices: Sequence[str] | None = None, *, unique: bool = True) -> Rule:
    """Names as a list or a comma-separated string (each one of ``choices`` when given)."""
    def rule(value: Any, where: str) -> None:
        items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        if (not isinstance(items, (list, tuple)) or not items or any(not isinstance(v, str) for v in items)
                or (unique and len(set(items)) != len(items))):
            raise ConfigError(f"{where}: give one or more names (a list or comma-separated"
                              f"{', no repeats' if unique else ''}), got {value!r}")
        bad = [v for v in items if choices is not None and v not in choices]
        if bad:
            raise ConfigError(f"{where}: choose from {', '.join(choices or ())}, got {value!r}")
    return rule


def _boolean(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: true or false, got {value!r}")


def _text(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {value!r}")


def _mapping(known: Sequence[str] | None = None) -> Rule:
    def rule(value: Any, where: str) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        unknown = sorted(str(k) for k in value if known is not None and k not in known)
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known or ())}")
    return rule


def _attack_eps(value: Any, where: str) -> None:
    """attack.eps: radii (a number, ``8/255`` or a list) or a mapping norm -> radii."""
    if isinstance(value, Mapping):
        for norm, radii in value.items():
            _numbers(0)(radii, f"{where}.{norm}")
    else:
        _numbers(0)(value, where)


def _fill(value: Any, where: str) -> None:
    if value != "mean":
        _number(none=False)(value, where)


def _classes(value: Any, where: str) -> None:
    if (not isinstance(value, (list, tuple)) or len(value) != 2 or value[0] == value[1]
            or any(isinstance(c, bool) or not isinstance(c, int) for c in value)):
        raise ConfigError(f"{where}: two different labels [a, b], got {value!r}")


def _step_size_factor(value: Any, where: str) -> None:
    """attack.step_size_factor: a number > 0, or a mapping norm (l2, linf) -> number > 0."""
    if isinstance(value, Mapping):
        for norm, factor in value.items():
            if norm not in ("l2", "linf"):
                raise ConfigError(f"{where}: a factor per norm (l2, linf), got {norm!r}")
            _number(none=False, positive=True)(factor, f"{where}.{norm}")
    else:
        _number(none=False, positive=True)(value, where)


_SPLIT = _choice("train", "test")

#: kind -> (known params, param -> rule, required params); the rules mirror what each kind enforces.
_SCHEMAS: dict[str, tuple[Sequence[str], dict[str, Rule], tuple[str, ...]]] = {
    "attack": (_kinds.ATTACK_PARAMS, {
        "norms": _names(("l2", "linf"), unique=False), "eps": _attack_eps, "steps": _integer(0, none=False),
        "step_size": _number(), "restarts": _integer(1, none=False), "limit": _integer(1),
        "split": _SPLIT, "batch_size": _integer(1, none=False), "seed": _integer(0, none=False),
        "objective": _choice("xent", "cw"), "l2_step": _choice("normalized", "sign"),
        "step_size_factor": _step_size_factor, "long_steps": _choice("refuse", "cut")}, ("eps",)),
    "saliency": (_kinds.SALIENCY_PARAMS, {
        "methods": _names(), "split": _SPLIT, "limit": _integer(1), "threshold": _number(),
        "permute": _number(), "sigma": _number(), "batch_size": _integer(1), "seed": _integer(0),
        "clip": _boolean, "include_clean": _boolean, "threshold_mode": _choice("two_sided", "upper")}, ()),
    "roar": (_kinds.ROAR_PARAMS, {
        "methods": _names(), "fractions": _numbers(), "repeats": _integer(1), "modes": _names(("roar", "kar")),
        "epochs": _integer(1), "batch_size": _integer(1), "limit": _integer(1), "test_limit": _integer(1),
        "group_size": _integer(1), "fill": _fill, "rank_mode": _choice("abs", "signed"),
        "learning_rate": _number(), "seed": _integer(0), "label": _choice("predicted", "true"),
        "ties": _choice("random", "index"), "end_point": _choice("chance", "none")}, ("methods",)),
    "tsipras": (_kinds.TSIPRAS_PARAMS, {
        **{name: _integer(1) for name in ("d", "n_train", "n_test", "epochs", "batch_size", "attack_steps")},
        **{name: _number() for name in ("eta", "p", "eps", "learning_rate")},
        "seed": _integer(0), "trainings": _names(("standard", "adversarial")), "theorem": _boolean}, ()),
    "toy": (_kinds.TOY_PARAMS, {
        "eps": _numbers(0), **{name: _integer(1) for name in ("epochs", "n", "steps", "batch_size")},
        "attack_eps": _number(), "learning_rate": _number(), "seed": _integer(0),
        "geometry": _choice("kim_notebook", "tilted"), "step_size": _number(positive=True),
        "random_start": _boolean}, ()),
    "examples": (_analysis.EXAMPLES_PARAMS, {
        "norm": _choice("l2", "linf"), "eps": _number(0, none=False), "steps": _integer(1),
        "step_size": _number(positive=True), "objective": _choice("xent", "cw"), "n": _integer(1),
        "interpolation": _integer(0, not_one=True), "split": _SPLIT, "seed": _integer(0)}, ("eps",)),
    "gradients": (_analysis.GRADIENTS_PARAMS, {
        "methods": _names(), "n": _integer(1), "split": _SPLIT, "seed": _integer(0)}, ()),
    "jacobian": (_analysis.JACOBIAN_PARAMS, {
        "n": _integer(1), "split": _SPLIT, "batch_size": _integer(1), "cosine_n": _integer(1)}, ()),
    "vaegan": (_analysis.VAEGAN_PARAMS, {
        "data": _mapping(_analysis._VAEGAN_DATA), "config": _text, "epochs": _integer(1),
        "batch_size": _integer(1), "seed": _integer(0), "vaegan": _mapping()}, ()),
    "manifold": (_analysis.MANIFOLD_PARAMS, {
        "eps": _number(0, none=False), "steps": _integer(0), "norm": _choice("l2", "linf"),
        "objective": _choice("xent", "cw"), "limit": _integer(1), "batch_size": _integer(1), "seed": _integer(0),
        "examples": _integer(0), "step_size": _number(0), "random_start": _boolean,
        "kappa": _number(0, none=False), "projection": _choice("mean", "sample")}, ()),
    "linear": (_analysis.LINEAR_PARAMS, {
        "dataset": _choice("fashion_mnist", "mnist", "cifar10"), "classes": _classes, "limit": _integer(1),
        "data_dir": _text, "eps_train": _numbers(0), "eps_test": _numbers(0), "top_k": _integers(1),
        "sizes": _integers(1), "epochs": _integer(1), "batch_size": _integer(1), "lr": _number(positive=True),
        "attack": _choice("closed_form", "pgd"), "seed": _integer(0), "parts": _names()}, ()),
}


def _unknown(kind: str, names: Sequence[str], known: Sequence[str]) -> ConfigError:
    hints = [f"{n} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(n, known, n=1)) else n
             for n in names]
    return ConfigError(f"unknown param(s) {', '.join(hints)} for kind {kind}; known: {', '.join(known)}")


def _schema_check(kind: str, known: Sequence[str], rules: Mapping[str, Rule],
                  required: Sequence[str]) -> Callable[[Mapping[str, Any]], None]:
    def check(params: Mapping[str, Any]) -> None:
        unknown = [str(k) for k in params if k not in known]
        if unknown:
            raise _unknown(kind, unknown, known)
        for name in required:
            if name not in params:
                raise ConfigError(f"{kind}.{name}: required; known params: {', '.join(known)}")
        for name, value in params.items():
            rule = rules.get(str(name))
            if rule is not None:
                rule(value, f"{kind}.{name}")
    return check


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


def _data_shape(params: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The input shape of a train cell's ``data`` section (None when it cannot be told)."""
    data = params.get("data")
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        return None
    return dataset_input_shape(data.get("name", DataConfig.name), data.get("options"))


def _pgd_message(where: str, err: BaseException, fields: Sequence[str], dotted: bool) -> str:
    """``where.<field> ...`` (``dotted``) when PGD's message starts with one of its fields, else ``where: ...``."""
    text = " ".join(str(err).split())
    head = re.match(r"[A-Za-z_]+", text)
    if dotted and head and head.group() in fields and text[head.end():head.end() + 1] in (" ", ":"):
        return f"{where}.{text}"
    return f"{where}: {text}"


def _check_pgd(values: Mapping[str, Any], where: str, input_shape: tuple[int, ...] | None, *,
               dotted: bool = True) -> None:
    """Builds ``PGD(**values)`` as the run will, and with a known input shape checks one step's
    length (:meth:`tfrobust.attacks.PGD.check_input_shape`). Raises ConfigError naming ``where``."""
    from tfrobust.attacks.pgd import PGD

    fields = [f.name for f in dataclasses.fields(PGD)]
    unknown = sorted(str(k) for k in values if k not in fields)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    try:
        attack = PGD(**{str(k): v for k, v in values.items()})
        if input_shape is not None:
            attack.check_input_shape(input_shape)
    except (ValueError, TypeError) as err:
        raise ConfigError(_pgd_message(where, err, fields, dotted)) from None


def _train_check(params: Mapping[str, Any]) -> None:
    """A train cell's params are a training config (the eps-0 adversarial cell trains as standard);
    an adversarial cell's training attack must be a PGD the run accepts for its dataset's inputs."""
    values = dict(params)
    if _kinds._zero_eps_adversarial(values):
        values["method"] = "standard"
        values.pop("method_options", None)
    config = train_config_from_dict(values)
    attack = config.method_options.get("attack") if config.method == "adversarial" else None
    if isinstance(attack, Mapping):
        _check_pgd(attack, "method_options.attack", _data_shape(values))


def _norm_list(value: Any) -> list[str]:
    """``attack.norms`` as the kind reads it (already checked by the schema)."""
    return [n.strip() for n in value.split(",")] if isinstance(value, str) else list(value)


def _attack_pgds(params: Mapping[str, Any], input_shape: tuple[int, ...] | None) -> None:
    """Builds the PGD of every (norm, eps) of an attack cell as the kind does
    (:func:`tfrobust.evaluation.robust_accuracy_table`)."""
    norms = _norm_list(params.get("norms", "l2"))
    eps = params["eps"]
    steps = int(params.get("steps", 40))
    step_size = params.get("step_size")
    size = None if step_size is None else parse_number(step_size, name="attack.step_size")
    factor = params.get("step_size_factor", 2.5)
    for norm in norms:
        radii = eps[norm] if isinstance(eps, Mapping) else eps
        for value in radii if isinstance(radii, (list, tuple)) else [radii]:
            e = parse_number(value, name=f"attack.eps.{norm}")
            if size is None:
                f = parse_number(factor[norm] if isinstance(factor, Mapping) else factor,
                                 name="attack.step_size_factor")
                step, how = f * e / max(steps, 1), f" (step_size_factor {f:g} * eps / steps)"
            else:
                step, how = size, ""
            _check_pgd({"norm": norm, "eps": e, "steps": steps, "step_size": step,
                        "objective": params.get("objective", "xent"),
                        "l2_step": params.get("l2_step", "normalized"),
                        "long_steps": params.get("long_steps", "refuse")},
                       f"attack ({norm}, eps {e:g}{how})", input_shape, dotted=False)


_attack_schema = _schema_check("attack", *_SCHEMAS["attack"])


def _attack_check(params: Mapping[str, Any]) -> None:
    """The attack kind's params, their combinations, and the PGD of every (norm, eps)."""
    _attack_schema(params)
    norms = _norm_list(params.get("norms", "l2"))
    eps = params["eps"]
    if isinstance(eps, Mapping):
        missing = [n for n in norms if n not in eps]
        if missing:
            raise ConfigError(f"attack.eps: no radii for {', '.join(missing)}")
    if params.get("step_size") is not None and "step_size_factor" in params:
        raise ConfigError("attack: give step_size or step_size_factor, not both")
    factor = params.get("step_size_factor")
    if isinstance(factor, Mapping) and sorted(factor) != sorted(norms):
        raise ConfigError(f"attack.step_size_factor: give one factor per norm ({', '.join(norms)}), "
                          f"got {', '.join(map(str, factor)) or 'none'}")
    _attack_pgds(params, None)


#: kind -> ``fn(params)`` raising ConfigError (one line, naming ``<kind>.<param>``).
KIND_CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "train": _train_check,
    **{kind: _schema_check(kind, known, rules, required) for kind, (known, rules, required) in _SCHEMAS.items()},
    "attack": _attack_check,
}


def _in_cell(cell: Cell, check: Callable[[Mapping[str, Any]], None]) -> None:
    try:
        check(cell.params)
    except (ConfigError, ValueError, TypeError) as err:
        detail = " ".join(str(err).split())
        raise ConfigError(f"stages.{cell.stage}.params (cell {cell.id}): {detail}") from None


def check_cell(cell: Cell) -> None:
    """Checks one cell's params against its kind (see the module docstring).

    Raises:
        ConfigError: one line naming the stage, the cell, the param and what is wrong.
    """
    check = KIND_CHECKS.get(cell.kind)
    if check is not None:
        _in_cell(cell, check)


def _check_attack_inputs(cell: Cell, by_id: Mapping[str, Cell]) -> None:
    """An attack cell's l2 sign steps against the input size of the model its train cell trains."""
    if KIND_CHECKS.get("attack") is not _attack_check:
        return  # replaced by the user
    params = cell.params
    if params.get("l2_step") != "sign" or "l2" not in _norm_list(params.get("norms", "l2")):
        return  # every other step's length is known without the input size (checked by check_cell)
    trains = [by_id[i] for i in cell.needs.values() if i in by_id and by_id[i].kind == "train"]
    shape = _data_shape(trains[0].params) if len(trains) == 1 else None
    if shape is not None:
        _in_cell(cell, lambda p: _attack_pgds(p, shape))


def check_study(spec: StudySpec, preset: str | None = None, *,
                kinds: Mapping[str, Any] | None = None) -> list[Cell]:
    """Checks every cell of a study (one preset) before any runs; returns the cells.

    Args:
        spec: the study.
        preset: a preset name, or None for the params as written.
        kinds: the registered kinds (default ``tfrobust.studies.KINDS``): a
            cell of an unregistered kind is an error.

    Raises:
        ConfigError: unknown preset or kind, or the first cell whose params its
            kind refuses (one line: stage, cell, param, what is wrong, and the
            known params for an unknown one); then the first attack cell whose
            l2 sign steps are too long for its train cell's inputs.
    """
    registry = _kinds.KINDS if kinds is None else kinds
    cells = spec.cells(preset)
    unknown = sorted({c.kind for c in cells} - set(registry))
    if unknown:
        raise ConfigError(f"unknown stage kind(s) {', '.join(unknown)}; registered: {', '.join(registry)}")
    for cell in cells:
        check_cell(cell)
    by_id = {cell.id: cell for cell in cells}
    for cell in cells:
        if cell.kind == "attack":
            _check_attack_inputs(cell, by_id)
    return cells
