"""Reports: figures and pages drawn from saved results; no TensorFlow here."""

from tfrobust.reports.training import plot_history, write_training_report

__all__ = ["plot_history", "write_training_report"]
