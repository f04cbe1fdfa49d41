"""Target maps for IR: analytic oracle, order, post-processing, resume, load checks, pipeline."""

import functools
import json

import keras
import numpy as np
import pytest

import tfrobust.training.targets as targets_mod
from tfrobust.attribution import ATTRIBUTIONS, gradient, permute, smoothgrad, threshold
from tfrobust.data import Dataset
from tfrobust.models import build_model
from tfrobust.training import compute_maps, load_targets, saliency_index

N, SHAPE, K, BS = 13, (6, 6, 1), 3, 5  # 13 examples in batches of 5: 5, 5, 3
BATCHES = 3


def make_dataset(n=N, seed=0, labels=None, name="mnist"):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, *SHAPE)).astype("float32")
    y = rng.integers(0, K, size=n).astype("int32") if labels is None else labels
    return Dataset(name=name, split="train", x=x, y=y, bounds=(0.0, 1.0), num_classes=K,
                   class_names=tuple("abc"), source="synthetic")


@pytest.fixture(scope="module")
def data():
    return make_dataset()


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model("linear", input_shape=SHAPE, num_classes=K)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def batches(n=N, bs=BS):
    return [(b, slice(s, min(s + bs, n))) for b, s in enumerate(range(0, n, bs))]


@pytest.fixture
def swap():
    """``swap(name, fn)``: ``fn`` is the attribution ``name`` for this test (``ATTRIBUTIONS.add``, removed after)."""
    added = []

    def register(name, fn):
        ATTRIBUTIONS.add(name, fn)
        added.append(name)

    yield register
    for name in added:
        ATTRIBUTIONS.remove(name)


def counting(fn, fail_at=None, on_call=None):
    """Wrap an attribution: count calls, optionally raise at call `fail_at` (1-based)."""
    calls = []

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        calls.append(kwargs.get("seed"))
        if on_call is not None:
            on_call(len(calls))
        if fail_at is not None and len(calls) == fail_at:
            raise RuntimeError("simulated crash")
        return fn(*args, **kwargs)

    return wrapper, calls


def test_gradient_maps_are_the_analytic_loss_gradient_in_order(model, data, tmp_path):
    path = compute_maps(model, data, method="gradient", out_dir=tmp_path, batch_size=BS,
                        progress=False)
    assert path == tmp_path / "gradient.npy"
    maps = np.load(path, allow_pickle=False)
    assert maps.dtype == np.float32 and maps.shape == data.x.shape
    w, b = (keras.ops.convert_to_numpy(v) for v in model.get_layer("logits").weights)
    flat = data.x.reshape(N, -1)
    expected = (softmax(flat @ w + b) - np.eye(K)[data.y]) @ w.T  # d CE / dx of a linear model
    np.testing.assert_allclose(maps.reshape(N, -1), expected, atol=1e-5)
    direct = ATTRIBUTIONS["gradient"](model, data.x, data.y).numpy()
    np.testing.assert_allclose(maps, direct, atol=1e-6)
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("*.progress.json"))


def test_smoothgrad_per_batch_seed_is_deterministic(model, data, tmp_path):
    opts = {"samples": 4, "sigma": 0.5, "base": "gradient"}  # logit gradient of a linear model is constant
    a = compute_maps(model, data, method="smoothgrad", out_dir=tmp_path / "a", batch_size=BS,
                     options=opts, seed=7, progress=False)
    b = compute_maps(model, data, method="smoothgrad", out_dir=tmp_path / "b", batch_size=BS,
                     options=opts, seed=7, progress=False)
    c = compute_maps(model, data, method="smoothgrad", out_dir=tmp_path / "c", batch_size=BS,
                     options=opts, seed=8, progress=False)
    maps = np.load(a)
    np.testing.assert_array_equal(maps, np.load(b))
    assert not np.allclose(maps, np.load(c))
    for batch, rows in batches():
        direct = smoothgrad(model, data.x[rows], data.y[rows], **opts, seed=(7, batch))
        np.testing.assert_allclose(maps[rows], direct.numpy(), atol=1e-6)
    entry = saliency_index(tmp_path / "a")["maps"]["smoothgrad"]
    assert entry["options"]["base"] == "gradient" and entry["options"]["samples"] == 4
    assert entry["seed"] == 7 and entry["batch_size"] == BS


def test_threshold_then_permute_are_applied(model, data, tmp_path):
    path = compute_maps(model, data, method="gradient", out_dir=tmp_path, batch_size=BS,
                        threshold=1.0, permute=0.5, seed=3, progress=False)
    maps = np.load(path)
    raw = ATTRIBUTIONS["gradient"](model, data.x, data.y).numpy()
    for batch, rows in batches():
        thresholded = threshold(raw[rows], 1.0)
        expected = permute(thresholded, 0.5, seed=targets_mod._batch_seed(3, batch))
        np.testing.assert_allclose(maps[rows], expected, atol=1e-6)
        for got, kept in zip(maps[rows], thresholded):  # same values, moved around
            np.testing.assert_allclose(np.sort(got.ravel()), np.sort(kept.ravel()), atol=1e-6)
    assert (maps == 0).mean() > 0.3  # phi = 1 zeroes most values
    entry = saliency_index(tmp_path)["maps"]["gradient"]
    assert entry["threshold"] == 1.0 and entry["permute"] == 0.5


