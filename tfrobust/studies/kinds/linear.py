"""Tsipras et al. 2019 sec. 2.3 linear classifiers (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfrobust.config import ConfigError
from tfrobust.registry import register
from tfrobust.studies.kinds.common import (
    check_known,
    choice_param,
    int_param,
    integers_param,
    names_param,
    numbers_param,
    plain,
    real_param,
)

__all__ = ["linear_kind"]



LINEAR_PARAMS = ("dataset", "classes", "limit", "data_dir", "eps_train", "eps_test", "top_k", "sizes", "epochs",
                 "batch_size", "lr", "attack", "seed", "parts")


@register("kinds", "linear")
def linear_kind(params: dict[str, Any], deps: dict[str, Path], out_dir: Path) -> Mapping[str, Any]:
    """Tsipras et al. 2019 sec. 2.3 / 3 on linear classifiers of a binary digit task (no dependencies).

    Params (defaults: ``LINEAR_FEATURES_CONFIG["quick"]``): ``dataset``
    (fashion_mnist), ``classes`` ([5, 7]), ``limit`` (2000 images per split;
    None: all), ``data_dir``, ``eps_train`` ([0, 0.05, 0.1, 0.2]; linf, data
    units [0, 1]), ``eps_test`` ([0.05, 0.1, 0.2]), ``top_k`` ([5, ..., 784]),
    ``sizes`` ([50, ..., 2000]), ``epochs`` (20), ``batch_size`` (64), ``lr``
    (1e-2), ``attack`` (``closed_form`` | ``pgd``), ``seed`` (0), ``parts``
    (a subset of table, eps_train, features, top_k, train_size, large_eps;
    default all).

    Writes the files of :func:`tfrobust.theory.linear_features_experiment`
    for the chosen parts (``linear_table.csv``, ``eps_train.csv/png``,
    ``features.png``, ``top_k.csv/png``, ``train_size.csv/png``, ``large_eps.png``).

    Returns:
        With ``table``: per training eps E ``standard_train_<E>``,
        ``standard_test_<E>``, ``adversarial_test_<E>@<T>`` per test eps T and
        ``l1_weight_<E>`` (||w||_1); with ``top_k``: ``standard_test_top<k>``
        per k used; with ``train_size``: ``standard_test_n<n>_<E>``; and
        ``train_examples``, ``test_examples``.
    """
    check_known("linear", params, LINEAR_PARAMS)
    from tfrobust.theory.linear_features import LINEAR_FEATURES_CONFIG, LINEAR_PARTS

    quick = LINEAR_FEATURES_CONFIG["quick"]
    dataset = choice_param("linear", params, "dataset", quick["dataset"], ("fashion_mnist", "mnist", "cifar10"))
    classes = params.get("classes", list(quick["classes"]))
    if (not isinstance(classes, (list, tuple)) or len(classes) != 2 or classes[0] == classes[1]
            or any(isinstance(c, bool) or not isinstance(c, int) for c in classes)):
        raise ConfigError(f"linear.classes: two different labels [a, b], got {classes!r}")
    limit = None if "limit" in params and params["limit"] is None else int_param("linear", params, "limit",
                                                                              quick["limit"], 1)
    eps_train = numbers_param("linear", params, "eps_train", list(quick["eps_train"]))
    eps_test = numbers_param("linear", params, "eps_test", list(quick["eps_test"]))
    top_k = integers_param("linear", params, "top_k", list(quick["top_k"]))
    sizes = integers_param("linear", params, "sizes", list(quick["sizes"]))
    epochs = int(int_param("linear", params, "epochs", quick["epochs"], 1) or 1)
    batch_size = int(int_param("linear", params, "batch_size", quick["batch_size"], 1) or 1)
    lr = real_param("linear", params, "lr", quick["lr"])
    if lr is None or lr <= 0:
        raise ConfigError(f"linear.lr must be > 0, got {params.get('lr')!r}")
    attack = choice_param("linear", params, "attack", "closed_form", ("closed_form", "pgd"))
    seed = int(int_param("linear", params, "seed", 0, 0) or 0)
    parts = names_param("linear", "parts", params.get("parts", list(LINEAR_PARTS)), LINEAR_PARTS)

    from tfrobust.data import load_dataset
    from tfrobust.theory import linear_features_experiment

    load: dict[str, Any] = {"data_dir": params.get("data_dir"), "classes": tuple(classes), "limit": limit,
                            "bounds": (0.0, 1.0)}
    train = load_dataset(dataset, "train", **load)
    test = load_dataset(dataset, "test", **load)
    summary = linear_features_experiment(
        train, test, out_dir=out_dir, eps_train_list=eps_train, eps_test_list=eps_test, top_k=top_k, sizes=sizes,
        epochs=epochs, batch_size=batch_size, lr=lr, attack=attack, seed=seed, parts=parts)
    metrics: dict[str, Any] = {"train_examples": len(train), "test_examples": len(test)}
    for row in summary.get("table", []):
        e = f"{float(row['eps_train']):g}"
        metrics[f"standard_train_{e}"] = plain(row["standard_train"])
        metrics[f"standard_test_{e}"] = plain(row["standard_test"])
        for key, value in row.items():
            if key.startswith("adversarial_test@"):
                metrics[f"adversarial_test_{e}@{key.partition('@')[2]}"] = plain(value)
        metrics[f"l1_weight_{e}"] = plain(row["w_l1"])
    for row in summary.get("top_k", []):
        metrics[f"standard_test_top{int(row['k'])}"] = plain(row["standard_test"])
    for row in summary.get("train_size", []):
        metrics[f"standard_test_n{int(row['n_train'])}_{float(row['eps_train']):g}"] = plain(row["standard_test"])
    return metrics
