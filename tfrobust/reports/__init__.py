"""Reports: figures, tables and pages drawn from saved results; no TensorFlow here."""

from tfrobust.reports.correlation import average_ranks, pearson, spearman
from tfrobust.reports.files import (
    atomic_save_figure,
    atomic_write_bytes,
    atomic_write_text,
    is_temp_name,
    temp_name_pid,
)
from tfrobust.reports.frame import LedgerError, StudyData, load_study, study_frame
from tfrobust.reports.items import (
    IMAGE_STYLES,
    REPORT_ITEMS,
    Artifact,
    ReportItem,
    bars_item,
    cell_figure_item,
    cell_table_item,
    check_report_item,
    check_report_section,
    histogram_item,
    images_item,
    line_item,
    render_image,
    run_report_item,
    table_item,
)
from tfrobust.reports.roar import write_roar_figure
from tfrobust.reports.study import REPORT_NAME, StudyReport, build_report, write_report
from tfrobust.reports.training import plot_history, write_training_report

__all__ = [
    "plot_history",
    "write_roar_figure",
    "write_training_report",
    "average_ranks",
    "pearson",
    "spearman",
    "atomic_save_figure",
    "atomic_write_bytes",
    "atomic_write_text",
    "is_temp_name",
    "temp_name_pid",
    "LedgerError",
    "StudyData",
    "load_study",
    "study_frame",
    "IMAGE_STYLES",
    "REPORT_ITEMS",
    "Artifact",
    "ReportItem",
    "bars_item",
    "cell_figure_item",
    "cell_table_item",
    "check_report_item",
    "check_report_section",
    "histogram_item",
    "images_item",
    "line_item",
    "render_image",
    "run_report_item",
    "table_item",
    "REPORT_NAME",
    "StudyReport",
    "build_report",
    "write_report",
]
