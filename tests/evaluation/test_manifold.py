"""Manifold distance d_pi (Kim et al. 2019 sec. 2.1) against analytic projections."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfrobust.config import ConfigError
from tfrobust.evaluation.manifold import (
    KIM_KAPPA,
    KIM_PGD_DEFAULTS,
    KIM_STEPS,
    manifold_attack,
    manifold_attack_options,
    manifold_distance,
    manifold_study,
    plot_adversarial_grid,
    plot_manifold_histogram,
)
from tfrobust.registry import ATTACKS


def orthogonal_projector(dim: int, rank: int, seed: int = 0) -> np.ndarray:
    """P = U U^T for a random orthonormal U (dim x rank): a linear "decoder" onto span(U)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, rank)))
    return q @ q.T


def test_distance_of_an_orthogonal_projection_is_the_residual_norm():
    shape = (4, 4, 1)
    p = orthogonal_projector(16, 3)
    x = np.random.default_rng(1).uniform(-1, 1, size=(23, *shape)).astype("float32")

    def projector(batch):
        return (batch.reshape(len(batch), -1) @ p).reshape(batch.shape)

    d = manifold_distance(projector, x, batch_size=5)  # several batches, a partial last one
    flat = x.reshape(len(x), -1).astype(np.float64)
    expected = np.linalg.norm(flat @ (np.eye(16) - p), axis=1)  # ||(I - P) x||
    assert d.shape == (23,)
    np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-6)
    # Points on the subspace are at distance 0; the projection is idempotent.
    on_manifold = projector(x)
    np.testing.assert_allclose(manifold_distance(projector, on_manifold, batch_size=7), 0.0, atol=1e-5)


def test_distance_rejects_a_projection_of_another_shape():
    with pytest.raises(ValueError, match="shape"):
        manifold_distance(lambda b: b[:, :2], np.zeros((3, 4, 4, 1), np.float32))
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="^batch_size must be an integer >= 1"):
            manifold_distance(lambda b: b, np.zeros((3, 2), np.float32), batch_size=bad)


def linear_classifier(w: np.ndarray) -> keras.Model:
    """Two logits z = [0, w.x]: class 1 iff w.x > 0."""
    inputs = keras.Input((len(w),))
    dense = keras.layers.Dense(2, use_bias=False)
    out = dense(inputs)
    dense.set_weights([np.stack([np.zeros_like(w), w], axis=1).astype("float32")])
    return keras.Model(inputs, out)


