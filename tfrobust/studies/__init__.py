"""Studies: specs with grids generated in code, a resumable runner and its SQLite ledger.

A study's stages run *kinds*: functions ``fn(deps, out_dir, *, <params>)``
registered in :data:`tfrobust.registry.KINDS` (the built-in ones in
:mod:`tfrobust.studies.kinds`, one module per kind), run with
:func:`run_kind`. :func:`check_study` checks every cell's params against its
kind before anything runs.

Importing this package, loading a spec and checking params import no
TensorFlow; the kinds import it when they run (and the check of PGD step
lengths, for cells that configure a PGD).

Importing the package imports none of its modules: each public name is
loaded from its module on first use (PEP 562 ``__getattr__``), so
``tfrobust study status`` reads the ledger without loading the runner, the
kinds or the reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfrobust import lazy_exports

if TYPE_CHECKING:
    from tfrobust.studies.check import KIND_CHECKS, check_study
    from tfrobust.studies.kinds import KINDS, Kind, run_kind
    from tfrobust.studies.ledger import LEDGER_NAME, STATUSES, Ledger, LedgerError
    from tfrobust.studies.leftovers import remove_leftovers
    from tfrobust.studies.runner import (
        RECORDS_DIR,
        RESULTS_NAME,
        StudySummary,
        check_study_dir,
        parse_shard,
        read_cell_record,
        run_study,
        select_shard,
        stable_hash,
        write_results,
    )
    from tfrobust.studies.spec import Cell, Stage, StudySpec, load_study_spec, study_spec_from_dict

#: Public name -> the module (of this package) that defines or re-exports it.
_HOMES = {
    "KINDS": "kinds",
    "Kind": "kinds",
    "run_kind": "kinds",
    "KIND_CHECKS": "check",
    "check_study": "check",
    "remove_leftovers": "leftovers",
    "LEDGER_NAME": "ledger",
    "STATUSES": "ledger",
    "Ledger": "ledger",
    "LedgerError": "ledger",
    "RECORDS_DIR": "runner",
    "RESULTS_NAME": "runner",
    "StudySummary": "runner",
    "check_study_dir": "runner",
    "parse_shard": "runner",
    "read_cell_record": "runner",
    "run_study": "runner",
    "select_shard": "runner",
    "stable_hash": "runner",
    "write_results": "runner",
    "Cell": "spec",
    "Stage": "spec",
    "StudySpec": "spec",
    "load_study_spec": "spec",
    "study_spec_from_dict": "spec",
}
#: The package's modules, reachable as attributes (``tfrobust.studies.runner``) after ``import tfrobust.studies``.
_MODULES = ("check", "kinds", "ledger", "leftovers", "runner", "spec")

__all__ = [
    "KINDS",
    "Kind",
    "run_kind",
    "KIND_CHECKS",
    "check_study",
    "remove_leftovers",
    "LEDGER_NAME",
    "STATUSES",
    "Ledger",
    "LedgerError",
    "RECORDS_DIR",
    "RESULTS_NAME",
    "StudySummary",
    "check_study_dir",
    "parse_shard",
    "read_cell_record",
    "run_study",
    "select_shard",
    "stable_hash",
    "write_results",
    "Cell",
    "Stage",
    "StudySpec",
    "load_study_spec",
    "study_spec_from_dict",
]


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, _MODULES)
