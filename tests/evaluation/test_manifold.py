"""Manifold distance d_pi (Kim et al. 2019 sec. 2.1) against analytic projections."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfrobust.evaluation.manifold import (
    manifold_distance,
    manifold_study,
    plot_adversarial_grid,
    plot_manifold_histogram,
)


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
    with pytest.raises(ValueError, match="batch_size"):
        manifold_distance(lambda b: b, np.zeros((3, 2), np.float32), batch_size=0)


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

    result = manifold_study(model, projector, (x, y), eps=0.5, steps=20, bounds=(-1, 1), batch_size=2,
                            examples=3, random_start=False)
    np.testing.assert_array_equal(result["success"], [True, True, False, False, True])
    np.testing.assert_array_equal(result["adversarial_index"], [0, 1, 4])
    assert result["adversarial"].shape == (3,) and result["clean"].shape == (5,)
    np.testing.assert_allclose(result["clean"], np.abs(x[:, 1]), atol=1e-6)
    assert result["success_rate"] == pytest.approx(0.6)
    assert result["clean_accuracy"] == 1.0 and result["adversarial_accuracy"] == pytest.approx(0.4)
    assert result["examples"]["x_adv"].shape == (3, 2)
    # The attack moves along w = e0 only, so d_pi (|x1|) of the kept examples is unchanged.
    np.testing.assert_allclose(result["adversarial"], np.abs(x[[0, 1, 4], 1]), atol=1e-5)


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
