"""docs/architecture.md, Layers: the dependency rule, no import cycles, no private imports, small modules."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Layer -> the tfrobust layers it may import (besides itself). ``registry`` and ``config`` are the bottom:
# every layer may import them.
BOTTOM = {"config", "registry"}
ALLOWED = {
    "config": set(),
    "registry": {"config"},
    "data": BOTTOM,
    "models": BOTTOM,
    "attacks": BOTTOM | {"attribution"},  # attacks build on the gradient layer (its input checks)
    "attribution": BOTTOM,
    "training": BOTTOM | {"data", "models", "attacks", "attribution"},
    "evaluation": BOTTOM | {"data", "models", "attacks", "attribution", "training"},
    "theory": BOTTOM | {"data", "models", "attacks", "attribution", "training"},
    "studies": BOTTOM | {"data", "models", "attacks", "attribution", "training", "evaluation", "theory", "reports"},
    "reports": BOTTOM,
}
#: A library module longer than this is split (docs/architecture.md, Layout).
MAX_LINES = 600


def sources() -> list[Path]:
    return sorted([*(ROOT / "tfrobust").rglob("*.py"), *(ROOT / "cli").rglob("*.py")])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) of every absolute and relative import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = path.is_relative_to(ROOT)
    name = module_name(path) if inside else path.stem
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            out.append((module, [alias.name for alias in node.names], node.lineno))
    return out


def imported_layers(path: Path) -> set[str]:
    names = [module for module, _, _ in imports(path)]
    return {n.split(".")[1] for n in names if n.startswith("tfrobust.") and n.count(".") >= 1}


def layer_of(path: Path) -> str:
    rel = path.relative_to(ROOT / "tfrobust")
    return rel.parts[0].removesuffix(".py")


def test_no_layer_imports_upward():
    violations = []
    for path in (ROOT / "tfrobust").rglob("*.py"):
        if path.parent == ROOT / "tfrobust" and path.name == "__init__.py":
            continue
        layer = layer_of(path)
        assert layer in ALLOWED, f"{path}: unknown layer {layer!r}; add it to docs/architecture.md and here"
        bad = imported_layers(path) - ALLOWED[layer] - {layer}
        if bad:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_the_library_never_imports_the_cli():
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in (ROOT / "tfrobust").rglob("*.py")
           for module, _, line in imports(p) if module == "cli" or module.startswith("cli.")]
    assert not bad, bad


def test_the_rule_checker_catches_an_upward_import(tmp_path):
    fake = tmp_path / "m.py"
    fake.write_text("from tfrobust.training import train\nimport tfrobust.config\n")
    assert imported_layers(fake) == {"training", "config"}


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in the file, lazy imports included),
    ``from pkg import module`` resolved; a package's ``__init__`` importing its own submodules is not an edge."""
    paths = {module_name(p): p for p in sources()}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges = set()
        for module, names, _ in imports(path):
            if module in paths:
                edges.add(module)
            for item in names:
                if f"{module}.{item}" in paths:
                    edges.add(f"{module}.{item}")
        graph[name] = {e for e in edges if e != name and not (path.name == "__init__.py" and
                                                               e.startswith(name + "."))}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a list of modules, first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_private_name_is_imported_from_another_module():
    bad = []
    for path in sources():
        for module, names, line in imports(path):
            if not module.startswith(("tfrobust", "cli")):
                continue
            for item in names:
                if item.startswith("_") and not item.startswith("__"):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {item} from {module}")
    assert not bad, "\n".join(bad)


def module_aliases(path: Path, modules: set[str]) -> dict[str, str]:
    """Local name -> project module, for ``import a.b as c`` and ``from a import b`` (b a module) in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules and alias.asname:
                    out[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in modules:
                    out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return out


def test_no_private_name_is_used_through_another_module():
    """``from tfrobust.data import synthetic; synthetic._helper(...)`` is a private import in disguise."""
    modules = {module_name(p) for p in sources()}
    bad = []
    for path in sources():
        aliases = module_aliases(path, modules)
        if not aliases:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_too_long(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (split it by concern)"


def test_reports_config_and_registries_do_not_import_tensorflow():
    code = (
        "import sys, tfrobust.reports, tfrobust.config, tfrobust.data, tfrobust.registry as r;"
        "[reg.describe() for reg in r.REGISTRIES.values()];"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
