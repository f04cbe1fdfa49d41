"""`check_study` and the fidelity options: PGD step lengths and the new stage params, before any cell runs.

The old Noack et al. 2021 Table 2 teachers took l2 sign steps of the default size 2.5 eps / 7 on
CIFAR-10, whose l2 length (step * sqrt(3072): 24.8 and 6.2) is twenty times the ball's diameter;
the check must refuse that study before its first cell trains for days.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cli.main import main
from tfrobust.attacks import PGD
from tfrobust.config import ConfigError
from tfrobust.studies import KIND_CHECKS, KINDS, load_study_spec, run_study, study_spec_from_dict
from tfrobust.studies.check import check_cell, check_study, dataset_input_shape

TABLE2 = Path(__file__).parents[2] / "configs" / "studies" / "noack2021_table2.yaml"


def old_table2_text() -> str:
    """noack2021_table2.yaml with the teachers' and AT models' old attack: `l2_step: sign`, no step_size."""
    text, count = re.subn(r"l2_step: normalized, step_size: [0-9.]+", "l2_step: sign", TABLE2.read_text())
    assert count == 2  # the two anchored attacks (320/255 and 80/255), used by teachers and AT models
    return text


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert message and len(message.splitlines()) == 1, message
    return message


@pytest.mark.parametrize("preset", [None, "paper"])
def test_old_table2_is_refused_naming_step_size(preset):
    spec = study_spec_from_dict(yaml.safe_load(old_table2_text()))
    with pytest.raises(ConfigError) as err:
        check_study(spec, preset)
    message = one_line(err)
    assert message.startswith("stages.teacher.params (cell teacher__teacher-R320): method_options.attack.step_size: ")
    # 2.5 * (320/255) / 7 * sqrt(32 * 32 * 3) = 24.8 > 2 * 320/255 = 2.51
    assert "over 3072 input values has l2 length 24.8" in message and "2*eps = 2.51" in message


def test_old_table2_fails_study_check_and_run_before_any_cell(tmp_path, capsys):
    config = tmp_path / "old_table2.yaml"
    config.write_text(old_table2_text())
    with pytest.raises(ConfigError, match=r"method_options\.attack\.step_size"):
        run_study(load_study_spec(config), tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["study", "check", str(config), "--preset", "paper"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: stages.teacher.params") and "step_size" in err


def test_the_fixed_table2_is_checked_with_the_dataset_input_shape(monkeypatch):
    """The check is not vacuous: every adversarial train cell's PGD sees its dataset's input shape."""
    seen = []
    original = PGD.check_input_shape

    def spy(self, shape):
        seen.append((self.norm, self.l2_step, tuple(shape)))
        return original(self, shape)

    monkeypatch.setattr(PGD, "check_input_shape", spy)
    spec = load_study_spec(TABLE2)
    check_study(spec, "paper")
    assert set(seen) == {("l2", "normalized", (32, 32, 3))} and len(seen) == 4  # R320, R80, AT_320, AT_80
    seen.clear()
    check_study(spec, "quick")  # Fashion-MNIST
    assert set(seen) == {("l2", "normalized", (28, 28, 1))} and len(seen) == 2


def test_long_steps_cut_lets_the_old_steps_through():
    text = old_table2_text().replace("l2_step: sign", "l2_step: sign, long_steps: cut")
    assert len(check_study(study_spec_from_dict(yaml.safe_load(text)), "paper")) == 36


@pytest.mark.parametrize("name, options, shape", [
    ("mnist", None, (28, 28, 1)), ("fashion_mnist", {}, (28, 28, 1)), ("cifar10", None, (32, 32, 3)),
    ("toy2d", {"n_per_class": 10}, (2,)), ("tsipras", None, (1001,)), ("tsipras", {"d": 10}, (11,)),
    ("tsipras", {"d": "ten"}, None), ("tsipras", {"d": 0}, None), ("imagenet", None, None), (None, None, None),
])
def test_dataset_input_shape_from_the_registry(name, options, shape):
    assert dataset_input_shape(name, options) == shape


def train_stage(data, attack, **extra):
    params = {"data": data, "model": {"arch": "linear"}, "method": "adversarial",
              "method_options": {"attack": attack}, "epochs": 1, **extra}
    return {"name": "train", "kind": "train", "params": params}


def spec_of(*stages):
    return study_spec_from_dict({"name": "fid", "stages": list(stages)})


SIGN = {"norm": "l2", "eps": 0.5, "steps": 10, "l2_step": "sign", "step_size": 0.02}  # 0.02 * sqrt(d)


@pytest.mark.parametrize("data, refused", [
    ({"name": "toy2d"}, False),  # 0.02 * sqrt(2) = 0.028 <= 1
    ({"name": "tsipras", "options": {"d": 2000}}, False),  # 0.02 * sqrt(2001) = 0.89 <= 1
    ({"name": "tsipras", "options": {"d": 3000}}, True),  # 0.02 * sqrt(3001) = 1.1 > 1
    ({"name": "fashion_mnist"}, False),  # 0.02 * 28 = 0.56
    ({"name": "cifar10"}, True),  # 0.02 * sqrt(3072) = 1.11
    ({}, False),  # the default dataset, fashion_mnist
])
def test_train_cell_l2_sign_step_against_the_input_size(data, refused):
    spec = spec_of(train_stage(data, SIGN))
    if not refused:
        assert len(check_study(spec)) == 1
        return
    with pytest.raises(ConfigError) as err:
        check_study(spec)
    assert "method_options.attack.step_size: one l2 sign step of size 0.02 over" in one_line(err)


@pytest.mark.parametrize("attack, expected", [
    ({"norm": "linf", "eps": 0.005, "steps": 40, "step_size": 0.02, "l2_step": "sign"},  # Kim B.1
     "method_options.attack.step_size: one linf sign step of size 0.02 has linf length 0.02"),
    ({"norm": "l3", "eps": 0.1}, "method_options.attack.norm must be one of"),
    ({"norm": "l2", "eps": 0.1, "stepsize": 0.1}, "method_options.attack: unknown field(s) stepsize; known: norm,"),
    ({"norm": "l2", "eps": 0.1, "long_steps": "trim"}, "method_options.attack.long_steps must be one of refuse, cut"),
    ({"norm": "l2", "eps": "x"}, "method_options.attack.eps"),
])
def test_train_cell_attack_refused_as_the_run_would(attack, expected):
    with pytest.raises(ConfigError) as err:
        check_study(spec_of(train_stage({"name": "mnist"}, attack)))
    assert expected in one_line(err)


def test_zero_eps_cells_and_unknown_datasets_skip_what_cannot_be_told():
    long_step = {**SIGN, "step_size": 10.0}  # longer than 2 eps whatever the input size
    assert check_study(spec_of(train_stage({"name": "cifar10"}, {**long_step, "eps": 0})))  # trains as standard
    # An unknown dataset: no input size, so only the shape-free part (the run reports the name).
    assert check_study(spec_of(train_stage({"name": "imagenet"}, SIGN)))
    with pytest.raises(ConfigError, match="step_size: one l2 sign step of size 10 has l2 length 10"):
        check_study(spec_of(train_stage({"name": "imagenet"}, long_step)))


def attack_stage(**params):
    return {"name": "attack", "kind": "attack", "needs": ["train"], "params": {"eps": 0.5, **params}}


def test_attack_stage_sign_steps_use_the_train_cells_dataset():
    normal = {"norm": "l2", "eps": 0.5, "steps": 10}
    sign = attack_stage(norms="l2", l2_step="sign", steps=10, step_size=0.02)
    assert check_study(spec_of(train_stage({"name": "fashion_mnist"}, normal), sign))
    spec = spec_of(train_stage({"name": "cifar10"}, normal), sign)
    for cell in spec.cells():  # each cell alone is fine: the input size is its train cell's
        check_cell(cell)
    with pytest.raises(ConfigError) as err:
        check_study(spec)
    message = one_line(err)
    assert message.startswith("stages.attack.params (cell attack): attack (l2, eps 0.5): step_size: ")
    assert "over 3072 input values" in message


@pytest.mark.parametrize("params, expected", [
    ({"norms": "linf", "eps": [0.01, 0.1], "steps": 40, "step_size": 0.05},
     "attack (linf, eps 0.01): step_size: one linf sign step of size 0.05"),
    ({"norms": "l2", "steps": 2, "step_size_factor": 5},
     "attack (l2, eps 0.5 (step_size_factor 5 * eps / steps)): step_size:"),
    ({"norms": "l2,linf", "eps": {"l2": 1, "linf": 0.1}, "steps": 4, "step_size_factor": {"l2": 2.5, "linf": 9}},
     "attack (linf, eps 0.1 (step_size_factor 9 * eps / steps))"),
])
def test_attack_stage_long_steps_are_refused_without_the_input_size(params, expected):
    with pytest.raises(ConfigError) as err:
        check_study(spec_of(train_stage({"name": "mnist"}, {"norm": "l2", "eps": 0.5}), attack_stage(**params)))
    assert expected in one_line(err)



def test_attack_stage_long_steps_cut_passes_the_check_that_refuse_fails():
    params = {"norms": "linf", "eps": [0.01, 0.1], "steps": 40, "step_size": 0.05}
    train = train_stage({"name": "mnist"}, {"norm": "l2", "eps": 0.5})
    with pytest.raises(ConfigError, match="step_size: one linf sign step of size 0.05"):
        check_study(spec_of(train, attack_stage(**params, long_steps="refuse")))
    check_study(spec_of(train, attack_stage(**params, long_steps="cut")))  # cut to 2 * eps = 0.02 at 0.01
    with pytest.raises(ConfigError, match="long_steps"):
        check_study(spec_of(train, attack_stage(**params, long_steps="clip")))

# (kind, params, expected message, whether the kind itself refuses them before any work with ConfigError)
BAD = [
    ("attack", {"step_size_factor": 0}, "attack.step_size_factor must be > 0", True),
    ("attack", {"step_size_factor": -2.5}, "attack.step_size_factor must be > 0", True),
    ("attack", {"step_size_factor": "x"}, "attack.step_size_factor", True),
    ("attack", {"step_size_factor": None}, "attack.step_size_factor", True),
    ("attack", {"step_size_factor": {"l2": 0}}, "attack.step_size_factor.l2 must be > 0", True),
    ("attack", {"step_size_factor": {"l3": 1}}, "attack.step_size_factor: a factor per norm (l2, linf), got 'l3'",
     True),
    ("attack", {"norms": "l2,linf", "step_size_factor": {"l2": 1}},
     "attack.step_size_factor: give one factor per norm (l2, linf), got l2", True),
    ("attack", {"step_size": 0.1, "step_size_factor": 2}, "attack: give step_size or step_size_factor, not both",
     True),
    ("attack", {"norms": "l2,linf", "eps": {"l2": 1}}, "attack.eps: no radii for linf", True),
    ("attack", {"objective": "hinge"}, "attack.objective: choose from xent, cw", False),
    ("attack", {"l2_step": "diag"}, "attack.l2_step: choose from normalized, sign", False),
    ("saliency", {"clip": "yes"}, "saliency.clip: true or false, got 'yes'", True),
    ("saliency", {"clip": None}, "saliency.clip: true or false", True),
    ("saliency", {"include_clean": 1}, "saliency.include_clean: true or false, got 1", True),
    ("saliency", {"threshold_mode": "lower"}, "saliency.threshold_mode: choose from two_sided, upper", True),
    ("roar", {"methods": "random", "label": "gold"}, "roar.label: choose from predicted, true", True),
    ("roar", {"methods": "random", "ties": "first"}, "roar.ties: choose from random, index", True),
    ("roar", {"methods": "random", "end_point": "zero"}, "roar.end_point: choose from chance, none", True),
    ("toy", {"geometry": "round"}, "toy.geometry: choose from kim_notebook, tilted", True),
    ("toy", {"random_start": "no"}, "toy.random_start: true or false", True),
    ("toy", {"step_size": 0}, "toy.step_size must be > 0", False),
    ("toy", {"step_size": "two"}, "toy.step_size", True),
    ("manifold", {"step_size": -1}, "manifold.step_size must be >= 0", False),
    ("manifold", {"random_start": 1}, "manifold.random_start: true or false", True),
    ("manifold", {"kappa": -1}, "manifold.kappa must be >= 0", False),
    ("manifold", {"kappa": None}, "manifold.kappa", False),
    ("manifold", {"projection": "mode"}, "manifold.projection: choose from mean, sample", True),
]


@pytest.mark.parametrize("kind, params, expected, kind_refuses", BAD, ids=[f"{b[0]}-{b[2][:40]}" for b in BAD])
def test_bad_new_params_are_refused(kind, params, expected, kind_refuses, tmp_path):
    if kind == "attack":
        params = {"eps": 0.5, **params}
    with pytest.raises(ConfigError) as err:
        KIND_CHECKS[kind](params)
    assert expected in one_line(err)
    if kind_refuses:  # never stricter than the kind: it refuses them too, before loading anything
        run = tmp_path / "run"
        run.mkdir()
        (run / "model.keras").write_bytes(b"")  # the attack kind wants its dependency first
        with pytest.raises(ConfigError):
            KINDS[kind](dict(params), {"train": run} if kind == "attack" else {}, tmp_path)


@pytest.mark.parametrize("kind, params", [
    ("attack", {"eps": 0.5, "step_size_factor": 2.5}),
    ("attack", {"norms": ["l2", "linf"], "eps": {"l2": 1, "linf": "8/255"}, "step_size_factor": {"l2": 5.1, "linf": 10},
                "step_size": None, "objective": "cw", "l2_step": "normalized"}),
    ("saliency", {"clip": True, "include_clean": False, "threshold_mode": "upper"}),
    ("roar", {"methods": "random", "label": "true", "ties": "index", "end_point": "none"}),
    ("toy", {"geometry": "tilted", "step_size": None, "random_start": True}),
    ("toy", {"step_size": 2}),
    ("manifold", {"step_size": None, "random_start": False, "kappa": 500, "projection": "sample"}),
])
def test_good_new_params_pass(kind, params):
    KIND_CHECKS[kind](params)
