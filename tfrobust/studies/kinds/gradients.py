"""Attribution maps of the first test images (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from tfrobust.config import ConfigError, check_int
from tfrobust.registry import ATTRIBUTIONS, register
from tfrobust.studies.kinds.common import attribution_options, names_param, plain, predict, save_npz

__all__ = ["check_params", "gradients_kind"]


def _plan(params: Mapping[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """(the methods, per method the options it runs with: ``options[method]`` plus ``seed`` where it takes one)."""
    names = names_param("gradients", "methods", params.get("methods", "gradient"), ATTRIBUTIONS.names())
    check_int(params.get("n", 8), name="gradients.n", minimum=1)
    seed = check_int(params.get("seed", 0), name="gradients.seed", minimum=0)
    given = attribution_options("gradients.options", params.get("options"))
    stray = [name for name in given if name not in names]
    if stray:
        raise ConfigError(f"gradients.options: {', '.join(stray)} not in methods ({', '.join(names)})")
    per_method = {name: dict(given.get(name, {})) for name in names}
    for name, opts in per_method.items():
        if ATTRIBUTIONS[name].accepts("seed"):
            opts.setdefault("seed", seed)
    return names, per_method


def check_params(params: Mapping[str, Any]) -> None:
    """What the gradients kind refuses before loading anything: unknown methods, options a method does
    not take, values out of range (one line naming ``gradients.<param>``)."""
    _plan(params)


@register("kinds", "gradients")
def gradients_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    methods: list[str] | str = "gradient",
    options: Mapping[str, Any] | None = None,
    n: int = 8,
    split: Literal["train", "test"] = "test",
    seed: int = 0,
) -> Mapping[str, Any]:
    """Attribution maps of the one dependency ``train`` cell's model on its first images.

    Params: ``methods`` (names of :data:`tfrobust.registry.ATTRIBUTIONS`, a
    list or ``"a,b"``), ``options`` (per method its options, e.g.
    ``{smoothgrad: {samples: 10, sigma: 0.1}}``; a method without an entry
    runs with its defaults, SmoothGrad: Noack sec. 4.1, 50 samples, sigma
    0.15, logit gradient), ``n`` (images), ``split``, ``seed`` (the seed of
    methods that take one, ``random`` and ``smoothgrad``, unless their options
    give it). Methods are run through :func:`tfrobust.attribution.attribute`
    with the data's bounds. The data are the first ``n`` images of the train
    cell's dataset, bounds and classes (Kim Fig. 6, Tsipras Fig. 2).

    Writes ``images.npz``: ``x`` (n, H, W, C) float32, ``y`` (n,) int,
    ``pred`` (n,) int (the clean prediction), ``bounds`` (2,) float32 and one
    (n, H, W, C) float32 array per method, named by the method.

    Returns:
        ``mean_abs_<method>`` (mean |map|) per method and ``n``.
    """
    names, per_method = _plan({"methods": methods, "options": options, "n": n, "seed": seed})

    import numpy as np

    from tfrobust.attribution import attribute
    from tfrobust.training.rundir import dependency_run

    run = dependency_run("gradients", deps)
    ds = run.load_split(split, limit=n, seed=int(run.config.get("seed") or 0))
    model = run.load_model()
    x = np.asarray(ds.x, np.float32)
    y = np.asarray(ds.y).astype(np.int64)
    bounds = (float(ds.bounds[0]), float(ds.bounds[1]))
    arrays: dict[str, Any] = {"x": x, "y": y, "pred": predict(model, x), "bounds": np.asarray(bounds, np.float32),
                              "class_names": np.asarray(ds.class_names, dtype=str)}
    metrics: dict[str, Any] = {"n": len(x)}
    for name in names:
        maps = np.asarray(attribute(name, model, x, y, bounds=bounds, **per_method[name]), np.float32)
        arrays[name] = maps
        metrics[f"mean_abs_{name}"] = plain(np.abs(maps).mean())
    save_npz(out_dir / "images.npz", **arrays)
    return metrics
