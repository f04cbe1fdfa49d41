"""NaN / inf / out-of-range inputs to every public function of ``tfrobust.attacks``.

Table-driven: ``CASES`` maps every name in ``tfrobust.attacks.__all__`` to
bad calls and the one-line ``ValueError`` each must raise, so a new public
function without a case fails ``test_every_public_name_has_cases``. Also:
non-finite logits make ``robust_accuracy_table`` fail instead of scoring
them as class 0, radii beyond float32 are refused, and the traced
(train-time) attack carries none of the eager checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfrobust.attacks as attacks
from tests.nonfinite_inputs import tiny_model, with_defect
from tfrobust.attacks import (
    PGD,
    Attack,
    apgd,
    autoattack,
    check_step_length,
    cut_step_size,
    cw_margin,
    default_step_size,
    dlr,
    dlr_targeted,
    fgsm,
    get_norm,
    get_objective,
    get_update_rule,
    pgd,
    square,
    step_length,
    xent,
)
from tfrobust.config import ConfigError, parse_number
from tfrobust.evaluation import robust_accuracy_table

K = 3
BOUNDS = (0.0, 1.0)
RNG = np.random.default_rng(0)
X = RNG.uniform(0.1, 0.9, size=(5, 4, 4, 1)).astype(np.float32)
Y = np.array([0, 1, 2, 0, 1], np.int32)
LOGITS = RNG.normal(size=(5, K)).astype(np.float32)

#: Public names that are data, not functions (checked to be so).
CONSTANTS = {"ATTACKS", "L2_STEPS", "LONG_STEPS", "NORMS", "OBJECTIVES", "UPDATE_RULES"}

#: The bad inputs every function taking a batch (and labels) must refuse.
INPUT_KINDS = ("x_nan", "x_inf", "y_minus_1", "y_k", "x_out_of_bounds")


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return tiny_model(K)


def bad_inputs(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` with one defect of ``kind``."""
    return with_defect(X, Y, kind, num_classes=K)


#: What the message must say for each input defect (and that it names the argument).
INPUT_MESSAGES = {
    "x_nan": r"^x has 1 non-finite values \(NaN or inf\)",
    "x_inf": r"^x has 1 non-finite values \(NaN or inf\)",
    "y_minus_1": r"^y must hold class labels in \[0, 3\) \(the model has 3 logits\), got values in \[-1",
    "y_k": r"^y must hold class labels in \[0, 3\) \(the model has 3 logits\), got values in \[0, 3\]",
    "x_out_of_bounds": r"^x has values in \[.*\], outside bounds \(0, 1\)",
    "y_fraction": r"^y must hold integer class labels",
}
FLOAT32 = r"float32"

Call = Callable[[keras.Model], object]


def _input_cases(run: Callable[[keras.Model, np.ndarray, np.ndarray], object],
                 kinds: tuple[str, ...] = INPUT_KINDS) -> list[tuple[str, Call, str]]:
    def case(kind: str) -> Call:
        return lambda m: run(m, *bad_inputs(kind))

    return [(kind, case(kind), INPUT_MESSAGES[kind]) for kind in kinds]


def _attack(**kw) -> Attack:
    """A configured PGD attack (``Attack.build``) with one field changed."""
    values = {"norm": "linf", "eps": 0.1, "bounds": BOUNDS, "options": {"steps": 2}, **kw}
    return Attack.build("pgd", **values)


def _pgd(m, x, y, **kw):
    return pgd(m, x, y, **{"norm": "linf", "eps": 0.1, "steps": 2, "bounds": BOUNDS, **kw})


def _logits_with(value: float) -> np.ndarray:
    logits = LOGITS.copy()
    logits[1, 1] = value
    return logits


LABELS_K = np.array([0, 1, K, 0, 1])
LABELS_NEG = np.array([0, -1, 2, 0, 1])

