"""Occlusion by attribution rank (ROAR/KAR): exact counts, complements, ties, TF == numpy."""

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.evaluation import (
    fill_values,
    importance_ranks,
    occlude,
    occluded_count,
    occlusion_mask,
)

FRACTIONS = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]


@pytest.fixture(scope="module")
def maps():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 5, 4, 3)).astype("float32")
    m[0] = 0.0  # constant map: ties everywhere
    m[1, :2] = 10.0  # partial ties, above every random score
    return m


def test_ranks_are_permutations_in_descending_score(maps):
    ranks = importance_ranks(maps)
    assert ranks.dtype == np.int32 and ranks.shape == (6, 5, 4)
    flat = ranks.reshape(6, -1)
    assert (np.sort(flat, axis=1) == np.arange(20)).all()
    score = np.abs(maps).sum(-1).reshape(6, -1)
    for i in range(6):
        order = np.argsort(flat[i])  # pixel with rank 0, 1, ...
        assert (np.diff(score[i][order]) <= 0).all()


def test_ties_break_in_row_major_order(maps):
    ranks = importance_ranks(maps)
    assert (ranks[0] == np.arange(20).reshape(5, 4)).all()
    tied = ranks[1, :2].ravel()  # the 8 pixels scoring 30, the maximum
    assert (tied == np.arange(8)).all()


def test_abs_versus_signed():
    m = np.array([[[1.0, -3.0], [2.0, 0.0]]], "float32")  # (1, 2, 2): scores 1, -3, 2, 0
    assert importance_ranks(m, mode="abs").tolist() == [[[2, 0], [1, 3]]]
    assert importance_ranks(m, mode="signed").tolist() == [[[1, 3], [0, 2]]]
    two = np.stack([m, -m], axis=-1)  # channels cancel when signed
    assert (importance_ranks(two, mode="signed") == np.arange(4).reshape(1, 2, 2)).all()
    assert (importance_ranks(two, mode="abs") == importance_ranks(m, mode="abs")).all()


def test_ranks_chunked_equal_unchunked(monkeypatch, maps):
    import tfrobust.evaluation.occlusion as occlusion
    whole = importance_ranks(maps, mode="signed")
    monkeypatch.setattr(occlusion, "_CHUNK_VALUES", 1)
    assert (importance_ranks(maps, mode="signed") == whole).all()


def test_occluded_count_rounds_half_up():
    assert occluded_count(0.5, 3) == 2 and occluded_count(0.25, 2) == 1
    assert occluded_count(0.3, 784) == 235 and occluded_count(0.1, 784) == 78
    assert occluded_count(0.0, 10) == 0 and occluded_count(1.0, 10) == 10
    for bad in (-0.1, 1.5, float("nan"), "0.5", True):
        with pytest.raises(ValueError, match="fraction"):
            occluded_count(bad, 10)
    with pytest.raises(ValueError, match="num_pixels"):
        occluded_count(0.5, -1)


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_mask_counts_and_complements(maps, fraction):
    ranks = importance_ranks(maps)
    k = occluded_count(fraction, 20)
    roar = occlusion_mask(ranks, fraction)
    kar = occlusion_mask(ranks, fraction, keep=True)
    assert roar.dtype == bool and roar.shape == (6, 5, 4)
    assert (roar.sum(axis=(1, 2)) == k).all() and (kar.sum(axis=(1, 2)) == k).all()
    assert (roar == (ranks < k)).all() and (kar == (ranks >= 20 - k)).all()
    # ROAR(f) and KAR(f') are complements when k(f) + k(f') = P
    assert (occlusion_mask(ranks, 1.0 - k / 20, keep=True) == ~roar).all()


def test_planted_feature_is_removed_exactly():
    planted = np.zeros((2, 4, 4, 1), "float32")
    planted[0, 1:3, 1:3] = 1.0  # 4 of 16 pixels
    planted[1, 0, :] = -1.0  # abs ranks them first too
    mask = occlusion_mask(importance_ranks(planted), 4 / 16)
    assert (mask == (planted[..., 0] != 0)).all()
    kept = occlusion_mask(importance_ranks(planted), 12 / 16, keep=True)
    assert (kept == (planted[..., 0] == 0)).all()  # KAR replaces all but the planted pixels


