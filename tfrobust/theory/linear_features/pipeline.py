"""The whole linear-features experiment (Tsipras et al. 2019, sec. 2.3 and 3) into a results folder.

:func:`linear_features_experiment` runs the chosen :data:`LINEAR_PARTS`
(CLI ``tfrobust theory linear`` and the study kind ``linear``) and writes
their CSV tables and PNG figures atomically.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tfrobust.data import Dataset
from tfrobust.theory.linear_features.experiments import (
    accuracy_top_k,
    accuracy_vs_eps_train,
    accuracy_vs_train_size,
    large_eps_examples,
    linear_table,
)
from tfrobust.theory.linear_features.maths import (
    accuracy_key,
    check_binary,
    check_eps_list,
    check_positive_ints,
    feature_correlation,
)
from tfrobust.theory.linear_features.plots import (
    plot_accuracy_curves,
    plot_large_eps,
    plot_linear_features,
)
from tfrobust.theory.linear_features.training import (
    LINEAR_FEATURES_CONFIG,
    check_train_args,
    train_linear_models,
)

__all__ = ["LINEAR_PARTS", "linear_features_experiment"]

_QUICK = LINEAR_FEATURES_CONFIG["quick"]

#: The parts of :func:`linear_features_experiment`, in the order they run.
LINEAR_PARTS = ("table", "eps_train", "features", "top_k", "train_size", "large_eps")


def _write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Writes rows as a CSV atomically (temp file in the same directory + ``os.replace``)."""
    import csv

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def linear_features_experiment(
    train: Dataset,
    test: Dataset,
    *,
    out_dir: str | os.PathLike[str],
    eps_train_list: Sequence[float] = _QUICK["eps_train"],
    eps_test_list: Sequence[float] = _QUICK["eps_test"],
    top_k: Sequence[int] = _QUICK["top_k"],
    sizes: Sequence[int] = _QUICK["sizes"],
    epochs: int = _QUICK["epochs"],
    batch_size: int = _QUICK["batch_size"],
    lr: float = _QUICK["lr"],
    attack: str = "closed_form",
    seed: int = 0,
    parts: Sequence[str] = LINEAR_PARTS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Tsipras sec. 2.3 and 3 on linear classifiers: tables, curves and figures into ``out_dir``.

    One model per training eps serves the table, the eps_train curve, the
    weight figure and the large-eps examples. Values of ``top_k`` above the
    number of features D and ``sizes`` above ``len(train)`` are dropped (the
    largest possible value is used when none is left). Every file is written
    atomically.

    Parts and their files:

    - ``table``: ``linear_table.csv`` (Table 4 layout, :func:`~tfrobust.theory.linear_features.linear_table`);
    - ``eps_train``: ``eps_train.csv`` and ``eps_train.png`` (Fig. 7);
    - ``features``: ``features.png`` (Fig. 2a-b: the smallest and largest eps_train);
    - ``top_k``: ``top_k.csv`` and ``top_k.png`` (Fig. 2c);
    - ``train_size``: ``train_size.csv`` and ``train_size.png`` (Figs. 1, 6;
      eps 0 and the largest eps_train);
    - ``large_eps``: ``large_eps.png`` (Figs. 3-4: the first two test images,
      Table 3's linf 0.3 and l2 4 of the quick preset).

    Args:
        train, test: binary data sets (both classes present) with the same bounds.
        out_dir: results directory (created).
        eps_train_list: linf training radii (0: standard), data units.
        eps_test_list: linf evaluation radii.
        top_k: numbers of most label-correlated features kept (Fig. 2c).
        sizes: training-set sizes (Figs. 1, 6).
        epochs, batch_size, lr, attack, seed: as :func:`~tfrobust.theory.linear_features.train_linear`.
        parts: a subset of :data:`LINEAR_PARTS`.
        progress: optional ``progress(message)``.

    Returns:
        ``{"files": [names written], "table": rows, "eps_train": rows,
        "top_k": rows, "train_size": rows, "top_k_used": [...], "sizes_used": [...]}``
        (the row lists of the parts that ran; others absent).

    Raises:
        ValueError: bad arguments, unknown parts, or a split without both classes.

    Ref: Tsipras et al. 2019, sec. 2.3 (Table 4, Fig. 2a-c), sec. 3 (Figs. 3-4, Table 3), Figs. 1, 6, 7.
    """
    chosen = [parts] if isinstance(parts, str) else list(parts)
    unknown = [p for p in chosen if p not in LINEAR_PARTS]
    if unknown or not chosen:
        raise ValueError(f"parts: choose from {', '.join(LINEAR_PARTS)}, got {parts!r}")
    for name, split in (("train", train), ("test", test)):
        check_binary(split, name)
        if len(split) < 2 or len(np.unique(split.y)) < 2:
            raise ValueError(f"{name} split has {len(split)} image(s) of one class: both classes are needed")
    eps_train = check_eps_list("eps_train_list", eps_train_list)
    eps_test = check_eps_list("eps_test_list", eps_test_list)
    n_features = int(np.prod(train.input_shape))
    k_used = [k for k in check_positive_ints("top_k", top_k) if k <= n_features] or [n_features]
    sizes_used = [n for n in check_positive_ints("sizes", sizes) if n <= len(train)] or [len(train)]
    options: dict[str, Any] = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    check_train_args(epochs, batch_size, lr, seed, attack, 1)  # validate before any training
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    summary: dict[str, Any] = {"files": files, "top_k_used": k_used, "sizes_used": sizes_used}
    robust_eps = max(eps_train)
    ends = list(dict.fromkeys((min(eps_train), robust_eps)))

    models: dict[float, keras.Model] = {}
    if {"table", "eps_train", "features", "large_eps"} & set(chosen):
        models = train_linear_models(train, eps_train_list=eps_train, progress=progress, attack=attack,
                                     **options)
    if "table" in chosen:
        summary["table"] = linear_table(train, test, eps_train_list=eps_train, eps_test_list=eps_test,
                                        models=models)
        files.append(_write_csv(summary["table"], out / "linear_table.csv").name)
    if "eps_train" in chosen:
        curve = accuracy_vs_eps_train(train, test, eps_train_list=eps_train, models=models)
        summary["eps_train"] = curve
        files.append(_write_csv(curve, out / "eps_train.csv").name)
        files.append(plot_accuracy_curves(curve, out / "eps_train.png", x="eps_train",
                                          y=["standard_test", "adversarial_test"], xlabel="eps_train (linf)",
                                          title="Standard accuracy vs training eps (Tsipras Fig. 7)").name)
    if "features" in chosen:
        shown = {f"eps_train={e:g}": models[e] for e in ends}
        files.append(plot_linear_features(shown, feature_correlation(train), out / "features.png").name)
    if "top_k" in chosen:
        if progress is not None:
            progress(f"top-k feature models, k in {k_used}")
        top = accuracy_top_k(train, test, k_used, eps_test_list=eps_test, **options)
        summary["top_k"] = top
        files.append(_write_csv(top, out / "top_k.csv").name)
        files.append(plot_accuracy_curves(top, out / "top_k.png", x="k",
                                          y=["standard_test", *[accuracy_key("adversarial_test", e) for e in eps_test]],
                                          xlabel="k most label-correlated pixels", logx=True,
                                          title="Standard training on the top-k features (Tsipras Fig. 2c)").name)
    if "train_size" in chosen:
        rows = accuracy_vs_train_size(train, test, sizes=sizes_used, eps_train_list=list(dict.fromkeys((0.0, robust_eps))),
                                      attack=attack, progress=progress, **options)
        summary["train_size"] = rows
        files.append(_write_csv(rows, out / "train_size.csv").name)
        files.append(plot_accuracy_curves(rows, out / "train_size.png", x="n_train", y=["standard_test"],
                                          group="eps_train", xlabel="training examples", logx=True,
                                          title="Standard accuracy vs training-set size (Tsipras Figs. 1, 6)").name)
    if "large_eps" in chosen:
        preset = LINEAR_FEATURES_CONFIG["quick"]
        x, y = test.x[:2], test.y[:2]
        strips = {}
        for e in ends:
            for norm, eps in preset["large_eps"].items():
                x_adv = large_eps_examples(models[e], x, y, eps=eps, norm=norm, bounds=test.bounds,
                                           steps=preset["large_eps_steps"], seed=seed)
                strips[f"eps_train={e:g}\n{norm} {eps:g}"] = (x, x_adv)
        files.append(plot_large_eps(strips, out / "large_eps.png", bounds=test.bounds).name)
    return summary
