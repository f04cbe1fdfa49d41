"""Logit-Jacobian norms and IR target cosine (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from tfrobust.config import check_int
from tfrobust.registry import register
from tfrobust.studies.kinds.common import plain, write_rows

__all__ = ["check_params", "jacobian_kind"]


def check_params(params: Mapping[str, Any]) -> None:
    """What the jacobian kind refuses before loading anything (one line naming ``jacobian.<param>``)."""
    for name, default in (("n", 500), ("batch_size", 256), ("cosine_n", 500)):
        check_int(params.get(name, default), name=f"jacobian.{name}", minimum=1)


@register("kinds", "jacobian")
def jacobian_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    n: int = 500,
    split: Literal["train", "test"] = "test",
    batch_size: int = 256,
    cosine_n: int = 500,
) -> Mapping[str, Any]:
    """Logit-Jacobian norms of the one dependency ``train`` cell's model (Noack et al. 2021 Figs. 3-4).

    ``||J_c(x)||_F`` of the label logit and the mean over the non-label
    logits of ``||J_k(x)||_F`` (:func:`tfrobust.attribution.logit_jacobian_norms`)
    on the first ``n`` images of ``split``. For an ``ir`` train cell
    (``method: ir`` with ``method_options.targets``) also the mean cosine
    between the model's label-logit gradient and its target maps (0 for a
    zero map) on the first ``cosine_n`` training images, the ones the maps
    belong to (the train cell's data config, limit and seed; checked by
    :func:`tfrobust.training.load_targets`), as the
    :class:`~tfrobust.training.callbacks.JacobianNorm` callback logs it.

    Writes ``jacobian.csv`` (``index``, ``label``, ``label_norm``, ``other_norm``; one row per image).

    Returns:
        ``jacobian_label_norm`` and ``jacobian_other_norm`` (means), ``n``;
        for ``ir`` cells ``target_cosine`` and ``cosine_n``.
    """
    check_params({"n": n, "batch_size": batch_size, "cosine_n": cosine_n})

    import numpy as np

    from tfrobust.attribution import logit_jacobian_norms
    from tfrobust.training import load_targets
    from tfrobust.training.callbacks import JacobianNorm
    from tfrobust.training.rundir import dependency_run

    run = dependency_run("jacobian", deps)
    seed = int(run.config.get("seed") or 0)
    ds = run.load_split(split, limit=n, seed=seed)
    model = run.load_model()
    y = np.asarray(ds.y).astype(np.int64)
    norms = logit_jacobian_norms(model, ds.x, y, batch_size=batch_size)
    write_rows([{"index": i, "label": int(c), "label_norm": float(a), "other_norm": float(b)}
                for i, (c, a, b) in enumerate(zip(y, norms["label"], norms["other"]))], out_dir / "jacobian.csv")
    metrics: dict[str, Any] = {"jacobian_label_norm": plain(norms["label"].mean()),
                               "jacobian_other_norm": plain(norms["other"].mean()), "n": len(y)}
    method_options = run.config.get("method_options") or {}
    targets = method_options.get("targets") if run.config.get("method") == "ir" else None
    if targets:
        train_ds = run.load_split("train", seed=seed)  # the trained data's own limit: the maps' images
        maps = load_targets(targets, train_ds)[:cosine_n]
        k = len(maps)
        measured = JacobianNorm(train_ds.x[:k], train_ds.y[:k], batch_size=batch_size, targets=maps).measure(model)
        metrics["target_cosine"] = plain(measured["jacobian_target_cosine"])
        metrics["cosine_n"] = k
    return metrics
