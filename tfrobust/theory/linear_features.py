"""Robust and non-robust features of linear classifiers on a binary digit task.

Ref: Tsipras et al. 2019, sec. 2.3 (Fig. 2a-c, appendix Table 4), sec. 3.1-3.2
(large-eps adversarial examples and interpolations, Figs. 3-4, Table 3) and the
captions of Figs. 1, 6 and 7 (standard accuracy against eps_train and against
the number of training examples).

The task: two classes of a 28 x 28 digit data set, relabelled 0 / 1
(``load_dataset(name, classes=(a, b))``), images in [0, 1], eps in those data
units. Tsipras uses MNIST 5 vs 7 (labels -1 / +1). Where MNIST's files are not
at hand the default is Fashion-MNIST 5 vs 7, *sandal vs sneaker*: the same
class indices, two kinds of shoe whose silhouettes overlap, so that no handful
of pixels separates them and a linear classifier (about 95% test accuracy on
2,000 images) must combine many weakly correlated pixels -- the setting in
which the robust / non-robust distinction shows.

Model: the registry's ``linear`` architecture with two logits. Softmax
cross-entropy on (z_0, z_1) is the logistic loss of the paper's single linear
function ``f(x) = w.x + b`` with ``w = W[:, 1] - W[:, 0]`` and ``b = b_1 - b_0``
(:func:`linear_binary_weights`). Weights start at zero: the loss is convex,
so the optimum does not depend on the start, and a pixel that never varies
(the always-black border) keeps exactly zero weight instead of random
initial values that Fig. 2a would show as learned.

Adversarial training (:func:`train_linear`) uses by default the closed-form
linf worst case of a linear model: with ``s = 2y - 1`` the margin
``s (w.x' + b)`` is minimised over the box ``|x' - x|_inf <= eps``,
``lo <= x' <= hi`` coordinate by coordinate, at
``x' = clip(x - eps s sign(w), lo, hi)`` (:func:`linf_worst_case`). The
cross-entropy decreases in the margin, so this point is also the exact
maximiser of the loss; by Danskin's theorem the weight gradient at that
point is the gradient of the robust loss. ``attack="pgd"`` trains with
tfrobust's PGD instead (Tsipras A.3: random start); the tests check that
both agree. Robust accuracies in the tables are the closed-form (exact)
values, which PGD reaches on a linear model.

Values are collected in :data:`LINEAR_FEATURES_CONFIG`: the ``paper`` preset
is Tsipras's; ``quick`` is what the CLI runs by default on 2 CPU cores.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.attacks import pgd
from tfrobust.attacks.pgd import PGD
from tfrobust.config import OptimizerConfig
from tfrobust.data import Dataset
from tfrobust.models import linear
from tfrobust.training import AdversarialModel, RobustModel, build_optimizer

__all__ = [
    "LINEAR_FEATURES_CONFIG",
    "ATTACKS",
    "linear_binary_weights",
    "linf_worst_case",
    "exact_robust_accuracy",
    "train_linear",
    "train_linear_models",
    "linear_table",
    "format_linear_table",
    "feature_correlation",
    "top_k_features",
    "accuracy_top_k",
    "accuracy_vs_eps_train",
    "accuracy_vs_train_size",
    "large_eps_examples",
    "interpolate",
    "plot_linear_features",
    "plot_accuracy_curves",
    "plot_large_eps",
    "LINEAR_PARTS",
    "linear_features_experiment",
]

#: Hyper-parameters, in data units of images scaled to [0, 1].
#:
#: ``paper`` (Tsipras et al. 2019):
#:   - data: MNIST 5 vs 7, all training images (A.1); bounds [0, 1] (Table 4 caption);
#:   - training: cross-entropy, 100 epochs of gradient descent (A.2);
#:   - eps_train / eps_test: linf 0.2 (Table 2 "Binary MNIST", Table 4);
#:   - large_eps: Table 3, MNIST column: linf 0.3, l2 4 (the paper gives no step
#:     count; we use 100 steps of 2.5 eps / steps).
#:
#: ``quick`` (this module's CLI default, a few minutes on 2 CPU cores):
#:   2,000 images per split, 20 epochs of Adam 1e-2 in batches of 64, and a small
#:   eps grid around the paper's 0.2. The top-k grid and the training-set
#:   sizes are Fig. 2c / Figs. 1 and 6 style sweeps; the paper prints no grid.
LINEAR_FEATURES_CONFIG: dict[str, dict[str, Any]] = {
    "paper": {
        "dataset": "mnist",
        "classes": (5, 7),
        "bounds": (0.0, 1.0),
        "limit": None,
        "epochs": 100,
        "batch_size": 64,
        "lr": 1e-2,
        "eps_train": (0.0, 0.2),
        "eps_test": (0.2,),
        "eps_curve": (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
        "top_k": (10, 25, 50, 100, 200, 300, 400, 500, 784),
        "sizes": (100, 300, 1000, 3000, 10000),
        "large_eps": {"linf": 0.3, "l2": 4.0},
        "large_eps_steps": 100,
    },
    "quick": {
        "dataset": "fashion_mnist",
        "classes": (5, 7),
        "bounds": (0.0, 1.0),
        "limit": 2000,
        "epochs": 20,
        "batch_size": 64,
        "lr": 1e-2,
        "eps_train": (0.0, 0.05, 0.1, 0.2),
        "eps_test": (0.05, 0.1, 0.2),
        "top_k": (5, 10, 25, 50, 100, 200, 400, 784),
        "sizes": (50, 100, 200, 500, 1000, 2000),
        "large_eps": {"linf": 0.3, "l2": 4.0},
        "large_eps_steps": 50,
    },
}

#: How :func:`train_linear` computes the adversarial training examples.
ATTACKS = ("closed_form", "pgd")

_QUICK = LINEAR_FEATURES_CONFIG["quick"]
_PREDICT_BATCH = 4096


# --------------------------------------------------------------------------
# validation


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


#: The largest float32: radii and learning rates enter float32 tensors, larger values overflow.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    out = float(value)
    if not math.isfinite(out) or out < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if out > _FLOAT32_MAX:
        raise ValueError(f"{name}: {out:g} overflows float32 (at most {_FLOAT32_MAX:.4g})")
    return out


def _eps_list(name: str, values: Sequence[float]) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}")
    out = tuple(_non_negative(name, v) for v in values)
    if not out:
        raise ValueError(f"{name} must hold at least one value")
    return tuple(dict.fromkeys(out))  # unique, in the order given


def _binary(data: Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, Dataset):
        raise ValueError(f"{name} must be a tfrobust.data.Dataset, got {type(data).__name__}")
    if data.num_classes != 2:
        raise ValueError(
            f"{name}: a binary task is needed (e.g. load_dataset(..., classes=(5, 7))), "
            f"got {data.num_classes} classes"
        )
    if len(data) == 0:
        raise ValueError(f"{name} is empty")
    lo, hi = data.bounds
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name}: finite bounds are needed for the linf box, got {data.bounds}")
    return np.asarray(data.x, np.float32), np.asarray(data.y, np.int32)


def _key(prefix: str, eps: float) -> str:
    """Column name of an accuracy at ``eps``, e.g. ``adversarial_test@0.2``."""
    return f"{prefix}@{eps:g}"


# --------------------------------------------------------------------------
# the linear model and its exact linf worst case


def _dense(model: keras.Model) -> keras.layers.Dense:
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if len(layers) != 1 or int(layers[0].units) != 2:
        raise ValueError(
            "model must be a two-logit linear classifier (one Dense(2) layer, e.g. "
            "tfrobust.models.linear(input_shape, 2))"
        )
    return layers[0]


def linear_binary_weights(model: keras.Model) -> tuple[np.ndarray, float]:
    """The paper's (w, b) of a two-logit linear model.

    Args:
        model: a ``linear`` model with two logits (as :func:`train_linear` returns).

    Returns:
        ``w``: (D,) float64 with ``w = W[:, 1] - W[:, 0]`` (D = number of input
        features, in flattening order), ``b = b_1 - b_0``; ``w.x + b > 0``
        predicts label 1.

    Raises:
        ValueError: the model has no single ``Dense(2)`` layer.

    Ref: Tsipras et al. 2019, A.2 (w in R^784, b in R).
    """
    kernel, bias = (np.asarray(v, np.float64) for v in _dense(model).get_weights())
    return kernel[:, 1] - kernel[:, 0], float(bias[1] - bias[0])


def _worst_case_tf(w: tf.Tensor, x: tf.Tensor, y: tf.Tensor, eps: float, lo: float, hi: float) -> tf.Tensor:
    """clip(x - eps s sign(w), lo, hi) for a flat (D,) ``w`` and (N, ...) ``x``."""
    rank = x.shape.rank
    s = tf.reshape(2.0 * tf.cast(y, x.dtype) - 1.0, [-1] + [1] * (rank - 1))
    direction = tf.reshape(tf.sign(tf.cast(w, x.dtype)), tf.shape(x)[1:])
    return tf.clip_by_value(x - eps * s * direction, lo, hi)


def linf_worst_case(model: keras.Model, x: Any, y: Any, *, eps: float,
                    bounds: tuple[float, float]) -> np.ndarray:
    """The exact linf worst case of a two-logit linear model (no search).

    ``x' = clip(x - eps s sign(w), lo, hi)`` with ``s = 2y - 1`` minimises the
    margin ``s (w.x' + b)`` over the box ``|x' - x|_inf <= eps`` within
    ``bounds``; it therefore maximises any loss that decreases in the margin
    (cross-entropy, CW). Pixels with zero weight are left unchanged.

    Args:
        model: two-logit linear model (see :func:`linear_binary_weights`).
        x: (N, ...) float32 inputs within ``bounds``.
        y: (N,) labels in {0, 1}.
        eps: linf radius in data units (>= 0).
        bounds: (lo, hi) value range of the data.

    Returns:
        (N, ...) float32 worst-case inputs.

    Raises:
        ValueError: bad eps, shapes or model.

    Ref: Tsipras et al. 2019, sec. 2.3 and Table 4 (linf, eps 0.2 on [0, 1]);
    Goodfellow et al. 2015 (FGSM is exact for linear models).
    """
    eps = _non_negative("eps", eps)
    lo, hi = (float(b) for b in bounds)
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.ndim < 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (N, ...) and y (N,), got {x.shape} and {y.shape}")
    w, _ = linear_binary_weights(model)
    if w.size != int(np.prod(x.shape[1:])):
        raise ValueError(f"model has {w.size} input features, x has {int(np.prod(x.shape[1:]))}")
    s = (2.0 * y.astype(np.float32) - 1.0).reshape((-1,) + (1,) * (x.ndim - 1))
    direction = np.sign(w).astype(np.float32).reshape(x.shape[1:])
    return np.clip(x - np.float32(eps) * s * direction, np.float32(lo), np.float32(hi)).astype(np.float32)


def _predict(model: Callable[..., Any], x: np.ndarray) -> np.ndarray:
    preds = []
    for start in range(0, len(x), _PREDICT_BATCH):
        logits = model(tf.convert_to_tensor(x[start:start + _PREDICT_BATCH]), training=False)
        preds.append(np.argmax(np.asarray(logits), axis=-1))
    return np.concatenate(preds) if preds else np.zeros((0,), np.int64)


def exact_robust_accuracy(model: keras.Model, x: Any, y: Any, *, eps: float,
                          bounds: tuple[float, float]) -> float:
    """Accuracy of a two-logit linear model under its exact linf worst case.

    Args:
        model: two-logit linear model.
        x: (N, ...) float32 inputs within ``bounds``.
        y: (N,) labels in {0, 1}.
        eps: linf radius in data units; 0 gives the standard accuracy.
        bounds: (lo, hi) value range of the data.

    Returns:
        Fraction in [0, 1] of examples still classified correctly.
    """
    x_adv = linf_worst_case(model, x, y, eps=eps, bounds=bounds)
    if len(x_adv) == 0:
        raise ValueError("x is empty")
    return float(np.mean(_predict(model, x_adv) == np.asarray(y)))


class _ClosedFormLinfModel(RobustModel):
    """Trains a two-logit linear model on its exact linf worst case (see module docstring)."""

    def __init__(self, base: keras.Model, *, eps: float, bounds: tuple[float, float],
                 **kwargs: Any) -> None:
        kwargs.setdefault("name", "closed_form_linf_model")
        super().__init__(base, **kwargs)
        self.eps = float(eps)
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self._dense = _dense(base)

    def training_inputs(self, x: Any, y: Any) -> Any:
        kernel = self._dense.kernel
        w = kernel[:, 1] - kernel[:, 0]
        return tf.stop_gradient(_worst_case_tf(w, x, y, self.eps, *self.bounds))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(eps=self.eps, bounds=list(self.bounds))
        return config


# --------------------------------------------------------------------------
# training


def _fit(x: np.ndarray, y: np.ndarray, *, bounds: tuple[float, float], eps: float, steps: int,
         batch_size: int, lr: float, seed: int, attack: str, pgd_steps: int,
         feature_mask: np.ndarray | None = None) -> keras.Model:
    """Trains a zero-initialised two-logit linear model for ``steps`` optimizer steps."""
    base = linear(tuple(int(s) for s in x.shape[1:]), 2)
    dense = _dense(base)
    dense.set_weights([np.zeros(w.shape, np.float32) for w in dense.get_weights()])
    if feature_mask is not None:
        x = x * feature_mask.reshape(x.shape[1:]).astype(np.float32)
    batch = min(batch_size, len(x))
    # The batch order comes from numpy, not from tf.data's shuffle, whose effective seed also
    # depends on TensorFlow's global seed (set by whatever ran before): same seed, same result.
    per_epoch = -(-len(x) // batch)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(x)) for _ in range(-(-steps // per_epoch))])
    ds = (tf.data.Dataset.from_tensor_slices(order.astype(np.int64))
          .map(lambda i: (tf.gather(x, i), tf.gather(y, i)))
          .batch(batch).repeat().prefetch(tf.data.AUTOTUNE))
    model: keras.Model
    if eps == 0.0:
        model = RobustModel(base)
    elif attack == "closed_form":
        model = _ClosedFormLinfModel(base, eps=eps, bounds=bounds)
    else:
        model = AdversarialModel(base, attack=PGD(norm="linf", eps=eps, steps=pgd_steps, bounds=bounds),
                                 track_clean=False, seed=seed)
    model.compile(optimizer=build_optimizer(OptimizerConfig(name="adam", learning_rate=lr, schedule="cosine"),
                                            total_steps=steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ds, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)  # ds shuffles
    if feature_mask is not None:  # already exact zeros (zero inputs, zero start); made explicit
        kernel, bias = dense.get_weights()
        kernel[~feature_mask.reshape(-1)] = 0.0
        dense.set_weights([kernel, bias])
    return base


def _train_args(epochs: int, batch_size: int, lr: float, seed: int, attack: str,
                pgd_steps: int) -> dict[str, Any]:
    if attack not in ATTACKS:
        raise ValueError(f"attack must be one of {', '.join(ATTACKS)}, got {attack!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    lr_value = _non_negative("lr", lr)
    if lr_value == 0:
        raise ValueError("lr must be > 0")
    return {"epochs": _positive_int("epochs", epochs),
            "batch_size": _positive_int("batch_size", batch_size), "lr": lr_value,
            "seed": int(seed), "attack": attack, "pgd_steps": _positive_int("pgd_steps", pgd_steps)}


def _steps(n: int, epochs: int, batch_size: int) -> int:
    return epochs * math.ceil(n / min(batch_size, n))


def train_linear(
    train: Dataset,
    *,
    eps: float = 0.0,
    epochs: int = _QUICK["epochs"],
    batch_size: int = _QUICK["batch_size"],
    lr: float = _QUICK["lr"],
    seed: int = 0,
    attack: str = "closed_form",
    pgd_steps: int = 10,
) -> keras.Model:
    """A standard (eps 0) or linf adversarially trained linear classifier.

    Adam on softmax cross-entropy, weights starting at zero, batches shuffled
    with ``seed``; adversarial training replaces every batch by its linf
    worst case (``attack="closed_form"``, exact, see :func:`linf_worst_case`)
    or by a ``pgd_steps``-step PGD attack with random start
    (``attack="pgd"``, step 2.5 eps / steps, Tsipras A.3).

    Args:
        train: binary :class:`~tfrobust.data.Dataset` (labels 0 / 1) with finite bounds.
        eps: linf training radius in data units (0: standard training).
        epochs: passes over ``train`` (paper: 100 epochs of gradient descent, A.2).
        batch_size: examples per step.
        lr: Adam learning rate.
        seed: shuffling (and PGD random-start) seed.
        attack: ``"closed_form"`` or ``"pgd"``.
        pgd_steps: PGD iterations for ``attack="pgd"``.

    Returns:
        The trained ``keras.Model`` (``linear`` architecture, two logits).

    Raises:
        ValueError: bad arguments or a dataset that is not binary.

    Ref: Tsipras et al. 2019, sec. 2.3, A.2-A.3, Table 4.
    """
    x, y = _binary(train, "train")
    args = _train_args(epochs, batch_size, lr, seed, attack, pgd_steps)
    epochs = args.pop("epochs")
    return _fit(x, y, bounds=train.bounds, eps=_non_negative("eps", eps),
                steps=_steps(len(x), epochs, args["batch_size"]), **args)


def train_linear_models(train: Dataset, *, eps_train_list: Sequence[float],
                        progress: Callable[[str], None] | None = None,
                        **train_options: Any) -> dict[float, keras.Model]:
    """One :func:`train_linear` model per training eps.

    Args:
        train: binary training set.
        eps_train_list: linf training radii in data units (0: standard).
        progress: optional ``progress(message)`` called before each model.
        **train_options: ``epochs``, ``batch_size``, ``lr``, ``seed``,
            ``attack``, ``pgd_steps`` of :func:`train_linear`.

    Returns:
        ``{eps_train: model}`` in the order given.
    """
    models: dict[float, keras.Model] = {}
    for eps in _eps_list("eps_train_list", eps_train_list):
        if progress is not None:
            progress(f"training linear model, eps_train={eps:g}")
        models[eps] = train_linear(train, eps=eps, **train_options)
    return models


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
            training (e.g. from :func:`train_linear_models`); must cover
            ``eps_train_list``.
        progress: optional ``progress(message)``.
        **train_options: passed to :func:`train_linear`.

    Returns:
        One dict per training eps: ``eps_train``, ``standard_train``,
        ``standard_test``, ``adversarial_train@E`` and ``adversarial_test@E``
        for each test eps E, and ``w_l1`` (||w||_1, Table 4's last column).
        Accuracies are fractions in [0, 1].

    Ref: Tsipras et al. 2019, appendix Table 4 (linf, eps 0.2, [0, 1] images).
    """
    x_tr, y_tr = _binary(train, "train")
    x_te, y_te = _binary(test, "test")
    if tuple(train.bounds) != tuple(test.bounds):
        raise ValueError(f"train and test bounds differ: {train.bounds} vs {test.bounds}")
    eps_train = _eps_list("eps_train_list", eps_train_list)
    eps_test = _eps_list("eps_test_list", eps_test_list)
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
            row[_key("adversarial_train", t)] = exact_robust_accuracy(
                model, x_tr, y_tr, eps=t, bounds=train.bounds)
            row[_key("adversarial_test", t)] = exact_robust_accuracy(
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
        **train_options: passed to :func:`train_linear`.

    Returns:
        One dict per eps: ``eps_train``, ``standard_train``, ``standard_test``,
        ``adversarial_test`` (exact linf accuracy at eps = eps_train) and ``w_l1``.

    Ref: Tsipras et al. 2019, Fig. 7 caption ("a consistent decrease in
    accuracy as the strength of the adversary increases").
    """
    eps_train = _eps_list("eps_train_list", eps_train_list)
    if models is None:
        models = train_linear_models(train, eps_train_list=eps_train, progress=progress,
                                     **train_options)
    table = linear_table(train, test, eps_train_list=eps_train, eps_test_list=eps_train,
                         models=models)
    return [{"eps_train": r["eps_train"], "standard_train": r["standard_train"],
             "standard_test": r["standard_test"],
             "adversarial_test": r[_key("adversarial_test", r["eps_train"])], "w_l1": r["w_l1"]}
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
        epochs, batch_size, lr, seed, attack, pgd_steps: as :func:`train_linear`.
        progress: optional ``progress(message)``.

    Returns:
        One dict per (size, eps): ``n_train``, ``eps_train``, ``standard_train``
        (on the subset), ``standard_test`` and ``adversarial_test`` (exact linf
        accuracy at eps = eps_train).

    Ref: Tsipras et al. 2019, Figs. 1 and 6 captions (adversarial training
    helps with few samples; with enough data standard accuracy drops below
    that of the standard model).
    """
    x_tr, y_tr = _binary(train, "train")
    x_te, y_te = _binary(test, "test")
    args = _train_args(epochs, batch_size, lr, seed, attack, pgd_steps)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence | np.ndarray) or not len(sizes):
        raise ValueError(f"sizes must be a non-empty sequence of integers, got {sizes!r}")
    size_list = tuple(dict.fromkeys(_positive_int("sizes", n) for n in sizes))
    too_big = [n for n in size_list if n > len(x_tr)]
    if too_big:
        raise ValueError(f"sizes: {too_big} exceed the {len(x_tr)} training examples")
    eps_train = _eps_list("eps_train_list", eps_train_list)
    steps = _steps(len(x_tr), args.pop("epochs"), args["batch_size"])
    order = np.random.default_rng(args["seed"]).permutation(len(x_tr))
    rows = []
    for n in size_list:
        idx = order[:n]
        for e in eps_train:
            if progress is not None:
                progress(f"training linear model, n_train={n}, eps_train={e:g}")
            model = _fit(x_tr[idx], y_tr[idx], bounds=train.bounds, eps=e, steps=steps, **args)
            rows.append({
                "n_train": n,
                "eps_train": e,
                "standard_train": exact_robust_accuracy(model, x_tr[idx], y_tr[idx], eps=0.0,
                                                        bounds=train.bounds),
                "standard_test": exact_robust_accuracy(model, x_te, y_te, eps=0.0, bounds=test.bounds),
                "adversarial_test": exact_robust_accuracy(model, x_te, y_te, eps=e, bounds=test.bounds),
            })
    return rows


# --------------------------------------------------------------------------
# Fig. 2: feature-label correlation, top-k features


def feature_correlation(train: Dataset) -> np.ndarray:
    """Pearson correlation of every input feature with the label in {-1, +1}.

    Args:
        train: binary data set (labels 0 / 1, mapped to -1 / +1).

    Returns:
        (D,) float64 in [-1, 1], features in flattening order; 0 for a feature
        that never varies (e.g. an always-black border pixel) or when only
        one class is present (no division by zero).

    Ref: Tsipras et al. 2019, sec. 2.3, Fig. 2b ("feature-label correlation").
    """
    x, y = _binary(train, "train")
    flat = x.reshape(len(x), -1).astype(np.float64)
    s = 2.0 * y.astype(np.float64) - 1.0
    xc = flat - flat.mean(axis=0)
    sc = s - s.mean()
    denominator = np.sqrt((xc ** 2).sum(axis=0) * (sc ** 2).sum())
    numerator = sc @ xc
    corr = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    return np.clip(corr, -1.0, 1.0)


def top_k_features(corr: Any, k: int) -> np.ndarray:
    """(D,) bool mask of the k features with the largest |correlation| (ties: lower index first).

    A strongly negative correlation is as usable (and as robust) as a
    positive one, so features are ranked by magnitude.
    """
    corr = np.asarray(corr, np.float64).reshape(-1)
    k = _positive_int("k", k)
    if k > corr.size:
        raise ValueError(f"k must be at most the {corr.size} features, got {k}")
    order = np.argsort(-np.abs(corr), kind="stable")
    mask = np.zeros(corr.size, bool)
    mask[order[:k]] = True
    return mask


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

    Features are ranked by |:func:`feature_correlation`| on ``train``. The
    model is trained on inputs whose other features are zeroed; it is then a
    linear model on the full input with exactly zero weight outside the k
    features, attacked (exactly, linf) on the full input: the adversary may
    change every pixel, only the k used ones matter.

    Args:
        train, test: binary data sets with the same bounds.
        k_list: numbers of features kept, each in 1..D.
        eps_test_list: linf radii of the adversarial accuracies, data units.
        epochs, batch_size, lr, seed: as :func:`train_linear` (standard training).

    Returns:
        One dict per k: ``k``, ``min_abs_corr`` (|correlation| of the k-th
        feature: the threshold), ``standard_train``, ``standard_test`` and
        ``adversarial_test@E`` per test eps E.

    Ref: Tsipras et al. 2019, sec. 2.3 "An alternative path to robustness", Fig. 2c.
    """
    x_tr, y_tr = _binary(train, "train")
    x_te, y_te = _binary(test, "test")
    args = _train_args(epochs, batch_size, lr, seed, "closed_form", 1)
    if isinstance(k_list, (str, bytes)) or not isinstance(k_list, Sequence | np.ndarray) or not len(k_list):
        raise ValueError(f"k_list must be a non-empty sequence of integers, got {k_list!r}")
    eps_test = _eps_list("eps_test_list", eps_test_list)
    corr = feature_correlation(train)
    ranked = np.sort(np.abs(corr))[::-1]
    steps = _steps(len(x_tr), args.pop("epochs"), args["batch_size"])
    rows = []
    for k in dict.fromkeys(_positive_int("k_list", k) for k in k_list):
        mask = top_k_features(corr, k)
        model = _fit(x_tr, y_tr, bounds=train.bounds, eps=0.0, steps=steps, feature_mask=mask, **args)
        row: dict[str, float] = {
            "k": k,
            "min_abs_corr": float(ranked[k - 1]),
            "standard_train": exact_robust_accuracy(model, x_tr, y_tr, eps=0.0, bounds=train.bounds),
            "standard_test": exact_robust_accuracy(model, x_te, y_te, eps=0.0, bounds=test.bounds),
        }
        for t in eps_test:
            row[_key("adversarial_test", t)] = exact_robust_accuracy(model, x_te, y_te, eps=t,
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
        steps: PGD iterations (the paper gives none; see :data:`LINEAR_FEATURES_CONFIG`).
        step_size: data units; default 2.5 eps / steps.
        objective: ``"cw"`` or ``"xent"``.
        kappa: cap of the CW margin (see above; 0 stops at the boundary).
        seed: attack seed (unused without random start; kept for the pgd signature).

    Returns:
        (N, ...) float32 adversarial images.

    Ref: Tsipras et al. 2019, sec. 3.1, A.4, Table 3.
    """
    _positive_int("steps", steps)
    x_adv = pgd(model, x, y, norm=norm, eps=_non_negative("eps", eps), steps=steps, bounds=bounds,
                step_size=step_size, objective=objective, kappa=kappa, random_start=False,
                seed=seed)
    return np.asarray(x_adv, np.float32)


def interpolate(x: Any, x_adv: Any, steps: int) -> np.ndarray:
    """Linear interpolation from ``x`` to ``x_adv`` (Tsipras Fig. 4).

    Args:
        x: array of any shape (one image or a batch).
        x_adv: array of the same shape.
        steps: number of points, >= 2, including both ends.

    Returns:
        (steps, *x.shape) float32; entry 0 equals ``x`` and entry -1 equals
        ``x_adv`` exactly, entry i is ``(1 - a_i) x + a_i x_adv`` with
        ``a_i = i / (steps - 1)``.

    Ref: Tsipras et al. 2019, sec. 3.2, Fig. 4.
    """
    x = np.asarray(x, np.float32)
    x_adv = np.asarray(x_adv, np.float32)
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {x.shape} and {x_adv.shape}")
    steps = _positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (both ends), got {steps}")
    alphas = np.linspace(0.0, 1.0, steps, dtype=np.float32).reshape((steps,) + (1,) * x.ndim)
    path = (1.0 - alphas) * x + alphas * x_adv
    path[0], path[-1] = x, x_adv
    return path.astype(np.float32)


# --------------------------------------------------------------------------
# figures


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out_png: str | os.PathLike[str]) -> Path:
    """Writes the figure atomically (temp file in the same directory + ``os.replace``)."""
    plt = _pyplot()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=110)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return out


