"""Duplicate-detection engine: pure Python (no Django), plain records in, scored pairs out.

    from mergeassist.matching import Record, MatchConfig, find_duplicates, normalise_record

See docs/matching.md for how it works and how the defaults were measured.
"""

from .clusters import Cluster
from .columns import CodedValues
from .csvio import read_columns_csv, read_records_csv, write_pairs_csv
from .engine import (
    MatchResult, RunState, ScoredPair, compact_explanation, find_duplicates, find_duplicates_in_columns, normalise_record,
    run_full, run_incremental, score_pair,
)
from .records import DEFAULT_THRESHOLD, DEFAULT_WEIGHTS, FieldRule, MatchConfig, Record

__all__ = [
    "Cluster", "CodedValues", "DEFAULT_THRESHOLD", "DEFAULT_WEIGHTS", "FieldRule", "MatchConfig", "MatchResult",
    "Record", "RunState", "ScoredPair", "compact_explanation", "find_duplicates", "find_duplicates_in_columns", "normalise_record",
    "read_columns_csv", "read_records_csv", "run_full", "run_incremental", "score_pair", "write_pairs_csv",
]
