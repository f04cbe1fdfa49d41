"""Reports: figures, tables and pages drawn from saved results; no TensorFlow here.

Importing the package imports none of its modules: each public name is
loaded from the module that defines it on first use (PEP 562 ``__getattr__``),
so ``from tfrobust.reports import write_report`` works as usual while a user
of only the light modules (:mod:`tfrobust.reports.ledgerfile`,
:mod:`tfrobust.reports.files`) pays for neither pandas nor matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfrobust import lazy_exports

if TYPE_CHECKING:
    from tfrobust.reports.claims import (
        CLAIMS_NAME,
        check_claims_section,
        evaluate_claims,
        write_claims,
    )
    from tfrobust.reports.correlation import average_ranks, pearson, spearman
    from tfrobust.reports.files import (
        atomic_save_figure,
        atomic_write_bytes,
        atomic_write_text,
        is_temp_name,
        temp_name_pid,
    )
    from tfrobust.reports.frame import StudyData, load_study, study_frame
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
    from tfrobust.reports.ledgerfile import LedgerError
    from tfrobust.reports.roar import write_roar_figure
    from tfrobust.reports.study import REPORT_NAME, StudyReport, build_report, write_report
    from tfrobust.reports.training import plot_history, write_training_report

#: Public name -> the module (of this package) that defines it.
_HOMES = {
    "plot_history": "training",
    "write_roar_figure": "roar",
    "write_training_report": "training",
    "average_ranks": "correlation",
    "pearson": "correlation",
    "spearman": "correlation",
    "atomic_save_figure": "files",
    "atomic_write_bytes": "files",
    "atomic_write_text": "files",
    "is_temp_name": "files",
    "temp_name_pid": "files",
    "LedgerError": "ledgerfile",
    "StudyData": "frame",
    "load_study": "frame",
    "study_frame": "frame",
    "IMAGE_STYLES": "items",
    "REPORT_ITEMS": "items",
    "Artifact": "items",
    "ReportItem": "items",
    "bars_item": "items",
    "cell_figure_item": "items",
    "cell_table_item": "items",
    "check_report_item": "items",
    "check_report_section": "items",
    "histogram_item": "items",
    "images_item": "items",
    "line_item": "items",
    "render_image": "items",
    "run_report_item": "items",
    "table_item": "items",
    "REPORT_NAME": "study",
    "StudyReport": "study",
    "build_report": "study",
    "write_report": "study",
    "CLAIMS_NAME": "claims",
    "check_claims_section": "claims",
    "evaluate_claims": "claims",
    "write_claims": "claims",
}
#: The package's modules, reachable as attributes (``tfrobust.reports.frame``) after ``import tfrobust.reports``.
_MODULES = ("artifacts", "claims", "correlation", "files", "frame", "html", "items", "ledgerfile", "resampling", "roar",
            "study", "training")

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
    "CLAIMS_NAME",
    "check_claims_section",
    "evaluate_claims",
    "write_claims",
]


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, _MODULES)
