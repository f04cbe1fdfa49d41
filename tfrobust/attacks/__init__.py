"""Attacks as pure functions of a model callable: norm geometry, objectives, PGD, FGSM."""

from tfrobust.attacks.fgsm import fgsm
from tfrobust.attacks.norms import L2_STEPS, NORMS, Norm, get_norm
from tfrobust.attacks.objectives import OBJECTIVES, cw_margin, get_objective, xent
from tfrobust.attacks.pgd import (
    LONG_STEPS,
    PGD,
    call_model,
    check_step_length,
    cut_step_size,
    default_step_size,
    pgd,
    step_length,
)

__all__ = [
    "L2_STEPS",
    "LONG_STEPS",
    "NORMS",
    "OBJECTIVES",
    "PGD",
    "Norm",
    "call_model",
    "check_step_length",
    "cut_step_size",
    "cw_margin",
    "default_step_size",
    "fgsm",
    "get_norm",
    "get_objective",
    "pgd",
    "step_length",
    "xent",
]