def _apgd(m, x, y, **kw):
    return apgd(m, x, y, **{"norm": "linf", "eps": 0.1, "steps": 2, "bounds": BOUNDS, **kw})


L4 = np.concatenate([LOGITS, LOGITS[:, :1] - 1.0], axis=1)
def _square(m, x, y, **kw):
    return square(m, x, y, **{"norm": "linf", "eps": 0.1, "queries": 5, "bounds": BOUNDS, **kw})


def _suite(m, x, y, **kw):
    return autoattack(m, x, y, **{"norm": "linf", "eps": 0.1, "bounds": BOUNDS, "version": "fast", "steps": 2,
                                  "queries": 5, **kw})


CASES: dict[str, list[tuple[str, Call, str]]] = {

    "apgd": _input_cases(_apgd) + _input_cases(_apgd, ("y_fraction",)) + [
        ("eps_nan", lambda m: _apgd(m, X, Y, eps=math.nan), r"^eps must be a finite number >= 0"),
        ("eps_1e39", lambda m: _apgd(m, X, Y, eps=1e39), r"^eps must be .*" + FLOAT32),
        ("l2_extent", lambda m: _apgd(m, X, Y, norm="l2", eps=1e30), r"too large for the l2 attack"),
        ("norm_l1", lambda m: _apgd(m, X, Y, norm="l1"), r"^norm: apgd supports the norms linf and l2"),
        ("rho_nan", lambda m: _apgd(m, X, Y, rho=math.nan), r"^rho"),
        ("bounds_nan", lambda m: _apgd(m, X, Y, bounds=(math.nan, 1.0)), r"^bounds must satisfy lo < hi"),
        ("targeted_k3", lambda m: _apgd(m, X, Y, loss="dlr-targeted"), r"^loss: dlr-targeted needs a model with at least 4 classes, got 3"),
    ],
    "dlr": [
        ("logits_nan", lambda m: dlr(_logits_with(math.nan), Y), r"^logits has 1 non-finite values"),
        ("logits_inf", lambda m: dlr(_logits_with(math.inf), Y), r"^logits has 1 non-finite values"),
        ("y_minus_1", lambda m: dlr(LOGITS, LABELS_NEG), r"^y must hold class labels in \[0, 3\)"),
        ("y_k", lambda m: dlr(LOGITS, LABELS_K), r"^y must hold class labels in \[0, 3\)"),
        ("k2", lambda m: dlr(LOGITS[:, :2], Y % 2), r"^dlr needs logits of at least 3 classes, got 2"),
        ("targeted", lambda m: dlr(LOGITS, Y, targeted=True), r"^dlr: the targeted DLR needs the true label"),
    ],
    "dlr_targeted": [
        ("logits_nan", lambda m: dlr_targeted(np.where(np.arange(4) == 1, np.nan, L4), Y, Y), r"^logits has 5 non-finite values"),
        ("y_k", lambda m: dlr_targeted(L4, np.array([0, 1, 4, 0, 1]), Y), r"^y must hold class labels in \[0, 4\)"),
        ("target_k", lambda m: dlr_targeted(L4, Y, np.array([0, 1, 4, 0, 1])), r"^target must hold class labels in \[0, 4\)"),
        ("k3", lambda m: dlr_targeted(LOGITS, Y, Y), r"^dlr_targeted needs logits of at least 4 classes, got 3"),
    ],
    "square": _input_cases(_square) + [
        ("eps_nan", lambda m: _square(m, X, Y, eps=math.nan), r"^eps must be a finite number >= 0"),
        ("norm_l1", lambda m: _square(m, X, Y, norm="l1"), r"norm"),
        ("queries_zero", lambda m: _square(m, X, Y, queries=0), r"^queries must be an integer >= 1"),
    ],
    "autoattack": _input_cases(_suite) + [
        ("eps_inf", lambda m: _suite(m, X, Y, eps=math.inf), r"^eps must be a finite number >= 0"),
        ("norm_l1", lambda m: _suite(m, X, Y, norm="l1"), r"norm"),
        ("version", lambda m: _suite(m, X, Y, version="slow"), r"^version must be one of standard, fast"),
    ],
    "pgd": _input_cases(_pgd) + _input_cases(lambda m, x, y: _pgd(m, x, y, norm="l2", eps=0.5), ("x_nan", "y_k"))
    + _input_cases(_pgd, ("y_fraction",)) + [
        ("eps_nan", lambda m: _pgd(m, X, Y, eps=math.nan), r"^eps must be a finite number >= 0"),
        ("eps_inf", lambda m: _pgd(m, X, Y, eps=math.inf), r"^eps must be a finite number >= 0"),
        ("eps_1e39", lambda m: _pgd(m, X, Y, eps=1e39), r"^eps must be .*" + FLOAT32),
        ("step_1e300", lambda m: _pgd(m, X, Y, norm="l2", step_size=1e300), r"^step_size must be .*" + FLOAT32),
        ("l2_extent", lambda m: _pgd(m, X, Y, norm="l2", eps=1e30, step_size=1.0),
         r"^eps=1e\+30 with step_size=1 is too large for the l2 attack"),
        ("kappa_inf", lambda m: _pgd(m, X, Y, objective="cw", kappa=math.inf), r"^kappa must be"),
        ("bounds_nan", lambda m: _pgd(m, X, Y, bounds=(math.nan, 1.0)), r"^bounds must satisfy lo < hi"),
    ],
    "fgsm": _input_cases(lambda m, x, y: fgsm(m, x, y, norm="linf", eps=0.1, bounds=BOUNDS)) + [
        ("eps_1e39", lambda m: fgsm(m, X, Y, norm="l2", eps=1e39, bounds=BOUNDS), r"^eps must be .*" + FLOAT32),
        ("eps_nan", lambda m: fgsm(m, X, Y, norm="linf", eps=math.nan, bounds=BOUNDS), r"^eps must be a finite number"),
        ("norm_l7", lambda m: fgsm(m, X, Y, norm="l7", eps=0.1, bounds=BOUNDS), r"^unknown norm 'l7'; choose from"),
    ],
    "Attack": _input_cases(lambda m, x, y: _attack()(m, x, y)) + [
        ("eps_nan", lambda m: _attack(eps=math.nan), r"^eps must be a finite number >= 0"),
        ("eps_text", lambda m: _attack(eps="1/0"), r"^eps"),
        ("eps_1e39", lambda m: _attack(eps=1e39), r"^eps must be .*" + FLOAT32),
        ("bounds_reversed", lambda m: _attack(bounds=(1.0, 0.0)), r"^bounds must satisfy lo < hi"),
        ("unknown_attack", lambda m: Attack.build("deepfool", norm="l2", eps=0.1, bounds=BOUNDS),
         r"^unknown attack 'deepfool'; choose from: .*pgd"),
        ("unknown_norm", lambda m: _attack(norm="l7"), r"^unknown norm 'l7'; choose from: .*linf"),
        ("unknown_option", lambda m: _attack(options={"stepz": 3}),
         r"^options: attack 'pgd' has no option 'stepz'; its options: steps, "),
        ("ill_typed_option", lambda m: _attack(options={"steps": "many"}),
         r"^options: option steps of attack 'pgd' must be int, got 'many'"),
        ("step_1e300", lambda m: _attack(options={"step_size": 1e300}), r"option step_size of attack 'pgd' must be"),
        ("l2_extent", lambda m: _attack(norm="l2", eps=1e30), r"too large for the l2 attack"),
        ("config_without_eps", lambda m: Attack.from_config({"norm": "l2", "bounds": [0, 1]}),
         r"^attack: give eps \(the threat model\)"),
        ("config_without_bounds", lambda m: Attack.from_config({"norm": "l2", "eps": 0.1}), r"^attack\.bounds: "),
        ("config_bad_momentum", lambda m: Attack.from_config({"norm": "l2", "eps": 0.1, "bounds": [0, 1],
                                                              "update": "momentum", "momentum": -1}),
         r"^attack: momentum must be a finite number >= 0"),
    ],
    "get_update_rule": [
        ("unknown", lambda m: get_update_rule("nesterov"), r"^update must be one of steepest, momentum"),
        ("momentum_nan", lambda m: get_update_rule("momentum", momentum=math.nan), r"^momentum must be a finite"),
        ("unhashable", lambda m: get_update_rule(["momentum"]), r"^update must be one of"),
    ],
    "PGD": _input_cases(lambda m, x, y: PGD(eps=0.1, steps=2)(m, x, y, bounds=BOUNDS))
    + _input_cases(lambda m, x, y: PGD(eps=0.1, steps=2, bounds=BOUNDS)(m, x, y), ("x_inf", "y_minus_1")) + [
        ("eps_nan", lambda m: PGD(eps=math.nan), r"^eps: expected a number"),
        ("eps_inf", lambda m: PGD(eps="inf"), r"^eps must be a finite number >= 0"),
        ("eps_1e39", lambda m: PGD(eps="1e39"), r"^eps must be .*" + FLOAT32),
        ("eps_negative", lambda m: PGD(eps=-0.1), r"^eps must be a finite number >= 0"),
        ("step_1e300", lambda m: PGD(norm="l2", eps=0.5, step_size=1e300), r"^step_size must be .*" + FLOAT32),
        ("default_step_overflows", lambda m: PGD(eps=3e38, steps=1), r"^step_size must be .*" + FLOAT32),
        ("l2_extent", lambda m: PGD(norm="l2", eps=1e19, step_size=1e19), r"too large for the l2 attack"),
        ("kappa_nan", lambda m: PGD(kappa=math.nan), r"^kappa"),
    ],
    "xent": [
        ("logits_nan", lambda m: xent(_logits_with(math.nan), Y), r"^logits has 1 non-finite values"),
        ("logits_inf", lambda m: xent(_logits_with(math.inf), Y), r"^logits has 1 non-finite values"),
        ("y_minus_1", lambda m: xent(LOGITS, LABELS_NEG), r"^y must hold class labels in \[0, 3\)"),
        ("y_k", lambda m: xent(LOGITS, LABELS_K), r"^y must hold class labels in \[0, 3\)"),
        ("y_fraction", lambda m: xent(LOGITS, bad_inputs("y_fraction")[1]), r"^y must hold integer class labels"),
    ],
    "cw_margin": [
        ("logits_nan", lambda m: cw_margin(_logits_with(math.nan), Y), r"^logits has 1 non-finite values"),
        ("logits_inf", lambda m: cw_margin(_logits_with(-math.inf), Y), r"^logits has 1 non-finite values"),
        ("y_minus_1", lambda m: cw_margin(LOGITS, LABELS_NEG), r"^y must hold class labels in \[0, 3\)"),
        ("y_k", lambda m: cw_margin(LOGITS, LABELS_K), r"^y must hold class labels in \[0, 3\)"),
        ("kappa_inf", lambda m: cw_margin(LOGITS, Y, kappa=math.inf), r"^kappa must be a finite number"),
    ],
    "default_step_size": [
        ("eps_nan", lambda m: default_step_size(math.nan, 10), r"^eps must be a finite number"),
        ("eps_inf", lambda m: default_step_size(math.inf, 10), r"^eps must be a finite number"),
        ("eps_1e39", lambda m: default_step_size(1e39, 10), r"^eps must be .*" + FLOAT32),
        ("steps_negative", lambda m: default_step_size(0.1, -1), r"^steps must be an integer >= 0"),
    ],
    "check_step_length": [
        ("too_long", lambda m: check_step_length("linf", 0.1, 10, 0.5), r"^step_size: one linf sign step of size 0\.5"),
        ("step_inf", lambda m: check_step_length("l2", 0.1, 10, math.inf), r"^step_size must be a finite number"),
        ("step_nan", lambda m: check_step_length("l2", 0.1, 10, math.nan), r"^step_size must be a finite number"),
        ("eps_nan", lambda m: check_step_length("l2", math.nan, 10, 0.1), r"^eps must be a finite number"),
        ("steps_negative", lambda m: check_step_length("l2", 0.1, -2, 0.1), r"^steps must be an integer >= 0"),
        # Noack Table 2's old teacher: l2 sign steps of 2.5 eps / 7 over 32 x 32 x 3 values
        ("l2_sign_over_input", lambda m: check_step_length("l2", 1.25, 7, 2.5 * 1.25 / 7, l2_step="sign",
                                                           input_shape=(32, 32, 3)),
         r"^step_size: .* over 3072 input values has l2 length 24\.7"),
    ],
    "cut_step_size": [
        ("step_nan", lambda m: cut_step_size("linf", 0.1, math.nan), r"^step_size must be a finite number"),
        ("eps_inf", lambda m: cut_step_size("linf", math.inf, 0.1), r"^eps must be a finite number"),
        ("l2_sign_without_shape", lambda m: cut_step_size("l2", 0.1, 1.0, l2_step="sign"),
         r"^long_steps: cutting an l2 sign step needs the input shape"),
    ],
    "step_length": [
        ("step_text", lambda m: step_length("l2", "x"), r"^step_size must be a finite number"),
        ("step_nan", lambda m: step_length("l2", math.nan), r"^step_size must be a finite number"),
        ("step_inf", lambda m: step_length("linf", math.inf), r"^step_size must be a finite number"),
        ("dim_zero", lambda m: step_length("l2", 0.1, l2_step="sign", dim=0), r"^dim must be a positive integer"),
    ],
    "get_norm": [
        ("nan", lambda m: get_norm(math.nan), r"^unknown norm nan; choose from: linf, l2, l1"),
        ("unhashable", lambda m: get_norm(["l2"]), r"^unknown norm \['l2'\]; choose from: linf, l2"),
    ],
    "get_objective": [
        ("nan", lambda m: get_objective(math.nan), r"^unknown objective nan; choose from: xent, cw"),
        ("unhashable", lambda m: get_objective({}), r"^unknown objective \{\}; choose from: xent, cw"),
    ],
    "Norm": [
        ("norm_nan", lambda m: get_norm("l2").norm(bad_inputs("x_nan")[0]), r"^v has 1 non-finite values"),
        ("project_inf", lambda m: get_norm("linf").project(bad_inputs("x_inf")[0], 0.1), r"^delta has 1 non-finite"),
        ("project_eps_nan", lambda m: get_norm("l2").project(X, math.nan), r"^eps must be a finite number"),
        ("project_eps_1e39", lambda m: get_norm("l2").project(X, tf.constant(1e39, tf.float64)),
         r"^eps must be .*" + FLOAT32),
        ("l1_project_nan", lambda m: get_norm("l1").project(bad_inputs("x_nan")[0], 0.1), r"^delta has 1 non-finite"),
        ("normalize_nan", lambda m: get_norm("l2").normalize_step(bad_inputs("x_nan")[0]), r"^grad has 1 non-finite"),
        ("l1_normalize_inf", lambda m: get_norm("l1").normalize_step(bad_inputs("x_inf")[0]),
         r"^grad has 1 non-finite"),
        ("normalize_rule", lambda m: get_norm("l2").normalize_step(X, "diag"), r"^rule must be one of"),
        ("random_start_inf", lambda m: get_norm("linf").random_start(tf.shape(X), math.inf, tf.constant([0, 0])),
         r"^eps must be a finite number"),
        ("l1_random_start_nan", lambda m: get_norm("l1").random_start(tf.shape(X), math.nan, tf.constant([0, 0])),
         r"^eps must be a finite number"),
    ],
}


