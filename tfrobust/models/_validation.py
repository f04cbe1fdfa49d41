"""Argument checks shared by the model builders.

Every check raises ``ValueError`` naming the offending argument (docs/architecture.md,
Errors), so that the CLI can print it as a one-line message.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

__all__ = [
    "check_choice",
    "check_input_shape",
    "check_int",
    "check_num_classes",
    "check_rate",
    "check_spatial",
    "check_units",
]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_input_shape(
    arch: str, input_shape: Sequence[int], *, rank: int | None = None
) -> tuple[int, ...]:
    """Validate a per-example input shape (no batch axis).

    Args:
        arch: registry name, used in the message.
        input_shape: e.g. (28, 28, 1) for channels-last images or (2,) for vectors.
        rank: required number of axes, or None for any rank >= 1.

    Returns:
        The shape as a tuple of Python ints.

    Raises:
        ValueError: not a sequence of positive ints, or the wrong rank.
    """
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    if len(input_shape) == 0 or not all(_is_int(d) and d > 0 for d in input_shape):
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    shape = tuple(int(d) for d in input_shape)
    if rank is not None and len(shape) != rank:
        what = "(H, W, C) channels-last" if rank == 3 else f"rank-{rank}"
        raise ValueError(f"input_shape for {arch} must be {what}, got {shape}")
    return shape


def check_num_classes(num_classes: int, *, minimum: int = 2) -> int:
    """Validate the number of logits.

    Raises:
        ValueError: not an int or smaller than ``minimum``.
    """
    if not _is_int(num_classes) or num_classes < minimum:
        raise ValueError(f"num_classes must be an int >= {minimum}, got {num_classes!r}")
    return int(num_classes)


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """Validate an integer option ``name`` >= ``minimum``."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"option {name!r} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_rate(name: str, value: Any) -> float:
    """Validate a fraction in [0, 1) (dropout rate, leaky-ReLU slope)."""
    message = f"option {name!r} must be a float in [0, 1), got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(message)
    rate = float(value)
    if not (math.isfinite(rate) and 0.0 <= rate < 1.0):
        raise ValueError(message)
    return rate


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Validate a string option against its allowed values."""
    if value not in choices:
        raise ValueError(f"option {name!r} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def check_units(name: str, value: Any) -> tuple[int, ...]:
    """Validate a sequence of layer widths (e.g. hidden Dense sizes)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"option {name!r} must be a sequence of positive ints, got {value!r}")
    if not all(_is_int(u) and u > 0 for u in value):
        raise ValueError(f"option {name!r} must be a sequence of positive ints, got {value!r}")
    return tuple(int(u) for u in value)


def check_spatial(
    arch: str, input_shape: tuple[int, ...], ops: Sequence[tuple[int, int, str]]
) -> tuple[int, int]:
    """Check that a stack of convolutions / poolings leaves a non-empty image.

    Args:
        arch: registry name, used in the message.
        input_shape: (H, W, C).
        ops: (kernel, stride, padding) for each spatial layer, in order.

    Returns:
        The final (H, W).

    Raises:
        ValueError: some layer would produce an empty feature map.
    """
    height, width = input_shape[0], input_shape[1]
    for kernel, stride, padding in ops:
        if padding == "same":
            height, width = -(-height // stride), -(-width // stride)
        else:
            height = (height - kernel) // stride + 1
            width = (width - kernel) // stride + 1
        if height < 1 or width < 1:
            raise ValueError(
                f"input_shape {input_shape} is too small for {arch} "
                f"(a {kernel}x{kernel} layer with padding={padding!r} leaves no pixels)"
            )
    return height, width
