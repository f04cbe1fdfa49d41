"""Evaluation: robust-accuracy tables under any registered attack, ROAR/KAR occlusion and its scores.

Submodules not re-exported here: :mod:`~tfrobust.evaluation.distance` and
:mod:`~tfrobust.evaluation.manifold` (Kim et al.'s manifold distance and its study),
:mod:`~tfrobust.evaluation.vaegan_training` (the VAE-GAN it projects with) and
:mod:`~tfrobust.evaluation.figures` (figure helpers).
"""

from tfrobust.evaluation.occlusion import (
    fill_values,
    importance_ranks,
    occlude,
    occluded_count,
    occlusion_mask,
)
from tfrobust.evaluation.roar import (
    DEFAULT_FRACTIONS,
    MODES,
    ROAR_COLUMNS,
    SCORE_COLUMNS,
    Member,
    RoarResult,
    format_scores,
    roar_members,
    run_roar,
)
from tfrobust.evaluation.roar_scores import curve_area, scores, summarize, write_csv
from tfrobust.evaluation.robust_accuracy import COLUMNS, format_table, robust_accuracy_table

__all__ = [
    "COLUMNS", "format_table", "robust_accuracy_table",
    "importance_ranks", "occluded_count", "occlusion_mask", "occlude", "fill_values",
    "curve_area", "summarize", "scores", "write_csv",
    "DEFAULT_FRACTIONS", "MODES", "ROAR_COLUMNS", "SCORE_COLUMNS", "Member", "RoarResult", "format_scores",
    "roar_members", "run_roar",
]