def test_every_public_name_has_cases():
    public = set(attacks.__all__)
    for name in CONSTANTS:
        assert not callable(getattr(attacks, name)), name
    missing = sorted(public - CONSTANTS - set(CASES))
    assert not missing, f"public attack functions without non-finite/out-of-range cases: {missing}"
    assert set(CASES) <= public
    for name in ("pgd", "fgsm", "PGD", "Attack"):  # the batch-taking functions get every input defect
        kinds = {case_id for case_id, _, _ in CASES[name]}
        assert set(INPUT_KINDS) <= kinds, (name, set(INPUT_KINDS) - kinds)


@pytest.mark.parametrize("name, case_id, call, pattern", [
    pytest.param(name, case_id, call, pattern, id=f"{name}-{case_id}")
    for name, cases in CASES.items() for case_id, call, pattern in cases
])
def test_bad_input_is_a_one_line_value_error(model, name, case_id, call, pattern):
    with pytest.raises(ValueError) as info:
        call(model)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message and message, message
    assert info.match(pattern)


def test_inputs_are_not_modified_by_a_refused_call(model):
    x, y = bad_inputs("x_nan")
    x_copy = x.copy()
    with pytest.raises(ValueError):
        pgd(model, x, y, norm="linf", eps=0.1, steps=1, bounds=BOUNDS)
    np.testing.assert_array_equal(x, x_copy)


