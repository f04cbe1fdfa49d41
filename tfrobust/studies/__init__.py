"""Studies: specs with grids generated in code, a resumable runner and its SQLite ledger.

Importing this package does not import TensorFlow; the kinds import it when they run.
"""

from tfrobust.studies.kinds import KINDS, Kind, run_kind
from tfrobust.studies.check import KIND_CHECKS, check_study
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
