"""The report item types (:data:`REPORT_ITEMS`), validation of a study's ``report`` section, and building one item.

An item's options are the keyword-only parameters of its builder; the checks
here read no file, so a study file's ``report`` section is checked when the study is
read (``tfrobust study check``), before any cell runs.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from tfrobust.reports.artifacts import ReportItem
from tfrobust.reports.frame import StudyData
from tfrobust.reports.items.bars import bars_item
from tfrobust.reports.items.cells import cell_figure_item, cell_table_item
from tfrobust.reports.items.common import is_cell_file
from tfrobust.reports.items.histogram import histogram_item
from tfrobust.reports.items.images import IMAGE_STYLES, images_item
from tfrobust.reports.items.line import line_item
from tfrobust.reports.items.table import table_item

__all__ = ["REPORT_ITEMS", "check_report_item", "check_report_section", "run_report_item"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

REPORT_ITEMS: dict[str, Callable[..., ReportItem]] = {
    "table": table_item,
    "line": line_item,
    "bars": bars_item,
    "images": images_item,
    "histogram": histogram_item,
    "cell_figure": cell_figure_item,
    "cell_table": cell_table_item,
}
"""Report item types (the ``type`` of an item) -> builder."""


# ---------------------------------------------------------------- validation


def _options(builder: Callable[..., ReportItem]) -> tuple[list[str], list[str]]:
    """(all keyword-only option names, required ones) of a builder."""
    params = [p for p in inspect.signature(builder).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    return [p.name for p in params], [p.name for p in params if p.default is inspect.Parameter.empty]


def _text_list(value: Any, where: str, *, single: bool = False, empty: bool = False) -> list[str]:
    if single and isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        what = "a name or a list of names" if single else "a list of names"
        raise ValueError(f"{where}: expected {what}, got {value!r}")
    if not value and not empty:
        raise ValueError(f"{where}: name at least one")
    return list(value)


_BOOL_OPTIONS = ("percent", "panels", "correlate", "logx", "logy", "markers_only")
_TEXT_OPTIONS = ("title", "caption", "xlabel", "ylabel", "stage", "value", "by", "x")
_SCALE_X = (None, "group_max")


def _text_mapping(value: Any, where: str, what: str) -> list[str]:
    """Validates ``{column: what}`` (non-empty texts, distinct values); returns the columns."""
    if not value or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{where}: expected {{column: {what}}} texts, got {value!r}")
    if len(set(value.values())) < len(value):
        raise ValueError(f"{where}: {what}s must differ, got {list(value.values())}")
    return list(value)


def _check_reference(ref: str, stages: Sequence[str], where: str, *, grid_only: bool = False) -> None:
    stage, dot, metric = ref.partition(".")
    if not dot:
        return
    if grid_only:
        raise ValueError(f"{where}: {ref!r} is a metric; use grid keys here")
    if not metric or stage not in stages:
        raise ValueError(f"{where}: {ref!r} refers to stage {stage!r}, which is not in stages "
                         f"[{', '.join(stages)}]")


def _check_where(value: Any, stages: Sequence[str], where: str) -> None:
    """``{column: value or list of values}``: column references, plain scalar values."""
    def scalar(v: Any) -> bool:
        return isinstance(v, (str, int, float)) and not isinstance(v, bool)

    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{where}: expected {{column: value}}, got {value!r}")
    for ref, wanted in value.items():
        if not isinstance(ref, str) or not ref:
            raise ValueError(f"{where}: expected column names, got {ref!r}")
        _check_reference(ref, stages, where)
        values = wanted if isinstance(wanted, (list, tuple)) else [wanted]
        if not values or not all(scalar(v) for v in values):
            raise ValueError(f"{where}.{ref}: expected a value or a list of values, got {wanted!r}")


def check_report_item(item: Any, *, where: str = "report.items[0]",
                      stages: Collection[str] | None = None) -> dict[str, Any]:
    """Validates one report item without reading any file.

    Args:
        item: the item mapping (``type``, ``name``, options).
        where: its position for messages, e.g. ``report.items[2]``.
        stages: the study's stage names, to check stage references (None: skip).

    Returns:
        The item with list options normalised (``y``, ``group``, ``stages`` as lists).

    Raises:
        ValueError: naming the field, e.g. ``report.items[2].y: ...``.
    """
    if not isinstance(item, Mapping):
        raise ValueError(f"{where}: expected a mapping with type, name and options, got {item!r}")
    kind = item.get("type")
    if kind not in REPORT_ITEMS:
        raise ValueError(f"{where}.type: unknown item type {kind!r}; types: {', '.join(REPORT_ITEMS)}")
    names, required = _options(REPORT_ITEMS[kind])
    unknown = [k for k in item if k != "type" and k not in names]
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown option for a {kind} item; options: {', '.join(names)}")
    absent = [k for k in required if k not in item]
    if absent:
        raise ValueError(f"{where}.{absent[0]}: required for a {kind} item")
    out = dict(item)
    name = item["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{where}.name: expected a letter then letters, digits, _ or -, got {name!r}")
    for key in _BOOL_OPTIONS:
        if key in item and not isinstance(item[key], bool):
            raise ValueError(f"{where}.{key}: expected true or false, got {item[key]!r}")
    for key in _TEXT_OPTIONS:
        if key in item and not (isinstance(item[key], str) and (item[key] or key in ("title", "caption"))):
            if not (key == "by" and item[key] is None):
                raise ValueError(f"{where}.{key}: expected text, got {item[key]!r}")
    for key in ("n", "bins"):
        if key in item and (isinstance(item[key], bool) or not isinstance(item[key], int) or item[key] < 1):
            raise ValueError(f"{where}.{key}: expected a positive integer, got {item[key]!r}")
    used = [item["stage"]] if "stage" in item else []
    if "stages" in item:
        used = out["stages"] = _text_list(item["stages"], f"{where}.stages", single=True)
    if stages is not None:
        bad = [s for s in used if s not in stages]
        if bad:
            raise ValueError(f"{where}.{'stage' if 'stage' in item else 'stages'}: unknown stage {bad[0]!r}; "
                             f"stages: {', '.join(stages)}")
    if "y" in item:
        if isinstance(item["y"], Mapping):
            refs = _text_mapping(item["y"], f"{where}.y", "label")
        else:
            refs = out["y"] = _text_list(item["y"], f"{where}.y", single=True)
        for ref in refs:
            _check_reference(ref, used, f"{where}.y")
    if "x" in item:
        _check_reference(item["x"], used, f"{where}.x")
    for key in ("group", "rows"):
        if key in item and item[key] is not None:
            out[key] = _text_list(item[key], f"{where}.{key}", single=True, empty=True)
            for ref in out[key]:
                _check_reference(ref, used, f"{where}.{key}", grid_only=True)
    if "columns" in item:
        columns = item["columns"]
        if isinstance(columns, Mapping):
            refs = _text_mapping(columns, f"{where}.columns", "header")
        else:
            refs = out["columns"] = _text_list(columns, f"{where}.columns", single=True)
        for ref in refs:
            _check_reference(ref, used, f"{where}.columns")
    if item.get("long") is not None:
        if not isinstance(item["long"], str) or item["long"] not in used:
            raise ValueError(f"{where}.long: expected one of the item's stages [{', '.join(used)}], "
                             f"got {item['long']!r}")
    if item.get("where") is not None:
        _check_where(item["where"], used, f"{where}.where")
    if "scale_x" in item and item["scale_x"] not in _SCALE_X:
        raise ValueError(f"{where}.scale_x: expected group_max or null, got {item['scale_x']!r}")
    if "arrays" in item:
        out["arrays"] = _text_list(item["arrays"], f"{where}.arrays", single=True)
    if "style" in item and item["style"] is not None:
        style = item["style"]
        if not isinstance(style, Mapping):
            raise ValueError(f"{where}.style: expected {{array: style}}, got {style!r}")
        for array, how in style.items():
            if array not in out.get("arrays", []):
                raise ValueError(f"{where}.style: {array!r} is not one of the arrays {out.get('arrays', [])}")
            if how not in IMAGE_STYLES:
                raise ValueError(f"{where}.style.{array}: unknown style {how!r}; styles: {', '.join(IMAGE_STYLES)}")
    if "file" in item and not (isinstance(item["file"], str) and is_cell_file(item["file"])):
        raise ValueError(f"{where}.file: expected a relative path inside the cell directory, got {item['file']!r}")
    return out


def check_report_section(section: Any, *, stages: Collection[str] | None = None) -> dict[str, Any]:
    """Validates a study's ``report`` section without reading any file.

    Checks: known ``type``; ``name`` a safe identifier, unique; option names
    are keyword-only parameters of the item's builder; required options
    present; option values of the right kind; ``stage.metric`` references
    name one of the item's stages.

    Args:
        section: the parsed ``report`` mapping (``title``, ``items``) or None.
        stages: the study's stage names, to check stage references (None: skip).

    Returns:
        ``{"title": ..., "items": [...]}`` with list options normalised.

    Raises:
        ValueError: naming the field, e.g. ``report.items[2].y: ...``.
    """
    if section is None:
        return {"title": None, "items": []}
    if not isinstance(section, Mapping):
        raise ValueError(f"report: expected a mapping with title and items, got {section!r}")
    unknown = [k for k in section if k not in ("title", "items")]
    if unknown:
        raise ValueError(f"report.{unknown[0]}: unknown field; fields: title, items")
    title = section.get("title")
    if title is not None and not isinstance(title, str):
        raise ValueError(f"report.title: expected text, got {title!r}")
    items = section.get("items") or []
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"report.items: expected a list of items, got {items!r}")
    checked = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        out = check_report_item(item, where=f"report.items[{i}]", stages=stages)
        if out["name"] in seen:
            raise ValueError(f"report.items[{i}].name: {out['name']!r} is used by an earlier item")
        seen.add(out["name"])
        checked.append(out)
    return {"title": title, "items": checked}


def run_report_item(data: StudyData, item: Any, *, index: int = 0) -> ReportItem:
    """Validates and builds one item; never raises.

    A misconfiguration becomes an ``error`` item whose message names the field
    (``report.items[<index>].<option>: ...``); any other failure an ``error``
    item with the exception's type and message.
    """
    where = f"report.items[{index}]"
    raw_name = item.get("name") if isinstance(item, Mapping) else None
    name = raw_name if isinstance(raw_name, str) and _NAME.match(raw_name) else f"item{index}"
    kind = str(item.get("type")) if isinstance(item, Mapping) else "?"
    title = str(item.get("title") or name) if isinstance(item, Mapping) else name
    try:
        options = check_report_item(item, where=where)
        options.pop("type")
        return REPORT_ITEMS[kind](data, **options)
    except ValueError as err:
        text = " ".join(str(err).split())
        option = re.match(r"^([A-Za-z_]+)[.:]", text)
        if text.startswith(where):
            message = text
        elif option and kind in REPORT_ITEMS and option.group(1) in _options(REPORT_ITEMS[kind])[0]:
            message = f"{where}.{text}"
        else:
            message = f"{where}: {text}"
    except Exception as err:  # one broken item must not stop the report
        message = f"{where}: {type(err).__name__}: {' '.join(str(err).split())}"
    return ReportItem(name=name, type=kind, title=title, status="error", message=message)