def test_valid_edge_values_still_work(model):
    """The checks refuse only bad values: eps 0, an integer-valued float label, wide bounds."""
    np.testing.assert_array_equal(pgd(model, X, Y, norm="l2", eps=0.0, steps=3, bounds=BOUNDS).numpy(), X)
    out = pgd(model, X, Y.astype(np.float32), norm="linf", eps=0.1, steps=2, bounds=(-math.inf, math.inf))
    assert np.isfinite(out.numpy()).all() and np.abs(out.numpy() - X).max() <= 0.1 + 1e-6
    out = pgd(model, X, Y, norm="l2", eps=1e18, step_size=1e17, steps=1, bounds=BOUNDS)  # clipped: finite
    assert np.isfinite(out.numpy()).all() and out.numpy().min() >= 0 and out.numpy().max() <= 1


def test_l2_sign_extent_counts_the_input_size(model):
    # 16 values: a sign step has l2 length 4 * step_size
    pgd(model, X, Y, norm="l2", eps=1e18, step_size=2e18, l2_step="sign", steps=1, bounds=(-math.inf, math.inf))
    with pytest.raises(ValueError, match=r"eps \+ step_size \* sqrt\(16\)"):
        pgd(model, X, Y, norm="l2", eps=1e18, step_size=4e18, l2_step="sign", steps=1, bounds=(-math.inf, math.inf))


