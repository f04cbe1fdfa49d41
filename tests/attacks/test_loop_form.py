"""The device default of the compile mode (benchmarks/loop_form.py measures it) and who follows it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfrobust.attribution.compile_mode as compile_mode
from tfrobust.attacks import pgd
from tfrobust.attacks.pgd import default_jit
from tfrobust.attribution import smoothgrad
from tfrobust.attribution.gradient import cached_functions


@pytest.fixture
def mlp():
    """A fresh tiny MLP per test (so its compiled functions are the test's own)."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3, 3, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)])
    x = np.random.default_rng(1).uniform(0, 1, (6, 3, 3, 1)).astype("float32")
    return model, x, np.argmax(model(x).numpy(), axis=1).astype("int32")


def test_default_per_device_type():
    assert default_jit is compile_mode.default_jit  # pgd's name for it
    assert default_jit("cpu") is default_jit("CPU") is False  # measured: graph mode
    assert default_jit("GPU") is True  # unmeasured: the earlier default
    expected = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    assert default_jit() is default_jit(expected)
    with pytest.raises(ValueError, match="device"):
        default_jit("TPU")


@pytest.mark.parametrize("jit", [False, True])
def test_pgd_and_smoothgrad_follow_the_device_default(mlp, monkeypatch, jit):
    model, x, y = mlp
    monkeypatch.setitem(compile_mode.DEFAULT_JIT, "CPU", jit)
    monkeypatch.setitem(compile_mode.DEFAULT_JIT, "GPU", jit)
    kw = dict(norm="linf", eps=0.2, bounds=(0.0, 1.0), steps=3, seed=2)
    np.testing.assert_array_equal(pgd(model, x, y, **kw).numpy(), pgd(model, x, y, jit_compile=jit, **kw).numpy())
    maps = smoothgrad(model, x, y, samples=4, seed=3).numpy()
    keys = [key for key in cached_functions(model) if key and key[0] == "smoothgrad"]
    assert len(keys) == 1 and ("xla" in keys[0]) == jit, keys
    monkeypatch.setitem(compile_mode.DEFAULT_JIT, "CPU", not jit)
    monkeypatch.setitem(compile_mode.DEFAULT_JIT, "GPU", not jit)
    # The same noise in both modes (drawn in graph mode: XLA would draw other numbers), so the same maps.
    np.testing.assert_allclose(smoothgrad(model, x, y, samples=4, seed=3).numpy(), maps, atol=1e-5)