def test_metadata_and_several_methods_in_one_dir(model, data, tmp_path):
    compute_maps(model, data, method="gradient", out_dir=tmp_path, batch_size=BS, progress=False,
                 model_source="runs/x/model.keras", limit=13)
    compute_maps(model, data, method="random", out_dir=tmp_path, batch_size=BS, progress=False)
    index = json.loads((tmp_path / "saliency.json").read_text())
    ds = index["dataset"]
    assert ds["name"] == "mnist" and ds["split"] == "train" and ds["examples"] == N
    assert ds["bounds"] == [0.0, 1.0] and ds["input_shape"] == list(SHAPE) and ds["limit"] == 13
    assert len(ds["labels_sha256"]) == 64 and len(ds["inputs_sha256"]) == 64
    assert set(index["maps"]) == {"gradient", "random"}
    entry = index["maps"]["gradient"]
    assert entry["file"] == "gradient.npy" and entry["shape"] == [N, *SHAPE]
    assert entry["model_source"] == "runs/x/model.keras" and entry["model_sha256"]
    assert {"tensorflow", "keras", "numpy"} <= set(entry["versions"])
    assert index["maps"]["random"]["file"] == "random.npy"
    with pytest.raises(ValueError, match="several methods.*gradient, random"):
        load_targets(tmp_path, data)
    np.testing.assert_array_equal(load_targets(tmp_path / "random.npy", data),
                                  np.load(tmp_path / "random.npy"))
    # Other data into a dir that holds other methods' maps: refused, nothing lost.
    with pytest.raises(ValueError, match="already holds maps"):
        compute_maps(model, make_dataset(seed=1), method="gradient", out_dir=tmp_path,
                     progress=False)
    assert set(saliency_index(tmp_path)["maps"]) == {"gradient", "random"}


def test_resume_after_crash_finishes_without_recomputing(model, data, tmp_path, swap):
    reference = np.load(compute_maps(model, data, method="smoothgrad", out_dir=tmp_path / "ref",
                                     batch_size=BS, options={"samples": 3}, progress=False))
    crashing, calls = counting(smoothgrad, fail_at=3)
    swap("smoothgrad", crashing)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        compute_maps(model, data, method="smoothgrad", out_dir=out, batch_size=BS,
                     options={"samples": 3}, progress=False)
    assert not (out / "smoothgrad.npy").exists() and (out / "smoothgrad.npy.partial").exists()
    assert json.loads((out / "smoothgrad.progress.json").read_text())["done"] == 2 * BS
    resumed, calls = counting(smoothgrad)
    swap("smoothgrad", resumed)
    path = compute_maps(model, data, method="smoothgrad", out_dir=out, batch_size=BS,
                        options={"samples": 3}, progress=False)
    assert calls == [(0, 2)]  # only the unfinished batch, with its own seed
    np.testing.assert_array_equal(np.load(path), reference)
    assert not (out / "smoothgrad.npy.partial").exists()
    assert not (out / "smoothgrad.progress.json").exists()
    # Complete: a re-run with the same arguments computes nothing.
    compute_maps(model, data, method="smoothgrad", out_dir=out, batch_size=BS,
                 options={"samples": 3}, progress=False)
    assert calls == [(0, 2)]


def test_progress_is_recorded_every_few_batches(model, tmp_path, monkeypatch, swap):
    data = make_dataset(n=23)  # 5 batches of 5 (last 3)
    monkeypatch.setattr(targets_mod, "_CHECKPOINT_BATCHES", 2)
    seen = {}

    def look(call):
        state = tmp_path / "gradient.progress.json"
        seen[call] = json.loads(state.read_text())["done"]

    wrapper, _ = counting(gradient, on_call=look)
    swap("gradient", wrapper)
    compute_maps(model, data, method="gradient", out_dir=tmp_path, batch_size=BS, progress=False)
    assert seen == {1: 0, 2: 0, 3: 10, 4: 10, 5: 20}


def test_changed_arguments_or_data_restart_cleanly(model, data, tmp_path, swap):
    out = tmp_path / "run"
    crashing, _ = counting(gradient, fail_at=2)
    swap("gradient", crashing)
    with pytest.raises(RuntimeError):
        compute_maps(model, data, method="gradient", out_dir=out, batch_size=BS, threshold=0.5,
                     progress=False)
    wrapper, calls = counting(gradient)
    swap("gradient", wrapper)
    path = compute_maps(model, data, method="gradient", out_dir=out, batch_size=BS, threshold=1.0,
                        progress=False)
    assert len(calls) == BATCHES  # other threshold: everything recomputed
    raw = gradient(model, data.x, data.y).numpy()
    np.testing.assert_allclose(np.load(path), threshold(raw, 1.0), atol=1e-6)
    calls.clear()
    compute_maps(model, data, method="gradient", out_dir=out, batch_size=BS, threshold=1.0,
                 progress=False)
    assert calls == []
    other = make_dataset(seed=5)
    compute_maps(model, other, method="gradient", out_dir=out, batch_size=BS, threshold=1.0,
                 progress=False)
    assert len(calls) == BATCHES  # other data: recomputed, index follows the new data
    assert saliency_index(out)["dataset"]["inputs_sha256"] == targets_mod._data_fingerprint(
        other, None)["inputs_sha256"]
    load_targets(out, other)
    with pytest.raises(ValueError, match="other labels"):
        load_targets(out, data)