def test_nan_gradients_give_an_error_not_nan_images():
    dense = keras.layers.Dense(K)

    def sqrt_model(x):  # NaN logits and gradients wherever a pixel is below 0.5
        return dense(keras.layers.Flatten()(tf.sqrt(x - 0.5)))

    for norm in ("linf", "l2"):
        with pytest.raises(ValueError, match=r"^PGD produced non-finite adversarial examples for \d+ of 5 inputs"):
            pgd(sqrt_model, X, Y, norm=norm, eps=0.1, steps=2, bounds=BOUNDS, restarts=2)


def test_traced_attack_has_no_eager_checks(model):
    """Inside a traced train_step the checks are skipped: no IsFinite/Assert ops in the graph."""
    spec = (tf.TensorSpec([None, 4, 4, 1], tf.float32), tf.TensorSpec([None], tf.int32))
    for attack in (PGD(norm="l2", eps=0.5, steps=2, bounds=BOUNDS),
                   Attack.build("pgd", norm="l1", eps=0.5, bounds=BOUNDS, options={"steps": 2, "update": "momentum"})):
        graph = tf.function(lambda x, y, a=attack: a(model, x, y, seed=tf.constant([1, 2]))).get_concrete_function(
            *spec).graph
        ops = {op.type for op in graph.get_operations()}
        assert not ops & {"IsFinite", "Assert"}, ops & {"IsFinite", "Assert"}


