"""Adversarial examples and interpolations (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError
from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    check_known,
    choice_param,
    first_images,
    int_param,
    plain,
    predict,
    radius_param,
    real_param,
    save_npz,
    split_param,
)

__all__ = ["examples_kind"]



EXAMPLES_PARAMS = ("norm", "eps", "steps", "step_size", "objective", "n", "interpolation", "split", "seed")


@register("kinds", "examples")
def examples_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Adversarial examples (and interpolations) of the one dependency ``train`` cell's model.

    PGD from the image itself (no random start), clipped to the data's
    bounds, through :func:`tfrobust.theory.large_eps_examples`; large radii
    give Tsipras's large-eps examples (Table 3, MNIST on [0, 1]: linf 0.3,
    l2 4), small ones Kim's Fig. 2 examples.

    Params: ``norm`` (``l2`` | ``linf``; default l2), ``eps`` (required, data
    units, ``8/255`` allowed), ``steps`` (100), ``step_size`` (default 2.5
    eps / steps), ``objective`` (``xent`` | ``cw``; default xent; cw runs with
    Tsipras's out-of-reach cap, i.e. past the boundary), ``n`` (images, 8),
    ``interpolation`` (points including both ends, >= 2; 0: none; default
    0), ``split`` (test), ``seed`` (0). The data are the first ``n`` images of
    the train cell's dataset, bounds and classes.

    Writes ``images.npz``: ``x`` (n, H, W, C) float32, ``x_adv``, ``y`` (n,)
    int, ``pred`` and ``pred_x_adv`` (n,) int (the prediction on ``x_adv``), ``pred_x`` (on ``x``), ``bounds`` (2,)
    float32 and, with interpolation, ``path`` (n, S, H, W, C) from ``x``
    (``path[:, 0]``) to ``x_adv`` (``path[:, -1]``) (:func:`tfrobust.theory.interpolate`) and
    ``pred_path`` (n, S) int, the prediction at every step.

    Returns:
        ``fooled`` (fraction with pred != y), ``mean_l2`` and ``mean_linf``
        (of x_adv - x), ``n``.
    """
    check_known("examples", params, EXAMPLES_PARAMS)
    norm = choice_param("examples", params, "norm", "l2", ("l2", "linf"))
    if "eps" not in params:
        raise ConfigError("examples.eps: give the attack radius in data units (e.g. linf 0.3, l2 4)")
    eps = radius_param("examples", params, "eps", None)
    steps = int(int_param("examples", params, "steps", 100, 1) or 100)
    step_size = real_param("examples", params, "step_size", None)
    if step_size is not None and step_size <= 0:
        raise ConfigError(f"examples.step_size must be > 0, got {params['step_size']!r}")
    objective = choice_param("examples", params, "objective", "xent", ("xent", "cw"))
    n = int(int_param("examples", params, "n", 8, 1) or 8)
    points = int(int_param("examples", params, "interpolation", 0, 0) or 0)
    if points == 1:
        raise ConfigError("examples.interpolation: give >= 2 points (both ends) or 0 for none, got 1")
    split = split_param("examples", params)
    seed = int(int_param("examples", params, "seed", 0, 0) or 0)

    import numpy as np

    from tfrobust.theory import interpolate, large_eps_examples

    model, ds, _ = first_images("examples", deps, split, n)
    x = np.asarray(ds.x, np.float32)
    y = np.asarray(ds.y).astype(np.int64)
    bounds = (float(ds.bounds[0]), float(ds.bounds[1]))
    x_adv = np.concatenate([
        large_eps_examples(model, x[i:i + 256], y[i:i + 256], eps=eps, bounds=bounds, norm=norm, steps=steps,
                           step_size=step_size, objective=objective, seed=seed + i // 256)
        for i in range(0, len(x), 256)])
    pred = predict(model, x_adv)
    arrays: dict[str, Any] = {"x": x, "x_adv": x_adv, "y": y, "pred": pred, "pred_x": predict(model, x),
                              "pred_x_adv": pred, "bounds": np.asarray(bounds, np.float32)}
    if points:
        path = np.moveaxis(interpolate(x, x_adv, points), 0, 1)
        arrays["path"] = path
        arrays["pred_path"] = predict(model, path.reshape(-1, *x.shape[1:])).reshape(path.shape[:2])
    save_npz(out_dir / "images.npz", **arrays)
    delta = (x_adv.astype(np.float64) - x).reshape(len(x), -1)
    return {"fooled": plain(np.mean(pred != y)), "mean_l2": plain(np.linalg.norm(delta, axis=1).mean()),
            "mean_linf": plain(np.abs(delta).max(axis=1).mean()), "n": len(x)}
