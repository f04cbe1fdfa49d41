"""Theory: the papers' claims checked on small models with closed forms.

- :mod:`tfrobust.theory.tsipras`: Tsipras et al. 2019 sec. 2.1-2.2, the
  distribution of eq. 3, its closed-form accuracies (Theorems 2.1-2.2) and
  standard vs adversarially trained linear classifiers on it;
- :mod:`tfrobust.theory.linear_features`: Tsipras sec. 2.3 and 3, robust and
  non-robust features of linear classifiers on a binary digit task (Table 4,
  Figs. 1-4, 6, 7);
- :mod:`tfrobust.theory.toy`: Kim et al. 2019 sec. 2.2, boundary tilt of
  standard vs l2 adversarially trained networks on the 2-D toy data (Fig. 3b).
"""

from tfrobust.theory.linear_features import (
    ATTACKS,
    LINEAR_FEATURES_CONFIG,
    LINEAR_PARTS,
    accuracy_top_k,
    accuracy_vs_eps_train,
    accuracy_vs_train_size,
    exact_robust_accuracy,
    feature_correlation,
    format_linear_table,
    interpolate,
    large_eps_examples,
    linear_binary_weights,
    linear_features_experiment,
    linear_table,
    linf_worst_case,
    plot_accuracy_curves,
    plot_large_eps,
    plot_linear_features,
    top_k_features,
    train_linear,
    train_linear_models,
)
from tfrobust.theory.toy import (
    TILT_COLUMNS,
    boundary_tilt,
    evaluate_toy_models,
    plot_toy,
    toy_experiment,
    train_toy_models,
    write_tilt_csv,
)
from tfrobust.theory.tsipras import (
    TSIPRAS_EXPERIMENT_N,
    averaged_classifier_accuracy,
    bayes_accuracy,
    check_theorem_bound,
    linear_accuracy,
    linear_adversarial_example,
    linear_robust_correct,
    linear_tsipras_experiment,
    no_free_lunch_bound,
    robust_feature_accuracy,
    theorem_2_2_eta,
    validate_tsipras_setting,
)

__all__ = [
    "TILT_COLUMNS",
    "boundary_tilt",
    "evaluate_toy_models",
    "plot_toy",
    "toy_experiment",
    "train_toy_models",
    "write_tilt_csv",
    "ATTACKS",
    "LINEAR_FEATURES_CONFIG",
    "LINEAR_PARTS",
    "accuracy_top_k",
    "accuracy_vs_eps_train",
    "accuracy_vs_train_size",
    "exact_robust_accuracy",
    "feature_correlation",
    "format_linear_table",
    "interpolate",
    "large_eps_examples",
    "linear_binary_weights",
    "linear_features_experiment",
    "linear_table",
    "linf_worst_case",
    "plot_accuracy_curves",
    "plot_large_eps",
    "plot_linear_features",
    "top_k_features",
    "train_linear",
    "train_linear_models",
    "TSIPRAS_EXPERIMENT_N",
    "averaged_classifier_accuracy",
    "bayes_accuracy",
    "check_theorem_bound",
    "linear_accuracy",
    "linear_adversarial_example",
    "linear_robust_correct",
    "linear_tsipras_experiment",
    "no_free_lunch_bound",
    "robust_feature_accuracy",
    "theorem_2_2_eta",
    "validate_tsipras_setting",
]
