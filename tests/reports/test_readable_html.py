"""Readable report pages (issue 17.7): every table scrolls inside its box; no cell thumbnail a figure already shows."""

from __future__ import annotations

from html.parser import HTMLParser
from types import SimpleNamespace

from tfrobust.reports.artifacts import Artifact, ReportItem
from tfrobust.reports.html import html_table, render_report, shown_cell_images, wrap_tables

WIDE = "<table><tr>" + "".join(f"<td>column {i}</td>" for i in range(60)) + "</tr></table>"


class _Page(HTMLParser):
    """Records, for every <table>, the element around it; and every <img src> and <a href>."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.table_parents: list[tuple[str, str | None]] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table":
            parent = self.stack[-1] if self.stack else ("", {})
            self.table_parents.append((parent[0], parent[1].get("class")))
        if tag == "img":
            self.images.append(str(attributes["src"]))
        if tag == "a":
            self.links.append(str(attributes["href"]))
        self._in_style = tag == "style"
        if tag not in ("img", "meta", "br"):
            self.stack.append((tag, attributes))

    def handle_endtag(self, tag):
        self._in_style = False
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data):
        if self._in_style:
            self.style += data


def _render(items=(), cell_images=(), **kwargs):
    defaults = dict(title="t", meta={"name": "s", "description": "d"}, counts={"done": 1}, seconds=1.0, items=items,
                    results_html=html_table(["a", "b"], [["1", "2"]]), results_link="results.csv",
                    cell_images=list(cell_images), failed=[])
    defaults.update(kwargs)
    page = _Page()
    text = render_report(**defaults)
    page.feed(text)
    return text, page


def test_wrap_tables_wraps_once_and_keeps_wrapped_tables():
    wrapped = wrap_tables(f"<p>x</p>{WIDE}<div class=\"scroll\">\n<table><tr><td>1</td></tr></table></div>")
    assert wrapped.count('<div class="scroll">') == 2 and wrapped.count("<table") == 2
    assert wrapped.startswith('<p>x</p><div class="scroll"><table>')
    assert wrap_tables(wrapped) == wrapped  # idempotent
    assert wrap_tables("&lt;table&gt; is text") == "&lt;table&gt; is text"


def test_every_table_of_the_page_sits_in_a_scrolling_box():
    item = ReportItem(name="wide", type="table", title="Wide",
                      artifacts=(Artifact(kind="table", path="tables/wide.csv", html=WIDE),))
    _, page = _render([item], checks_html=f"<section><h2>Checks</h2>{WIDE}</section>")
    assert len(page.table_parents) == 4  # meta, the item's table, the checks table, results
    assert page.table_parents == [("div", "scroll")] * 4
    rules = {r.split("{")[0].strip(): r.split("{")[1] for r in page.style.replace("\n", " ").split("}") if "{" in r}
    assert "overflow-x:auto" in rules[".scroll"]


def _cell_figure(name, cells, suffix=".png"):
    return ReportItem(name=name, type="cell_figure", title=name, artifacts=tuple(
        Artifact(kind="figure", path=f"figures/{name}__{c}{suffix}", title=c, caption=c) for c in cells))


def test_thumbnails_shown_by_a_cell_figure_are_not_repeated():
    images = [("cells/c1/other.png", "c1 · other.png"), ("cells/c1/toy.png", "c1 · toy.png"),
              ("cells/c2/toy.png", "c2 · toy.png"), ("cells/c3/toy.png", "c3 · toy.png")]
    text, page = _render([_cell_figure("toy", ["c1", "c2"])], images)
    assert "figures/toy__c1.png" in page.images and "figures/toy__c2.png" in page.images
    thumbs = [src for src in page.images if src.startswith("cells/")]
    assert thumbs == ["cells/c1/other.png", "cells/c3/toy.png"]  # c3's toy.png is in no figure
    assert "cells/c1/toy.png" in page.links and "cells/c2/toy.png" in page.links  # the originals stay linked
    assert "Shown in the figures above" in text


def test_no_thumbnail_is_dropped_when_the_copied_file_is_ambiguous():
    images = [("cells/c1/a.png", "a"), ("cells/c1/b.png", "b")]
    assert shown_cell_images([_cell_figure("x", ["c1"])], images) == set()
    _, page = _render([_cell_figure("x", ["c1"])], images)
    assert [s for s in page.images if s.startswith("cells/")] == ["cells/c1/a.png", "cells/c1/b.png"]


def test_cell_figure_of_several_cells_disambiguates_by_the_common_file():
    images = [("cells/c1/a.png", ""), ("cells/c1/b.png", ""), ("cells/c2/b.png", ""), ("cells/c2/c.png", "")]
    assert shown_cell_images([_cell_figure("x", ["c1", "c2"])], images) == {"cells/c1/b.png", "cells/c2/b.png"}


def test_other_items_and_explicit_sources():
    images = [("cells/c1/toy.png", ""), ("cells/c1/plot.png", "")]
    line = ReportItem(name="toy", type="line", title="Line", artifacts=(Artifact(kind="figure", path="figures/toy__c1.png"),))
    assert shown_cell_images([line], images) == set()  # only cell_figure items copy cell images
    sourced = ReportItem(name="s", type="custom", title="S", artifacts=(
        SimpleNamespace(kind="figure", path="figures/s.png", source="cells/c1/plot.png", title="", caption=""),))
    assert shown_cell_images([sourced], images) == {"cells/c1/plot.png"}
    assert shown_cell_images([], images, shown=["cells/c1/toy.png", "cells/zz/none.png"]) == {"cells/c1/toy.png"}
    _, page = _render([], images, shown_images=["cells/c1/toy.png"])
    assert [s for s in page.images if s.startswith("cells/")] == ["cells/c1/plot.png"]


def test_a_wide_table_scrolls_inside_its_box_in_a_browser(tmp_path):
    """Headless Chromium at 800 px: the page stays 800 px wide; without the boxes the table widens it."""
    import re
    import subprocess

    from tests.reports.test_report_chromium import require_chromium

    binary = require_chromium()
    item = ReportItem(name="wide", type="table", title="Wide",
                      artifacts=(Artifact(kind="table", path="tables/wide.csv", html=WIDE.replace("column", "col_" * 8)),))
    text, _ = _render([item])
    probe = "<script>document.body.setAttribute('data-width', String(document.documentElement.scrollWidth));</script>"
    widths = []
    for name, page in (("boxed", text), ("unboxed", text.replace('<div class="scroll">', "<div>"))):
        path = tmp_path / f"{name}.html"
        path.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
        dom = subprocess.run([binary, "--headless", "--disable-gpu", "--no-sandbox", "--window-size=800,600",
                              f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120).stdout
        widths.append(int(re.findall(r'data-width="(\d+)"', dom)[0]))
    assert widths[0] <= 800 < 2000 < widths[1], widths


def test_study_report_shows_a_cell_figure_once(tmp_path):
    """A real study: the toy cell's toy.png is the cell_figure item's figure, so no thumbnail repeats it."""
    from tests.reports.test_build_report import make_study
    from tfrobust.reports import build_report

    root = make_study(tmp_path / "s", report={"title": "once", "items": [
        {"type": "cell_figure", "name": "toy", "stage": "toy", "file": "toy.png"}]})
    page = _Page()
    page.feed(build_report(root).read_text(encoding="utf-8"))
    assert "figures/toy__toy.png" in page.images
    assert "cells/toy/toy.png" not in page.images and "cells/toy/toy.png" in page.links
    assert "cells/train__model-adv/curves.png" in page.images  # shown by no figure: still a thumbnail
