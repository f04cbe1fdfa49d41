"""tf.data input pipelines and paired augmentation (docs/architecture.md, Data).

A pipeline is built from in-memory arrays as::

    from_tensor_slices -> cache -> shuffle(N, seed) -> augment (per-example map)
    -> batch -> prefetch(AUTOTUNE)

and yields ``(x, y)``, or ``((x, target), y)`` when a target array (e.g. the
Interpretation-Regularization target maps, Noack et al. 2021 section 3) is
given. Augmentation transforms an image and its target with ONE random draw
(same crop offsets, same flip), so the pair stays aligned.

Determinism: every random choice comes from ``seed``. The shuffle is
``Dataset.shuffle(N, seed=seed, reshuffle_each_iteration=True)``; the
augmentation seeds of the k-th element of an epoch come from
``Dataset.random(seed=seed, rerandomize_each_iteration=True)`` and feed
stateless random ops. Building the same pipeline twice therefore yields the
same batches, epoch by epoch, and each epoch gets a new order and new crops.
As everywhere in TensorFlow, op-level seeds combine with the global seed
(``tf.random.set_seed`` / ``keras.utils.set_random_seed``): keep that fixed too.

That order depends on how many times the pipeline was iterated in this
process, so a training resumed in a new process would see other batches.
``epochs=(first, stop)`` builds the resumable form instead: the batches of
epochs ``first .. stop - 1`` one after another (iterate it with ``fit(...,
steps_per_epoch=ceil(N / batch_size), initial_epoch=first)``), where epoch
``e`` is ordered by ``stateless_shuffle`` with the key ``(seed, e)`` and the
element at position ``p`` of epoch ``e`` is augmented with a key folded from
``(seed, e, p)``. Epoch ``e`` is thus a pure function of ``(seed, e)``: the
same in an uninterrupted run and in a run resumed at epoch ``e``, and
independent of the global seed.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["AUGMENTATIONS", "augment_pair", "make_pipeline"]

#: Names accepted by ``augment=`` (``None`` means no augmentation).
AUGMENTATIONS = ("crop_flip",)


def _non_negative_int(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{field}: expected a non-negative integer, got {value!r}")
    return int(value)


def augment_pair(
    x: tf.Tensor,
    target: tf.Tensor | None = None,
    *,
    seed: tf.Tensor,
    pad: int = 4,
    flip: bool = True,
    fill: float = 0.0,
    target_fill: float = 0.0,
) -> tuple[tf.Tensor, tf.Tensor | None]:
    """Random pad-and-crop plus random horizontal flip of one image and its target.

    The image is padded by ``pad`` pixels on each side with the constant
    ``fill`` (the pipeline passes the dataset's lower bound, i.e. a black
    border: the same as zero-padding the raw 0..255 pixels, as in the usual
    CIFAR-10 recipe of He et al. 2016 / Madry et al. 2018), then an H x W
    window is cropped at a random offset in [0, 2 * pad] along each axis, and
    the result is flipped left-right with probability 1/2. The target gets
    the same offsets and the same flip; it is padded with ``target_fill``
    (0: no attribution outside the image).

    Args:
        x: (H, W, C) image, float.
        target: (H, W, C') or (H, W) array aligned with ``x``, or None.
        seed: shape (2,) int32/int64 seed for stateless random ops; the same
            seed gives the same transformation.
        pad: border in pixels, >= 0.
        flip: whether to flip at random.
        fill: image padding value, in data units.
        target_fill: target padding value.

    Returns:
        ``(x_aug, target_aug)``, same shapes and dtypes as the inputs
        (``target_aug`` is None when ``target`` is None).
    """
    pad = _non_negative_int("pad", pad)
    x = tf.convert_to_tensor(x)
    if x.shape.rank is not None and x.shape.rank != 3:
        raise ValueError(f"x: expected one (H, W, C) image, got shape {x.shape}")
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    offset_y = tf.random.stateless_uniform(
        [], seed=seeds[0], minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    offset_x = tf.random.stateless_uniform(
        [], seed=seeds[1], minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    do_flip = tf.random.stateless_uniform([], seed=seeds[2]) < 0.5 if flip else tf.constant(False)
    height, width = tf.shape(x)[0], tf.shape(x)[1]

    def transform(a: tf.Tensor, value: float) -> tf.Tensor:
        padded = tf.pad(
            a, [[pad, pad], [pad, pad], [0, 0]], constant_values=tf.cast(value, a.dtype)
        )
        out = tf.slice(padded, tf.stack([offset_y, offset_x, 0]), tf.stack([height, width, -1]))
        out = tf.cond(do_flip, lambda: tf.reverse(out, axis=[1]), lambda: out)
        out.set_shape(a.shape)
        return out

    x_aug = transform(x, fill)
    if target is None:
        return x_aug, None
    t = tf.convert_to_tensor(target)
    if t.shape.rank == 2:
        return x_aug, tf.squeeze(transform(t[..., tf.newaxis], target_fill), axis=-1)
    if t.shape.rank != 3:
        raise ValueError(f"target: expected (H, W) or (H, W, C), got shape {t.shape}")
    return x_aug, transform(t, target_fill)


def make_pipeline(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    augment: str | None = None,
    targets: np.ndarray | None = None,
    cache: bool = True,
    drop_remainder: bool = False,
    fill: float = 0.0,
    epochs: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """Build the tf.data pipeline of a dataset held in memory.

    Args:
        x: (N, ...) float32 inputs; (N, H, W, C) for ``augment="crop_flip"``.
        y: (N,) int32 labels.
        batch_size: examples per batch, >= 1.
        shuffle: shuffle with a full-size buffer, reshuffled every epoch.
        seed: non-negative integer seeding shuffle and augmentation.
        augment: None or ``"crop_flip"`` (see :func:`augment_pair`, pad 4).
        targets: optional (N, ...) array aligned with ``x`` (for
            ``crop_flip``: (N, H, W[, C'])), yielded next to ``x`` and
            augmented with the same draw.
        cache: ``Dataset.cache()`` the decoded examples (before shuffle and
            augmentation).
        drop_remainder: drop the last partial batch.
        fill: padding value for ``crop_flip``, in data units.
        epochs: None (one epoch per iteration, see the module docstring), or
            ``(first, stop)``: the batches of epochs ``first .. stop - 1`` in
            one pass, each epoch ordered and augmented as a pure function of
            ``(seed, epoch)`` (resumable; ``cache`` does not apply).

    Returns:
        A ``tf.data.Dataset`` of ``(x, y)`` or ``((x, target), y)`` batches:
        x (B, ...) float32, target (B, ...) float32, y (B,) int32.

    Raises:
        ValueError: a bad argument (message names it).
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, numbers.Integral)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    seed = _non_negative_int("seed", seed)
    if augment is not None and augment not in AUGMENTATIONS:
        raise ValueError(f"augment: expected None or one of {AUGMENTATIONS}, got {augment!r}")
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int32)
    n = int(x.shape[0])
    if y.shape != (n,):
        raise ValueError(f"y: expected shape ({n},), got {y.shape}")
    if augment is not None and x.ndim != 4:
        raise ValueError(
            f"augment: {augment!r} needs images (N, H, W, C), got x of shape {x.shape}"
        )
    if targets is not None:
        targets = np.asarray(targets, dtype=np.float32)
        if targets.ndim < 1 or targets.shape[0] != n:
            raise ValueError(
                f"targets: expected {n} entries aligned with x, got shape {targets.shape}"
            )
        if augment is not None and (
            targets.ndim not in (3, 4) or targets.shape[1:3] != x.shape[1:3]
        ):
            raise ValueError(
                f"targets: {augment!r} needs maps of shape (N, {x.shape[1]}, {x.shape[2]}[, C]), got {targets.shape}"
            )

    if epochs is not None:
        if not isinstance(epochs, (tuple, list)) or len(epochs) != 2:
            raise ValueError(f"epochs: expected (first, stop), got {epochs!r}")
        first = _non_negative_int("epochs[0]", epochs[0])
        stop = _non_negative_int("epochs[1]", epochs[1])
        if stop < first:
            raise ValueError(f"epochs: stop must be >= first, got {epochs!r}")
        return _epoch_pipeline(x, y, targets, int(batch_size), shuffle=shuffle, seed=seed,
                               augment=augment, drop_remainder=drop_remainder, fill=fill,
                               first=first, stop=stop)

    features = x if targets is None else (x, targets)
    ds = tf.data.Dataset.from_tensor_slices((features, y))
    if cache:
        ds = ds.cache()
    if shuffle and n > 1:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    if augment == "crop_flip":
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, draws))
        op_seed = tf.constant(seed, tf.int64)
        with_target = targets is not None

        def crop_flip(example, draw):  # pure: the randomness comes in as `draw`
            feats, label = example
            key = tf.stack([draw, op_seed])
            if with_target:
                image, target = augment_pair(
                    feats[0], feats[1], seed=key, pad=4, flip=True, fill=fill
                )
                return (image, target), label
            image, _ = augment_pair(feats, None, seed=key, pad=4, flip=True, fill=fill)
            return image, label

        ds = ds.map(crop_flip, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)


