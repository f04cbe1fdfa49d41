"""Reports: figures and pages drawn from saved results; no TensorFlow here."""

from tfrobust.reports.roar import write_roar_figure
from tfrobust.reports.training import plot_history, write_training_report

__all__ = ["plot_history", "write_roar_figure", "write_training_report"]
