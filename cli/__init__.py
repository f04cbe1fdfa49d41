"""The ``tfrobust`` command line (click). Thin: parse, build config, call the library."""

import os
import sys

# Quiet TensorFlow's C++ start-up chatter (the CUDA probe on CPU-only machines,
# absl's pre-initialisation notice) before anything imports it. Set
# TF_CPP_MIN_LOG_LEVEL=0 to see everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with file descriptor 2 silenced unless logs are wanted.

    Commands call it before they import anything that needs TensorFlow; help,
    ``list`` and the study bookkeeping commands never do.

    absl writes its notices straight to fd 2 before logging is initialised,
    ignoring TF_CPP_MIN_LOG_LEVEL. Python errors still surface: the exception
    propagates after stderr is restored.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3" or "tensorflow" in sys.modules:
        return
    try:
        saved = os.dup(2)
    except OSError:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)

