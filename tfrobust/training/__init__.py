"""Training: the RobustModel template, methods, optimizers, callbacks, runs."""

from tfrobust.training.adversarial import AdversarialModel
from tfrobust.training.artifacts import atomic_json, export_saved_model, load_model, save_model
from tfrobust.training.callbacks import RobustAccuracy, Throughput, attacked_correct
from tfrobust.training.methods import METHODS
from tfrobust.training.optimizers import build_optimizer
from tfrobust.training.robust_model import RobustModel
from tfrobust.training.run import TrainResult, library_versions, load_data, train

__all__ = [
    "AdversarialModel",
    "RobustAccuracy",
    "attacked_correct",
    "METHODS",
    "RobustModel",
    "Throughput",
    "TrainResult",
    "atomic_json",
    "build_optimizer",
    "export_saved_model",
    "library_versions",
    "load_model",
    "load_data",
    "save_model",
    "train",
]
