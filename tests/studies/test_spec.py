"""Study specs: grid expansion, cell ids, dependency matching, presets and validation."""

import pytest

from tfrobust.config import ConfigError
from tfrobust.studies import load_study_spec, study_spec_from_dict

KINDS = {"fake": object(), "other": object()}


def spec(**changes):
    values = {
        "name": "toy",
        "grid": {"norm": ["l2", "linf"], "eps": [0.1, "8/255"], "seed": [0]},
        "presets": {"quick": {"train": {"epochs": 1}, "grid": {"eps": [0.1]}}},
        "stages": [
            {"name": "train", "kind": "fake", "params": {"eps": "${eps}", "tag": "n=${norm}", "epochs": 5}},
            {"name": "attack", "kind": "other", "needs": ["train"], "params": {"k": [1, "${seed}"]}},
            {"name": "summary", "kind": "other", "needs": ["attack"], "over": ["norm"]},
        ],
    }
    values.update(changes)
    return study_spec_from_dict(values, kinds=KINDS)


def test_cells_are_the_grid_product_in_dependency_order():
    cells = spec().cells()
    assert [c.stage for c in cells] == ["train"] * 4 + ["attack"] * 4 + ["summary"] * 2
    assert [c.id for c in cells[:4]] == [
        "train__norm-l2__eps-0.1__seed-0", "train__norm-l2__eps-8_255__seed-0",
        "train__norm-linf__eps-0.1__seed-0", "train__norm-linf__eps-8_255__seed-0"]
    first = cells[0]
    assert first.params == {"eps": 0.1, "tag": "n=l2", "epochs": 5}  # whole reference keeps the type
    assert cells[1].params["eps"] == "8/255"  # kinds parse fractions
    assert cells[4].params == {"k": [1, 0]}
    assert [c.id for c in cells[-2:]] == ["summary__norm-l2", "summary__norm-linf"]
    assert spec().cells() == cells  # deterministic ids and hashes


def test_dependencies_agree_on_shared_keys():
    cells = {c.id: c for c in spec().cells()}
    attack = cells["attack__norm-linf__eps-0.1__seed-0"]
    assert dict(attack.needs) == {"train": "train__norm-linf__eps-0.1__seed-0"}  # one cell: keyed by stage
    summary = cells["summary__norm-l2"]
    assert sorted(summary.needs.values()) == ["attack__norm-l2__eps-0.1__seed-0",
                                              "attack__norm-l2__eps-8_255__seed-0"]
    assert sorted(summary.needs) == sorted(summary.needs.values())  # several cells: keyed by id


def test_preset_overrides_params_and_grid_and_hashes_propagate():
    base = {c.id: c for c in spec().cells()}
    quick = {c.id: c for c in spec().cells("quick")}
    assert len(quick) == 2 + 2 + 2
    train = quick["train__norm-l2__eps-0.1__seed-0"]
    assert train.params["epochs"] == 1
    assert train.config_hash != base[train.id].config_hash
    attack = "attack__norm-l2__eps-0.1__seed-0"
    assert quick[attack].params == base[attack].params
    assert quick[attack].config_hash != base[attack].config_hash  # its dependency changed
    with pytest.raises(ConfigError, match="unknown preset 'paper'"):
        spec().cells("paper")


def test_mapping_grid_values_use_their_name_and_fields():
    s = spec(grid={"training": [{"name": "std", "method": "standard"},
                                {"name": "adv", "method": "adversarial", "opts": {"eps": 1}}]},
             presets={},
             stages=[{"name": "train", "kind": "fake",
                      "params": {"method": "${training.method}", "all": "${training}", "s": "x-${training}"}}])
    cells = s.cells()
    assert [c.id for c in cells] == ["train__training-std", "train__training-adv"]
    assert cells[1].params == {"method": "adversarial", "s": "x-adv",
                               "all": {"name": "adv", "method": "adversarial", "opts": {"eps": 1}}}
    assert cells[1].values == {"training": "adv"}


