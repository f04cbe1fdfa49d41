"""Post-processing: thresholding, permutation, display helpers, cosine."""

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attribution import (
    channel_sum_clip,
    clip_3sigma,
    cosine,
    diverging_rgb,
    permute,
    threshold,
)

RNG = np.random.default_rng(1)


def test_threshold_band():
    maps = RNG.normal(size=(3, 6, 6, 2)).astype(np.float32)
    original = maps.copy()
    out = threshold(maps, 1.0)
    assert out.shape == maps.shape and out.dtype == np.float32
    np.testing.assert_array_equal(maps, original)
    for m, o in zip(maps, out):
        mu, sd = m.mean(), m.std()
        inside = np.abs(m - mu) <= sd
        assert np.all(o[inside] == 0)
        np.testing.assert_array_equal(o[~inside], m[~inside])
        assert inside.any() and (~inside).any()
    np.testing.assert_array_equal(threshold(tf.constant(maps), 0.0)[maps != 0], maps[maps != 0])


def test_threshold_constant_and_bad_phi():
    maps = np.stack([np.full((4, 4, 1), 0.1), np.zeros((4, 4, 1))]).astype(np.float32)
    out = threshold(maps, 0.0)
    assert np.all(out == 0) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="phi"):
        threshold(maps, -1)


def test_permute_preserves_values_and_counts():
    maps = RNG.normal(size=(4, 5, 5, 3)).astype(np.float32)  # distinct values
    original = maps.copy()
    for p in (0.0, 0.1, 0.5, 1.0):
        out = permute(maps, p, seed=2)
        assert out.shape == maps.shape
        for m, o in zip(maps, out):
            np.testing.assert_array_equal(np.sort(o, axis=None), np.sort(m, axis=None))
            # channels of a pixel move together: every output pixel is some input pixel
            pixels = {tuple(v) for v in m.reshape(-1, 3)}
            assert all(tuple(v) in pixels for v in o.reshape(-1, 3))
            moved = np.any(o != m, axis=-1).sum()
            assert moved <= int(np.floor(p * 25 + 0.5))
    np.testing.assert_array_equal(permute(maps, 0.0), maps)
    assert not np.array_equal(permute(maps, 1.0, seed=0), maps)
    np.testing.assert_array_equal(permute(maps, 0.5, seed=3), permute(maps, 0.5, seed=3))
    np.testing.assert_array_equal(maps, original)


def test_permute_flat_maps_and_bad_p():
    maps = np.arange(20, dtype=np.float32).reshape(2, 10)
    out = permute(maps, 1.0, seed=0)
    assert not np.array_equal(out, maps)
    np.testing.assert_array_equal(np.sort(out, axis=1), maps)
    with pytest.raises(ValueError, match="p"):
        permute(maps, 1.5)


def test_channel_sum_clip():
    maps = RNG.normal(size=(2, 10, 10, 3)).astype(np.float32)
    out = channel_sum_clip(maps, percentile=90)
    assert out.shape == (2, 10, 10)
    assert out.min() >= -1 and out.max() <= 1
    summed = maps.sum(-1)
    level = np.percentile(np.abs(summed[0]), 90)
    np.testing.assert_allclose(out[0], np.clip(summed[0], -level, level) / level, rtol=1e-5, atol=1e-6)
    assert np.isclose(np.abs(out[0]).max(), 1.0)
    zero = channel_sum_clip(np.zeros((1, 4, 4, 3)))
    assert np.all(zero == 0) and np.isfinite(zero).all()


def test_clip_3sigma():
    maps = RNG.normal(size=(2, 8, 8, 1)).astype(np.float32)
    maps[0, 0, 0, 0] = 100.0
    out = clip_3sigma(maps)
    assert out.shape == maps.shape and out.min() >= 0 and out.max() <= 1
    assert out[0, 0, 0, 0] == 1.0
    const = clip_3sigma(np.full((1, 3, 3, 1), 7.0))
    np.testing.assert_array_equal(const, 0.5)
    np.testing.assert_array_equal(clip_3sigma(np.zeros((1, 3, 3, 1))), 0.5)


def test_diverging_rgb():
    maps = np.array([[[-2.0, 0.0, 1.0, 2.0]]], np.float32)  # (1, 1, 4)
    rgb = diverging_rgb(maps)
    assert rgb.shape == (1, 1, 4, 3)
    np.testing.assert_allclose(rgb[0, 0], [[0, 0, 1], [1, 1, 1], [1, 0.5, 0.5], [1, 0, 0]])
    white = diverging_rgb(np.zeros((2, 3, 3)))
    np.testing.assert_array_equal(white, 1.0)
    with pytest.raises(ValueError, match="maps2d"):
        diverging_rgb(np.zeros((2, 3, 3, 1)))


def test_cosine():
    a = RNG.normal(size=(3, 4, 4, 1))
    np.testing.assert_allclose(cosine(a, a), 1.0, rtol=1e-6)
    np.testing.assert_allclose(cosine(a, -2 * a), -1.0, rtol=1e-6)
    z = np.zeros_like(a)
    out = cosine(a, z)
    assert out.shape == (3,) and np.all(out == 0)
    assert np.all(cosine(z, z) == 0)
    with pytest.raises(ValueError, match="same shape"):
        cosine(a, a[:2])
