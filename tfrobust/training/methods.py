"""Training methods by CLI name: each maps to a :class:`RobustModel` subclass.

``standard`` is the template itself (plain empirical risk minimisation);
``adversarial`` is PGD adversarial training; ``ir`` is Interpretation
Regularization (its batches carry target maps); ``jr`` is Jacobian
Regularization. Each class is constructed as ``METHODS[name](base, **method_options)``.
"""

from __future__ import annotations

from tfrobust.training.adversarial import AdversarialModel
from tfrobust.training.interpretation import InterpretationRegularizedModel
from tfrobust.training.jacobian import JacobianRegularizedModel
from tfrobust.training.robust_model import RobustModel

__all__ = ["METHODS"]

METHODS: dict[str, type[RobustModel]] = {
    "standard": RobustModel,
    "adversarial": AdversarialModel,
    "ir": InterpretationRegularizedModel,
    "jr": JacobianRegularizedModel,
}
