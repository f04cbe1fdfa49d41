"""Training the linear classifiers: standard and linf adversarial (Tsipras et al. 2019, A.2-A.3).

Weights start at zero: the loss is convex, so the optimum does not depend on
the start, and a pixel that never varies (the always-black border) keeps
exactly zero weight. Adversarial training uses by default the closed-form
linf worst case of a linear model (:func:`~tfrobust.theory.linear_features.maths.linf_worst_case`):
the cross-entropy decreases in the margin, so that point is the exact
maximiser of the loss, and by Danskin's theorem the weight gradient there is
the gradient of the robust loss. ``attack="pgd"`` trains with tfrobust's PGD
instead (Tsipras A.3: random start).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrobust.attacks.pgd import PGD
from tfrobust.config import OptimizerConfig, check_int
from tfrobust.data import Dataset
from tfrobust.models import linear
from tfrobust.theory.linear_features.maths import (
    check_binary,
    check_eps_list,
    check_non_negative,
    dense_layer,
    worst_case_tensor,
)
from tfrobust.training import AdversarialModel, RobustModel, build_optimizer

__all__ = [
    "ATTACKS",
    "LINEAR_FEATURES_CONFIG",
    "check_train_args",
    "count_steps",
    "fit_linear",
    "train_linear",
    "train_linear_models",
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
#: ``quick`` (the CLI default, a few minutes on 2 CPU cores):
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


class _ClosedFormLinfModel(RobustModel):
    """Trains a two-logit linear model on its exact linf worst case (see the module docstring)."""

    def __init__(self, base: keras.Model, *, eps: float, bounds: tuple[float, float],
                 **kwargs: Any) -> None:
        kwargs.setdefault("name", "closed_form_linf_model")
        super().__init__(base, **kwargs)
        self.eps = float(eps)
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self._dense = dense_layer(base)

    def training_inputs(self, x: Any, y: Any) -> Any:
        kernel = self._dense.kernel
        w = kernel[:, 1] - kernel[:, 0]
        return tf.stop_gradient(worst_case_tensor(w, x, y, self.eps, *self.bounds))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(eps=self.eps, bounds=list(self.bounds))
        return config


# --------------------------------------------------------------------------
# training


def fit_linear(x: np.ndarray, y: np.ndarray, *, bounds: tuple[float, float], eps: float, steps: int,
               batch_size: int, lr: float, seed: int, attack: str, pgd_steps: int,
               feature_mask: np.ndarray | None = None) -> keras.Model:
    """Trains a zero-initialised two-logit linear model for ``steps`` optimizer steps.

    The arguments are not checked here (:func:`check_train_args` and
    :func:`~tfrobust.theory.linear_features.maths.check_binary` do that); a
    ``feature_mask`` ((D,) bool) zeroes the other input features (Fig. 2c).

    Returns:
        The trained base model (``linear`` architecture, two logits).
    """
    base = linear(tuple(int(s) for s in x.shape[1:]), 2)
    dense = dense_layer(base)
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
        model = AdversarialModel(base, attack=PGD(norm="linf", eps=eps, steps=pgd_steps, bounds=bounds).to_dict(),
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


def check_train_args(epochs: int, batch_size: int, lr: float, seed: int, attack: str,
                     pgd_steps: int) -> dict[str, Any]:
    """The training options of :func:`train_linear`, checked, as a dict keyed by their names.

    Raises:
        ValueError: one line naming the bad option.
    """
    if attack not in ATTACKS:
        raise ValueError(f"attack must be one of {', '.join(ATTACKS)}, got {attack!r}")
    lr_value = check_non_negative("lr", lr)
    if lr_value == 0:
        raise ValueError("lr must be > 0")
    return {"epochs": check_int(epochs, name="epochs", minimum=1),
            "batch_size": check_int(batch_size, name="batch_size", minimum=1), "lr": lr_value,
            "seed": check_int(seed, name="seed", minimum=0), "attack": attack,
            "pgd_steps": check_int(pgd_steps, name="pgd_steps", minimum=1)}


def count_steps(n: int, epochs: int, batch_size: int) -> int:
    """Optimizer steps of ``epochs`` passes over ``n`` examples in batches of ``batch_size``."""
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
    worst case (``attack="closed_form"``, exact, see
    :func:`~tfrobust.theory.linear_features.maths.linf_worst_case`)
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
    x, y = check_binary(train, "train")
    args = check_train_args(epochs, batch_size, lr, seed, attack, pgd_steps)
    epochs = args.pop("epochs")
    return fit_linear(x, y, bounds=train.bounds, eps=check_non_negative("eps", eps),
                      steps=count_steps(len(x), epochs, args["batch_size"]), **args)


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
    for eps in check_eps_list("eps_train_list", eps_train_list):
        if progress is not None:
            progress(f"training linear model, eps_train={eps:g}")
        models[eps] = train_linear(train, eps=eps, **train_options)
    return models
