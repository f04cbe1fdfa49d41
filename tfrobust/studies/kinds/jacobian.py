"""Logit-Jacobian norms and IR target cosine (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    check_known,
    first_images,
    int_param,
    load_split,
    plain,
    run_config,
    run_data,
    split_param,
    write_rows,
)

__all__ = ["jacobian_kind"]



JACOBIAN_PARAMS = ("n", "split", "batch_size", "cosine_n")


@register("kinds", "jacobian")
def jacobian_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Logit-Jacobian norms of the one dependency ``train`` cell's model (Noack et al. 2021 Figs. 3-4).

    ``||J_c(x)||_F`` of the label logit and the mean over the non-label
    logits of ``||J_k(x)||_F`` (:func:`tfrobust.attribution.logit_jacobian_norms`)
    on the first ``n`` images. For an ``ir`` train cell (``method: ir`` with
    ``method_options.targets``) also the mean cosine between the model's
    label-logit gradient and its target maps (0 for a zero map) on the first
    ``cosine_n`` training images, the ones the maps belong to (the train
    cell's data config, limit and seed; checked by
    :func:`tfrobust.training.load_targets`), as the
    :class:`~tfrobust.training.callbacks.JacobianNorm` callback logs it.

    Params: ``n`` (500), ``split`` (test), ``batch_size`` (256), ``cosine_n`` (500).

    Writes ``jacobian.csv`` (``index``, ``label``, ``label_norm``, ``other_norm``; one row per image).

    Returns:
        ``jacobian_label_norm`` and ``jacobian_other_norm`` (means), ``n``;
        for ``ir`` cells ``target_cosine`` and ``cosine_n``.
    """
    check_known("jacobian", params, JACOBIAN_PARAMS)
    n = int(int_param("jacobian", params, "n", 500, 1) or 500)
    split = split_param("jacobian", params)
    batch_size = int(int_param("jacobian", params, "batch_size", 256, 1) or 256)
    cosine_n = int(int_param("jacobian", params, "cosine_n", 500, 1) or 500)

    import numpy as np

    from tfrobust.attribution import logit_jacobian_norms
    from tfrobust.training import load_targets
    from tfrobust.training.callbacks import JacobianNorm

    model, ds, run = first_images("jacobian", deps, split, n)
    y = np.asarray(ds.y).astype(np.int64)
    norms = logit_jacobian_norms(model, ds.x, y, batch_size=batch_size)
    write_rows([{"index": i, "label": int(c), "label_norm": float(a), "other_norm": float(b)}
                 for i, (c, a, b) in enumerate(zip(y, norms["label"], norms["other"]))], out_dir / "jacobian.csv")
    metrics: dict[str, Any] = {"jacobian_label_norm": plain(norms["label"].mean()),
                               "jacobian_other_norm": plain(norms["other"].mean()), "n": len(y)}
    trained = run_config(run)
    targets = (trained.get("method_options") or {}).get("targets") if trained.get("method") == "ir" else None
    if targets:
        data = run_data(trained)
        train_ds = load_split(data, "train", limit=data.limit, seed=int(trained.get("seed") or 0))
        maps = load_targets(targets, train_ds)[:cosine_n]
        k = len(maps)
        measured = JacobianNorm(train_ds.x[:k], train_ds.y[:k], batch_size=batch_size, targets=maps).measure(model)
        metrics["target_cosine"] = plain(measured["jacobian_target_cosine"])
        metrics["cosine_n"] = k
    return metrics
