"""Rendering: table cells, Markdown and HTML tables, and the study's ``report.html``.

Plain HTML with a small inline style sheet: no JavaScript, no external
resources, relative links only (the study directory stays movable). Every
piece of text is escaped with :func:`html.escape`. Every ``<table>`` sits in a
``<div class="scroll">`` (``overflow-x:auto``), so a wide table scrolls inside
its box instead of running off the page; the cell thumbnails at the end leave
out the images a figure item above already shows (:func:`shown_cell_images`).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Collection, Mapping, Sequence
from numbers import Integral, Number
from pathlib import PurePosixPath
from typing import Any

from tfrobust.reports.artifacts import ReportItem

__all__ = ["MISSING", "SCROLL_CLASS", "format_value", "html_table", "markdown_table", "numeric_columns",
           "render_report", "shown_cell_images", "wrap_tables"]

MISSING = "–"
#: Class of the ``<div>`` around every table: ``overflow-x:auto`` (a wide table scrolls inside it).
SCROLL_CLASS = "scroll"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1150px;
     padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em} th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444}
.meta td:first-child{font-weight:bold}
.note{color:#666;font-style:italic} .error{color:#a00;font-weight:bold}
.pending{background:#fff8e0;border:1px dashed #c90;padding:.6em}
.thumbs{display:flex;flex-wrap:wrap;gap:.8em}
.thumbs figure{width:260px;margin:0} .thumbs img{width:100%}
.scroll{overflow-x:auto;max-width:100%;margin:.5em 0}
"""


def format_value(value: Any, *, percent: bool = False) -> str:
    """Text of one table cell: missing values as ``–``; ``percent`` numbers with 2 decimals.

    Args:
        value: a number, text, None or NaN.
        percent: the number is already multiplied by 100; show 2 decimals.
    """
    if value is None or (isinstance(value, str) and value == ""):
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Integral) and not percent:
        return str(int(value))
    if isinstance(value, Number):
        number = float(value)  # type: ignore[arg-type]
        if math.isnan(number):
            return MISSING
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        if percent:
            return f"{number:.2f}"
        if abs(number) >= 1e4:
            return f"{number:.1f}"
        text = f"{number:.4g}"
        return text if any(c in text for c in ".e") else f"{text}.0"
    return str(value)


def _is_numeric(value: Any) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                   *, numeric: Sequence[bool] | None = None) -> str:
    """A GitHub-flavoured Markdown table (numeric columns right-aligned; ``|`` escaped)."""
    numeric = list(numeric) if numeric is not None else [False] * len(headers)

    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines.extend("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
               *, numeric: Sequence[bool] | None = None) -> str:
    """An HTML ``<table>`` of already formatted cells (escaped here)."""
    numeric = list(numeric) if numeric is not None else [False] * len(headers)
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{html.escape(str(v))}</td>' if n else f"<td>{html.escape(str(v))}</td>"
                        for v, n in zip(row, numeric))
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="{SCROLL_CLASS}"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>")


_TABLE = re.compile(r'(<div class="' + SCROLL_CLASS + r'">\s*)?(<table\b.*?</table>)', re.DOTALL | re.IGNORECASE)


