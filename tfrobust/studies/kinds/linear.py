"""Tsipras et al. 2019 sec. 2.3 linear classifiers (a study stage kind)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from tfrobust.config import ConfigError, check_int
from tfrobust.registry import register
from tfrobust.studies.kinds.common import names_param, plain

__all__ = ["LINEAR_KIND_PARTS", "check_params", "linear_kind"]

#: The ``parts`` the kind can run: :data:`tfrobust.theory.linear_features.LINEAR_PARTS` (a test keeps them
#: equal), here so that checking params imports no TensorFlow.
LINEAR_KIND_PARTS = ("table", "eps_train", "features", "top_k", "train_size", "large_eps")


def check_params(params: Mapping[str, Any]) -> None:
    """What the linear kind refuses before loading anything (one line naming ``linear.<param>``)."""
    classes = params.get("classes", (5, 7))
    if classes[0] == classes[1]:
        raise ConfigError(f"linear.classes: two different labels [a, b], got {list(classes)!r}")
    check_int(params.get("limit"), name="linear.limit", minimum=1, allow_none=True)
    for name, minimum in (("eps_train", 0), ("eps_test", 0), ("top_k", 1), ("sizes", 1)):
        values = params.get(name)
        if values is not None and (not values or any(v < minimum for v in values)):
            raise ConfigError(f"linear.{name}: give one or more values >= {minimum}, got {list(values)!r}")
    for name in ("epochs", "batch_size"):
        check_int(params.get(name, 1), name=f"linear.{name}", minimum=1)
    lr = params.get("lr", 1e-2)
    if lr <= 0:
        raise ConfigError(f"linear.lr must be > 0, got {lr!r}")
    check_int(params.get("seed", 0), name="linear.seed", minimum=0)
    names_param("linear", "parts", params.get("parts", LINEAR_KIND_PARTS), LINEAR_KIND_PARTS)


@register("kinds", "linear")
def linear_kind(
    deps: Mapping[str, Path],
    out_dir: Path,
    *,
    dataset: Literal["fashion_mnist", "mnist", "cifar10"] = "fashion_mnist",
    classes: tuple[int, int] = (5, 7),
    limit: int | None = 2000,
    data_dir: str | None = None,
    eps_train: Sequence[float] = (0.0, 0.05, 0.1, 0.2),
    eps_test: Sequence[float] = (0.05, 0.1, 0.2),
    top_k: Sequence[int] = (5, 10, 25, 50, 100, 200, 400, 784),
    sizes: Sequence[int] = (50, 100, 200, 500, 1000, 2000),
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 1e-2,
    attack: Literal["closed_form", "pgd"] = "closed_form",
    seed: int = 0,
    parts: Sequence[str] | str = ("table", "eps_train", "features", "top_k", "train_size", "large_eps"),
) -> Mapping[str, Any]:
    """Tsipras et al. 2019 sec. 2.3 / 3 on linear classifiers of a binary digit task (no dependencies).

    The defaults are ``LINEAR_FEATURES_CONFIG["quick"]``
    (:mod:`tfrobust.theory.linear_features`). Params: ``dataset``,
    ``classes`` (two different labels), ``limit`` (images per split; None:
    all), ``data_dir``, ``eps_train`` and ``eps_test`` (linf, data units
    [0, 1]), ``top_k``, ``sizes`` (training-set sizes), ``epochs``,
    ``batch_size``, ``lr``, ``attack`` (how adversarial training finds its
    examples), ``seed``, ``parts`` (a subset of :data:`LINEAR_KIND_PARTS`, a
    list or ``"a,b"``; default all).

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
    check_params({"classes": classes, "limit": limit, "eps_train": eps_train, "eps_test": eps_test, "top_k": top_k,
                  "sizes": sizes, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                  "parts": parts})
    chosen = names_param("linear", "parts", parts, LINEAR_KIND_PARTS)

    from tfrobust.data import load_dataset
    from tfrobust.theory import linear_features_experiment

    load: dict[str, Any] = {"data_dir": data_dir, "classes": tuple(classes), "limit": limit, "bounds": (0.0, 1.0)}
    train = load_dataset(dataset, "train", **load)
    test = load_dataset(dataset, "test", **load)
    summary = linear_features_experiment(
        train, test, out_dir=out_dir, eps_train_list=list(eps_train), eps_test_list=list(eps_test),
        top_k=list(top_k), sizes=list(sizes), epochs=epochs, batch_size=batch_size, lr=lr, attack=attack,
        seed=seed, parts=chosen)
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
