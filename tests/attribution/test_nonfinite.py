"""NaN / inf / out-of-range inputs to every public function of ``tfrobust.attribution``.

Table-driven: ``CASES`` maps every name in ``tfrobust.attribution.__all__``
to bad calls and the one-line ``ValueError`` each must raise, so a new public
function without a case fails ``test_every_public_name_has_cases``; every
registered attribution (``ATTRIBUTIONS.names()``, plugins and new modules
included) gets every input defect through ``attribute``. Also: a model with
non-finite logits gives an error, not NaN maps, and the maps'
post-processing refuses NaN instead of turning it into 0 or 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfrobust.attribution as attribution
from tests.nonfinite_inputs import tiny_model, with_defect
from tfrobust.attribution import (
    ATTRIBUTIONS,
    attribute,
    channel_sum_clip,
    clip_3sigma,
    cosine,
    diverging_rgb,
    get_attribution,
    gradient,
    gradient_input,
    jacobian_frobenius,
    logit_gradient,
    logit_jacobian_norms,
    permute,
    projection_vectors,
    random_map,
    safe_norm,
    safe_sqrt,
    smoothgrad,
    threshold,
)

K = 3
RNG = np.random.default_rng(1)
X = RNG.uniform(0.1, 0.9, size=(4, 4, 4, 1)).astype(np.float32)
Y = np.array([0, 1, 2, 1], np.int32)
MAPS = RNG.normal(size=(4, 4, 4, 1)).astype(np.float32)

#: Public names that are data, not functions (checked to be so).
CONSTANTS = {"ATTRIBUTIONS"}

#: The bad inputs every function taking a model, a batch and labels must refuse.
INPUT_KINDS = ("x_nan", "x_inf", "y_minus_1", "y_k")


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return tiny_model(K)


def bad_inputs(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` with one defect of ``kind``."""
    return with_defect(X, Y, kind, num_classes=K)


INPUT_MESSAGES = {
    "x_nan": r"^x has 1 non-finite values \(NaN or inf\)",
    "x_inf": r"^x has 1 non-finite values \(NaN or inf\)",
    "y_minus_1": r"^y must hold class labels in \[0, 3\) \(the model has 3 logits\), got values in \[-1, 1\]",
    "y_k": r"^y must hold class labels in \[0, 3\) \(the model has 3 logits\), got values in \[0, 3\]",
    "x_out_of_bounds": r"^x has values in \[.*, 1\.5\], outside bounds \(0, 1\)",
    "y_fraction": r"^y must hold integer class labels",
}

Call = Callable[[keras.Model], object]


def _input_cases(run: Callable[[keras.Model, np.ndarray, np.ndarray], object],
                 kinds: tuple[str, ...] = (*INPUT_KINDS, "y_fraction")) -> list[tuple[str, Call, str]]:
    def case(kind: str) -> Call:
        return lambda m: run(m, *bad_inputs(kind))

    return [(kind, case(kind), INPUT_MESSAGES[kind]) for kind in kinds]


def _with(value: float, array: np.ndarray = MAPS, dtype: type = np.float32) -> np.ndarray:
    out = array.astype(dtype)
    out.flat[5] = value
    return out


def _map_cases(fn: Callable[[np.ndarray], object], maps: np.ndarray = MAPS, name: str = "maps"
               ) -> list[tuple[str, Call, str]]:
    return [
        ("nan", lambda m: fn(_with(math.nan, maps)), rf"^{name} has 1 non-finite values of \d+ \(they are NaN or inf\)"),
        ("inf", lambda m: fn(_with(math.inf, maps)), rf"^{name} has 1 non-finite values"),
        ("float32_overflow", lambda m: fn(_with(1e39, maps, np.float64)), rf"^{name} has 1 .*overflow float32"),
    ]


MAPS_2D = MAPS[..., 0]

