"""Plugins: an installed distribution adds an attribution, an attack, a method and a stage kind through entry points.

The test writes a small package and its ``.dist-info`` (METADATA and
``entry_points.txt``, what pip writes when it installs a package) into a
temporary folder on ``sys.path``; ``importlib.metadata`` then finds it exactly
as it finds an installed plugin. Nothing in tfrobust is touched.
"""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.cli.test_saliency_cli import write_idx
from tfrobust.registry import ATTACKS, ATTRIBUTIONS, KINDS, METHODS, REGISTRIES

ROOT = Path(__file__).resolve().parents[1]
DIST = "tfrobust-demo-plugin"

PLUGIN = '''
"""A tfrobust plugin used by the tests (one entry per registry)."""

import os


def scaled_gradient(model, x, y, *, scale: float = 2.0):
    """The loss gradient times a constant."""
    from tfrobust.attribution import gradient

    return scale * gradient(model, x, y)


def shift_attack(model, x, y, *, norm: str, eps: float, bounds: tuple[float, float], seed: int = 0,
                 direction: float = 1.0):
    """Moves every input along a constant direction of norm eps (clipped to the bounds)."""
    import numpy as np

    x = np.asarray(x, np.float32)
    d = x[0].size
    step = np.full_like(x, eps if norm == "linf" else eps / np.sqrt(d)) * np.sign(direction)
    return np.clip(x + step, bounds[0], bounds[1])


def _penalized():
    from tfrobust.training import RobustModel
    return RobustModel


class PenalizedModel(_penalized()):
    """Standard training plus weight * mean squared logit."""

    extra_loss_names = ("logit_penalty",)

    def __init__(self, base, *, weight: float = 0.1, **kwargs):
        super().__init__(base, **kwargs)
        self.weight = float(weight)

    def regularization(self, x, y, logits, **context):
        import tensorflow as tf

        return {"logit_penalty": self.weight * tf.reduce_mean(tf.square(logits))}


def count_kind(deps, out_dir, *, n: int = 3, label: str = "x"):
    """Writes n lines to count.txt."""
    with open(os.path.join(out_dir, "count.txt"), "w") as handle:
        handle.write(f"{label}\\n" * n)
    return {"count": n, "label_length": len(label)}
'''

ENTRY_POINTS = """
[tfrobust.attributions]
scaled_gradient = tfrobust_demo_plugin:scaled_gradient

[tfrobust.attacks]
shift = tfrobust_demo_plugin:shift_attack

[tfrobust.methods]
penalized = tfrobust_demo_plugin:PenalizedModel

[tfrobust.kinds]
count = tfrobust_demo_plugin:count_kind
"""


def install_plugin(site: Path) -> Path:
    """The plugin package and its dist-info in ``site`` (an installation folder)."""
    (site / "tfrobust_demo_plugin").mkdir(parents=True)
    (site / "tfrobust_demo_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = site / "tfrobust_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")
    return site


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    site = install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    for registry in REGISTRIES.values():
        registry.refresh()
    yield site
    sys.modules.pop("tfrobust_demo_plugin", None)
    monkeypatch.undo()
    for registry in REGISTRIES.values():
        registry.refresh()


def test_plugin_entries_join_the_registries_with_their_options(plugin):
    expected = [(ATTRIBUTIONS, "scaled_gradient", ["scale"]), (ATTACKS, "shift", ["direction"]),
                (METHODS, "penalized", ["weight"]), (KINDS, "count", ["n", "label"])]
    for registry, name, options in expected:
        entry = registry[name]
        assert [o.name for o in entry.options] == options, name
        assert entry.source == f"plugin {DIST}"
        assert entry.description  # read from the plugin's source, not by importing it
    assert "tfrobust_demo_plugin" not in sys.modules
    assert ATTACKS["shift"].parse({"direction": "-1"}) == {"direction": -1.0}
    # A plugin cannot replace a built-in entry of the same name.
    assert ATTRIBUTIONS["gradient"].source == "tfrobust"


def test_tfrobust_list_shows_the_plugin_entries_without_importing_tensorflow(plugin):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(ROOT)])}
    code = ("import sys; from cli.main import main\n"
            "try:\n    main(['list'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('TF', 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    for name, option in (("scaled_gradient", "scale"), ("shift", "direction"), ("penalized", "weight"),
                         ("count", "label")):
        assert name in out.stdout and option in out.stdout
    assert DIST in out.stdout
    assert "TF False" in out.stdout


