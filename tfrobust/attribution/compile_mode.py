"""The default compile mode of eager gradient loops per device type: XLA or graph mode.

Attacks (:func:`tfrobust.attacks.pgd`, which re-exports :func:`default_jit`)
and SmoothGrad compile their eager work with ``tf.function``; whether XLA
(``jit_compile=True``) pays off depends on the device and the model, so the
default is a measured fact per device type, kept here, below both layers.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["DEFAULT_JIT", "default_jit"]

#: Device type -> compile with XLA by default. See :func:`default_jit` for the evidence.
DEFAULT_JIT = {"CPU": False, "GPU": True}


def default_jit(device: str | None = None) -> bool:
    """The default compile mode of eager attack steps and of SmoothGrad: XLA (True) or graph mode (False).

    CPU, measured: graph mode. ``benchmarks/loop_form.py`` (results in
    ``benchmarks/results/loop_form.json``; 2 shared CPU cores) timed PGD-10
    and SmoothGrad-16 on five architectures (four CNNs and an MLP) at two
    batch sizes each. On every CNN XLA was slower than graph mode: one
    input gradient 1.2x to 1.7x, PGD 1.2x to 1.6x, SmoothGrad 1.2x to 1.9x
    (XLA maps in a graph loop; with the whole loop under XLA, measured
    first, 3x to 18x); on the MLP XLA took 0.85x to 0.95x of a few
    milliseconds, too little to outweigh the CNNs.

    GPU: XLA, the earlier default of PGD's step, UNMEASURED: no GPU was
    available to ``benchmarks/loop_form.py``; rerun it on a GPU to check.

    Args:
        device: ``"CPU"`` or ``"GPU"`` (any case); None: the device type
            TensorFlow places ops on by default (GPU if one is visible, else CPU).

    Raises:
        ValueError: another device type.
    """
    if device is None:
        kind = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    else:
        kind = str(device).upper()
    if kind not in DEFAULT_JIT:
        raise ValueError(f"device must be one of {', '.join(DEFAULT_JIT)} (or None), got {device!r}")
    return DEFAULT_JIT[kind]
