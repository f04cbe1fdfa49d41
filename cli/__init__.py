"""The ``tfrobust`` command line (click). Thin: parse, build config, call the library."""

import os
import sys

# Quiet TensorFlow's C++ start-up chatter (the CUDA probe on CPU-only machines,
# absl's pre-initialisation notice) before anything imports it. Set
# TF_CPP_MIN_LOG_LEVEL=0 to see everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def quiet_python_logs() -> None:
    """Silences TensorFlow's and absl's Python loggers below ERROR (retracing warnings, absl notices).

    Follows TF_CPP_MIN_LOG_LEVEL: at 2 or 3 (the CLI's default is 3) only
    errors are logged; at 0 or 1 nothing is changed. Safe to call before or
    after TensorFlow is imported (``tf.get_logger()`` is the "tensorflow"
    logger and keeps the level set here).
    """
    import logging

    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return
    if level < 2:
        return
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.set_verbosity(absl_logging.ERROR)


quiet_python_logs()


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
        quiet_python_logs()  # absl.logging is imported now: set its verbosity too

