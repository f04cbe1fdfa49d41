"""Option types read from annotations, and the option record (see :mod:`tfrobust.registry`)."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tfrobust.config import ConfigError, parse_number

__all__ = ["REQUIRED", "Option", "TypeSpec", "dotted_name"]


class _Required:
    """The default of an option that has none."""

    def __repr__(self) -> str:
        return "required"


#: Marks an option without a default: it must be given.
REQUIRED: Any = _Required()


_ATOMS = {"int", "float", "bool", "str", "None", "Any", "Path", "object"}
_SEQUENCES = {"list", "List", "Sequence", "tuple", "Tuple", "Iterable", "Collection"}
_MAPPINGS = {"dict", "Dict", "Mapping", "MutableMapping"}


@dataclass(frozen=True)
class TypeSpec:
    """What an option accepts, read from its annotation.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``str``, ``none``,
    ``any``, ``literal`` (``choices``), ``union`` (``args``), ``list``
    (``args[0]`` the item), ``tuple`` (``args`` per position) or ``mapping``.
    Unknown annotations (a class, ``Callable``) accept anything.
    """

    kind: str
    args: tuple[TypeSpec, ...] = ()
    choices: tuple[Any, ...] = ()

    @classmethod
    def parse(cls, annotation: Any) -> TypeSpec:
        """The spec of an annotation: a string (``"float | None"``), a type or ``inspect.Parameter.empty``."""
        if annotation is inspect.Parameter.empty or annotation is None:
            return cls("any") if annotation is inspect.Parameter.empty else cls("none")
        text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        try:
            node = ast.parse(text.replace("typing.", ""), mode="eval").body
        except SyntaxError:
            return cls("any")
        return cls._from_node(node)

    @classmethod
    def _from_node(cls, node: ast.expr) -> TypeSpec:
        if isinstance(node, ast.Constant):
            if node.value is None:
                return cls("none")
            if isinstance(node.value, str):  # a quoted forward reference
                return cls.parse(node.value)
            return cls("any")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return cls._union([cls._from_node(node.left), cls._from_node(node.right)])
        name = dotted_name(node.value if isinstance(node, ast.Subscript) else node).rsplit(".", 1)[-1]
        if not isinstance(node, ast.Subscript):
            if name in ("int", "float", "bool", "str"):
                return cls(name)
            if name == "Path":
                return cls("str")
            if name == "None":
                return cls("none")
            if name in _SEQUENCES:
                return cls("list", (cls("any"),))
            if name in _MAPPINGS:
                return cls("mapping")
            return cls("any")
        items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if name == "Literal":
            return cls("literal", choices=tuple(ast.literal_eval(item) for item in items))
        if name == "Optional":
            return cls._union([cls._from_node(items[0]), cls("none")])
        if name == "Union":
            return cls._union([cls._from_node(item) for item in items])
        if name in ("tuple", "Tuple"):
            if len(items) == 2 and isinstance(items[1], ast.Constant) and items[1].value is Ellipsis:
                return cls("list", (cls._from_node(items[0]),))
            return cls("tuple", tuple(cls._from_node(item) for item in items))
        if name in _SEQUENCES:
            return cls("list", (cls._from_node(items[0]),))
        if name in _MAPPINGS:
            return cls("mapping")
        return cls("any")

    @classmethod
    def _union(cls, parts: list[TypeSpec]) -> TypeSpec:
        flat: list[TypeSpec] = []
        for part in parts:
            flat.extend(part.args if part.kind == "union" else (part,))
        if any(p.kind == "any" for p in flat):
            return cls("any")
        return cls("union", tuple(flat))

    def describe(self) -> str:
        """A short human reading: ``int``, ``float or none``, ``one of a, b``, ``list of float``."""
        if self.kind == "literal":
            return "one of " + ", ".join(map(str, self.choices))
        if self.kind == "union":
            return " or ".join(arg.describe() for arg in self.args)
        if self.kind == "list":
            return f"list of {self.args[0].describe()}"
        if self.kind == "tuple":
            return "(" + ", ".join(arg.describe() for arg in self.args) + ")"
        return {"none": "none", "mapping": "mapping", "any": "any value"}.get(self.kind, self.kind)

    def coerce(self, value: Any) -> Any:
        """``value`` converted to this type, or :class:`TypeError` when it does not fit."""
        kind = self.kind
        if kind == "any" or kind == "mapping" and isinstance(value, Mapping):
            return dict(value) if kind == "mapping" else value
        if kind == "none":
            if value is None:
                return None
        elif kind == "bool":
            if isinstance(value, bool):
                return value
        elif kind == "int":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind == "float":
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                try:
                    return parse_number(value, name="value", float32=True)
                except ConfigError:
                    pass
        elif kind == "str":
            if isinstance(value, str):
                return value
        elif kind == "literal":
            for choice in self.choices:
                if value == choice and type(value) is type(choice):
                    return choice
        elif kind == "union":
            for arg in self.args:
                try:
                    return arg.coerce(value)
                except TypeError:
                    continue
        elif kind == "list":
            items = value if isinstance(value, (list, tuple)) else None
            if items is not None:
                return [self.args[0].coerce(item) for item in items]
        elif kind == "tuple" and isinstance(value, (list, tuple)) and len(value) == len(self.args):
            return tuple(arg.coerce(item) for arg, item in zip(self.args, value, strict=True))
        raise TypeError(self.describe())


def dotted_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted_name(node.value)}.{node.attr}"
    return ""




@dataclass(frozen=True)
class Option:
    """One keyword-only parameter of an entry."""

    name: str
    type: TypeSpec
    default: Any = REQUIRED
    annotation: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        """``name: annotation = default`` (``required`` when there is no default)."""
        text = f"{self.name}: {self.annotation or self.type.describe()}"
        return f"{text} (required)" if self.required else f"{text} = {self.default!r}"