@pytest.mark.parametrize("text, message", [
    ("1e39", "overflows float32"), ("-1e39", "must be >= 0"), ("inf", "finite"), ("1e-40", "too small for float32"),
    ("nan", "expected a number"),
])
def test_parse_number_radius_checks(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_number(text, name="--eps", minimum=0.0, float32=True)
    assert parse_number("8/255", name="--eps", minimum=0.0, float32=True) == pytest.approx(8 / 255)
    assert parse_number("0", name="--eps", minimum=0.0, float32=True) == 0.0
    assert parse_number("inf", name="bounds") == math.inf  # bounds may be unbounded


# --------------------------------------------------------------------------
# robust_accuracy_table: never a number for a model with non-finite logits


def test_nan_logit_model_fails_the_table():
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(K, bias_initializer=keras.initializers.Constant(math.nan))])
    with pytest.raises(ValueError) as info:
        robust_accuracy_table(model, (X, Y), norms=["linf"], eps=[0.1], bounds=BOUNDS, options={"steps": 2})
    message = str(info.value)
    assert message == ("model produced non-finite logits on 5 of 5 clean images; accuracy would score them as "
                       "class 0 (a diverged or corrupt model?)")


def test_nonfinite_logits_on_adversarial_images_fail_the_table():
    dense = keras.layers.Dense(K)
    flatten = keras.layers.Flatten()

    def model(x):  # finite below 0.95, NaN logits (with zero gradient) once any pixel passes it
        logits = dense(flatten(x))
        far = tf.reduce_max(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1, keepdims=True) > 0.95
        return tf.where(far, tf.fill(tf.shape(logits), math.nan), logits)

    x = np.clip(X, 0.0, 0.85)  # clean: finite everywhere
    with pytest.raises(ValueError, match=r"^model produced non-finite logits on [1-5] of 5 adversarial images "
                                         r"\(linf eps=0\.2, restart 1\)"):
        robust_accuracy_table(model, (x, Y), norms=["linf"], eps=[0.2], bounds=BOUNDS,
                              options={"steps": 3, "random_start": False})