def _as_image(v: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A flat feature vector as a 2-D image (channels summed)."""
    image = np.asarray(v, np.float64).reshape(shape)
    if image.ndim == 3:
        image = image.sum(axis=-1)
    if image.ndim != 2:
        raise ValueError(f"cannot show features of shape {shape} as an image")
    return image


def plot_linear_features(models: Mapping[str, keras.Model], corr: Any,
                         out_png: str | os.PathLike[str]) -> Path:
    """Weight images (Fig. 2a) and feature-label correlation against weight (Fig. 2b).

    Top row: ``w`` of each model as an image (red positive, blue negative,
    symmetric scale per model) and, last, the correlation image. Bottom row:
    one scatter per model of correlation (x) against weight (y), one point
    per feature.

    Args:
        models: ``{label: two-logit linear model}``, e.g. ``{"eps=0": m0, "eps=0.2": m1}``.
        corr: (D,) correlations from :func:`feature_correlation`.
        out_png: PNG path, written atomically.

    Returns:
        The path written.

    Ref: Tsipras et al. 2019, sec. 2.3, Fig. 2a-b.
    """
    if not models:
        raise ValueError("models: give at least one model")
    corr = np.asarray(corr, np.float64).reshape(-1)
    weights = {}
    shape: tuple[int, ...] = ()
    for label, model in models.items():
        w, _ = linear_binary_weights(model)
        if w.size != corr.size:
            raise ValueError(f"model {label!r} has {w.size} weights, corr has {corr.size} features")
        weights[label] = w
        shape = tuple(int(s) for s in model.input_shape[1:])
    plt = _pyplot()
    n = len(weights)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.9 * (n + 1), 5.8), squeeze=False)
    for i, (label, w) in enumerate(weights.items()):
        scale = float(np.abs(w).max()) or 1.0
        shown = axes[0, i].imshow(_as_image(w, shape), cmap="RdBu_r", vmin=-scale, vmax=scale)
        axes[0, i].set_title(f"w, {label}\n||w||_1 = {np.abs(w).sum():.3g}", fontsize=9)
        fig.colorbar(shown, ax=axes[0, i], fraction=0.046, pad=0.04)
        ax = axes[1, i]
        ax.scatter(corr, w, s=4, alpha=0.5, color=f"C{i % 10}", linewidths=0)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_xlabel("feature-label correlation")
        ax.set_ylabel("weight")
        ax.set_title(label, fontsize=9)
    shown = axes[0, n].imshow(_as_image(corr, shape), cmap="RdBu_r", vmin=-1, vmax=1)
    axes[0, n].set_title("correlation with label", fontsize=9)
    fig.colorbar(shown, ax=axes[0, n], fraction=0.046, pad=0.04)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, n].axis("off")
    fig.suptitle("Linear classifiers: weights and feature-label correlation (Tsipras Fig. 2a-b)",
                 fontsize=10)
    fig.tight_layout()
    return _save(fig, out_png)


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, numbers.Real) else str(value)


def plot_accuracy_curves(
    rows: Sequence[Mapping[str, float]],
    out_png: str | os.PathLike[str],
    *,
    x: str,
    y: Sequence[str],
    group: str | None = None,
    xlabel: str | None = None,
    title: str = "",
    logx: bool = False,
) -> Path:
    """Accuracy curves from result rows (Figs. 1, 6, 7 and 2c).

    Args:
        rows: dicts from :func:`accuracy_vs_eps_train`,
            :func:`accuracy_vs_train_size` or :func:`accuracy_top_k`.
        out_png: PNG path, written atomically.
        x: the column on the horizontal axis (e.g. ``"eps_train"``).
        y: accuracy columns, one line style each (fractions, shown in percent).
        group: optional column that splits the rows into separately coloured
            lines (e.g. ``"eps_train"`` for the training-size curves).
        xlabel: axis label (default: ``x``).
        title: figure title.
        logx: logarithmic horizontal axis.

    Returns:
        The path written.
    """
    if not rows:
        raise ValueError("rows: nothing to plot")
    columns = [x, *y] + ([group] if group else [])
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise ValueError(f"rows lack column(s) {', '.join(missing)}")
    groups: dict[Any, list[Mapping[str, float]]] = {}
    for row in rows:
        groups.setdefault(row[group] if group else None, []).append(row)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    styles = ("-o", "--s", ":^", "-.v")
    for g, (key, members) in enumerate(groups.items()):
        members = sorted(members, key=lambda r: float(r[x]))
        xs = [float(r[x]) for r in members]
        for j, column in enumerate(y):
            label = column if key is None else f"{column}, {group}={_fmt(key)}"
            ax.plot(xs, [100 * float(r[column]) for r in members], styles[j % len(styles)],
                    color=f"C{g % 10}", ms=4, label=label)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_large_eps(
    strips: Mapping[str, tuple[Any, Any]],
    out_png: str | os.PathLike[str],
    *,
    steps: int = 8,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> Path:
    """Large-eps adversarial examples as interpolation strips (Figs. 3-4).

    Each example is one row: ``steps`` images from the original (left, Fig.
    3's input) through :func:`interpolate` to the adversarial image (right,
    Fig. 3's output); the row in between is Fig. 4.

    Args:
        strips: ``{row label: (x, x_adv)}``, each (N, H, W, C) within
            ``bounds``; one row per example.
        out_png: PNG path, written atomically.
        steps: images per row, >= 2.
        bounds: grey-scale range of the display.

    Returns:
        The path written.

    Ref: Tsipras et al. 2019, sec. 3.1-3.2, Figs. 3-4.
    """
    rows: list[tuple[str, np.ndarray]] = []
    for label, (x, x_adv) in strips.items():
        path = interpolate(x, x_adv, steps)  # (steps, N, ...)
        for i in range(path.shape[1]):
            rows.append((label if i == 0 else "", path[:, i]))
    if not rows:
        raise ValueError("strips: nothing to plot")
    plt = _pyplot()
    lo, hi = (float(b) for b in bounds)
    fig, axes = plt.subplots(len(rows), steps, figsize=(1.1 * steps + 1.6, 1.15 * len(rows)),
                             squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(steps):
            image = np.clip(images[c], lo, hi)
            ax = axes[r, c]
            if image.ndim == 3 and image.shape[-1] == 3:  # colour: shown rescaled to [0, 1]
                ax.imshow((image - lo) / (hi - lo))
            else:
                ax.imshow(image.reshape(image.shape[:2]), cmap="gray", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("original" if c == 0 else "adversarial" if c == steps - 1
                             else f"{c / (steps - 1):.2f}", fontsize=7)
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return _save(fig, out_png)


# --------------------------------------------------------------------------
# the whole sec. 2.3 / 3 experiment (CLI ``theory linear`` and the study kind ``linear``)

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

    - ``table``: ``linear_table.csv`` (Table 4 layout, :func:`linear_table`);
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
        epochs, batch_size, lr, attack, seed: as :func:`train_linear`.
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
        _binary(split, name)
        if len(split) < 2 or len(np.unique(split.y)) < 2:
            raise ValueError(f"{name} split has {len(split)} image(s) of one class: both classes are needed")
    eps_train = _eps_list("eps_train_list", eps_train_list)
    eps_test = _eps_list("eps_test_list", eps_test_list)
    n_features = int(np.prod(train.input_shape))
    k_used = [k for k in dict.fromkeys(_positive_int("top_k", k) for k in top_k) if k <= n_features] or [n_features]
    sizes_used = [n for n in dict.fromkeys(_positive_int("sizes", n) for n in sizes) if n <= len(train)] or [len(train)]
    options: dict[str, Any] = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    _train_args(epochs, batch_size, lr, seed, attack, 1)  # validate before any training
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
                                          y=["standard_test", *[_key("adversarial_test", e) for e in eps_test]],
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
