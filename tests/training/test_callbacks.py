"""JacobianNorm and SaliencySnapshot inside a tiny fit(), against a linear model's oracle."""

import glob
import os

import keras
import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.training.callbacks import JacobianNorm, SaliencySnapshot
from tfrobust.training.callbacks.saliency_snapshot import render_inputs, render_maps

RNG = np.random.default_rng(7)
SHAPE = (3, 3, 1)
W = RNG.normal(size=(9, 3)).astype(np.float32)  # J_k = W[:, k] for every input
X = RNG.uniform(size=(8, *SHAPE)).astype(np.float32)
Y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
COLS = np.linalg.norm(W, axis=0)


def frozen_linear():
    """z = W^T flatten(x), compiled with lr 0 so fit() keeps W (and the oracle) fixed."""
    inp = keras.Input(SHAPE)
    dense = keras.layers.Dense(3, use_bias=False)
    model = keras.Model(inp, dense(keras.layers.Flatten()(inp)))
    dense.set_weights([W])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class Doubled(keras.Model):
    """A wrapper whose own output is 2x its ``.base``: the callback must measure ``.base``."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def call(self, x, training=False):
        return 2.0 * self.base(x, training=training)


def test_jacobian_norm_logs_oracle_values(tmp_path):
    model = frozen_linear()
    targets = np.stack([W[:, c] for c in Y]).reshape(X.shape)
    targets[1] *= -1.0  # cosine -1 for one example
    csv = tmp_path / "history.csv"
    cb = JacobianNorm(X, Y, targets=targets, batch_size=3)
    hist = model.fit(X, Y, epochs=2, batch_size=4, verbose=0,
                     callbacks=[cb, keras.callbacks.CSVLogger(str(csv))])
    h = hist.history
    other = np.mean([np.mean(np.delete(COLS, c)) for c in Y])
    np.testing.assert_allclose(h["jacobian_label_norm"], [COLS[Y].mean()] * 2, rtol=1e-5)
    np.testing.assert_allclose(h["jacobian_other_norm"], [other] * 2, rtol=1e-5)
    np.testing.assert_allclose(h["jacobian_target_cosine"], [6 / 8] * 2, rtol=1e-5)
    header = csv.read_text().splitlines()[0].split(",")
    assert {"jacobian_label_norm", "jacobian_other_norm", "jacobian_target_cosine"} <= set(header)


def test_jacobian_norm_every_prefix_and_base():
    base = frozen_linear()
    wrapper = Doubled(base)
    wrapper.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = JacobianNorm(X, np.eye(3)[Y], every=2, prefix="val_jac")
    hist = wrapper.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=[cb])
    assert hist.history["val_jac_label_norm"] == pytest.approx([COLS[Y].mean()], rel=1e-5)  # epoch 2 only
    assert "val_jac_target_cosine" not in hist.history
    assert set(cb.last) == {"val_jac_label_norm", "val_jac_other_norm"}


def test_saliency_snapshot_writes_png_and_tensorboard(tmp_path):
    model = frozen_linear()
    out, logs = tmp_path / "maps", tmp_path / "tb"
    cb = SaliencySnapshot(X, Y, out_dir=out, log_dir=str(logs), max_images=3)
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    names = sorted(os.listdir(out))
    assert names == ["saliency_epoch001.png", "saliency_epoch002.png"]  # no temp files left
    assert cb.paths == [str(out / n) for n in names]
    for name in names:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = matplotlib.image.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    events = glob.glob(str(logs / "events.out.tfevents*"))
    assert len(events) == 1
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(events[0]) for v in e.summary.value}
    assert tags == {"saliency/inputs", "saliency/logit_gradient"}


def test_saliency_snapshot_titles_name_the_classes(tmp_path, monkeypatch):
    import tfrobust.training.callbacks.saliency_snapshot as module

    titles = []

    class Recording(module.Figure):
        def savefig(self, *args, **kwargs):
            titles.append([ax.get_title() for ax in self.axes if ax.get_title()])
            return super().savefig(*args, **kwargs)

    monkeypatch.setattr(module, "Figure", Recording)
    named = SaliencySnapshot(X, Y, out_dir=tmp_path / "a", max_images=3, class_names=["cat", "dog", "bird"])
    plain = SaliencySnapshot(X, Y, out_dir=tmp_path / "b", max_images=3)
    frozen_linear().fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[named, plain])
    assert titles == [["y=cat", "y=dog", "y=bird"], ["y=0", "y=1", "y=2"]]


def test_saliency_snapshot_tensorboard_only(tmp_path):
    """out_dir=None: no PNG, the images go to TensorBoard only (as tf.summary.image with tensorboard installed)."""
    model = frozen_linear()
    cb = SaliencySnapshot(X, Y, out_dir=None, log_dir=tmp_path / "tb", max_images=2)
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    assert cb.paths == [] and sorted(p.name for p in tmp_path.iterdir()) == ["tb"]
    (event_file,) = glob.glob(str(tmp_path / "tb" / "events.out.tfevents*"))
    steps = {}
    for event in tf.compat.v1.train.summary_iterator(event_file):
        for value in event.summary.value:
            assert value.metadata.plugin_data.plugin_name == "images"
            steps.setdefault(value.tag, []).append(event.step)
            width, height, *pngs = tf.make_ndarray(value.tensor)
            assert (int(width), int(height), len(pngs)) == (3, 3, 2) and all(p[:4] == b"\x89PNG" for p in pngs)
    assert steps == {"saliency/inputs": [1], "saliency/logit_gradient": [1, 2]}


def test_saliency_snapshot_every_and_options(tmp_path):
    model = frozen_linear()
    cb = SaliencySnapshot(X[:, :, :, 0], Y, out_dir=tmp_path, method="smoothgrad", every=2,
                          options={"samples": 2, "sigma": 0.1})
    model_flat = keras.Sequential([keras.Input(SHAPE[:2]), keras.layers.Reshape(SHAPE), model])
    model_flat.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model_flat.fit(X[:, :, :, 0], Y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    assert sorted(os.listdir(tmp_path)) == ["saliency_epoch002.png"]


def test_render_helpers_never_nan():
    zero = render_maps(np.zeros((2, 3, 3, 1)))
    assert zero.shape == (2, 3, 3, 3) and np.all(zero == 0.0)  # non-negative: grey levels, 0 is black
    unsigned = render_maps(np.array([[0.0, 0.5, 1.0]]))
    np.testing.assert_allclose(unsigned[0, 0, :, 0], [0.0, 0.5, 1.0], atol=0.02)
    signed = render_maps(np.array([[[-1.0, 0.0, 1.0]]]).reshape(1, 1, 3))
    np.testing.assert_allclose(signed[0, 0], [[0, 0, 1], [1, 1, 1], [1, 0, 0]])
    flat = render_inputs(np.ones((2, 5)))
    assert flat.shape == (2, 1, 5, 3) and np.all(np.isfinite(flat))


@pytest.mark.parametrize("kwargs, match", [
    ({"every": 0}, "every"),
    ({"every": 1.5}, "every"),
    ({"batch_size": 0}, "batch_size"),
    ({"targets": np.zeros((8, 9))}, "targets"),
    ({"prefix": ""}, "prefix"),
    ({"y": Y[:5]}, "y must"),
    ({"x": np.zeros(8)}, "x must"),
])
def test_jacobian_norm_bad_arguments(kwargs, match):
    args = {"x": X, "y": Y, **kwargs}
    x, y = args.pop("x"), args.pop("y")
    with pytest.raises(ValueError, match=match):
        JacobianNorm(x, y, **args)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "saliency"}, "method: unknown attribution 'saliency'"),
    ({"every": 0}, "every"),
    ({"max_images": 0}, "max_images"),
    ({"options": [1]}, "options"),
    ({"options": {"noise": 1}}, "options: attribution 'logit_gradient' has no option 'noise'"),
    ({"method": "smoothgrad", "options": {"samples": "many"}}, "option samples of attribution 'smoothgrad'"),
    ({"y": Y[:3]}, "y must"),
    ({"x": np.zeros((8, 1, 2, 2, 1))}, "x must"),
    ({"out_dir": None}, "needs out_dir .PNGs., log_dir"),
    ({"out_dir": ""}, "out_dir must be a directory path or None"),
])
def test_saliency_snapshot_bad_arguments(tmp_path, kwargs, match):
    args = {"x": X, "y": Y, "out_dir": tmp_path, **kwargs}
    x, y = args.pop("x"), args.pop("y")
    with pytest.raises(ValueError, match=match):
        SaliencySnapshot(x, y, **args)