@pytest.mark.parametrize("options, message", [
    ({"eps": [1e39]}, r"^eps \(l2\)=1e\+39 overflows float32"),
    ({"eps": [0.1], "options": {"steps": 2, "step_size": 1e300}}, r"option step_size of attack 'pgd' must be"),
    ({"eps": [0.1], "options": {"steps": 2, "step_size": 3e38}}, r"^step_size: one l2 normalized step"),
    ({"eps": [1e30]}, r"too large for the l2 attack"),
    ({"eps": [math.nan]}, r"^eps \(l2\): expected a number"),
    ({"eps": [0.1], "attack": "fgsm", "options": {"steps": 2}}, r"attack 'fgsm' has no option 'steps'"),
    ({"eps": [0.1], "norm_options": {"linf": {"steps": 2}}}, r"^norm_options: 'linf' is not one of the attacked"),
])
def test_table_refuses_overflowing_radii_before_attacking(model, monkeypatch, options, message):
    import tfrobust.evaluation.robust_accuracy as module

    def never(*args, **kwargs):
        raise AssertionError("an attack ran before the options were checked")

    monkeypatch.setattr(module, "attacked_correct", never)
    with pytest.raises(ValueError, match=message):
        robust_accuracy_table(model, (X, Y), norms=["l2"], bounds=BOUNDS, **options)
