"""Keras callbacks usable from any project's ``fit``."""

from tfrobust.training.callbacks.best_checkpoint import BestCheckpoint, holdout_split
from tfrobust.training.callbacks.epoch_logs import EpochLogCallback
from tfrobust.training.callbacks.jacobian_norm import JacobianNorm
from tfrobust.training.callbacks.robust_accuracy import (
           RobustAccuracy,
           attack_outcomes,
           attacked_correct,
)
from tfrobust.training.callbacks.saliency_snapshot import SaliencySnapshot
from tfrobust.training.callbacks.scalars import EpochScalars
from tfrobust.training.callbacks.throughput import Throughput

__all__ = ["BestCheckpoint", "EpochLogCallback", "EpochScalars", "JacobianNorm", "RobustAccuracy", "SaliencySnapshot",
           "Throughput", "attack_outcomes", "attacked_correct", "holdout_split"]
