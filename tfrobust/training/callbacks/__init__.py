"""Keras callbacks usable from any project's ``fit``."""

from tfrobust.training.callbacks.robust_accuracy import RobustAccuracy, attacked_correct
from tfrobust.training.callbacks.throughput import Throughput

__all__ = ["RobustAccuracy", "Throughput", "attacked_correct"]
