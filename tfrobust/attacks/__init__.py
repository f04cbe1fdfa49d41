"""Attacks as pure functions of a model callable, registered by name (docs/architecture.md, Registries).

- :mod:`~tfrobust.attacks.norms`: the geometry of each threat model (``linf``,
  ``l2``, ``l1``), registered in :data:`~tfrobust.registry.NORMS`.
- :mod:`~tfrobust.attacks.objectives`: what the attacker maximises (``xent``,
  ``cw``), registered in :data:`~tfrobust.registry.OBJECTIVES`.
- :mod:`~tfrobust.attacks.updates`: PGD's update rules (``steepest``, ``momentum``).
- :mod:`~tfrobust.attacks.pgd` and :mod:`~tfrobust.attacks.fgsm`: the ``pgd``
  and ``fgsm`` entries of :data:`~tfrobust.registry.ATTACKS`.
- :mod:`~tfrobust.attacks.apgd` (APGD with the cross-entropy, DLR or targeted
  DLR loss), :mod:`~tfrobust.attacks.square` (the gradient-free Square attack)
  and :mod:`~tfrobust.attacks.autoattack` (APGD-CE, APGD-T and Square, each on
  the points still standing): the evaluation attacks ``apgd``, ``square`` and
  ``autoattack``; they run eagerly only.
- :mod:`~tfrobust.attacks.seeds`: one seed per batch or per example.
- :mod:`~tfrobust.attacks.early_exit`: the shrinking-batch loop of PGD's ``early_exit``.
- :mod:`~tfrobust.attacks.protocol`: the attack protocol
  ``fn(model, x, y, *, norm, eps, bounds, seed=0, **options) -> x_adv`` and
  :class:`Attack`, a registered attack with its options checked once.

``call_model`` is importable from here for older callers; its home is
:mod:`tfrobust.attribution.gradient`.
"""

from tfrobust.attacks.apgd import apgd
from tfrobust.attacks.autoattack import autoattack
from tfrobust.attacks.fgsm import fgsm
from tfrobust.attacks.norms import L2_STEPS, Norm, get_norm
from tfrobust.attacks.objectives import cw_margin, dlr, dlr_targeted, get_objective, xent
from tfrobust.attacks.pgd import (
    LONG_STEPS,
    PGD,
    check_step_length,
    cut_step_size,
    default_step_size,
    pgd,
    step_length,
)
from tfrobust.attacks.protocol import Attack
from tfrobust.attacks.square import square
from tfrobust.attacks.updates import UPDATE_RULES, get_update_rule
from tfrobust.attribution.gradient import call_model as call_model  # re-export; not in __all__
from tfrobust.registry import ATTACKS, NORMS, OBJECTIVES

__all__ = [
    "ATTACKS",
    "L2_STEPS",
    "LONG_STEPS",
    "NORMS",
    "OBJECTIVES",
    "PGD",
    "UPDATE_RULES",
    "Attack",
    "Norm",
    "apgd",
    "autoattack",
    "check_step_length",
    "cut_step_size",
    "cw_margin",
    "default_step_size",
    "dlr",
    "dlr_targeted",
    "fgsm",
    "get_norm",
    "get_objective",
    "get_update_rule",
    "pgd",
    "square",
    "step_length",
    "xent",
]
