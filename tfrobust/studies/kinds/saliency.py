"""Attribution maps of a train cell's model (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from tfrobust.config import ConfigError, check_int, check_number
from tfrobust.registry import ATTRIBUTIONS, register
from tfrobust.studies.kinds.common import attribution_options, names_param, plain

__all__ = ["check_params", "saliency_kind"]


@register("kinds", "saliency")
def saliency_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    methods: str | list[str] = "smoothgrad",
    options: Mapping[str, Any] | None = None,
    split: Literal["train", "test"] = "train",
    limit: int | None = None,
    threshold: float | None = None,
    threshold_mode: Literal["two_sided", "upper"] = "two_sided",
    permute: float | None = None,
    batch_size: int = 128,
    seed: int = 0,
) -> Mapping[str, Any]:
    """Attribution maps of the one dependency ``train`` cell's model, aligned with its data.

    Params: ``methods`` (a name, a list or ``"a,b"`` of
    :data:`tfrobust.registry.ATTRIBUTIONS`), ``options`` (method -> its
    options, e.g. ``{smoothgrad: {samples: 50, sigma: 0.15, base:
    logit_gradient, clip: true, include_clean: true}}``, Noack et al.'s
    settings and code; checked by each method's signature; options of a
    method the cell does not compute are checked and ignored, so one stage
    can serve cells with and without SmoothGrad), ``split`` (``train``,
    usable as IR targets; or ``test``), ``limit`` (first N examples;
    default the train cell's ``data.limit``, which keeps the maps aligned
    with its training data), ``threshold`` (phi >= 0; None: none),
    ``threshold_mode`` (``two_sided``, the paper's text, or ``upper``, the
    authors' code; see :func:`tfrobust.training.compute_maps`), ``permute``
    (fraction in [0, 1]; None: none), ``batch_size`` (128), ``seed`` (0:
    noise and permutation). The dataset, bounds, classes and data seed are
    those of the train cell (its ``config.yaml``); methods that take
    ``bounds`` get the data's.

    Writes ``<method>.npy`` and ``saliency.json`` into ``out_dir``
    (:func:`tfrobust.training.compute_maps`: atomic, resumable). A later ``ir``
    train cell uses them with ``method_options: {targets: <this stage's name>}``
    (one method) or ``targets: <stage>/<method>.npy`` (see
    :func:`tfrobust.studies.kinds.train.train_kind`).

    Returns:
        ``count`` (examples) and ``mean_abs_<method>`` (mean |map|) per method.
    """
    names, method_options = _plan({"methods": methods, "options": options, "limit": limit, "threshold": threshold,
                                   "permute": permute, "batch_size": batch_size, "seed": seed})

    from tfrobust.training import compute_maps, saliency_index
    from tfrobust.training.rundir import dependency_run

    run = dependency_run("saliency", deps)
    if limit is None:
        limit = run.data.limit
    ds = run.load_split(split, limit=limit, seed=int(run.config.get("seed") or 0))
    model = run.load_model()
    for method in names:
        compute_maps(model, ds, method=method, out_dir=out_dir, batch_size=batch_size,
                     options=method_options.get(method), threshold=threshold, permute=permute, seed=seed,
                     threshold_mode=threshold_mode, progress=False, model_source=str(run.model_file), limit=limit)
    index = saliency_index(out_dir)
    metrics: dict[str, Any] = {"count": len(ds)}
    for method in names:
        metrics[f"mean_abs_{method}"] = plain(index["maps"][method]["mean_abs"])
    return metrics


def _plan(params: Mapping[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    names = names_param("saliency", "methods", params.get("methods", "smoothgrad"), ATTRIBUTIONS.names())
    method_options = attribution_options("saliency.options", params.get("options"))
    check_int(params.get("limit"), name="saliency.limit", minimum=1, allow_none=True)
    if params.get("threshold") is not None:
        check_number(params["threshold"], name="saliency.threshold", minimum=0.0)
    permute = params.get("permute")
    if permute is not None and not 0.0 <= check_number(permute, name="saliency.permute") <= 1.0:
        raise ConfigError(f"saliency.permute must be a fraction in [0, 1], got {permute!r}")
    check_int(params.get("batch_size", 128), name="saliency.batch_size", minimum=1)
    check_int(params.get("seed", 0), name="saliency.seed", minimum=0)
    return names, method_options


def check_params(params: Mapping[str, Any]) -> None:
    """What the saliency kind refuses before loading anything: unknown methods, options a method
    does not take, values out of range (one line naming ``saliency.<param>``)."""
    _plan(params)
