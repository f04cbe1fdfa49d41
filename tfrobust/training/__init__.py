"""Training: the RobustModel template and its methods, optimizers, callbacks, whole runs.

- :class:`RobustModel` (``robust_model``): the one ``train_step``; the methods
  subclass it and register with ``@register("methods", "<name>")`` in any
  module of this package. :data:`METHODS` is the registry
  (:data:`tfrobust.registry.METHODS`): name -> entry with the method's options.
- :func:`train` (``run``): a whole run from a ``TrainConfig``, resumable
  (``resume``), its files written atomically (``artifacts``);
  :func:`~tfrobust.training.rundir.open_run` opens a finished run;
  ``distribute``: the run over several devices or workers (``TrainConfig.strategy``).
- ``optimizers``, ``callbacks``, ``ensemble`` (members trained side by side),
  ``targets`` (IR's target-map caches).
"""

from tfrobust.registry import METHODS
from tfrobust.training.adversarial import AdversarialModel
from tfrobust.training.artifacts import (
    atomic_json,
    export_saved_model,
    library_versions,
    load_model,
    save_model,
)
from tfrobust.training.callbacks import (
    JacobianNorm,
    RobustAccuracy,
    SaliencySnapshot,
    Throughput,
    attacked_correct,
)
from tfrobust.training.ensemble import Ensemble, fit_members, member_accuracies
from tfrobust.training.interpretation import InterpretationRegularizedModel
from tfrobust.training.jacobian import JacobianRegularizedModel
from tfrobust.training.optimizers import build_optimizer
from tfrobust.training.robust_model import RobustModel
from tfrobust.training.run import TrainResult, load_data, train
from tfrobust.training.serving import export_serving
from tfrobust.training.targets import compute_maps, load_targets, saliency_index

__all__ = [
    "Ensemble",
    "fit_members",
    "member_accuracies",
    "AdversarialModel",
    "InterpretationRegularizedModel",
    "JacobianNorm",
    "JacobianRegularizedModel",
    "SaliencySnapshot",
    "RobustAccuracy",
    "attacked_correct",
    "METHODS",
    "RobustModel",
    "Throughput",
    "TrainResult",
    "atomic_json",
    "build_optimizer",
    "compute_maps",
    "export_saved_model",
    "export_serving",
    "library_versions",
    "load_model",
    "load_targets",
    "load_data",
    "saliency_index",
    "save_model",
    "train",
]
