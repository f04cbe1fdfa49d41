"""tf.data pipelines: structure, seeded determinism, paired crop/flip augmentation."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfrobust.data import Dataset, augment_pair, load_dataset  # noqa: E402

PAD = 4


def image_dataset(n=16, hw=8, channels=3, bounds=(0.0, 1.0), seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    lo, hi = bounds
    x = lo + (hi - lo) * rng.integers(0, 256, size=(n, hw, hw, channels)) / 255.0
    y = np.arange(n) % 10
    names = tuple(str(i) for i in range(10))
    return Dataset("fake", "train", x.astype(np.float32), y, bounds, 10, names, "synthetic")


def batches(pipeline):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in pipeline]


def candidates(image, fill):
    """All pad-crop(-flip) results of one (H, W, C) image."""
    h, w = image.shape[:2]
    padded = np.pad(image, ((PAD, PAD), (PAD, PAD), (0, 0)), constant_values=fill)
    for dy in range(2 * PAD + 1):
        for dx in range(2 * PAD + 1):
            crop = padded[dy : dy + h, dx : dx + w]
            yield (dy, dx, False), crop
            yield (dy, dx, True), crop[:, ::-1]


def which_transform(out, image, fill):
    for key, cand in candidates(image, fill):
        if np.array_equal(out, cand):
            return key
    return None


def test_batches_structure_and_order():
    ds = load_dataset("toy2d", limit=10)
    out = batches(ds.pipeline(4))
    assert [b[0].shape for b in out] == [(4, 2), (4, 2), (2, 2)]
    assert out[0][0].dtype == np.float32 and out[0][1].dtype == np.int32
    np.testing.assert_array_equal(np.concatenate([b[0] for b in out]), ds.x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in out]), ds.y)
    assert len(batches(ds.pipeline(4, drop_remainder=True, cache=False))) == 2


def test_shuffle_is_seeded():
    ds = load_dataset("toy2d", limit=64)
    a = batches(ds.pipeline(16, shuffle=True, seed=1))
    b = batches(ds.pipeline(16, shuffle=True, seed=1))
    c = batches(ds.pipeline(16, shuffle=True, seed=2))
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    # a permutation of the data, and a new one each epoch
    np.testing.assert_array_equal(
        np.sort(np.concatenate([x for x, _ in a])[:, 0]), np.sort(ds.x[:, 0])
    )
    pipe = ds.pipeline(64, shuffle=True, seed=1)
    epoch1, epoch2 = batches(pipe), batches(pipe)
    assert not np.array_equal(epoch1[0][0], epoch2[0][0])


def test_crop_flip_shapes():
    ds = image_dataset(n=6, hw=32)
    pipe = ds.pipeline(4, augment="crop_flip")
    assert tuple(pipe.element_spec[0].shape) == (None, 32, 32, 3)
    shapes = [x.shape for x, _ in batches(pipe)]
    assert shapes == [(4, 32, 32, 3), (2, 32, 32, 3)]


def test_crop_flip_is_seeded():
    ds = image_dataset(n=16)
    a = batches(ds.pipeline(16, augment="crop_flip", shuffle=True, seed=3))
    b = batches(ds.pipeline(16, augment="crop_flip", shuffle=True, seed=3))
    c = batches(ds.pipeline(16, augment="crop_flip", seed=4))
    d = batches(ds.pipeline(16, augment="crop_flip", seed=5))
    np.testing.assert_array_equal(a[0][0], b[0][0])
    np.testing.assert_array_equal(a[0][1], b[0][1])
    assert not np.array_equal(c[0][0], d[0][0])  # same order, other crops


def test_crop_flip_is_a_real_crop_and_flip_with_lower_bound_padding():
    ds = image_dataset(n=24, hw=6, channels=2, bounds=(-1.0, 1.0))
    ((x_aug, y_aug),) = batches(ds.pipeline(24, augment="crop_flip", seed=0))
    np.testing.assert_array_equal(y_aug, ds.y)
    keys = [which_transform(out, img, fill=-1.0) for out, img in zip(x_aug, ds.x, strict=True)]
    assert None not in keys, "an output is not a pad(-1)/crop/flip of its input"
    assert any(k[2] for k in keys) and not all(k[2] for k in keys)
    assert any(k[:2] != (PAD, PAD) for k in keys)


def test_targets_follow_the_same_draw():
    ds = image_dataset(n=24, hw=6, channels=3, bounds=(0.0, 1.0), seed=1)
    # target == x: identical after augmentation (the image pads with lo = 0, the target with 0)
    (((x_aug, t_aug), y),) = batches(
        ds.pipeline(24, augment="crop_flip", targets=ds.x, shuffle=True, seed=2)
    )
    np.testing.assert_array_equal(x_aug, t_aug)
    # a target that differs from x pixel-wise, and a bound with lo != 0
    kim = image_dataset(n=24, hw=6, channels=3, bounds=(-1.0, 1.0), seed=1)
    target = ((np.asarray(kim.x) + 1.0) / 2.0).astype(np.float32)  # pads: x -> -1, target -> 0
    (((x_aug, t_aug), y),) = batches(kim.pipeline(24, augment="crop_flip", targets=target, seed=7))
    np.testing.assert_array_equal(t_aug, (x_aug + 1.0) / 2.0)
    keys = [which_transform(out, img, fill=-1.0) for out, img in zip(x_aug, kim.x, strict=True)]
    assert None not in keys
    # single-channel (N, H, W) targets work too
    maps = np.asarray(kim.x)[..., 0] * 0 + np.arange(36, dtype=np.float32).reshape(6, 6)
    (((x_aug, m_aug), _),) = batches(kim.pipeline(24, augment="crop_flip", targets=maps, seed=7))
    assert m_aug.shape == (24, 6, 6)


def test_targets_without_augmentation():
    ds = load_dataset("toy2d", limit=8)
    targets = np.arange(8, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    out = batches(ds.pipeline(8, targets=targets, shuffle=True, seed=0))
    (((x, t), y),) = out
    order = t[:, 0].astype(int)
    np.testing.assert_array_equal(x, ds.x[order])
    np.testing.assert_array_equal(y, ds.y[order])


def test_augment_pair_direct():
    x = tf.reshape(tf.range(48, dtype=tf.float32), (4, 4, 3))
    seed = tf.constant([1, 2], tf.int64)
    a, ta = augment_pair(x, x[..., 0], seed=seed)
    b, tb = augment_pair(x, x[..., 0], seed=seed)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a.numpy()[..., 0], ta.numpy())
    same, none = augment_pair(x, None, seed=seed, pad=0, flip=False)
    assert none is None
    np.testing.assert_array_equal(same, x)


def test_pipeline_argument_errors():
    toy = load_dataset("toy2d", limit=8)
    with pytest.raises(ValueError, match="augment"):
        toy.pipeline(4, augment="crop_flip")
    img = image_dataset(n=4)
    with pytest.raises(ValueError, match="augment"):
        img.pipeline(4, augment="mixup")
    with pytest.raises(ValueError, match="batch_size"):
        img.pipeline(0)
    with pytest.raises(ValueError, match="targets"):
        img.pipeline(2, targets=np.zeros((3, 8, 8, 3)))
    with pytest.raises(ValueError, match="targets"):
        img.pipeline(2, augment="crop_flip", targets=np.zeros((4, 5, 5, 3)))
    with pytest.raises(ValueError, match="seed"):
        img.pipeline(2, seed=-1)
