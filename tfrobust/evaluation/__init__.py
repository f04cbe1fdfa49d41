"""Evaluation: robust accuracy (later: ROAR/KAR, manifold distance, Jacobian diagnostics)."""

from tfrobust.evaluation.robust_accuracy import COLUMNS, format_table, robust_accuracy_table

__all__ = ["COLUMNS", "format_table", "robust_accuracy_table"]
