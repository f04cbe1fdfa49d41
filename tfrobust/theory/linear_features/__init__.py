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

Modules: :mod:`~tfrobust.theory.linear_features.maths` (input checks, (w, b),
the exact linf worst case, correlations, interpolation),
:mod:`~tfrobust.theory.linear_features.training` (the classifiers and the
presets), :mod:`~tfrobust.theory.linear_features.experiments` (one driver per
table or figure), :mod:`~tfrobust.theory.linear_features.plots` (the figures)
and :mod:`~tfrobust.theory.linear_features.pipeline` (the whole experiment into
a folder). The names in ``__all__`` are importable from this package and
from :mod:`tfrobust.theory`; the helpers the modules share (``check_*``,
:func:`~tfrobust.theory.linear_features.training.fit_linear`) stay in their modules.
"""

from tfrobust.theory.linear_features.experiments import (
    accuracy_top_k,
    accuracy_vs_eps_train,
    accuracy_vs_train_size,
    format_linear_table,
    large_eps_examples,
    linear_table,
)
from tfrobust.theory.linear_features.maths import (
    exact_robust_accuracy,
    feature_correlation,
    interpolate,
    linear_binary_weights,
    linf_worst_case,
    top_k_features,
)
from tfrobust.theory.linear_features.pipeline import LINEAR_PARTS, linear_features_experiment
from tfrobust.theory.linear_features.plots import (
    plot_accuracy_curves,
    plot_large_eps,
    plot_linear_features,
)
from tfrobust.theory.linear_features.training import (
    ATTACKS,
    LINEAR_FEATURES_CONFIG,
    train_linear,
    train_linear_models,
)

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
