"""Training: the RobustModel template, methods, optimizers, callbacks, runs."""

from tfrobust.training.adversarial import AdversarialModel
from tfrobust.training.artifacts import atomic_json, export_saved_model, load_model, save_model
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
from tfrobust.training.methods import METHODS
from tfrobust.training.optimizers import build_optimizer
from tfrobust.training.robust_model import RobustModel
from tfrobust.training.run import TrainResult, library_versions, load_data, train
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
    "library_versions",
    "load_model",
    "load_targets",
    "load_data",
    "saliency_index",
    "save_model",
    "train",
]