@pytest.mark.parametrize("changes, message", [
    ({"grdi": {}}, r"study: unknown field\(s\) grdi"),
    ({"name": "a b"}, "name:"),
    ({"stages": [{"name": "t", "kind": "fake", "parms": {}}]}, r"stages\[0\]: unknown field\(s\) parms"),
    ({"stages": [{"name": "t", "kind": "nope"}]}, "stages.t.kind: unknown kind 'nope'"),
    ({"stages": [{"name": "t", "kind": "fake", "needs": ["x"]}]}, r"stages.t.needs: unknown stage\(s\) x"),
    ({"stages": [{"name": "a", "kind": "fake", "needs": ["b"]}, {"name": "b", "kind": "fake", "needs": ["a"]}]},
     "cycle a -> b -> a"),
    ({"stages": [{"name": "t", "kind": "fake", "over": ["bogus"]}]}, r"stages.t.over: unknown grid key\(s\) bogus"),
    ({"stages": [{"name": "t", "kind": "fake", "params": {"x": "${bogus}"}}]}, "unknown grid key"),
    ({"stages": [{"name": "t", "kind": "fake", "over": ["norm"], "params": {"x": "${eps}"}}]}, "not in its over"),
    ({"stages": [{"name": "t", "kind": "fake"}, {"name": "t", "kind": "fake"}]}, "is taken"),
    ({"grid": {"eps": [0.1, "0.1"]}}, "same cell id part"),
    ({"grid": {"eps": []}}, "non-empty list"),
    ({"grid": {"m": [{"method": "x"}]}}, "needs a `name`"),
    ({"presets": {"quick": {"trian": {}}}}, r"presets.quick: unknown field\(s\) trian"),
    ({"presets": {"quick": {"grid": {"bogus": [1]}}}}, "presets.quick.grid: unknown grid key"),
    ({"stages": []}, "non-empty list of stages"),
])
def test_validation_errors_name_the_field(changes, message):
    with pytest.raises(ConfigError, match=message):
        spec(**changes)


def test_load_from_yaml_and_the_shipped_demo(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: y\ngrid: {a: [1, 2]}\nstages:\n  - {name: s, kind: fake, params: {v: '${a}'}}\n")
    assert [c.params for c in load_study_spec(path, kinds=KINDS).cells()] == [{"v": 1}, {"v": 2}]
    path.write_text("name: y\nstages: !!python/object:os.system {}\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_study_spec(path, kinds=KINDS)


def test_generated_grids_and_arithmetic_params():
    values = {
        "name": "gen",
        "grid": {"norm": [{"name": "l2", "eps_max": 1.6}, {"name": "linf", "eps_max": 0.04}],
                 "scale": {"range": [0, 1, 0.25]}},
        "presets": {"quick": {"grid": {"scale": {"linspace": [0, 1, 3]}}}},
        "stages": [{"name": "s", "kind": "fake",
                    "params": {"eps": "${norm.eps_max} * ${scale}", "ratio": "${scale} / 4",
                               "tag": "${norm} at ${scale}", "literal": "8/255"}}],
    }
    result = study_spec_from_dict(values, kinds=KINDS)
    assert result.grid["scale"] == (0.0, 0.25, 0.5, 0.75, 1.0)
    cells = result.cells()
    assert [c.params["eps"] for c in cells[:5]] == [0.0, 0.4, 0.8, 1.2, 1.6]
    assert cells[6].params["eps"] == pytest.approx(0.01)
    assert cells[1].params["ratio"] == 0.0625
    assert cells[1].params["tag"] == "l2 at 0.25"           # text stays text
    assert cells[1].params["literal"] == "8/255"            # no reference: left to parse_number
    assert [c.values["scale"] for c in result.cells("quick")[:3]] == [0.0, 0.5, 1.0]
    # B.3's linf sweep read as 0..0.04 step 0.002: 21 values, the stop included despite rounding
    values["grid"]["scale"] = {"range": [0, 0.04, 0.002]}
    assert len(study_spec_from_dict(values, kinds=KINDS).grid["scale"]) == 21


@pytest.mark.parametrize("generator, message", [
    ({"range": [0, 1]}, "three numbers"),
    ({"range": [0, 1, 0]}, "step > 0"),
    ({"linspace": [0, 1, 1.5]}, "num must be an integer"),
    ({"steps": [0, 1, 2]}, "range"),
])
def test_bad_generators_name_the_key(generator, message):
    values = {"name": "gen", "grid": {"scale": generator},
              "stages": [{"name": "s", "kind": "fake", "params": {"v": "${scale}"}}]}
    with pytest.raises(ConfigError, match=rf"grid\.scale.*{message}|{message}"):
        study_spec_from_dict(values, kinds=KINDS)


def test_loading_and_checking_a_spec_imports_no_tensorflow():
    """Every shipped config loads, a study whose cells build no attack is checked, and every kind's params
    are checked (signature and semantic checks), without TensorFlow."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parents[2]
    code = (
        "import sys, glob\n"
        "from tfrobust.studies import load_study_spec\n"
        "from tfrobust.studies.check import check_study\n"
        "specs = [load_study_spec(p) for p in sorted(glob.glob('configs/studies/*.yaml'))]\n"
        "assert len(specs) >= 20\n"
        "for name in ('kim2019_fig3b', 'tsipras2019_theorems'):\n"
        "    spec = load_study_spec(f'configs/studies/{name}.yaml')\n"
        "    for preset in (None, *spec.presets):\n"
        "        assert check_study(spec, preset)\n"
        "from tfrobust.registry import KINDS\n"
        "from tfrobust.studies.check import check_params\n"
        "required = {'attack': {'eps': 1}, 'roar': {'methods': 'random'}, 'examples': {'eps': 1}}\n"
        "for kind in KINDS:\n"
        "    check_params(kind, required.get(kind, {}))  # the signature and the kind module's check_params\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
