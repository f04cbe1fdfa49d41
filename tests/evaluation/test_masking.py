"""Gradient-masking checks: the verdict logic, and a model whose input gradient is exactly zero.

The zero-gradient model quantises its input before a linear rule, so every
input gradient is exactly 0: PGD (no random start) cannot move any point and
keeps full accuracy, while Square, which needs no gradient, breaks it. The
table must raise the ``zero_gradients``, ``blackbox`` and ``chance`` flags.
A plain linear model attacked by enough PGD steps raises none of the
gradient checks.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.evaluation import format_table, robust_accuracy_table
from tfrobust.evaluation.checklist import CHECKS, THRESHOLDS, check_list, format_checks, make_check
from tfrobust.evaluation.masking import chance_level, covering_radius, probe_index


def test_make_check_compares_the_figure_with_the_threshold():
    below = make_check("blackbox", 0.004, norm="l2", eps=1.0, what="square broke 0.4%")
    above = make_check("blackbox", 0.006, norm="l2", eps=1.0, what="square broke 0.6%")
    assert below.status == "passed" and above.status == "raised"
    assert above.message.startswith("blackbox at l2 eps=1: square broke 0.6% (threshold 0.5%); ")
    assert "autoattack" in above.message  # what to try
    skipped = make_check("convergence", None, norm="linf", skipped="fgsm has no steps")
    assert skipped.status == "skipped" and "fgsm has no steps" in skipped.message
    assert set(THRESHOLDS) == set(CHECKS)


def test_check_list_and_format():
    assert check_list("all") == CHECKS and check_list(True) == CHECKS
    assert check_list("none") == () and check_list(None) == ()
    assert check_list("chance,blackbox") == ("blackbox", "chance")  # report order
    with pytest.raises(ValueError, match="^checks: unknown check 'speed'; choose from: all, none, blackbox"):
        check_list(["speed"])
    clean = [make_check("monotone", 0.0, norm="l2", eps=1.0, what="x")]
    assert format_checks(clean) == "gradient-masking checks: no flag raised (1 passed, 0 skipped)"
    raised = format_checks([make_check("chance", 0.5, norm="linf", eps=0.5, what="acc 60%")] + clean)
    assert raised.splitlines()[0].startswith("FLAG chance at linf eps=0.5: acc 60%")
    assert "1 flag(s) raised, 1 passed" in raised


def test_covering_radius_reaches_the_mid_image_and_chance_and_probe():
    assert covering_radius("linf", (0, 1), (28, 28, 1)) == pytest.approx(0.5)
    assert covering_radius("l2", (-1, 1), (4, 4)) == pytest.approx(4.0)
    assert covering_radius("l1", (0, 2), (3,)) == pytest.approx(3.0)
    # The l2 distance from any image to the mid image is at most the radius (the corners are farthest).
    rng = np.random.default_rng(0)
    x = rng.choice([0.0, 1.0], size=(50, 16))
    assert np.linalg.norm(x - 0.5, axis=1).max() <= covering_radius("l2", (0, 1), (16,)) + 1e-12
    assert chance_level([0, 0, 1, 2]) == 0.5
    assert probe_index(0.9, [0.8, 0.5, 0.1]) == 1  # nearest half the clean accuracy


class Quantise(keras.layers.Layer):
    """Rounds inputs to multiples of 1/4; its gradient is exactly zero."""

    def call(self, x):
        return tf.stop_gradient(tf.round(x * 4.0) / 4.0)


def _quantised_model():
    model = keras.Sequential([keras.Input((4, 4, 1)), Quantise(), keras.layers.Flatten(),
                              keras.layers.Dense(2, kernel_initializer="zeros", bias_initializer="zeros")])
    w = np.zeros((16, 2), np.float32)
    w[:, 1] = 1.0  # logit 1 - logit 0 = sum of the quantised pixels - 8
    model.layers[-1].set_weights([w, np.array([8.0, 0.0], np.float32)])
    return model


@pytest.fixture(scope="module")
def quantised():
    model = _quantised_model()
    rng = np.random.default_rng(1)
    x = np.clip(rng.normal(0.5, 0.15, (60, 4, 4, 1)), 0, 1).astype("float32")
    y = np.argmax(model(x).numpy(), axis=1).astype("int32")  # the model is right on every clean point
    return model, x, y


def test_zero_gradient_model_keeps_pgd_accuracy_and_raises_the_flags(quantised):
    model, x, y = quantised
    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model(xt)))
    grad = tape.gradient(loss, xt)
    assert grad is None or not np.any(grad.numpy())  # exactly zero
    table = robust_accuracy_table(model, (x, y), norms=["linf"], eps=[0.15, 0.3], bounds=(0, 1),
                                  options={"steps": 5, "random_start": False}, blackbox_queries=300,
                                  monotone_sample=8)
    assert (table["robust_accuracy_mean"] == 1.0).all()  # PGD cannot move a point
    checks = {c["check"]: c for c in table.attrs["checks"] if c["status"] != "skipped"}
    assert checks["zero_gradients"]["status"] == "raised" and checks["zero_gradients"]["figure"] == 1.0
    assert checks["blackbox"]["status"] == "raised" and checks["blackbox"]["figure"] > 0.3
    assert checks["chance"]["status"] == "raised"  # the covering radius leaves accuracy far above chance
    assert "blackbox" in table["flags"].iloc[-1] or "blackbox" in table["flags"].iloc[0]
    text = format_table(table)
    assert "FLAG zero_gradients" in text and "FLAG blackbox" in text and "no flag raised" not in text


def test_autoattack_breaks_the_zero_gradient_model_with_its_black_box_member(quantised):
    model, x, y = quantised
    table = robust_accuracy_table(model, (x, y), norms=["linf"], eps=[0.3], bounds=(0, 1), attack="autoattack",
                                  options={"version": "fast", "steps": 3, "queries": 300},
                                  checks=["blackbox", "zero_gradients"])
    row = table.iloc[0]
    assert row["robust_accuracy_mean"] < 0.5  # Square found what APGD could not
    counts = dict(part.rsplit(" ", 1) for part in row["breaks"].split(", "))
    # APGD's random start on the ball's boundary breaks some points without any gradient; Square the rest.
    assert int(counts["square"]) > 5 and int(counts["apgd-t"]) == 0  # 2 classes: no targeted member
    blackbox = [c for c in table.attrs["checks"] if c["check"] == "blackbox"]
    assert blackbox[0]["status"] == "raised" and blackbox[0]["figure"] == pytest.approx(int(counts["square"]) / 60)


def test_linear_model_under_a_strong_attack_raises_no_gradient_flag():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(10, 2)).astype("float32")
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(
        2, kernel_initializer=keras.initializers.Constant(w), bias_initializer="zeros")])
    x = rng.uniform(0, 1, size=(80, 10)).astype("float32")
    y = np.argmax(x @ w, axis=1).astype("int32")
    table = robust_accuracy_table(model, (x, y), norms=["linf"], eps=[0.05, 0.1, 0.2], bounds=(0, 1),
                                  options={"steps": 20}, blackbox_queries=200, monotone_sample=16)
    # Two classes, linear: PGD's sign steps reach the optimal vertex, so nothing finds more.
    raised = [c["message"] for c in table.attrs["checks"] if c["status"] == "raised"]
    assert raised == []
    assert "no flag raised" in format_table(table)
    assert (table["flags"] == "").all()
    assert math.isclose(table["clean_accuracy"].iloc[0], 1.0)
