"""Evaluation: robust-accuracy tables under any registered attack with gradient-masking checks, ROAR/KAR
occlusion and its scores.

Importing the package imports none of its modules: each public name is loaded
from its module on first use (PEP 562, :func:`tfrobust.lazy_exports`), so
the TensorFlow-free :mod:`~tfrobust.evaluation.checklist` (the checks' names,
thresholds and verdicts) can be read by ``tfrobust study check`` without
TensorFlow.

Submodules not re-exported here: :mod:`~tfrobust.evaluation.distance` and
:mod:`~tfrobust.evaluation.manifold` (Kim et al.'s manifold distance and its study),
:mod:`~tfrobust.evaluation.vaegan_training` (the VAE-GAN it projects with),
:mod:`~tfrobust.evaluation.masking` (the checks' runs) and
:mod:`~tfrobust.evaluation.figures` (figure helpers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfrobust import lazy_exports

if TYPE_CHECKING:
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

#: Public name -> the module (of this package) that defines it.
_HOMES = {
    **dict.fromkeys(["COLUMNS", "format_table", "robust_accuracy_table"], "robust_accuracy"),
    **dict.fromkeys(["importance_ranks", "occluded_count", "occlusion_mask", "occlude", "fill_values"], "occlusion"),
    **dict.fromkeys(["curve_area", "summarize", "scores", "write_csv"], "roar_scores"),
    **dict.fromkeys(["DEFAULT_FRACTIONS", "MODES", "ROAR_COLUMNS", "SCORE_COLUMNS", "Member", "RoarResult",
                     "format_scores", "roar_members", "run_roar"], "roar"),
}
_MODULES = ("checklist", "distance", "figures", "manifold", "masking", "occlusion", "roar", "roar_scores",
            "robust_accuracy", "vaegan_training")

__all__ = [
    "COLUMNS", "format_table", "robust_accuracy_table",
    "importance_ranks", "occluded_count", "occlusion_mask", "occlude", "fill_values",
    "curve_area", "summarize", "scores", "write_csv",
    "DEFAULT_FRACTIONS", "MODES", "ROAR_COLUMNS", "SCORE_COLUMNS", "Member", "RoarResult", "format_scores",
    "roar_members", "run_roar",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, _MODULES)
