"""``build_report``: a study directory's figures, tables and ``report.html``.

Reads only saved results (``study.sqlite`` read-only, ``results.csv``, cell
artifacts); imports no TensorFlow. Writes into the study directory, every file
atomically:

- ``figures/*.png`` and ``tables/*.csv`` + ``tables/*.md`` of the items of the
  study's ``report`` section (ledger meta ``report``, JSON);
- ``claims.csv``: the verdicts of the study's claims (ledger meta ``claims``;
  :mod:`tfrobust.reports.claims`), when it has any;
- ``report.html``: the study's facts (name, description, reference, preset,
  cells per status, compute seconds), the verdict table of its claims, the
  gradient-masking flags of its attack cells (their ``checks.csv``), each
  item, all results, and every PNG a
  cell wrote (never a temp file a killed writer left, see
  :func:`tfrobust.reports.files.is_temp_name`, nor a hidden or empty one), with
  relative links only so the directory stays movable.

A partly finished study gets a report too: an item whose stage has no done
cells yet shows a placeholder, and a misconfigured item an error entry.
"""

from __future__ import annotations

import csv
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

from tfrobust.reports.artifacts import ReportItem
from tfrobust.reports.claims import claims_html, claims_of, evaluate_claims, write_claims
from tfrobust.reports.files import atomic_write_text, is_temp_name
from tfrobust.reports.frame import RESULTS_NAME, StudyData, cell_label, load_study
from tfrobust.reports.html import format_value, html_table, numeric_columns, render_report
from tfrobust.reports.items import run_report_item

__all__ = ["REPORT_NAME", "StudyReport", "build_report", "write_report"]

REPORT_NAME = "report.html"
_STATUSES = ("pending", "running", "done", "failed", "skipped")


@dataclass(frozen=True)
class StudyReport:
    """What :func:`write_report` wrote.

    Attributes:
        path: the ``report.html`` file.
        items: every report item, in display order (placeholders and errors included).
        claim_errors: one line per claim that could not be evaluated (verdict ``error``).
    """

    path: Path
    items: tuple[ReportItem, ...]
    claim_errors: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[str, ...]:
        """One line per misconfigured item (its error message)."""
        return tuple(i.message for i in self.items if i.status == "error")

    @property
    def problems(self) -> tuple[str, ...]:
        """One line per misconfigured item, naming it: ``report item NAME: MESSAGE`` (for the CLI); then
        one per claim in error (its message names it: ``claims.<id>.<field>: ...``)."""
        return tuple(f"report item {i.name}: {i.message}" for i in self.items if i.status == "error") \
            + self.claim_errors


def _section_items(data: StudyData) -> tuple[str | None, list[object], ReportItem | None]:
    text = data.meta.get("report", "")
    if not text:
        return None, [], None
    try:
        section = json.loads(text)
    except ValueError as err:
        return None, [], ReportItem(name="report", type="report", title="report section", status="error",
                                    message=f"report: meta 'report' is not JSON: {err}")
    if not isinstance(section, dict):
        return None, [], ReportItem(name="report", type="report", title="report section", status="error",
                                    message=f"report: expected a mapping, got {section!r}")
    title = section.get("title") if isinstance(section.get("title"), str) else None
    items = section.get("items") or []
    return title, list(items) if isinstance(items, list) else [], None


def _cell_value(text: str) -> object:
    """A results.csv cell as a number where it reads as one (so it is formatted and right-aligned)."""
    if text == "":
        return None
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            continue
    return text


def _results_table(data: StudyData) -> str:
    results = data.results
    if results.empty:
        return ""
    headers = [str(c) for c in results.columns]
    raw = []
    for row in results.itertuples(index=False, name=None):
        cells: list[object] = []
        for value in row:
            cells.append(_cell_value(str(value)))
        raw.append(cells)
    numeric = numeric_columns(raw, len(headers))
    return html_table(headers, [[format_value(v) for v in row] for row in raw], numeric=numeric)


def _shown(path: Path, rel: Path) -> bool:
    """False for what a killed writer left: temp names, hidden files and folders, and empty files."""
    if any(part.startswith(".") or is_temp_name(part) for part in rel.parts):
        return False
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:  # removed while listing
        return False


