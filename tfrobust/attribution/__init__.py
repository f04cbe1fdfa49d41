"""Attributions as pure functions of a model, and post-processing of the maps.

``ATTRIBUTIONS`` (:data:`tfrobust.registry.ATTRIBUTIONS`) maps names to
``fn(model, x, y, *, **options) -> (N, ...)`` float32 tensors with the shape
of ``x`` (docs/architecture.md, Attacks and attributions). An attribution
joins it by ``@register("attributions", "<name>")`` on a top-level function
of this package (or by a plugin); :func:`attribute` calls any of them by
name with validated options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfrobust.attribution.checks import check_bounds
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
from tfrobust.registry import ATTRIBUTIONS

__all__ = [
    "ATTRIBUTIONS",
    "attribute",
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


def get_attribution(name: str) -> Callable[..., Any]:
    """The attribution function registered as ``name`` (loaded: its module is imported).

    Raises:
        ConfigError: unknown name (a ``ValueError``; one line listing the known ones).
    """
    return ATTRIBUTIONS[name].load()


def attribute(name: str, model: Any, x: Any, y: Any, *, bounds: Any = None, **options: Any) -> Any:
    """The maps of the attribution ``name``: ``ATTRIBUTIONS[name](model, x, y, **options)``, checked.

    Args:
        name: a registered attribution (``ATTRIBUTIONS.names()``).
        model: maps (N, ...) inputs to (N, K) logits; a ``keras.Model`` runs
            with ``training=False``.
        x: (N, ...) float32 inputs in data units; never modified.
        y: (N,) int class labels.
        bounds: the data's value range (lo, hi), or None. Given to the
            attribution only when its signature has a ``bounds`` keyword
            (the protocol keyword; e.g. ``smoothgrad`` with ``clip=True``,
            ``integrated_gradients``' default baseline).
        **options: the attribution's options (its keyword-only parameters),
            validated and converted by ``ATTRIBUTIONS[name].parse``.

    Returns:
        (N, ...) float32 maps, the shape of ``x``.

    Raises:
        ConfigError: unknown ``name``, unknown option or a value of the wrong
            type (one line naming the attribution and listing its options).
        ValueError: malformed ``bounds``, or what the attribution itself
            refuses (bad inputs, values out of range).
    """
    entry = ATTRIBUTIONS[name]
    kwargs = entry.parse(options)
    limits = check_bounds(bounds) if bounds is not None else None
    if limits is not None and entry.accepts("bounds"):
        kwargs["bounds"] = limits
    return entry.load()(model, x, y, **kwargs)
