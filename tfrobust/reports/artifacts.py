"""What a report item produced: :class:`ReportItem` and the files it wrote (:class:`Artifact`).

Plain data shared by the item builders (:mod:`tfrobust.reports.items`) and
the page renderer (:mod:`tfrobust.reports.html`); imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Artifact", "ReportItem"]


@dataclass(frozen=True)
class Artifact:
    """One file an item wrote.

    Attributes:
        kind: ``figure`` or ``table``.
        path: relative to the study directory, ``/``-separated (``figures/x.png``, ``tables/x.csv``).
        title: short title.
        caption: caption text.
        markdown: tables: relative path of the Markdown version.
        html: tables: the table as an HTML snippet.
    """

    kind: str
    path: str
    title: str = ""
    caption: str = ""
    markdown: str = ""
    html: str = ""


@dataclass(frozen=True)
class ReportItem:
    """What one report item produced.

    Attributes:
        name: the item's name.
        type: its type (a key of :data:`tfrobust.reports.items.REPORT_ITEMS`).
        title: heading in the report.
        caption: the item's caption.
        status: ``ok``; ``partial`` (built from some of the cells); ``pending``
            (placeholder, nothing computed yet); ``error`` (misconfiguration).
        message: the note, placeholder text or one-line error.
        artifacts: the figures and tables written.
    """

    name: str
    type: str
    title: str
    caption: str = ""
    status: str = "ok"
    message: str = ""
    artifacts: tuple[Artifact, ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        """Relative paths of every file written (Markdown versions of tables included)."""
        out: list[str] = []
        for art in self.artifacts:
            out.append(art.path)
            if art.markdown:
                out.append(art.markdown)
        return tuple(out)
