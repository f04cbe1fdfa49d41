"""Attribution maps of a train cell's model (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError, parse_number
from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    check_known,
    int_param,
    load_split,
    model_run,
    names_param,
    plain,
    real_param,
    run_config,
    run_data,
)

__all__ = ["saliency_kind"]



#: Noack et al. 2021 sec. 4.1 SmoothGrad settings (sigma absolute, in data units).
SMOOTHGRAD_OPTIONS: dict[str, Any] = {"samples": 50, "sigma": 0.15, "base": "logit_gradient"}
SALIENCY_PARAMS = ("methods", "split", "limit", "threshold", "permute", "samples", "sigma", "base",
                   "batch_size", "seed", "clip", "include_clean", "threshold_mode")


@register("kinds", "saliency")
def saliency_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Attribution maps of the one dependency ``train`` cell's model, aligned with its data.

    Params: ``methods`` (a name, a list or ``"a,b"`` of
    :data:`tfrobust.attribution.ATTRIBUTIONS`; default ``smoothgrad``),
    ``split`` (``train``, usable as IR targets; or ``test``), ``limit`` (first
    N examples; default the train cell's ``data.limit``, which keeps the maps
    aligned with its training data), ``threshold`` (phi >= 0; None: none),
    ``permute`` (fraction in [0, 1]; None: none), ``samples``, ``sigma``,
    ``base`` (smoothgrad only; Noack sec. 4.1 defaults 50, 0.15, logit_gradient; None:
    the default; ``sigma`` is ignored without smoothgrad, so one stage can serve both),
    ``batch_size`` (128), ``seed`` (0: noise and permutation), ``clip`` and
    ``include_clean`` (smoothgrad only, default false: clip the noisy copies to
    the data's bounds / average the clean input's map in, as Noack et al.'s
    code does), ``threshold_mode`` (``two_sided``, the paper's text, or
    ``upper``, the authors' code; see :func:`tfrobust.training.compute_maps`).
    The dataset, bounds, classes and data seed are those of the train cell (its
    ``config.yaml``).

    Writes ``<method>.npy`` and ``saliency.json`` into ``out_dir``
    (:func:`tfrobust.training.compute_maps`: atomic, resumable). A later ``ir``
    train cell uses them with ``method_options: {targets: <this stage's name>}``
    (one method) or ``targets: <stage>/<method>.npy`` (see :func:`train_kind`).

    Returns:
        ``count`` (examples) and ``mean_abs_<method>`` (mean |map|) per method.
    """
    from tfrobust.attribution import ATTRIBUTIONS

    check_known("saliency", params, SALIENCY_PARAMS)
    methods = names_param("saliency", "methods", params.get("methods", "smoothgrad"), list(ATTRIBUTIONS))
    split = params.get("split", "train")
    if split not in ("train", "test"):
        raise ConfigError(f"saliency.split: train or test, got {split!r}")
    phi = real_param("saliency", params, "threshold", None)
    fraction = real_param("saliency", params, "permute", None)
    # None means "the default"; it lets one stage list methods with and without SmoothGrad options.
    smooth: dict[str, Any] = {k: params[k] for k in ("samples", "sigma", "base") if params.get(k) is not None}
    if "smoothgrad" not in methods and any(params.get(k) is not None for k in ("samples", "base")):
        raise ConfigError("saliency: samples and base apply to the smoothgrad method only")
    if "smoothgrad" not in methods:
        smooth = {}  # sigma alone may stay in a stage shared by simple-gradient cells
    if "sigma" in smooth:
        smooth["sigma"] = parse_number(smooth["sigma"], name="saliency.sigma")
    # Noack et al.'s code: noisy copies clipped to the data bounds, the clean input averaged in
    # (smoothgrad only; like sigma, ignored by other methods so one stage can serve both).
    for flag in ("clip", "include_clean"):
        if not isinstance(params.get(flag, False), bool):
            raise ConfigError(f"saliency.{flag} must be true or false, got {params[flag]!r}")
    if params.get("include_clean") and "smoothgrad" in methods:
        smooth["include_clean"] = True
    threshold_mode = params.get("threshold_mode", "two_sided")
    if threshold_mode not in ("two_sided", "upper"):
        raise ConfigError(f"saliency.threshold_mode: two_sided or upper, got {threshold_mode!r}")
    batch_size = int(int_param("saliency", params, "batch_size", 128, 1) or 128)
    seed = int(int_param("saliency", params, "seed", 0, 0) or 0)

    from tfrobust.training import compute_maps, load_model, saliency_index

    run = model_run("saliency", deps)
    trained = run_config(run)
    data = run_data(trained)
    limit = int_param("saliency", params, "limit", data.limit, 1)
    ds = load_split(data, split, limit=limit, seed=int(trained.get("seed") or 0))
    model = load_model(run / "model.keras")
    if params.get("clip") and "smoothgrad" in methods:
        smooth["bounds"] = [float(b) for b in ds.bounds]
    for method in methods:
        compute_maps(model, ds, method=method, out_dir=out_dir, batch_size=batch_size,
                     options={**SMOOTHGRAD_OPTIONS, **smooth} if method == "smoothgrad" else None,
                     threshold=phi, permute=fraction, seed=seed, threshold_mode=threshold_mode, progress=False,
                     model_source=str(run / "model.keras"), limit=limit)
    index = saliency_index(out_dir)
    metrics: dict[str, Any] = {"count": len(ds)}
    for method in methods:
        metrics[f"mean_abs_{method}"] = plain(index["maps"][method]["mean_abs"])
    return metrics