def _epoch_pipeline(
    x: np.ndarray,
    y: np.ndarray,
    targets: np.ndarray | None,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    augment: str | None,
    drop_remainder: bool,
    fill: float,
    first: int,
    stop: int,
) -> tf.data.Dataset:
    """The batches of epochs ``first .. stop - 1``; epoch ``e`` depends on ``(seed, e)`` only.

    Epoch ``e`` draws two keys from ``stateless_split((seed, e))``: the first
    orders the examples (``stateless_shuffle`` of ``0 .. N-1``), the second is
    folded with an element's position to key its augmentation. Batches never
    straddle two epochs.
    """
    n = int(x.shape[0])
    x_t = tf.convert_to_tensor(x)
    y_t = tf.convert_to_tensor(y)
    t_t = None if targets is None else tf.convert_to_tensor(targets)
    seed_t = tf.constant(seed, tf.int64)

    def gather(index: tf.Tensor) -> tuple[Any, tf.Tensor]:
        features = tf.gather(x_t, index) if t_t is None else (tf.gather(x_t, index), tf.gather(t_t, index))
        return features, tf.gather(y_t, index)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        keys = tf.random.experimental.stateless_split(tf.stack([seed_t, epoch]), num=2)
        order = tf.range(n, dtype=tf.int64)
        if shuffle and n > 1:
            order = tf.random.experimental.stateless_shuffle(order, seed=keys[0])
        ds = tf.data.Dataset.from_tensor_slices(order)
        if augment != "crop_flip":
            return ds.batch(batch_size, drop_remainder=drop_remainder).map(gather)

        def crop_flip(position: tf.Tensor, index: tf.Tensor) -> tuple[object, tf.Tensor]:
            key = tf.random.experimental.stateless_fold_in(keys[1], position)
            features, label = gather(index)
            if t_t is None:
                image, _ = augment_pair(features, None, seed=key, pad=4, flip=True, fill=fill)
                return image, label
            image, target = augment_pair(features[0], features[1], seed=key, pad=4, flip=True, fill=fill)
            return (image, target), label

        ds = ds.enumerate().map(crop_flip, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(batch_size, drop_remainder=drop_remainder)

    epochs = tf.data.Dataset.range(first, stop)
    return epochs.flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)