def _cell_images(data: StudyData) -> list[tuple[str, str]]:
    """Every PNG a cell wrote, except temp files, hidden files and empty files."""
    cells_dir = data.root / "cells"
    if not cells_dir.is_dir():
        return []
    grids = {c["id"]: (c.get("grid") or {}, c["stage"]) for c in data.cells}
    out = []
    for path in sorted(cells_dir.rglob("*.png")):
        rel = path.relative_to(data.root)
        if not _shown(path, rel):
            continue
        cell_id = rel.parts[1] if len(rel.parts) > 2 else ""
        grid, stage = grids.get(cell_id, ({}, ""))
        label = f"{stage}: {cell_label(grid, stage=stage)}" if stage else cell_id
        out.append((rel.as_posix(), f"{label} · {'/'.join(rel.parts[2:])}"))
    return out


def _masking_checks(data: StudyData) -> str:
    """The gradient-masking checks of the done attack cells (their ``checks.csv``) as HTML; "" if none ran."""
    rows, ran, cells = [], 0, 0
    for cell in data.cells:
        path = data.root / "cells" / str(cell["id"]) / "checks.csv"
        if cell.get("status") != "done" or not path.is_file():
            continue
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                found = list(csv.DictReader(handle))
        except (OSError, csv.Error, UnicodeDecodeError):
            continue
        cells += 1
        label = f"{cell['stage']}: {cell_label(cell.get('grid') or {}, stage=str(cell['stage']))}"
        for check in found:
            ran += check.get("status") != "skipped"
            if check.get("status") == "raised":
                rows.append([label, check.get("check", ""), check.get("norm", ""), check.get("eps", ""),
                             check.get("figure", ""), check.get("message", "")])
    if not cells:
        return ""
    summary = (f"{len(rows)} flag(s) raised" if rows else "no flag raised") + \
        f" in {cells} attack cell(s), {ran} check(s) run (tfrobust.evaluation.masking)"
    parts = ['<section id="masking-checks"><h2>Gradient-masking checks</h2>',
             f'<p class="{"error" if rows else "note"}">{html.escape(summary)}</p>']
    if rows:
        parts.append(html_table(["cell", "check", "norm", "eps", "figure", "message"], rows))
    parts.append("</section>")
    return "\n".join(parts)


def write_report(study_dir: str | os.PathLike[str], *, title: str | None = None) -> StudyReport:
    """Builds every report item of a study and writes ``report.html`` (see the module docstring).

    Args:
        study_dir: a study directory (finished or not).
        title: page title (default: the report section's title, else the study name).

    Returns:
        A :class:`StudyReport`; ``errors`` lists misconfigured items.

    Raises:
        FileNotFoundError: not a study directory (neither ledger nor results).
    """
    data = load_study(study_dir)
    section_title, raw_items, problem = _section_items(data)
    items = [run_report_item(data, item, index=i) for i, item in enumerate(raw_items)]
    if problem is not None:
        items.insert(0, problem)
    counts = dict.fromkeys(_STATUSES, 0)
    for cell in data.cells:
        counts[str(cell["status"])] = counts.get(str(cell["status"]), 0) + 1
    seconds = sum(float(c["seconds"] or 0.0) for c in data.cells)
    failed = [(str(c["id"]), f"{c['status']}: {c.get('error') or ''}".strip()) for c in data.cells
              if c["status"] in ("failed", "skipped")]
    claims = claims_of(data)
    verdicts = evaluate_claims(data, claims) if claims else None
    write_claims(data.root, data=data, table=verdicts)
    claim_errors = () if verdicts is None else \
        tuple(str(n) for n in verdicts.loc[verdicts["verdict"] == "error", "note"])
    verdict_html = claims_html(verdicts) if verdicts is not None else ""
    masking_html = _masking_checks(data)
    page = render_report(
        title=title or section_title or data.meta.get("name") or data.root.name,
        meta=data.meta, counts=counts if data.cells else {}, seconds=seconds, items=items,
        results_html=_results_table(data),
        results_link=RESULTS_NAME if (data.root / RESULTS_NAME).is_file() else None,
        cell_images=_cell_images(data), failed=failed,
        checks_html="\n".join(part for part in (verdict_html, masking_html) if part))  # claims first, before items
    path = atomic_write_text(data.root / REPORT_NAME, page)
    return StudyReport(path=path, items=tuple(items), claim_errors=claim_errors)


def build_report(study_dir: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Writes a study's figures, tables and ``report.html``; returns the page's path.

    See :func:`write_report` (which also returns the items and their errors).
    A bad item becomes an error entry in the page; this never fails on one.

    Args:
        study_dir: a study directory written by ``tfrobust study run``.
        title: page title (default: the report section's title, else the study name).

    Raises:
        FileNotFoundError: ``study_dir`` has neither ``study.sqlite`` nor ``results.csv``.
    """
    return write_report(study_dir, title=title).path