def wrap_tables(fragment: str) -> str:
    """``fragment`` with every ``<table>`` not yet inside a ``<div class="scroll">`` wrapped in one.

    Tables must not nest (none of the report's do); a table already wrapped is
    left as it is, so wrapping twice changes nothing.

    Args:
        fragment: HTML text.

    Returns:
        The HTML text with every table inside a scrolling box.
    """
    def wrap(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(0)
        return f'<div class="{SCROLL_CLASS}">{match.group(2)}</div>'

    return _TABLE.sub(wrap, fragment)


def numeric_columns(rows: Sequence[Sequence[Any]], width: int) -> list[bool]:
    """Per column: True when every non-missing value is a number."""
    out = []
    for j in range(width):
        values = [r[j] for r in rows if r[j] is not None and r[j] != ""
                  and not (isinstance(r[j], float) and math.isnan(r[j]))]
        out.append(bool(values) and all(_is_numeric(v) for v in values))
    return out


def _link(path: str, text: str) -> str:
    return f'<a href="{html.escape(path, quote=True)}">{html.escape(text)}</a>'


def _item_html(item: ReportItem) -> str:
    parts = [f'<section id="item-{html.escape(item.name, quote=True)}">',
             f"<h2>{html.escape(item.title)}</h2>"]
    if item.status == "error":
        parts.append(f'<p class="error">Error in report item {html.escape(item.name)} ({html.escape(item.type)}): '
                     f"{html.escape(item.message)}</p>")
    elif item.status == "pending":
        parts.append(f'<p class="pending">{html.escape(item.message)}</p>')
    elif item.message:
        parts.append(f'<p class="note">{html.escape(item.message)}</p>')
    for art in item.artifacts:
        if art.kind == "figure":
            caption = html.escape(art.caption or (art.title if art.title != item.title else ""))
            parts.append(f'<figure><a href="{html.escape(art.path, quote=True)}"><img src="{html.escape(art.path, quote=True)}" '
                         f'alt="{html.escape(art.title, quote=True)}"></a>'
                         + (f"<figcaption>{caption}</figcaption>" if caption else "") + "</figure>")
        else:
            if art.title and art.title != item.title:
                parts.append(f"<h3>{html.escape(art.title)}</h3>")
            parts.append(art.html)
            links = [_link(art.path, "CSV")] + ([_link(art.markdown, "Markdown")] if art.markdown else [])
            parts.append(f"<p>{' · '.join(links)}</p>")
            if art.caption:
                parts.append(f'<p class="note">{html.escape(art.caption)}</p>')
    if item.caption:
        parts.append(f"<p>{html.escape(item.caption)}</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _inline_code(text: str) -> str:
    """Escaped text with Markdown-style `code` spans (study descriptions name commands that way) as <code>."""
    return re.sub(r"`([^`\n]+)`", r"<code>\1</code>", html.escape(text))


def shown_cell_images(items: Sequence[ReportItem], cell_images: Sequence[tuple[str, str]],
                      *, shown: Collection[str] = ()) -> set[str]:
    """The cell images (``cells/<id>/<file>``) that a figure item of the page already shows.

    An artifact's ``source`` attribute (when the artifact has one) names the
    file it copies. A ``cell_figure`` item copies ``cells/<id>/<file>`` to
    ``figures/<item name>__<id><suffix>``; its ``<file>`` is the one file name
    (with that suffix) that every one of its cells has among ``cell_images``;
    when several names fit, none is taken as shown (no guessing).

    Args:
        items: the page's report items.
        cell_images: ``(relative path, caption)`` of every PNG under ``cells/``.
        shown: further relative paths known to be shown.

    Returns:
        The relative paths of ``cell_images`` not to repeat as thumbnails.
    """
    available = {path for path, _ in cell_images}
    out = {path for path in shown if path in available}
    by_cell: dict[str, set[str]] = {}
    for path in available:
        parts = PurePosixPath(path).parts
        if len(parts) > 2 and parts[0] == "cells":
            by_cell.setdefault(parts[1], set()).add("/".join(parts[2:]))
    for item in items:
        figures = [a for a in item.artifacts if a.kind == "figure"]
        out.update(str(getattr(a, "source", "")) for a in figures if str(getattr(a, "source", "")) in available)
        if item.type != "cell_figure":
            continue
        prefix = f"{item.name}__"
        copied: dict[str, str] = {}  # cell id -> suffix of the copy
        for art in figures:
            name = PurePosixPath(art.path)
            if name.stem.startswith(prefix) and len(name.stem) > len(prefix):
                copied[name.stem[len(prefix):]] = name.suffix
        if not copied or len(set(copied.values())) != 1:
            continue
        suffix = next(iter(copied.values()))
        candidates: set[str] | None = None
        for cell_id in copied:
            files = {f for f in by_cell.get(cell_id, set()) if PurePosixPath(f).suffix == suffix}
            candidates = files if candidates is None else candidates & files
        if candidates is not None and len(candidates) == 1:
            file = next(iter(candidates))
            out.update(f"cells/{cell_id}/{file}" for cell_id in copied)
    return out


def render_report(*, title: str, meta: Mapping[str, str], counts: Mapping[str, int], seconds: float,
                  items: Sequence[ReportItem], results_html: str, results_link: str | None,
                  cell_images: Sequence[tuple[str, str]], failed: Sequence[tuple[str, str]],
                  checks_html: str = "", shown_images: Collection[str] = ()) -> str:
    """The full ``report.html`` page.

    Args:
        title: page title.
        meta: the ledger's meta (``description``, ``reference``, ``preset``, ``name``).
        counts: cells per status.
        seconds: total compute seconds recorded in the ledger.
        items: the report items, in display order.
        results_html: ``results.csv`` as an HTML table.
        results_link: relative path of ``results.csv`` (None when missing).
        cell_images: ``(relative path, caption)`` of every PNG under ``cells/``.
        failed: ``(cell id, one-line error)`` of failed and skipped cells.
        checks_html: the gradient-masking checks section (shown after the facts; "" for none).
        shown_images: relative paths of cell images a figure above shows besides those
            :func:`shown_cell_images` finds; such images get a link, not a second thumbnail.

    Returns:
        The page; every ``<table>`` in it inside a ``<div class="scroll">``.
    """
    esc = html.escape
    rows = [("study", meta.get("name", "")), ("description", meta.get("description", "")),
            ("reference", meta.get("reference", "")), ("preset", meta.get("preset", "") or "(as written)")]
    status = ", ".join(f"{k}: {v}" for k, v in counts.items()) or "no ledger"
    rows += [("cells", status), ("compute", f"{seconds:.1f} s ({seconds / 3600:.2f} h)")]
    meta_table = "".join(f"<tr><td>{esc(k)}</td><td>{_inline_code(str(v))}</td></tr>" for k, v in rows if v != "")
    toc = "".join(f'<li><a href="#item-{esc(i.name, quote=True)}">{esc(i.title)}</a>'
                  + (f' <span class="error">({esc(i.status)})</span>' if i.status == "error" else "")
                  + (f' <span class="note">({esc(i.status)})</span>' if i.status == "pending" else "") + "</li>"
                  for i in items)
    body = [f"<h1>{esc(title)}</h1>", f'<div class="{SCROLL_CLASS}"><table class="meta">{meta_table}</table></div>']
    if checks_html:
        body.append(checks_html)
    if toc:
        body.append(f"<h2>Contents</h2><ul>{toc}</ul>")
    body.extend(_item_html(i) for i in items)
    body.append('<section id="all-results"><h2>All results</h2>')
    if results_link:
        body.append(f"<p>{_link(results_link, 'results.csv')}</p>")
    body.append(results_html or '<p class="note">no done cells yet</p>')
    body.append("</section>")
    body.append('<section id="cell-artifacts"><h2>Cell artifacts</h2>')
    if cell_images:
        repeated = shown_cell_images(items, cell_images, shown=shown_images)
        fresh = [(p, c) for p, c in cell_images if p not in repeated]
        if fresh:
            thumbs = "".join(f'<figure><a href="{esc(p, quote=True)}"><img src="{esc(p, quote=True)}" '
                             f'alt="{esc(c, quote=True)}" loading="lazy"></a><figcaption>{esc(c)}</figcaption></figure>'
                             for p, c in fresh)
            body.append(f'<div class="thumbs">{thumbs}</div>')
        if len(fresh) < len(cell_images):
            links = ", ".join(_link(p, c) for p, c in cell_images if p in repeated)
            body.append(f'<p class="note">Shown in the figures above (originals): {links}</p>')
    else:
        body.append('<p class="note">no PNG files under cells/</p>')
    if failed:
        lines = "".join(f"<li><code>{esc(cid)}</code>: {esc(err)}</li>" for cid, err in failed)
        body.append(f"<h3>Failed and skipped cells</h3><ul>{lines}</ul>")
    body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            + wrap_tables("\n".join(body)) + "\n</body>\n</html>\n")
