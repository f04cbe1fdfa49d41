"""Registries of extension points whose entries carry their options (docs/architecture.md, Registries).

Seven registries map a name to an entry:

========================  ==========================  ===========================================
registry                  entry point group           an entry is
========================  ==========================  ===========================================
:data:`ATTRIBUTIONS`      ``tfrobust.attributions``   ``fn(model, x, y, *, **options) -> maps``
:data:`ATTACKS`           ``tfrobust.attacks``        ``fn(model, x, y, *, norm, eps, bounds, seed,
                                                      **options) -> x_adv``
:data:`METHODS`           ``tfrobust.methods``        a ``RobustModel`` subclass,
                                                      ``cls(base, *, **options)``
:data:`KINDS`             ``tfrobust.kinds``          ``fn(deps, out_dir, *, **options) -> metrics``
:data:`MODELS`            ``tfrobust.models``         ``fn(input_shape, num_classes, *, **options)
                                                      -> keras.Model``
:data:`NORMS`             ``tfrobust.norms``          a norm geometry class
:data:`OBJECTIVES`        ``tfrobust.objectives``     ``fn(logits, y, *, targeted, kappa) -> loss``
========================  ==========================  ===========================================

An entry's **options** are its keyword-only parameters, with types and
defaults read from its signature (the protocol's own keywords, such as an
attack's ``eps``, are not options). Entries come from three places:

1. In-tree: a function or class in the registry's home package decorated with
   ``@register("<registry>", "<name>")`` (string literals). The home packages
   are scanned with :mod:`ast`, so listing entries and checking options imports
   no TensorFlow; the module is imported when the entry is used.
2. Plugins: an installed distribution's entry point in the registry's group,
   ``name = "package.module:function"``.
3. At run time: ``REGISTRY.add(name, obj)`` (or ``REGISTRY[name] = obj``).

Option values from YAML keep their types; values from the command line
(``--option key=value``) are parsed by :func:`parse_value` first. Every
failure is one :class:`~tfrobust.config.ConfigError` line naming the entry
and listing its options.

This package sits at the bottom of the layers with :mod:`tfrobust.config`:
it imports no TensorFlow and nothing of tfrobust but ``config``
(:mod:`~tfrobust.registry.types`: option types; :mod:`~tfrobust.registry.values`:
command-line values).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tfrobust.config import ConfigError
from tfrobust.registry.types import REQUIRED, Option, TypeSpec, dotted_name
from tfrobust.registry.values import parse_option_args, parse_value

__all__ = [
    "ATTACKS",
    "ATTRIBUTIONS",
    "KINDS",
    "METHODS",
    "MODELS",
    "NORMS",
    "OBJECTIVES",
    "REGISTRIES",
    "REQUIRED",
    "Entry",
    "Option",
    "Registry",
    "TypeSpec",
    "keywords_of",
    "options_of",
    "parse_option_args",
    "parse_value",
    "register",
]

T = TypeVar("T")

_ROOT = Path(__file__).resolve().parents[1]




def register(registry: str, name: str) -> Callable[[T], T]:
    """Marks a function or class as the entry ``name`` of ``registry`` (``"attacks"``, ...).

    Write it with string literals, ``@register("attacks", "pgd")``, on a
    top-level function or class of the registry's home package: the package is
    found by reading its source, not by importing it. The decorator returns
    the object unchanged.
    """
    if registry not in _HOMES:
        raise ValueError(f"registry must be one of {', '.join(_HOMES)}, got {registry!r}")

    def mark(obj: T) -> T:
        try:
            obj.__tfrobust_entry__ = (registry, name)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass
        return obj

    return mark


# --------------------------------------------------------------------------
# entries




@dataclass(frozen=True)
class Entry:
    """A registered name: where its object lives, its one-line description and its options."""

    registry: str
    name: str
    target: str
    description: str = ""
    options: tuple[Option, ...] = ()
    source: str = "tfrobust"
    obj: Any = field(default=None, compare=False, repr=False)
    #: every keyword-only parameter name, the protocol's included
    keywords: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``attack 'pgd'``: how errors name the entry."""
        return f"{_SINGULAR.get(self.registry, self.registry)} {self.name!r}"

    def load(self) -> Any:
        """The registered function or class (imports its module on first use)."""
        if self.obj is not None:
            return self.obj
        module_name, _, qualname = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as err:
            raise ConfigError(f"{self.label} ({self.source}): cannot load {self.target}: {err}") from None
        return obj

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calls the registered object (``ATTRIBUTIONS["gradient"](model, x, y)``)."""
        return self.load()(*args, **kwargs)

    def accepts(self, keyword: str) -> bool:
        """Whether the entry's signature has the keyword-only parameter ``keyword`` (option or protocol)."""
        return keyword in self.keywords

    def option(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        raise ConfigError(f"{self.label} has no option {name!r}; {self._known()}")

    def _known(self) -> str:
        if not self.options:
            return "it takes no options"
        return "its options: " + ", ".join(o.name for o in self.options)

    def parse(self, options: Mapping[str, Any] | None, *, prefix: str = "") -> dict[str, Any]:
        """``options`` checked against the entry's options and converted to their types.

        Args:
            options: name -> value (YAML types, or CLI values from :func:`parse_value`).
            prefix: how the mapping is called in messages (``"attack.options"``).

        Returns:
            The given options (defaults are left to the signature), converted.

        Raises:
            ConfigError: an unknown option, a value of the wrong type, a required
                option missing, or ``options`` not a mapping.
        """
        where = f"{prefix}: " if prefix else ""
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise ConfigError(f"{where}options of {self.label} must be a mapping, got {options!r}")
        out: dict[str, Any] = {}
        for key, value in options.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where}option names of {self.label} are strings, got {key!r}")
            try:
                option = self.option(key)
            except ConfigError as err:
                raise ConfigError(f"{where}{err}") from None
            try:
                out[key] = option.type.coerce(value)
            except TypeError:
                raise ConfigError(f"{where}option {key} of {self.label} must be {option.type.describe()}, "
                                  f"got {value!r}") from None
        missing = [o.name for o in self.options if o.required and o.name not in out]
        if missing:
            raise ConfigError(f"{where}{self.label} needs option(s) {', '.join(missing)}; {self._known()}")
        return out

    def describe(self) -> str:
        """Several lines: the name, its description, then one line per option."""
        lines = [f"{self.name}  {self.description}".rstrip()]
        if self.source != "tfrobust":
            lines[0] += f"  [{self.source}]"
        lines += [f"    {option.describe()}" for option in self.options] or ["    (no options)"]
        return "\n".join(lines)