CASES: dict[str, list[tuple[str, Call, str]]] = {
    "gradient": _input_cases(gradient),
    "gradient_input": _input_cases(gradient_input),
    "logit_gradient": _input_cases(logit_gradient),
    "smoothgrad": _input_cases(lambda m, x, y: smoothgrad(m, x, y, samples=2))
    + _input_cases(lambda m, x, y: smoothgrad(m, x, y, samples=2, bounds=(0, 1), clip=True), ("x_out_of_bounds",))
    + [
        ("sigma_inf", lambda m: smoothgrad(m, X, Y, sigma=math.inf), r"^sigma must be a finite number"),
        ("sigma_1e39", lambda m: smoothgrad(m, X, Y, sigma=1e39), r"^sigma must be .*float32"),
        ("bounds_nan", lambda m: smoothgrad(m, X, Y, bounds=(0, math.nan), clip=True), r"^bounds must satisfy lo < hi"),
        ("clip_without_bounds", lambda m: smoothgrad(m, X, Y, clip=True), r"^clip: smoothgrad clips .* pass bounds"),
        ("seed_nan", lambda m: smoothgrad(m, X, Y, seed=np.array([math.nan, 0.0])), r"^seed must be an int"),
    ],
    "random_map": _input_cases(lambda m, x, y: random_map(m, x, y), INPUT_KINDS) + [
        ("seed_inf", lambda m: random_map(m, X, seed=(math.inf, 1.0)), r"^seed must be an int"),
    ],
    "logit_jacobian_norms": _input_cases(logit_jacobian_norms),
    "jacobian_frobenius": [
        ("x_nan", lambda m: jacobian_frobenius(m, bad_inputs("x_nan")[0]), INPUT_MESSAGES["x_nan"]),
        ("x_inf", lambda m: jacobian_frobenius(m, bad_inputs("x_inf")[0], n_proj=2), INPUT_MESSAGES["x_inf"]),
        ("n_proj_nan", lambda m: jacobian_frobenius(m, X, n_proj=math.nan), r"^n_proj must be an integer"),
    ],
    "projection_vectors": [
        ("num_classes_nan", lambda m: projection_vectors(math.nan, 2), r"^num_classes must be an integer >= 1"),
        ("num_classes_inf", lambda m: projection_vectors(math.inf, 2), r"^num_classes must be an integer >= 1"),
        ("n_proj_minus_1", lambda m: projection_vectors(3, -1), r"^n_proj must be an integer >= 1"),
        ("seed_nan", lambda m: projection_vectors(3, 2, seed=[math.nan, 1.0]), r"^seed must be an int"),
    ],
    "safe_sqrt": [
        ("nan", lambda m: safe_sqrt(_with(math.nan)), r"^squared has 1 non-finite values"),
        ("inf", lambda m: safe_sqrt(_with(math.inf, np.abs(MAPS))), r"^squared has 1 non-finite values"),
        ("negative", lambda m: safe_sqrt(_with(-4.0, np.abs(MAPS))), r"^squared must hold values >= 0"),
        ("floor_nan", lambda m: safe_sqrt(np.abs(MAPS), floor=math.nan), r"^floor must be a finite number"),
    ],
    "safe_norm": [
        ("nan", lambda m: safe_norm(_with(math.nan)), r"^v has 1 non-finite values"),
        ("inf", lambda m: safe_norm(_with(-math.inf)), r"^v has 1 non-finite values"),
        ("floor_inf", lambda m: safe_norm(MAPS, floor=math.inf), r"^floor must be a finite number"),
    ],
    "threshold": _map_cases(threshold) + [
        ("phi_nan", lambda m: threshold(MAPS, phi=math.nan), r"^phi must be >= 0"),
    ],
    "permute": _map_cases(lambda maps: permute(maps, 0.5)) + [
        ("p_nan", lambda m: permute(MAPS, math.nan), r"^p must be in \[0, 1\]"),
    ],
    "channel_sum_clip": _map_cases(channel_sum_clip) + [
        ("percentile_inf", lambda m: channel_sum_clip(MAPS, math.inf), r"^percentile must be in \[0, 100\]"),
    ],
    "clip_3sigma": _map_cases(clip_3sigma),
    "diverging_rgb": _map_cases(diverging_rgb, MAPS_2D, "maps2d"),
    "cosine": _map_cases(lambda a: cosine(a, MAPS), name="a") + _map_cases(lambda b: cosine(MAPS, b), name="b"),
    "get_attribution": [
        ("nan", lambda m: get_attribution(math.nan), r"^unknown attribution nan; choose from: gradient"),
        ("unhashable", lambda m: get_attribution(["gradient"]), r"^unknown attribution \['gradient'\]; choose from"),
    ],
    "attribute": _input_cases(lambda m, x, y: attribute("gradient", m, x, y)) + [
        ("unknown", lambda m: attribute("saliency", m, X, Y), r"^unknown attribution 'saliency'; choose from"),
        ("option_nan", lambda m: attribute("smoothgrad", m, X, Y, samples=math.nan),
         r"^option samples of attribution 'smoothgrad' must be int, got nan"),
        ("bounds_nan", lambda m: attribute("smoothgrad", m, X, Y, bounds=(math.nan, 1)),
         r"^bounds must satisfy lo < hi"),
        ("bounds_not_a_pair", lambda m: attribute("gradient", m, X, Y, bounds=0.5), r"^bounds must be a pair"),
    ],
}