@pytest.fixture
def maps_dir(model, data, tmp_path):
    compute_maps(model, data, method="gradient", out_dir=tmp_path / "maps", batch_size=BS,
                 progress=False, limit=13)
    return tmp_path / "maps"


def test_load_targets_round_trip(maps_dir, data):
    for path in (maps_dir, maps_dir / "gradient.npy", str(maps_dir)):
        got = load_targets(path, data)
        assert got.dtype == np.float32 and got.shape == data.x.shape
        np.testing.assert_array_equal(got, np.load(maps_dir / "gradient.npy"))


def one_line_error(exc_type, fn, *args):
    with pytest.raises(exc_type) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_load_targets_refuses_other_data(maps_dir, data):
    fewer = Dataset(name="mnist", split="train", x=data.x[:10], y=data.y[:10], bounds=(0.0, 1.0),
                    num_classes=K, class_names=tuple("abc"), source="synthetic")
    message = one_line_error(ValueError, load_targets, maps_dir, fewer)
    assert "computed for mnist train limit=13 (13 examples)" in message
    assert "has 10 examples" in message and "rerun tfrobust saliency --split train" in message
    relabelled = make_dataset(labels=(data.y + 1) % K)
    assert "other labels" in one_line_error(ValueError, load_targets, maps_dir, relabelled)
    shifted = Dataset(name="mnist", split="train", x=data.x * 0.5, y=data.y, bounds=(0.0, 1.0),
                      num_classes=K, class_names=tuple("abc"), source="synthetic")
    assert "other inputs" in one_line_error(ValueError, load_targets, maps_dir, shifted)


def test_load_targets_refuses_broken_files(maps_dir, data):
    npy = maps_dir / "gradient.npy"
    good = np.load(npy)
    np.save(npy, np.zeros_like(good))
    assert "checksum" in one_line_error(ValueError, load_targets, npy, data)
    np.save(npy, good[:, :3])
    assert "shape" in one_line_error(ValueError, load_targets, npy, data)
    npy.write_bytes(b"\x93NUMPY garbage")
    message = one_line_error(ValueError, load_targets, npy, data)
    assert "cannot read target maps" in message and "gradient.npy" in message
    np.save(maps_dir / "stray.npy", good)
    assert "not listed" in one_line_error(ValueError, load_targets, maps_dir / "stray.npy", data)
    npy.unlink()
    assert "gradient.npy" in one_line_error(FileNotFoundError, load_targets, maps_dir, data)
    (maps_dir / "saliency.json").unlink()
    assert "saliency.json" in one_line_error(FileNotFoundError, load_targets, maps_dir, data)
    assert "nowhere" in one_line_error(FileNotFoundError, load_targets, maps_dir / "nowhere", data)
    (maps_dir / "saliency.json").write_text("{not json")
    assert "saliency.json" in one_line_error(ValueError, load_targets, maps_dir, data)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "occlusion"}, "occlusion"),
    ({"method": "gradient", "threshold": -1}, "threshold"),
    ({"method": "gradient", "permute": 1.5}, "permute"),
    ({"method": "gradient", "batch_size": 0}, "batch_size"),
    ({"method": "smoothgrad", "options": {"noise": 1}}, "noise"),
    ({"method": "smoothgrad", "options": {"seed": 1}}, "seed"),
])
def test_bad_arguments(model, data, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_maps(model, data, out_dir=tmp_path, progress=False, **kwargs)


def test_progress_bar(model, data, tmp_path, capsys):
    compute_maps(model, data, method="gradient", out_dir=tmp_path, batch_size=BS)
    assert f"{N}/{N}" in capsys.readouterr().out


def test_crop_flip_pipeline_keeps_maps_aligned(model, tmp_path, swap):
    """Maps equal to x itself must stay equal to x through shuffle + crop_flip."""
    swap("identity", lambda model, x, y: np.array(x))
    data = make_dataset(n=24)
    compute_maps(model, data, method="identity", out_dir=tmp_path, batch_size=BS, progress=False)
    maps = load_targets(tmp_path, data)
    np.testing.assert_array_equal(maps, data.x)
    changed = 0
    for (x, target), _ in data.pipeline(8, shuffle=True, seed=1, augment="crop_flip",
                                        targets=maps).repeat(2):
        np.testing.assert_array_equal(x.numpy(), target.numpy())
        changed += sum(not any(np.array_equal(a, b) for b in data.x) for a in x.numpy())
    assert changed > 0  # the augmentation did move pixels
