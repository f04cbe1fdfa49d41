"""Shared test set-up: quiet TensorFlow, Keras on the TensorFlow backend."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Never let tensorflow-datasets try a download from a test.
os.environ.setdefault("TFROBUST_NO_TFDS", "1")

import pytest  # noqa: E402  (after the environment is set)


@pytest.fixture
def run_cli(capsys):
    """Runs the CLI in process: ``run_cli("study", "status", path) -> (exit code, stdout, stderr)``."""
    from cli.main import main

    def run(*args):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _linear_model(w, b, *, input_shape=None, dtype="float32"):
    """``z = flatten(x) @ w + b`` with known weights: ``w`` (D, K), ``b`` (K,); inputs of ``input_shape`` (default (D,))."""
    import keras
    import numpy as np

    w = np.asarray(w)
    b = np.asarray(b)
    shape = (w.shape[0],) if input_shape is None else tuple(input_shape)
    inputs = keras.Input(shape, dtype=dtype)
    h = keras.layers.Flatten(dtype=dtype)(inputs) if len(shape) > 1 else inputs
    outputs = keras.layers.Dense(w.shape[1], dtype=dtype, kernel_initializer=keras.initializers.Constant(w),
                                 bias_initializer=keras.initializers.Constant(b))(h)
    return keras.Model(inputs, outputs)


@pytest.fixture
def linear_model():
    """The linear-model factory ``linear_model(w, b, *, input_shape=None, dtype="float32")`` (analytic oracles)."""
    return _linear_model


#: Subprocess preamble: ``linear_model`` = the function named by argv[3] in the file argv[2].
_LOAD_FACTORY = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("test_fixtures", sys.argv[2])
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)
linear_model = getattr(fixtures, sys.argv[3])
"""


@pytest.fixture
def linear_model_script():
    """``(preamble, argv)`` for a subprocess script: the preamble binds ``linear_model`` (the factory of the
    ``linear_model`` fixture) when the script runs with ``argv`` after its first argument."""
    return _LOAD_FACTORY, [__file__, _linear_model.__name__]
