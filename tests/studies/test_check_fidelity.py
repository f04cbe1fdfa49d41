"""`check_study` and the fidelity options: PGD step lengths and the new stage params, before any cell runs.

The old Noack et al. 2021 Table 2 teachers took l2 sign steps of the default size 2.5 eps / 7 on
CIFAR-10, whose l2 length (step * sqrt(3072): 24.8 and 6.2) is twenty times the ball's diameter;
the check must refuse that study before its first cell trains for days.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

from cli.main import main
from tfrobust.config import ConfigError
from tfrobust.studies import KINDS, load_study_spec, run_kind, run_study, study_spec_from_dict
from tfrobust.studies.check import check_cell, check_params, check_study, dataset_input_shape

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
    assert message.startswith("stages.teacher.params (cell teacher__teacher-R320): method_options.attack: step_size: ")
    # 2.5 * (320/255) / 7 * sqrt(32 * 32 * 3) = 24.8 > 2 * 320/255 = 2.51
    assert "over 3072 input values has l2 length 24.8" in message and "2*eps = 2.51" in message


def test_old_table2_fails_study_check_and_run_before_any_cell(tmp_path, capsys):
    config = tmp_path / "old_table2.yaml"
    config.write_text(old_table2_text())
    with pytest.raises(ConfigError, match=r"method_options\.attack: step_size"):
        run_study(load_study_spec(config), tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["study", "check", str(config), "--preset", "paper"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: stages.teacher.params") and "step_size" in err


def test_the_fixed_table2_is_checked_with_the_dataset_input_shape(monkeypatch):
    """The check is not vacuous: every adversarial train cell's PGD sees its dataset's input shape."""
    pgd_module = importlib.import_module("tfrobust.attacks.pgd")
    seen = []
    original = pgd_module.check_step_length

    def spy(norm, eps, steps, step_size, *, l2_step="normalized", input_shape=None):
        if input_shape is not None:
            seen.append((norm, l2_step, tuple(input_shape)))
        return original(norm, eps, steps, step_size, l2_step=l2_step, input_shape=input_shape)

    monkeypatch.setattr(pgd_module, "check_step_length", spy)
    spec = load_study_spec(TABLE2)
    check_study(spec, "paper")
    trained = {s for s in seen if s[:2] == ("l2", "normalized")}
    assert trained == {("l2", "normalized", (32, 32, 3))}
    # the teachers R320, R80 and the AT models AT_320, AT_80 (PGD-7), and the attack cells' (norm, eps)
    assert len([s for s in seen if s[0] == "l2"]) >= 4 and {s[2] for s in seen} == {(32, 32, 3)}
    seen.clear()
    check_study(spec, "quick")  # Fashion-MNIST
    assert {s[2] for s in seen} == {(28, 28, 1)} and ("l2", "normalized", (28, 28, 1)) in seen


def test_long_steps_cut_lets_the_old_steps_through():
    text = old_table2_text().replace("l2_step: sign", "l2_step: sign, long_steps: cut")
    assert len(check_study(study_spec_from_dict(yaml.safe_load(text)), "paper")) == 48  # 36 + 12 autoattack cells


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
    assert "method_options.attack: step_size: one l2 sign step of size 0.02 over" in one_line(err)


@pytest.mark.parametrize("attack, expected", [
    ({"norm": "linf", "eps": 0.005, "steps": 40, "step_size": 0.02, "l2_step": "sign"},  # Kim B.1
     "method_options.attack: step_size: one linf sign step of size 0.02 has linf length 0.02"),
    ({"norm": "l3", "eps": 0.1}, "method_options.attack: unknown norm 'l3'; choose from: "),
    ({"norm": "l2", "eps": 0.1, "stepsize": 0.1}, "method_options.attack: attack 'pgd' has no option 'stepsize'; "
                                                  "its options: steps,"),
    ({"norm": "l2", "eps": 0.1, "long_steps": "trim"},
     "method_options.attack: option long_steps of attack 'pgd' must be one of refuse, cut, got 'trim'"),
    ({"norm": "l2", "eps": "x"}, "method_options.attack: eps"),
    ({"name": "fgsm", "norm": "l2", "eps": 0.1, "steps": 3}, "method_options.attack: attack 'fgsm' has no option"),
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
    sign = attack_stage(norms="l2", options={"l2_step": "sign", "steps": 10, "step_size": 0.02})
    assert check_study(spec_of(train_stage({"name": "fashion_mnist"}, normal), sign))
    spec = spec_of(train_stage({"name": "cifar10"}, normal), sign)
    for cell in spec.cells():  # each cell alone is fine: the input size is its train cell's
        check_cell(cell)
    with pytest.raises(ConfigError) as err:
        check_study(spec)
    message = one_line(err)
    assert message.startswith("stages.attack.params (cell attack): attack pgd (l2, eps 0.5): step_size: ")
    assert "over 3072 input values" in message


@pytest.mark.parametrize("params, expected", [
    ({"norms": "linf", "eps": [0.01, 0.1], "options": {"steps": 40, "step_size": 0.05}},
     "attack pgd (linf, eps 0.01): step_size: one linf sign step of size 0.05"),
    ({"norms": "l2", "options": {"steps": 2, "step_size_factor": 5}},
     "attack pgd (l2, eps 0.5 (step_size_factor 5 * eps / steps)): step_size:"),
    ({"norms": "l2,linf", "eps": {"l2": 1, "linf": 0.1}, "options": {"steps": 4},
      "norm_options": {"l2": {"step_size_factor": 2.5}, "linf": {"step_size_factor": 9}}},
     "attack pgd (linf, eps 0.1 (step_size_factor 9 * eps / steps))"),
])
def test_attack_stage_long_steps_are_refused_without_the_input_size(params, expected):
    with pytest.raises(ConfigError) as err:
        check_study(spec_of(train_stage({"name": "mnist"}, {"norm": "l2", "eps": 0.5}), attack_stage(**params)))
    assert expected in one_line(err)


def test_attack_stage_long_steps_cut_passes_the_check_that_refuse_fails():
    options = {"steps": 40, "step_size": 0.05}
    train = train_stage({"name": "mnist"}, {"norm": "l2", "eps": 0.5})

    def stage(**extra):
        return attack_stage(norms="linf", eps=[0.01, 0.1], options={**options, **extra})

    with pytest.raises(ConfigError, match="step_size: one linf sign step of size 0.05"):
        check_study(spec_of(train, stage(long_steps="refuse")))
    check_study(spec_of(train, stage(long_steps="cut")))  # cut to 2 * eps = 0.02 at 0.01
    with pytest.raises(ConfigError, match="long_steps"):
        check_study(spec_of(train, stage(long_steps="clip")))


def test_attack_stage_takes_any_registered_attack():
    train = train_stage({"name": "mnist"}, {"norm": "l2", "eps": 0.5})
    assert check_study(spec_of(train, attack_stage(norms="l2,linf", attack="fgsm")))
    with pytest.raises(ConfigError, match=r"attack\.options: attack 'fgsm' has no option 'steps'"):
        check_study(spec_of(train, attack_stage(attack="fgsm", options={"steps": 3})))


# (kind, params, expected message); unless marked, the kind itself refuses them too, before it reads anything
BUILT = "the attack's checker: robust_accuracy_table refuses them before any attack runs"
BAD = [
    ("attack", {"options": {"step_size_factor": -2.5}}, "attack pgd (l2, eps 0.5 (step_size_factor -2.5 * eps / steps))",
     BUILT),
    ("attack", {"options": {"step_size_factor": "x"}}, "option step_size_factor of attack 'pgd' must be float"),
    ("attack", {"options": {"step_size_factor": None}}, "option step_size_factor of attack 'pgd' must be float"),
    ("attack", {"norm_options": {"l2": {"step_size_factor": -1}}}, "attack pgd (l2, eps 0.5 (step_size_factor -1",
     BUILT),
    ("attack", {"norm_options": {"l3": {"step_size_factor": 1}}},
     "attack.norm_options: give options for the attacked norms (l2), got l3"),
    ("attack", {"norm_options": {"l2": 2.5}}, "attack.norm_options.l2 must be a mapping of options, got 2.5"),
    ("attack", {"norms": "l2,linf", "eps": {"l2": 1}}, "attack.eps: no radii for linf"),
    ("attack", {"options": {"objective": "hinge"}}, "objective", BUILT),
    ("attack", {"options": {"l2_step": "diag"}}, "option l2_step of attack 'pgd' must be one of normalized, sign"),
    ("saliency", {"options": {"smoothgrad": {"clip": "yes"}}},
     "saliency.options.smoothgrad: option clip of attribution 'smoothgrad' must be bool, got 'yes'"),
    ("saliency", {"options": {"smoothgrad": {"include_clean": 1}}},
     "option include_clean of attribution 'smoothgrad' must be bool, got 1"),
    ("saliency", {"options": {"gradient": {"samples": 3}}}, "attribution 'gradient' has no option 'samples'"),
    ("saliency", {"options": {"smoothgrad": {"bounds": [0, 1]}}}, "attribution 'smoothgrad' has no option 'bounds'"),
    ("saliency", {"threshold_mode": "lower"}, "option threshold_mode of kind 'saliency' must be one of two_sided, upper"),
    ("roar", {"methods": "random", "label": "gold"}, "option label of kind 'roar' must be one of predicted, true"),
    ("roar", {"methods": "random", "ties": "first"}, "option ties of kind 'roar' must be one of random, index"),
    ("roar", {"methods": "random", "end_point": "zero"}, "option end_point of kind 'roar' must be one of chance, none"),
    ("roar", {"methods": "random", "fractions": [0.5, 1.5]}, "roar.fractions: give one or more fractions in [0, 1]"),
    ("roar", {"methods": "random", "options": {"random": {"sigma": 1}}}, "attribution 'random' has no option 'sigma'"),
    ("toy", {"geometry": "round"}, "option geometry of kind 'toy' must be one of kim_notebook, tilted"),
    ("toy", {"random_start": "no"}, "option random_start of kind 'toy' must be bool"),
    ("toy", {"step_size": 0}, "toy.step_size must be > 0"),
    ("toy", {"step_size": "two"}, "option step_size of kind 'toy' must be float or none"),
    ("toy", {"eps": [0.5, 0.5]}, "toy.eps: duplicate radii"),
    ("tsipras", {"n_test": 0}, "tsipras.n_test must be an integer >= 1, got 0"),
]


@pytest.mark.parametrize("kind, params, expected, later", [(*b, None)[:4] for b in BAD],
                         ids=[f"{b[0]}-{b[2][:40]}" for b in BAD])
def test_bad_params_are_refused_by_the_check_and_the_kind(kind, params, expected, later, tmp_path):
    if kind == "attack":
        params = {"eps": 0.5, **params}
    with pytest.raises(ConfigError) as err:
        if kind == "attack":  # the attacks are built by the study check
            check_study(spec_of(train_stage({"name": "mnist"}, {"norm": "l2", "eps": 0.5}), attack_stage(**params)))
        else:
            check_params(kind, params)
    assert expected in one_line(err)
    if later:
        return
    # never stricter than the kind: it refuses them too, before loading anything
    with pytest.raises(ConfigError):
        run_kind(kind, dict(params), {}, tmp_path)


@pytest.mark.parametrize("kind, params", [
    ("attack", {"eps": 0.5, "options": {"step_size_factor": 2.5}}),
    ("attack", {"norms": ["l2", "linf"], "eps": {"l2": 1, "linf": "8/255"},
                "options": {"step_size": None, "objective": "cw", "l2_step": "normalized"},
                "norm_options": {"l2": {"step_size_factor": 5.1}, "linf": {"step_size_factor": 10}}}),
    ("attack", {"eps": [0.1, "8/255"], "norms": "linf", "attack": "fgsm"}),
    ("saliency", {"options": {"smoothgrad": {"clip": True, "include_clean": False}}, "threshold_mode": "upper"}),
    ("roar", {"methods": "random", "label": "true", "ties": "index", "end_point": "none"}),
    ("toy", {"geometry": "tilted", "step_size": None, "random_start": True}),
    ("toy", {"step_size": 2}),
    ("manifold", {"options": {"step_size": None, "random_start": False, "kappa": 500}, "projection": "sample"}),
])
def test_good_params_pass(kind, params):
    full = check_params(kind, params)
    assert set(full) == {option.name for option in KINDS[kind].options}