def test_every_public_name_has_cases():
    public = set(attribution.__all__)
    for name in CONSTANTS:
        assert not callable(getattr(attribution, name)), name
    missing = sorted(public - CONSTANTS - set(CASES))
    assert not missing, f"public attribution functions without non-finite/out-of-range cases: {missing}"
    assert set(CASES) <= public


@pytest.mark.parametrize("name", ATTRIBUTIONS.names())
@pytest.mark.parametrize("kind", [*INPUT_KINDS, "y_fraction"])
def test_every_registered_attribution_refuses_bad_inputs(model, name, kind):
    """NaN/inf inputs and labels outside [0, K) are one-line errors (the random map checks them too)."""
    with pytest.raises(ValueError) as info:
        attribute(name, model, *bad_inputs(kind), bounds=(0.0, 1.0))
    message = str(info.value)
    assert message and "\n" not in message, message
    assert info.match(INPUT_MESSAGES[kind])


@pytest.mark.parametrize("name, case_id, call, pattern", [
    pytest.param(name, case_id, call, pattern, id=f"{name}-{case_id}")
    for name, cases in CASES.items() for case_id, call, pattern in cases
])
def test_bad_input_is_a_one_line_value_error(model, name, case_id, call, pattern):
    with pytest.raises(ValueError) as info:
        call(model)
    message = str(info.value)
    assert message and "\n" not in message and message.strip() == message, message
    assert info.match(pattern)


@pytest.mark.parametrize("fn", [threshold, clip_3sigma, lambda maps: cosine(maps, MAPS)],
                         ids=["threshold", "clip_3sigma", "cosine"])
def test_nan_maps_are_errors_not_zeros(fn):
    """Before: threshold gave zeros, clip_3sigma 0.5 and cosine 0 for a NaN map."""
    maps = MAPS.copy()
    maps[2] = np.nan  # a whole map
    with pytest.raises(ValueError, match=r"non-finite"):
        fn(maps)


def test_nonfinite_model_gives_an_error_not_nan_maps():
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(K, kernel_initializer=keras.initializers.Constant(math.inf))])
    for name in ATTRIBUTIONS.names():
        if name == "random":
            continue  # never calls the model
        with pytest.raises(ValueError, match=rf"^the {name} map has \d+ non-finite values .*not finite"):
            attribute(name, model, X, Y)
    with pytest.raises(ValueError, match=r"^the squared Jacobian norm has \d+ non-finite values"):
        jacobian_frobenius(model, X)
    with pytest.raises(ValueError, match=r"^the squared Jacobian slice norms have \d+ non-finite values"):
        logit_jacobian_norms(model, X, Y)


def test_valid_labels_and_edges_still_work(model):
    """One-hot labels, integer-valued float labels, y = K - 1 and a plain-callable model pass the checks."""
    onehot = np.eye(K, dtype=np.float32)[Y]
    np.testing.assert_array_equal(gradient(model, X, onehot), gradient(model, X, Y.astype(np.float32)))
    assert np.isfinite(logit_gradient(model, X, np.full(4, K - 1)).numpy()).all()

    def plain(x):
        return model(x, training=False)

    with pytest.raises(ValueError, match=r"in \[0, 3\)"):  # K found by tracing a non-Keras callable
        logit_gradient(plain, X, np.array([0, 1, 2, 3]))
    assert np.isfinite(random_map("not a model", X, Y.astype(np.float64), seed=3).numpy()).all()
    np.testing.assert_array_equal(safe_sqrt(np.zeros((2, 3), np.float32)).numpy(), 0.0)


def test_traced_maps_have_no_eager_checks(model):
    """Inside a traced function (a train_step) the checks are skipped: no IsFinite/Assert ops."""
    spec = (tf.TensorSpec([None, 4, 4, 1], tf.float32), tf.TensorSpec([None], tf.int32))
    graph = tf.function(lambda x, y: logit_gradient(model, x, y) + smoothgrad(model, x, y, samples=2)
                        ).get_concrete_function(*spec).graph
    ops = {op.type for op in graph.get_operations()}
    assert not ops & {"IsFinite", "Assert"}, ops & {"IsFinite", "Assert"}
