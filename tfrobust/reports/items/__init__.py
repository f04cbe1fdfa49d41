"""Report items: the figures and tables of a study report, built from saved results.

A study file's ``report`` section lists items in display order; each has a
``type`` (a key of :data:`REPORT_ITEMS`), a ``name`` (used for file names) and
the keyword-only options of its builder::

    report:
      title: "Kim et al. 2019, Fig. 4"
      items:
        - {type: table, name: robust_accuracy, stages: [train, attack], rows: [model],
           columns: {train.test_accuracy: standard, attack.robust_l2_1.5: "PGD-40 l2 1.5"}, percent: true}
        - {type: line, name: mu_vs_eps, stages: [roar], x: eps, y: [roar.mu_roar, roar.mu_kar],
           group: [norm], panels: true, scale_x: group_max, correlate: true}

Column references: ``stage.metric`` is a metric of that stage's rows, a bare
name a grid key (see :func:`tfrobust.reports.frame.study_frame`). ``table`` and
``line`` also take ``long: <stage>`` (an attack stage's rows become one per
(norm, eps): ``<stage>.norm``, ``.eps``, ``.attack``, ``.robust_accuracy``,
``.worst_case``, ``.flags``) and ``where: {column: value}`` to keep some rows::

        - {type: line, name: robust_vs_eps, stages: [attack], long: attack, where: {attack.norm: l2},
           x: attack.eps, y: attack.robust_accuracy, group: training, percent: true}

Every builder takes the :class:`~tfrobust.reports.frame.StudyData` first and
returns a :class:`ReportItem`: what it wrote (``figures/*.png``,
``tables/*.csv`` + ``.md``), or a placeholder (``pending``) when its stage has
no done cells yet. A misconfiguration (unknown column; a cell ``file`` that no
done cell of the stage has) raises ValueError starting with the option's name;
:func:`run_report_item` turns it into an ``error`` entry so one bad item never
stops a report (and ``tfrobust study report`` / ``run`` then exit with status 2).

Modules: :mod:`~tfrobust.reports.items.table`, :mod:`~tfrobust.reports.items.line`,
:mod:`~tfrobust.reports.items.bars`, :mod:`~tfrobust.reports.items.images`,
:mod:`~tfrobust.reports.items.histogram` and :mod:`~tfrobust.reports.items.cells`
hold the builders, :mod:`~tfrobust.reports.items.common` what several of them
share, :mod:`~tfrobust.reports.items.section` the type table and the checks.
"""

from tfrobust.reports.artifacts import Artifact, ReportItem
from tfrobust.reports.items.bars import bars_item
from tfrobust.reports.items.cells import cell_figure_item, cell_table_item
from tfrobust.reports.items.histogram import histogram_item
from tfrobust.reports.items.images import IMAGE_STYLES, images_item, render_image
from tfrobust.reports.items.line import line_item
from tfrobust.reports.items.section import (
    REPORT_ITEMS,
    check_report_item,
    check_report_section,
    run_report_item,
)
from tfrobust.reports.items.table import table_item

__all__ = ["IMAGE_STYLES", "REPORT_ITEMS", "Artifact", "ReportItem", "bars_item", "cell_figure_item", "cell_table_item",
           "check_report_item", "check_report_section", "histogram_item", "images_item", "line_item",
           "render_image", "run_report_item", "table_item"]
