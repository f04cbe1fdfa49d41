"""Attribution maps of the first test images (a study stage kind)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    check_known,
    first_images,
    int_param,
    names_param,
    plain,
    predict,
    save_npz,
    split_param,
)

__all__ = ["gradients_kind"]



GRADIENTS_PARAMS = ("methods", "n", "split", "seed")


@register("kinds", "gradients")
def gradients_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Attribution maps of the one dependency ``train`` cell's model on its first images.

    Params: ``methods`` (names of :data:`tfrobust.attribution.ATTRIBUTIONS`,
    a list or ``"a,b"``; default ``gradient``), ``n`` (images, 8), ``split``
    (test), ``seed`` (0; ``random`` and ``smoothgrad`` noise). Each method
    runs with its defaults (SmoothGrad: Noack sec. 4.1, 50 samples, sigma
    0.15, logit gradient). The data are the first ``n`` images of the train
    cell's dataset, bounds and classes (Kim Fig. 6, Tsipras Fig. 2).

    Writes ``images.npz``: ``x`` (n, H, W, C) float32, ``y`` (n,) int,
    ``pred`` (n,) int (the clean prediction), ``bounds`` (2,) float32 and one
    (n, H, W, C) float32 array per method, named by the method.

    Returns:
        ``mean_abs_<method>`` (mean |map|) per method and ``n``.
    """
    from tfrobust.attribution import ATTRIBUTIONS

    check_known("gradients", params, GRADIENTS_PARAMS)
    methods = names_param("gradients", "methods", params.get("methods", "gradient"), list(ATTRIBUTIONS))
    n = int(int_param("gradients", params, "n", 8, 1) or 8)
    split = split_param("gradients", params)
    seed = int(int_param("gradients", params, "seed", 0, 0) or 0)

    import numpy as np

    model, ds, _ = first_images("gradients", deps, split, n)
    x = np.asarray(ds.x, np.float32)
    y = np.asarray(ds.y).astype(np.int64)
    arrays: dict[str, Any] = {"x": x, "y": y, "pred": predict(model, x),
                              "bounds": np.asarray(ds.bounds, np.float32)}
    metrics: dict[str, Any] = {"n": len(x)}
    for method in methods:
        fn = ATTRIBUTIONS[method]
        options = {"seed": seed} if "seed" in inspect.signature(fn).parameters else {}
        maps = np.asarray(fn(model, x, y, **options), np.float32)
        arrays[method] = maps
        metrics[f"mean_abs_{method}"] = plain(np.abs(maps).mean())
    save_npz(out_dir / "images.npz", **arrays)
    return metrics
