"""docs/architecture.md, Layers: the dependency rule between tfrobust's layers."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Layer -> the tfrobust layers it may import (besides itself).
ALLOWED = {
    "config": set(),
    "data": {"config"},
    "models": {"config"},
    "attacks": {"config", "attribution"},  # attacks build on the gradient layer (its input checks)
    "attribution": {"config"},
    "training": {"config", "data", "models", "attacks", "attribution"},
    "evaluation": {"config", "data", "models", "attacks", "attribution", "training"},
    "theory": {"config", "data", "models", "attacks", "attribution", "training"},
    "studies": {"config", "data", "models", "attacks", "attribution", "training",
                "evaluation", "theory", "reports"},
    "reports": {"config"},
}


def imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
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


def test_the_rule_checker_catches_an_upward_import(tmp_path):
    fake = tmp_path / "m.py"
    fake.write_text("from tfrobust.training import train\nimport tfrobust.config\n")
    assert imported_layers(fake) == {"training", "config"}


def test_reports_and_config_do_not_import_tensorflow():
    code = (
        "import sys, tfrobust.reports, tfrobust.config, tfrobust.data;"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