@pytest.mark.parametrize("keep", [False, True])
def test_occlude_matches_numpy_eager_and_xla(maps, keep):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=maps.shape).astype("float32")
    ranks = importance_ranks(maps)
    fill = np.array([0.5, -0.25, 2.0], "float32")
    compiled = tf.function(lambda x, r, f: occlude(x, r, f, keep=keep, fill=fill), jit_compile=True)
    for fraction in (0.0, 0.3, 0.5, 1.0):
        mask = occlusion_mask(ranks, fraction, keep=keep)[..., None]
        expected = np.where(mask, fill, x)
        batched = occlude(x, ranks, fraction, keep=keep, fill=fill).numpy()
        np.testing.assert_array_equal(batched, expected)
        single = occlude(x[2], ranks[2], fraction, keep=keep, fill=fill).numpy()
        np.testing.assert_array_equal(single, expected[2])
        xla = compiled(x, ranks, tf.constant(fraction, tf.float64)).numpy()  # symbolic fraction
        np.testing.assert_array_equal(xla, expected)
    np.testing.assert_array_equal(occlude(x, ranks, 0.0).numpy(), x)  # identity
    np.testing.assert_array_equal(occlude(x, ranks, 1.0, keep=keep, fill=0.25).numpy(), 0.25)


def test_occlude_in_tf_data_map(maps):
    x = np.ones(maps.shape, "float32")
    ranks = importance_ranks(maps).astype("int64")
    ds = tf.data.Dataset.from_tensor_slices((x, ranks)).map(lambda a, r: occlude(a, r, 0.25, fill=0.0))
    got = np.stack([e.numpy() for e in ds])
    np.testing.assert_array_equal(got, np.where(occlusion_mask(ranks, 0.25)[..., None], 0.0, x))


def test_occlude_rejects_bad_input(maps):
    x = np.zeros(maps.shape, "float32")
    ranks = importance_ranks(maps)
    with pytest.raises(ValueError, match="fraction"):
        occlude(x, ranks, 1.2)
    with pytest.raises(ValueError, match="fraction"):
        occlude(x, ranks, tf.constant(-0.5))
    with pytest.raises(ValueError, match="ranks"):
        occlude(x, ranks[0], 0.5)
    with pytest.raises(ValueError, match="ranks"):
        occlude(x, ranks[:, :4], 0.5)
    with pytest.raises(ValueError, match="ranks"):
        occlude(x, ranks.astype("float32"), 0.5)
    with pytest.raises(ValueError, match="channels"):
        occlude(x, ranks, 0.5, fill=[0.0, 1.0])
    with pytest.raises(ValueError, match="x must"):
        occlude(x[0, 0], ranks, 0.5)


def test_numpy_functions_reject_bad_input(maps):
    with pytest.raises(ValueError, match="mode"):
        importance_ranks(maps, mode="square")
    with pytest.raises(ValueError, match="maps must have shape"):
        importance_ranks(maps[0, 0])
    with pytest.raises(ValueError, match="finite"):
        importance_ranks(np.full((1, 2, 2), np.nan))
    with pytest.raises(ValueError, match="ranks"):
        occlusion_mask(np.zeros((2, 2, 2), "float32"), 0.5)
    with pytest.raises(ValueError, match="fraction"):
        occlusion_mask(np.zeros((2, 2, 2), "int32"), 2.0)


def test_fill_values():
    x = np.stack([np.full((3, 4, 4), 0.5), np.full((3, 4, 4), -1.0)], axis=-1).astype("float32")
    x[0, 0, 0, 0] = 8.5  # mean of channel 0: 0.5 + 8 / 48
    np.testing.assert_allclose(fill_values(x), [0.5 + 8 / 48, -1.0], rtol=1e-6)
    assert fill_values(x).dtype == np.float32 and fill_values(x).shape == (2,)
    np.testing.assert_array_equal(fill_values(x, 0), [0.0, 0.0])
    np.testing.assert_array_equal(fill_values(tf.constant(x), -0.5), [-0.5, -0.5])
    for bad in ("median", float("inf"), None, True):
        with pytest.raises(ValueError, match="kind"):
            fill_values(x, bad)
    with pytest.raises(ValueError, match="x must"):
        fill_values(x[0])