_SINGULAR = {"attributions": "attribution", "attacks": "attack", "methods": "method", "kinds": "kind",
             "models": "model", "norms": "norm", "objectives": "objective"}


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0].strip()


def _default_from_node(node: ast.expr | None) -> Any:
    if node is None:
        return REQUIRED
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return _Expression(ast.unparse(node))


class _Expression(str):
    """A default written as an expression (not a literal); shown as its source."""

    def __repr__(self) -> str:
        return str(self)


def _signature_node(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    if isinstance(node, ast.ClassDef):
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                return item
        return None
    return node


def _options_from_ast(func: ast.FunctionDef | ast.AsyncFunctionDef | None,
                      protocol: tuple[str, ...]) -> tuple[Option, ...]:
    if func is None:
        return ()
    out = []
    for arg, default in zip(func.args.kwonlyargs, func.args.kw_defaults, strict=True):
        if arg.arg in protocol:
            continue
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        out.append(Option(arg.arg, TypeSpec.parse(annotation) if annotation else TypeSpec("any"),
                          _default_from_node(default), annotation))
    return tuple(out)


def options_of(obj: Any, protocol: tuple[str, ...] = ()) -> tuple[Option, ...]:
    """The options of a loaded function or class: its (``__init__``'s) keyword-only parameters."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return ()
    out = []
    for parameter in signature.parameters.values():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY or parameter.name in protocol:
            continue
        annotation = parameter.annotation
        text = "" if annotation is inspect.Parameter.empty else (
            annotation if isinstance(annotation, str) else inspect.formatannotation(annotation))
        default = REQUIRED if parameter.default is inspect.Parameter.empty else parameter.default
        out.append(Option(parameter.name, TypeSpec.parse(annotation), default, text.replace("typing.", "")))
    return tuple(out)


def keywords_of(obj: Any) -> tuple[str, ...]:
    """The keyword-only parameter names of a loaded function or class (``__init__``)."""
    try:
        signature = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _decorated_name(node: ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef, registry: str) -> str | None:
    for decorator in node.decorator_list:
        if (isinstance(decorator, ast.Call) and dotted_name(decorator.func).rsplit(".", 1)[-1] == "register"
                and len(decorator.args) == 2
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in decorator.args)
                and decorator.args[0].value == registry):  # type: ignore[attr-defined]
            return str(decorator.args[1].value)  # type: ignore[attr-defined]
    return None


def _module_name(path: Path, root: Path = _ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _scan_source(path: Path, module: str, registry: str, protocol: tuple[str, ...],
                 source: str, only: str | None = None) -> Iterator[Entry]:
    """Entries of ``registry`` defined at the top of one source file (decorated, or the one named ``only``)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if only is not None:
            if node.name != only:
                continue
            name: str | None = only
        else:
            name = _decorated_name(node, registry)
        if name is None:
            continue
        func = _signature_node(node)
        keywords = tuple(a.arg for a in func.args.kwonlyargs) if func is not None else ()
        yield Entry(registry, name, f"{module}:{node.name}", _first_line(ast.get_docstring(node)),
                    _options_from_ast(func, protocol), source, keywords=keywords)


# --------------------------------------------------------------------------
# registries


class Registry(Mapping[str, Entry]):
    """Names -> :class:`Entry`, found in the home package, in plugins and added at run time."""

    def __init__(self, name: str, *, home: str, protocol: tuple[str, ...] = (), root: Path | None = None) -> None:
        self.name = name
        self.group = f"tfrobust.{name}"
        self.home = home  # a package path relative to ``root`` (tfrobust/), e.g. "attribution"
        self.protocol = protocol
        self.root = _ROOT if root is None else Path(root)
        self._entries: dict[str, Entry] | None = None  # built-in and plugin entries, read once
        self._added: dict[str, Entry] = {}
        self._merged: dict[str, Entry] | None = None  # both, with run-time additions winning

    # discovery ------------------------------------------------------------

    def _discover(self) -> dict[str, Entry]:
        if self._entries is None:
            found: dict[str, Entry] = {}
            for path in sorted((self.root / self.home).rglob("*.py")):
                module = _module_name(path, self.root)
                for entry in _scan_source(path, module, self.name, self.protocol, "tfrobust"):
                    if entry.name in found:
                        raise ConfigError(f"{self.name}: {entry.name!r} is registered twice "
                                          f"({found[entry.name].target} and {entry.target})")
                    found[entry.name] = entry
            for entry in self._plugins():
                found.setdefault(entry.name, entry)  # a plugin cannot replace a built-in entry
            self._entries = found
        if self._merged is None:
            self._merged = {**self._entries, **self._added}
        return self._merged

    def _plugins(self) -> Iterator[Entry]:
        from importlib.metadata import entry_points

        for point in entry_points(group=self.group):
            dist = getattr(point, "dist", None)
            source = f"plugin {dist.name}" if dist is not None else "plugin"
            module, _, qualname = point.value.partition(":")
            entry = self._plugin_entry(point.name, module.strip(), qualname.strip(), source)
            if entry is not None:
                yield entry

    def _plugin_entry(self, name: str, module: str, qualname: str, source: str) -> Entry | None:
        target = f"{module}:{qualname}"
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        origin = getattr(spec, "origin", None)
        if origin and origin.endswith(".py") and "." not in qualname:
            for entry in _scan_source(Path(origin), module, self.name, self.protocol, source, only=qualname):
                return Entry(self.name, name, target, entry.description, entry.options, source,
                             keywords=entry.keywords)
        return Entry(self.name, name, target, "", (), source)  # options read when it is loaded

    def refresh(self) -> None:
        """Forgets what was discovered (after installing a plugin in the same process)."""
        self._entries = self._merged = None

    # mapping --------------------------------------------------------------

    def __getitem__(self, name: str) -> Entry:
        entries = self._discover()
        if not isinstance(name, str) or name not in entries:
            raise ConfigError(f"unknown {_SINGULAR.get(self.name, self.name)} {name!r}; "
                              f"choose from: {', '.join(entries)}")
        entry = entries[name]
        if not entry.options and not entry.description and entry.obj is None and entry.source != "tfrobust":
            obj = entry.load()  # a plugin whose source could not be read: read its signature
            entry = Entry(self.name, name, entry.target, _first_line(inspect.getdoc(obj)),
                          options_of(obj, self.protocol), entry.source, obj, keywords_of(obj))
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._discover())

    def __len__(self) -> int:
        return len(self._discover())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._discover()

    def get(self, name: str, default: Any = None) -> Any:
        """The entry of ``name``, or ``default`` when there is none (no error)."""
        return self[name] if name in self else default

    def names(self) -> list[str]:
        return list(self._discover())

    def get_entry(self, name: str) -> Entry:
        """Same as ``registry[name]``: the entry, or a one-line error listing the names."""
        return self[name]

    def load(self, name: str) -> Any:
        """The registered object of ``name``."""
        return self[name].load()

    def add(self, name: str, obj: Any, *, description: str | None = None) -> Entry:
        """Registers ``obj`` (a function or class) as ``name`` in this process; replaces an earlier addition."""
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
            raise ConfigError(f"{self.name}: a name is letters, digits, _ . -, got {name!r}")
        if isinstance(obj, Entry):  # e.g. monkeypatch restoring an entry it replaced
            self._added[name] = obj
            self._merged = None
            return obj
        module = getattr(obj, "__module__", "?")
        qualname = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
        entry = Entry(self.name, name, f"{module}:{qualname}",
                      description if description is not None else _first_line(inspect.getdoc(obj)),
                      options_of(obj, self.protocol), "added", obj, keywords_of(obj))
        self._added[name] = entry
        self._merged = None
        return entry

    def __setitem__(self, name: str, obj: Any) -> None:
        self.add(name, obj)

    def __delitem__(self, name: str) -> None:
        if name not in self._added:
            raise KeyError(name)
        del self._added[name]
        self._merged = None

    def remove(self, name: str) -> None:
        """Removes an entry added with :meth:`add` (built-in and plugin entries stay)."""
        self._added.pop(name, None)
        self._merged = None

    def describe(self) -> str:
        """Every entry, its description and its options (``tfrobust list``)."""
        return "\n".join(self[name].describe() for name in self)


