"""The experiment drivers of the linear classifiers, one per table or figure of Tsipras et al. 2019.

Table 4 (:func:`linear_table`), Fig. 7 (:func:`accuracy_vs_eps_train`),
Figs. 1 and 6 (:func:`accuracy_vs_train_size`), Fig. 2c
(:func:`accuracy_top_k`) and the large-eps examples of Figs. 3-4
(:func:`large_eps_examples`). Robust accuracies are the closed-form (exact)
linf values of :func:`~tfrobust.theory.linear_features.maths.exact_robust_accuracy`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from tfrobust.attacks import pgd
from tfrobust.config import check_int
from tfrobust.data import Dataset
from tfrobust.theory.linear_features.maths import (
    accuracy_key,
    check_binary,
    check_eps_list,
    check_non_negative,
    check_positive_ints,
    exact_robust_accuracy,
    feature_correlation,
    linear_binary_weights,
    top_k_features,
)
from tfrobust.theory.linear_features.training import (
    LINEAR_FEATURES_CONFIG,
    check_train_args,
    count_steps,
    fit_linear,
    train_linear_models,
)

__all__ = [
    "accuracy_top_k",
    "accuracy_vs_eps_train",
    "accuracy_vs_train_size",
    "format_linear_table",
    "large_eps_examples",
    "linear_table",
]

_QUICK = LINEAR_FEATURES_CONFIG["quick"]

# --------------------------------------------------------------------------
# Table 4 and Fig. 7


def linear_table(
    train: Dataset,
    test: Dataset,
    *,
    eps_train_list: Sequence[float] = _QUICK["eps_train"],
    eps_test_list: Sequence[float] = _QUICK["eps_test"],
    models: Mapping[float, keras.Model] | None = None,
    progress: Callable[[str], None] | None = None,
    **train_options: Any,
) -> list[dict[str, float]]:
    """Standard and exact linf adversarial accuracy of linear models (Tsipras Table 4 layout).

    Args:
        train: binary training set (also evaluated, Table 4's "Train" columns).
        test: binary test set with the same bounds.
        eps_train_list: training radii (rows); 0 is standard training.
        eps_test_list: evaluation radii (columns), data units.
        models: already trained ``{eps_train: model}`` to evaluate instead of
            training (e.g. from :func:`~tfrobust.theory.linear_features.train_linear_models`); must cover
            ``eps_train_list``.
        progress: optional ``progress(message)``.
        **train_options: passed to :func:`~tfrobust.theory.linear_features.train_linear`.

    Returns:
        One dict per training eps: ``eps_train``, ``standard_train``,
        ``standard_test``, ``adversarial_train@E`` and ``adversarial_test@E``
        for each test eps E, and ``w_l1`` (||w||_1, Table 4's last column).
        Accuracies are fractions in [0, 1].

    Ref: Tsipras et al. 2019, appendix Table 4 (linf, eps 0.2, [0, 1] images).
    """
    x_tr, y_tr = check_binary(train, "train")
    x_te, y_te = check_binary(test, "test")
    if tuple(train.bounds) != tuple(test.bounds):
        raise ValueError(f"train and test bounds differ: {train.bounds} vs {test.bounds}")
    eps_train = check_eps_list("eps_train_list", eps_train_list)
    eps_test = check_eps_list("eps_test_list", eps_test_list)
    if models is None:
        models = train_linear_models(train, eps_train_list=eps_train, progress=progress,
                                     **train_options)
    missing = [e for e in eps_train if e not in models]
    if missing:
        raise ValueError(f"models: no model for eps_train {', '.join(f'{e:g}' for e in missing)}")
    rows = []
    for e in eps_train:
        model = models[e]
        row: dict[str, float] = {
            "eps_train": e,
            "standard_train": exact_robust_accuracy(model, x_tr, y_tr, eps=0.0, bounds=train.bounds),
            "standard_test": exact_robust_accuracy(model, x_te, y_te, eps=0.0, bounds=test.bounds),
        }
        for t in eps_test:
            row[accuracy_key("adversarial_train", t)] = exact_robust_accuracy(
                model, x_tr, y_tr, eps=t, bounds=train.bounds)
            row[accuracy_key("adversarial_test", t)] = exact_robust_accuracy(
                model, x_te, y_te, eps=t, bounds=test.bounds)
        row["w_l1"] = float(np.abs(linear_binary_weights(model)[0]).sum())
        rows.append(row)
    return rows


def format_linear_table(rows: Sequence[Mapping[str, float]]) -> str:
    """Plain-text rendering of :func:`linear_table` rows, accuracies in percent."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    header = "  ".join(f"{c:>22}" if i else f"{c:>9}" for i, c in enumerate(columns))
    lines = [header]
    for row in rows:
        cells = []
        for i, c in enumerate(columns):
            value = float(row[c])
            if c.startswith(("standard", "adversarial")):
                text = f"{100 * value:.2f}%"
            elif c == "w_l1":
                text = f"{value:.2f}"
            else:
                text = f"{value:g}"
            cells.append(f"{text:>22}" if i else f"{text:>9}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def accuracy_vs_eps_train(
    train: Dataset,
    test: Dataset,
    *,
    eps_train_list: Sequence[float] = _QUICK["eps_train"],
    models: Mapping[float, keras.Model] | None = None,
    progress: Callable[[str], None] | None = None,
    **train_options: Any,
) -> list[dict[str, float]]:
    """Standard test accuracy as a function of the training eps (Tsipras Fig. 7).

    Args:
        train, test: binary data sets with the same bounds.
        eps_train_list: linf training radii, data units.
        models: already trained ``{eps_train: model}`` (skips training).
        progress: optional ``progress(message)``.
        **train_options: passed to :func:`~tfrobust.theory.linear_features.train_linear`.

    Returns:
        One dict per eps: ``eps_train``, ``standard_train``, ``standard_test``,
        ``adversarial_test`` (exact linf accuracy at eps = eps_train) and ``w_l1``.

    Ref: Tsipras et al. 2019, Fig. 7 caption ("a consistent decrease in
    accuracy as the strength of the adversary increases").
    """
    eps_train = check_eps_list("eps_train_list", eps_train_list)
    if models is None:
        models = train_linear_models(train, eps_train_list=eps_train, progress=progress,
                                     **train_options)
    table = linear_table(train, test, eps_train_list=eps_train, eps_test_list=eps_train,
                         models=models)
    return [{"eps_train": r["eps_train"], "standard_train": r["standard_train"],
             "standard_test": r["standard_test"],
             "adversarial_test": r[accuracy_key("adversarial_test", r["eps_train"])], "w_l1": r["w_l1"]}
            for r in table]


def accuracy_vs_train_size(
    train: Dataset,
    test: Dataset,
    *,
    sizes: Sequence[int] = _QUICK["sizes"],
    eps_train_list: Sequence[float] = (0.0, 0.2),
    epochs: int = _QUICK["epochs"],
    batch_size: int = _QUICK["batch_size"],
    lr: float = _QUICK["lr"],
    seed: int = 0,
    attack: str = "closed_form",
    pgd_steps: int = 10,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, float]]:
    """Standard test accuracy against the number of training examples, standard vs adversarial.

    The subset of size n is the first n examples of one seeded permutation of
    ``train`` (nested subsets). Every model gets the same number of optimizer
    steps, ``epochs`` passes over the full ``train`` (so small subsets are not
    under-trained), i.e. about ``epochs * len(train) / n`` passes over its subset.

    Args:
        train, test: binary data sets with the same bounds.
        sizes: training-set sizes, each in 1..len(train).
        eps_train_list: linf training radii (0: standard), data units.
        epochs, batch_size, lr, seed, attack, pgd_steps: as
            :func:`~tfrobust.theory.linear_features.train_linear`.
        progress: optional ``progress(message)``.

    Returns:
        One dict per (size, eps): ``n_train``, ``eps_train``, ``standard_train``
        (on the subset), ``standard_test`` and ``adversarial_test`` (exact linf
        accuracy at eps = eps_train).

    Ref: Tsipras et al. 2019, Figs. 1 and 6 captions (adversarial training
    helps with few samples; with enough data standard accuracy drops below
    that of the standard model).
    """
    x_tr, y_tr = check_binary(train, "train")
    x_te, y_te = check_binary(test, "test")
    args = check_train_args(epochs, batch_size, lr, seed, attack, pgd_steps)
    size_list = check_positive_ints("sizes", sizes)
    too_big = [n for n in size_list if n > len(x_tr)]
    if too_big:
        raise ValueError(f"sizes: {too_big} exceed the {len(x_tr)} training examples")
    eps_train = check_eps_list("eps_train_list", eps_train_list)
    steps = count_steps(len(x_tr), args.pop("epochs"), args["batch_size"])
    order = np.random.default_rng(args["seed"]).permutation(len(x_tr))
    rows = []
    for n in size_list:
        idx = order[:n]
        for e in eps_train:
            if progress is not None:
                progress(f"training linear model, n_train={n}, eps_train={e:g}")
            model = fit_linear(x_tr[idx], y_tr[idx], bounds=train.bounds, eps=e, steps=steps, **args)
            rows.append({
                "n_train": n,
                "eps_train": e,
                "standard_train": exact_robust_accuracy(model, x_tr[idx], y_tr[idx], eps=0.0,
                                                        bounds=train.bounds),
                "standard_test": exact_robust_accuracy(model, x_te, y_te, eps=0.0, bounds=test.bounds),
                "adversarial_test": exact_robust_accuracy(model, x_te, y_te, eps=e, bounds=test.bounds),
            })
    return rows


def accuracy_top_k(
    train: Dataset,
    test: Dataset,
    k_list: Sequence[int],
    *,
    eps_test_list: Sequence[float] = _QUICK["eps_test"],
    epochs: int = _QUICK["epochs"],
    batch_size: int = _QUICK["batch_size"],
    lr: float = _QUICK["lr"],
    seed: int = 0,
) -> list[dict[str, float]]:
    """Standard training on only the k most label-correlated pixels (Tsipras Fig. 2c).

    Features are ranked by |:func:`~tfrobust.theory.linear_features.feature_correlation`| on ``train``. The
    model is trained on inputs whose other features are zeroed; it is then a
    linear model on the full input with exactly zero weight outside the k
    features, attacked (exactly, linf) on the full input: the adversary may
    change every pixel, only the k used ones matter.

    Args:
        train, test: binary data sets with the same bounds.
        k_list: numbers of features kept, each in 1..D.
        eps_test_list: linf radii of the adversarial accuracies, data units.
        epochs, batch_size, lr, seed: as :func:`~tfrobust.theory.linear_features.train_linear`
            (standard training).

    Returns:
        One dict per k: ``k``, ``min_abs_corr`` (|correlation| of the k-th
        feature: the threshold), ``standard_train``, ``standard_test`` and
        ``adversarial_test@E`` per test eps E.

    Ref: Tsipras et al. 2019, sec. 2.3 "An alternative path to robustness", Fig. 2c.
    """
    x_tr, y_tr = check_binary(train, "train")
    x_te, y_te = check_binary(test, "test")
    args = check_train_args(epochs, batch_size, lr, seed, "closed_form", 1)
    k_values = check_positive_ints("k_list", k_list)
    eps_test = check_eps_list("eps_test_list", eps_test_list)
    corr = feature_correlation(train)
    ranked = np.sort(np.abs(corr))[::-1]
    steps = count_steps(len(x_tr), args.pop("epochs"), args["batch_size"])
    rows = []
    for k in k_values:
        mask = top_k_features(corr, k)
        model = fit_linear(x_tr, y_tr, bounds=train.bounds, eps=0.0, steps=steps, feature_mask=mask, **args)
        row: dict[str, float] = {
            "k": k,
            "min_abs_corr": float(ranked[k - 1]),
            "standard_train": exact_robust_accuracy(model, x_tr, y_tr, eps=0.0, bounds=train.bounds),
            "standard_test": exact_robust_accuracy(model, x_te, y_te, eps=0.0, bounds=test.bounds),
        }
        for t in eps_test:
            row[accuracy_key("adversarial_test", t)] = exact_robust_accuracy(model, x_te, y_te, eps=t,
                                                                     bounds=test.bounds)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------
# Figs. 3-4: large-eps adversarial examples and interpolations


def large_eps_examples(
    model: Callable[..., Any],
    x: Any,
    y: Any,
    *,
    eps: float,
    bounds: tuple[float, float],
    norm: str = "linf",
    steps: int = _QUICK["large_eps_steps"],
    step_size: float | None = None,
    objective: str = "cw",
    kappa: float = 1e6,
    seed: int = 0,
) -> np.ndarray:
    """Large-eps PGD adversarial examples (Tsipras Figs. 3, 8, 9).

    PGD from the image itself (no random start: "iteratively following the
    loss gradient") inside the eps-ball, clipped to ``bounds``. Works for any
    classifier, not only linear ones. The default objective is the CW
    margin ``max_{j != y} z_j - z_y`` with the cap ``kappa`` set out of
    reach (1e6), so the attack keeps going past the decision boundary
    towards the image of highest loss, as the paper asks. For two-class
    models its PGD steps coincide with the cross-entropy's (both input
    gradients are positive multiples of ``W_other - W_y`` for a linear
    model), but it does not vanish when the float32 softmax of a
    confidently classified image saturates (margins above about 17).

    Args:
        model: classifier returning logits.
        x: (N, ...) float32 images within ``bounds``.
        y: (N,) int labels.
        eps: radius in data units; Tsipras Table 3 (MNIST, [0, 1]): linf 0.3, l2 4.
        bounds: (lo, hi) value range of the data.
        norm: ``"linf"`` or ``"l2"``.
        steps: PGD iterations (the paper gives none; see
            :data:`~tfrobust.theory.linear_features.LINEAR_FEATURES_CONFIG`).
        step_size: data units; default 2.5 eps / steps.
        objective: ``"cw"`` or ``"xent"``.
        kappa: cap of the CW margin (see above; 0 stops at the boundary).
        seed: attack seed (unused without random start; kept for the pgd signature).

    Returns:
        (N, ...) float32 adversarial images.

    Ref: Tsipras et al. 2019, sec. 3.1, A.4, Table 3.
    """
    steps = check_int(steps, name="steps", minimum=1)
    x_adv = pgd(model, x, y, norm=norm, eps=check_non_negative("eps", eps), steps=steps, bounds=bounds,
                step_size=step_size, objective=objective, kappa=kappa, random_start=False,
                seed=seed)
    return np.asarray(x_adv, np.float32)
