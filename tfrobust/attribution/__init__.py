"""Attributions as pure functions of a model, and post-processing of the maps.

``ATTRIBUTIONS`` maps CLI names to ``fn(model, x, y, **options) -> (N, ...)``
float32 tensors with the shape of ``x`` (docs/architecture.md, Attacks and attributions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfrobust.attribution.gradient import gradient, gradient_input, logit_gradient
from tfrobust.attribution.jacobian import (
    jacobian_frobenius,
    logit_jacobian_norms,
    projection_vectors,
    safe_norm,
    safe_sqrt,
)
from tfrobust.attribution.postprocess import (
    channel_sum_clip,
    clip_3sigma,
    cosine,
    diverging_rgb,
    permute,
    threshold,
)
from tfrobust.attribution.random_map import random_map
from tfrobust.attribution.smoothgrad import smoothgrad

__all__ = [
    "ATTRIBUTIONS",
    "channel_sum_clip",
    "clip_3sigma",
    "cosine",
    "diverging_rgb",
    "get_attribution",
    "gradient",
    "gradient_input",
    "jacobian_frobenius",
    "logit_gradient",
    "logit_jacobian_norms",
    "permute",
    "projection_vectors",
    "random_map",
    "safe_norm",
    "safe_sqrt",
    "smoothgrad",
    "threshold",
]

#: CLI name -> ``fn(model, x, y, **options)`` returning (N, ...) float32 maps.
ATTRIBUTIONS: dict[str, Callable[..., Any]] = {
    "gradient": gradient,
    "gradient_input": gradient_input,
    "logit_gradient": logit_gradient,
    "smoothgrad": smoothgrad,
    "random": random_map,
}


def get_attribution(name: str) -> Callable[..., Any]:
    """The attribution function registered as ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        return ATTRIBUTIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"attribution must be one of {', '.join(ATTRIBUTIONS)}, got {name!r}") from None
