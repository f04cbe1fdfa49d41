"""Keras callbacks usable from any project's ``fit``."""

from tfrobust.training.callbacks.throughput import Throughput

__all__ = ["Throughput"]
