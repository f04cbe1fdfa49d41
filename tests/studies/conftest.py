"""Shared set-up of the study tests."""

import pytest

from tfrobust.studies import KINDS


@pytest.fixture
def counting_kind(tmp_path, monkeypatch):
    """``register(fn)`` adds ``fn`` as the kind ``fake`` (removed after the test) and returns ``calls()``: the
    cell directories ``fn`` wrote to ``$STUDY_COUNT_FILE`` since the last call."""
    path = tmp_path / "count.txt"
    monkeypatch.setenv("STUDY_COUNT_FILE", str(path))

    def calls():
        names = path.read_text().split() if path.exists() else []
        path.unlink(missing_ok=True)
        return names

    def register(fn):
        KINDS.add("fake", fn)
        return calls

    yield register
    KINDS.remove("fake")