def test_the_plugin_attribution_and_attack_run_through_the_library(plugin, linear_model):
    from tfrobust.attribution import attribute, gradient
    from tfrobust.evaluation import robust_accuracy_table

    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(4, 3)).astype(np.float32), np.zeros(3, np.float32)
    model = linear_model(w, b)
    x = rng.uniform(0.2, 0.8, size=(6, 4)).astype(np.float32)
    y = np.arange(6) % 3
    maps = attribute("scaled_gradient", model, x, y, scale=3.0)
    np.testing.assert_allclose(np.asarray(maps), 3.0 * np.asarray(gradient(model, x, y)), rtol=1e-6)
    table = robust_accuracy_table(model, (x, y), norms=["linf"], eps=[0.0, 0.1], bounds=(0.0, 1.0),
                                  attack="shift", options={"direction": 1.0})
    assert list(table["attack"]) == ["shift", "shift"]
    logits = np.asarray(model(x))
    assert table["clean_accuracy"].iloc[0] == pytest.approx(np.mean(logits.argmax(1) == y))
    shifted = np.asarray(model(np.clip(x + 0.1, 0, 1))).argmax(1)
    assert table["robust_accuracy_mean"].iloc[1] == pytest.approx(np.mean(shifted == y))


def test_the_plugin_method_trains_from_the_cli(plugin, tmp_path, run_cli):
    data_dir = write_idx(tmp_path / "mnist")
    out = tmp_path / "run"
    code, _, err = run_cli("train", "--dataset", "mnist", "--data-dir", data_dir, "--arch", "linear",
                           "--bounds", "0,1", "--epochs", "1", "--batch-size", "8", "--quiet",
                           "--method", "penalized", "--option", "weight=0.5", "--out", out)
    assert code == 0, err
    assert "logit_penalty" in (out / "history.csv").read_text(encoding="utf-8")
    assert yaml.safe_load((out / "config.yaml").read_text())["method_options"] == {"weight": 0.5}
    code, _, err = run_cli("train", "--dataset", "mnist", "--data-dir", data_dir, "--arch", "linear",
                           "--method", "penalized", "--option", "weigth=0.5", "--out", tmp_path / "bad")
    assert code == 2 and "has no option 'weigth'" in err and "weight" in err
    # The plugin's attack and attribution through their commands, on the model the plugin method trained.
    table = tmp_path / "attack.csv"
    code, text, err = run_cli("attack", "--model", out, "--attack", "shift", "--option", "direction=-1",
                              "--norm", "linf", "--eps", "0,0.2", "--limit", "16", "--out", table)
    assert code == 0, err
    rows = list(csv.DictReader(table.open()))
    assert [r["attack"] for r in rows] == ["shift", "shift"] and float(rows[0]["eps"]) == 0.0
    code, _, err = run_cli("saliency", "--model", out, "--dataset", "mnist", "--data-dir", data_dir,
                           "--method", "scaled_gradient,gradient", "--option", "scaled_gradient.scale=3",
                           "--limit", "8", "--out", tmp_path / "maps", "--quiet")
    assert code == 0, err
    scaled = np.load(tmp_path / "maps" / "scaled_gradient.npy")
    np.testing.assert_allclose(scaled, 3 * np.load(tmp_path / "maps" / "gradient.npy"), rtol=1e-5, atol=1e-9)


def test_the_plugin_entries_run_in_a_study(plugin, tmp_path, run_cli):
    data = {"name": "mnist", "data_dir": str(write_idx(tmp_path / "mnist", n_train=24, n_test=12)), "bounds": [0, 1]}
    spec = {"name": "plugged", "grid": {"n": [1, 2]},
            "stages": [
                {"name": "count", "kind": "count", "params": {"n": "${n}", "label": "abc"}},
                {"name": "train", "kind": "train", "over": [],
                 "params": {"data": data, "model": {"arch": "linear"}, "epochs": 1, "batch_size": 8,
                            "method": "penalized", "method_options": {"weight": 0.2}}},
                {"name": "saliency", "kind": "saliency", "needs": ["train"], "over": [],
                 "params": {"methods": "scaled_gradient", "split": "test",
                            "options": {"scaled_gradient": {"scale": 0.5}}}},
                {"name": "attack", "kind": "attack", "needs": ["train"], "over": [],
                 "params": {"norms": "linf", "eps": [0.1], "attack": "shift", "options": {"direction": 1.0}}},
            ]}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    code, _, err = run_cli("study", "run", path, "--out", tmp_path / "out")
    assert code == 0, err
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "out" / "records").glob("*.json"))]
    assert sorted(r["metrics"]["count"] for r in records if r["kind"] == "count") == [1, 2]
    assert {r["stage"] for r in records if r["status"] == "done"} == {"count", "train", "saliency", "attack"}
    attack = next(r for r in records if r["kind"] == "attack")["metrics"]
    assert 0.0 <= attack["robust_linf_0.1"] <= 1.0
    bad = {**spec, "stages": [{"name": "count", "kind": "count", "params": {"n": "many"}}]}
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    code, _, err = run_cli("study", "check", path)
    assert code != 0 and "count" in err and "n" in err
