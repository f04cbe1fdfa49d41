"""Kim 2.2 boundary tilt: analytic oracles for the tilt, the toy experiment, the figure."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.models import build_model
from tfrobust.theory.toy import TILT_COLUMNS, boundary_tilt, toy_experiment

# Two horizontal rows of points: mu_1 - mu_0 = (0, -1) exactly.
_T = np.linspace(-0.8, 0.8, 21)
X = np.concatenate([np.stack([_T, np.full_like(_T, 0.5)], 1),
                    np.stack([_T, np.full_like(_T, -0.5)], 1)]).astype(np.float32)
Y = np.repeat([0, 1], len(_T)).astype(np.int32)
U = np.array([0.0, -1.0])  # unit mean difference


def _rotate(v: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ v


def linear_margin(w: np.ndarray, b: float = 0.0):
    """f(x) = <w, x> + b as a single-logit callable."""
    w_t = tf.constant(np.asarray(w, np.float32).reshape(2, 1))
    return lambda x: tf.matmul(x, w_t) + b


@pytest.mark.parametrize("angle", [0.0, 10.0, 30.0, -30.0, 60.0, 90.0, 180.0])
@pytest.mark.parametrize("where", ["boundary", "data"])
def test_tilt_of_a_linear_classifier_is_its_angle(angle, where):
    w = 3.0 * _rotate(U, angle)
    tilt = boundary_tilt(linear_margin(w, b=0.05), (X, Y), where=where, grid=50)
    if where == "boundary" and abs(angle) >= 90:
        # a boundary parallel to u (or a swapped one) is still found along the lines, or not at all
        assert math.isnan(tilt) or tilt == pytest.approx(abs(angle), abs=1e-3)
    else:
        assert tilt == pytest.approx(abs(angle), abs=1e-3)


def test_tilt_of_a_keras_linear_model_with_two_logits():
    model = build_model("linear", input_shape=(2,), num_classes=2)
    w = _rotate(U, 30.0)  # z_1 - z_0 = <w, x>
    model.get_layer("logits").set_weights([np.stack([np.zeros(2), w], 1).astype(np.float32),
                                           np.zeros(2, np.float32)])
    tilt, points = boundary_tilt(model, (X, Y), return_points=True)
    assert tilt == pytest.approx(30.0, abs=1e-3)
    # the points lie on the boundary, one per data point
    assert points.shape == X.shape
    np.testing.assert_allclose(points @ w, 0.0, atol=1e-5)


def test_tilt_reference_direction_and_edge_cases():
    w = _rotate(U, 30.0)
    f = linear_margin(w)
    assert boundary_tilt(f, (X, Y), direction=w) == pytest.approx(0.0, abs=1e-3)
    assert boundary_tilt(f, (X, Y), direction=(1.0, 0.0)) == pytest.approx(60.0, abs=1e-3)
    assert math.isnan(boundary_tilt(lambda x: tf.ones((tf.shape(x)[0], 1)), (X, Y)))  # no boundary
    with pytest.raises(ValueError, match="where"):
        boundary_tilt(f, (X, Y), where="nowhere")
    with pytest.raises(ValueError, match="both classes"):
        boundary_tilt(f, (X, np.zeros_like(Y)))
    with pytest.raises(ValueError, match="direction"):
        boundary_tilt(f, (X, Y), direction=(0.0, 0.0))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    rows = toy_experiment(eps_list=(0.0, 0.25, 0.5), n=500, epochs=10, steps=5, batch_size=32, seed=0,
                          out_dir=out)
    return out, rows


def test_tilt_shrinks_with_training_eps(small_run):
    _, rows = small_run
    assert [r["train_eps"] for r in rows] == [0.0, 0.25, 0.5]
    tilts = [r["tilt_degrees"] for r in rows]
    assert tilts[0] > tilts[1] > tilts[2], tilts
    assert tilts[0] > 15 and tilts[2] < 0.6 * tilts[0]  # measured: 22.3, 20.3, 7.9
    for r in rows:
        assert r["clean_accuracy"] > 0.97
        assert 0.0 <= r["robust_accuracy"] <= r["clean_accuracy"] and r["attack_eps"] == 1.0
        assert r["boundary_points"] > 900
    # adversarial perturbations turn towards the mean difference, i.e. towards the other class
    assert rows[2]["perturbation_angle_degrees"] < rows[0]["perturbation_angle_degrees"]


def test_results_files(small_run):
    out, rows = small_run
    with open(out / "tilt.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert tuple(table[0]) == TILT_COLUMNS and len(table) == 3
    assert float(table[1]["tilt_degrees"]) == pytest.approx(rows[1]["tilt_degrees"])
    png = (out / "toy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize("options,field", [
    ({"eps_list": ()}, "eps_list"),
    ({"eps_list": (0.0, -0.25)}, "eps_list"),
    ({"eps_list": (0.5, 0.5)}, "eps_list"),
    ({"epochs": 0}, "epochs"),
    ({"n": 0}, "n"),
    ({"n": 1.5}, "n"),
])
def test_experiment_validation(options, field):
    with pytest.raises(ValueError, match=rf"^{field}( must|:)"):
        toy_experiment(**options)