def test_study_drops_failed_attacks():
    # 2-D data, class 1 iff x0 > 0. Points at |x0| = 0.1 flip with eps 0.5;
    # points at |x0| = 0.9 cannot (l2 distance to the boundary 0.9 > eps).
    model = linear_classifier(np.array([1.0, 0.0], np.float32))
    x = np.array([[0.1, 0.2], [-0.1, -0.3], [0.9, 0.1], [-0.9, 0.5], [0.1, -0.5]], np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    p = np.diag([1.0, 0.0])  # the "manifold" is the x0 axis: d_pi = |x1|

    def projector(batch):
        return batch @ p

    result = manifold_study(model, projector, (x, y), eps=0.5, bounds=(-1, 1), batch_size=2, examples=3,
                            options={"steps": 20})
    np.testing.assert_array_equal(result["success"], [True, True, False, False, True])
    np.testing.assert_array_equal(result["adversarial_index"], [0, 1, 4])
    assert result["adversarial"].shape == (3,) and result["clean"].shape == (5,)
    np.testing.assert_allclose(result["clean"], np.abs(x[:, 1]), atol=1e-6)
    assert result["success_rate"] == pytest.approx(0.6)
    assert result["clean_accuracy"] == 1.0 and result["adversarial_accuracy"] == pytest.approx(0.4)
    assert result["examples"]["x_adv"].shape == (3, 2)
    # The attack moves along w = e0 only, so d_pi (|x1|) of the kept examples is unchanged.
    np.testing.assert_allclose(result["adversarial"], np.abs(x[[0, 1, 4], 1]), atol=1e-5)
    # Kim's PGD: no random start, the step 2 cut to the diameter 2 * eps = 1, the caller's 20 steps.
    assert result["attack"] == "pgd" and result["options"]["random_start"] is False
    assert result["options"]["steps"] == 20 and result["settings"]["step_size"] == pytest.approx(1.0)


def test_kim_defaults_lie_under_the_callers_pgd_options():
    # 2.3 FMNIST Gradient Analysis: GM(eps=12, step_size=2, n_steps=40, norm='2'); attacks.py: no random start,
    # CW cap 500; linf steps 0.02 (1.2 / 2.2 notebooks). The step is cut to the ball's diameter 2 * eps.
    assert manifold_attack_options(norm="l2", eps=12) == {**KIM_PGD_DEFAULTS, "step_size": 2.0}
    assert KIM_PGD_DEFAULTS == {"steps": KIM_STEPS, "random_start": False, "kappa": KIM_KAPPA}
    assert manifold_attack_options(norm="l2", eps=0.25)["step_size"] == 0.5
    assert manifold_attack_options(norm="linf", eps="8/255")["step_size"] == 0.02
    assert "step_size" not in manifold_attack_options(norm="l2", eps=0)      # eps 0: PGD returns x
    assert "step_size" not in manifold_attack_options(norm="l1", eps=1)      # no value of Kim's: PGD's own
    given = manifold_attack_options(options={"step_size": None, "random_start": True, "objective": "cw"},
                                    norm="l2", eps=12)
    assert given["step_size"] is None and given["random_start"] is True and given["kappa"] == KIM_KAPPA
    assert manifold_attack_options("fgsm", norm="l2", eps=12) == {}          # Kim's values are PGD's only
    with pytest.raises(ConfigError, match="^options: attack 'fgsm' has no option 'steps'"):
        manifold_attack_options("fgsm", {"steps": 3}, norm="l2", eps=1)
    with pytest.raises(ConfigError, match="unknown attack 'deepfool'"):
        manifold_attack_options("deepfool", norm="l2", eps=1)
    with pytest.raises(ValueError, match="^options must be a mapping"):
        manifold_attack_options(options=[("steps", 3)], norm="l2", eps=1)


def test_manifold_attack_is_checked_before_it_runs():
    attack = manifold_attack(norm="l2", eps=0.5, bounds=(-1, 1), input_shape=(2,))
    assert attack.settings["step_size"] == pytest.approx(1.0) and attack.options["steps"] == KIM_STEPS
    for options, message in (({"steps": 2, "step_size": 3.0}, r"^opts: step_size: .*diameter"),
                             ({"objective": "cw", "kappa": -1.0}, "^opts: kappa must be"),
                             ({"steps": "ten"}, "^opts: option steps of attack 'pgd' must be int")):
        with pytest.raises(ValueError, match=message) as err:
            manifold_attack(options=options, norm="l2", eps=1, bounds=(-1, 1), prefix="opts")
        assert len(str(err.value).splitlines()) == 1
    with pytest.raises(ValueError, match="eps"):
        manifold_attack(norm="l2", eps=-1, bounds=(-1, 1))
    with pytest.raises(ValueError, match="norm"):
        manifold_attack(norm="l7", eps=1, bounds=(-1, 1))


def test_study_takes_any_registered_attack():
    # An added attack that moves every point by -eps along e0 (x0 > 0 -> class 0 for |x0| < eps).
    def shift(model_fn, x, y, *, norm, eps, bounds, seed=0, scale: float = 1.0):
        out = np.array(x, np.float32)
        out[:, 0] -= scale * eps
        return np.clip(out, *bounds)

    model = linear_classifier(np.array([1.0, 0.0], np.float32))
    x = np.array([[0.1, 0.2], [0.3, -0.3], [0.9, 0.1]], np.float32)
    y = np.ones(3, np.int32)
    ATTACKS.add("shift_test", shift)
    try:
        result = manifold_study(model, lambda b: b * [1.0, 0.0], (x, y), eps=0.5, norm="l2", attack="shift_test",
                                options={"scale": 1.0}, bounds=(-1, 1), batch_size=2, examples=0)
        with pytest.raises(ConfigError, match="has no option 'steps'"):
            manifold_study(model, lambda b: b, (x, y), eps=0.5, attack="shift_test", options={"steps": 3},
                           bounds=(-1, 1))
    finally:
        ATTACKS.remove("shift_test")
    np.testing.assert_array_equal(result["success"], [True, True, False])   # 0.9 - 0.5 stays class 1
    assert result["attack"] == "shift_test" and result["options"] == {"scale": 1.0} and result["settings"] == {}
    np.testing.assert_allclose(result["adversarial"], np.abs(x[:2, 1]), atol=1e-6)  # d_pi = |x1|, unmoved
    # FGSM (registered in-tree) gets no PGD defaults and runs too: one l2 step of length 0.5 along e0.
    fgsm = manifold_study(model, lambda b: b, (x, y), eps=0.5, attack="fgsm", bounds=(-1, 1), examples=0)
    np.testing.assert_array_equal(fgsm["success"], [True, True, False])
    assert fgsm["options"] == {}


def test_plots_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(3, 6, 6, 1)).astype("float32")
    examples = {"index": np.arange(3), "x": x, "x_projection": x * 0.5, "x_adv": -x, "x_adv_projection": -x * 0.5,
                "success": np.array([True, False, True])}
    results = {
        "standard": {"clean": rng.random(40), "adversarial": rng.random(30) + 1, "examples": examples},
        "adversarial": {"clean": None, "adversarial": np.zeros(0), "examples": examples},
    }
    results["adversarial"]["clean"] = results["standard"]["clean"]
    hist = plot_manifold_histogram(results, tmp_path / "h.png", title="toy")
    grid = plot_adversarial_grid(results, tmp_path / "g.png", bounds=(-1, 1))
    for path in (hist, grid):
        assert path.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "h.png"]  # no temp files left