#: Attribution methods: ``fn(model, x, y, *, **options)`` -> maps of the shape of ``x``; an entry
#: that has a ``bounds`` keyword is given the data's value range by its callers.
ATTRIBUTIONS = Registry("attributions", home="attribution", protocol=("bounds",))
#: Attacks: ``fn(model, x, y, *, norm, eps, bounds, seed, **options)`` -> adversarial ``x``.
ATTACKS = Registry("attacks", home="attacks", protocol=("norm", "eps", "bounds", "seed"))
#: Training methods: ``RobustModel`` subclasses, ``cls(base, *, **options)``.
METHODS = Registry("methods", home="training")
#: Study stage kinds: ``fn(deps, out_dir, *, **options)`` -> metrics.
KINDS = Registry("kinds", home="studies")

#: Model architectures: ``fn(input_shape, num_classes, *, **options)`` -> an uncompiled ``keras.Model`` (logits).
MODELS = Registry("models", home="models")
#: Norm geometries: ``Norm`` subclasses (``project``, ``normalize_step``, ``random_start``).
NORMS = Registry("norms", home="attacks")
#: Attack objectives: ``fn(logits, y, *, targeted, kappa)`` -> per-example loss to maximise.
OBJECTIVES = Registry("objectives", home="attacks")

#: Registry name -> registry (``tfrobust list``).
REGISTRIES: dict[str, Registry] = {r.name: r for r in (ATTRIBUTIONS, ATTACKS, METHODS, KINDS, MODELS, NORMS,
                                                       OBJECTIVES)}
_HOMES = set(REGISTRIES)

