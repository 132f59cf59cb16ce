"""The engines under test, each run the same way: data file in, predicted match pairs out.

Each `run_*` function is called inside its own child process (see bench_matching.py), reads the
parquet file itself, and returns the predicted pairs as sorted int64 codes plus the candidate
count. The wall clock covers everything from the file on disk to the clustered result; peak
memory (PeakMemory) stops at the same point, before any bookkeeping for the benchmark.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from matching_data import CORE_FIELDS, pair_codes


@dataclass(slots=True)
class EngineRun:
    predicted: np.ndarray  # sorted int64 pair codes the engine calls a match
    candidate_pairs: int  # pairs the engine compared after blocking
    wall_s: float
    peak_rss_mb: float
    blocked_true_pairs: int | None = None  # filled after measuring, when the engine can say


class PeakMemory:
    """Peak memory of this process and any helper it forks, in MB, while the engine runs.

    This process: the kernel's high-water mark VmHWM, exact. Not ru_maxrss: Linux carries the
    parent's peak across fork and exec into it, so every child would weigh at least as much as
    the benchmark's parent (900 MB after making the 1M set). A forked helper (MergeAssist
    normalises in one) is sampled every 0.1 s, counting only its private pages: the pages it
    shares with this process are already in this process's RSS. Engines that never fork get
    exactly VmHWM.
    """

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.sampled_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return max(_proc_kb(os.getpid(), "status", "VmHWM:"), self.sampled_kb) / 1024

    def _sample(self) -> None:
        # Cheap reads only: the sampler shares the GIL with the engine's threads, and reading a
        # helper's smaps_rollup walks its page tables under its memory-map lock, stalling the
        # helper's own allocations. So each sample reads that file once, not once per field, and
        # finds children through /proc/PID/task/*/children rather than by scanning /proc.
        pid = os.getpid()
        while not self._stop.wait(self.interval_s):
            total = _proc_kb(pid, "status", "VmRSS:")
            for child in _child_pids(pid):
                total += _private_kb(child)
            self.sampled_kb = max(self.sampled_kb, total)


def _proc_kb(pid: int, file: str, key: str) -> int:
    try:
        with open(f"/proc/{pid}/{file}") as lines:
            for line in lines:
                if line.startswith(key):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass  # the helper ended between listing and reading
    return 0


def _private_kb(pid: int) -> int:
    """Private_Clean + Private_Dirty of a process, in kB, from one read of smaps_rollup."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as lines:
            for line in lines:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass  # the helper ended between listing and reading
    return total


def _child_pids(parent: int) -> list[int]:
    children: list[int] = []
    try:
        threads = os.listdir(f"/proc/{parent}/task")
    except FileNotFoundError:
        return children
    for thread in threads:
        try:
            with open(f"/proc/{parent}/task/{thread}/children") as listed:
                children += [int(child) for child in listed.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended between listing and reading
    return children


def _count_in(sorted_haystack: np.ndarray, needles: np.ndarray) -> int:
    """How many of `needles` are in the sorted array `sorted_haystack`."""
    if sorted_haystack.size == 0 or needles.size == 0:
        return 0
    where = np.searchsorted(sorted_haystack, needles)
    where[where == sorted_haystack.size] = 0
    return int((sorted_haystack[where] == needles).sum())


# ---------------------------------------------------------------------------------------------
# MergeAssist


def run_mergeassist(data_path: Path, truth: np.ndarray) -> EngineRun:
    from mergeassist.matching import CodedValues, MatchConfig, find_duplicates_in_columns
    from mergeassist.matching.columns import MATCHED_FIELDS

    with PeakMemory() as memory:
        started = time.perf_counter()
        table = pq.read_table(data_path, columns=list(MATCHED_FIELDS))
        size = table.num_rows
        # Column-wise in, as an Arrow or DataFrame user would call it: each column dictionary-
        # encoded by Arrow, so the engine sees every distinct value once and no record objects.
        fields = {}
        for field in MATCHED_FIELDS:
            encoded = table.column(field).combine_chunks().dictionary_encode()
            codes = pc.fill_null(encoded.indices, -1).to_numpy()
            fields[field] = CodedValues(codes, encoded.dictionary.to_pylist())
        del table
        # The row number is the id, so the engine's pairs map straight back to rows.
        ids = [str(row) for row in range(size)]
        config = MatchConfig()
        result = find_duplicates_in_columns(ids, fields, config)
        # The ids are the row numbers, so the result's row arrays are the predicted pairs.
        predicted = np.sort(pair_codes(result.rows_a[result.is_match], result.rows_b[result.is_match], size))
        wall_s = time.perf_counter() - started
    peak = memory.peak_mb

    run = EngineRun(predicted, int(result.stats["candidate_pairs"]), wall_s, peak)
    del result
    run.blocked_true_pairs = _mergeassist_blocked_true_pairs(fields, size, config, truth)
    return run


def _mergeassist_blocked_true_pairs(fields: dict, size: int, config, truth: np.ndarray) -> int:
    # find_duplicates reports how many candidates it had but not which ones, so rebuild them
    # with the engine's own blocking (outside the measured time and memory).
    from mergeassist.matching.blocking import candidate_pairs
    from mergeassist.matching.columns import normalise_columns

    columns = normalise_columns(fields, size, config.phone_region)
    rows_a, rows_b, _ = candidate_pairs(columns, config.max_block_size, config.window)
    candidates = np.sort(pair_codes(rows_a, rows_b, size))
    return _count_in(candidates, truth)


# ---------------------------------------------------------------------------------------------
# Splink (DuckDB backend), the standard dedupe model from its tutorials


# What a careful Splink user does before linking: trim, lower-case, nulls for blanks (else every
# record without an email would block with every other), digits only for phones, and nulls for
# placeholders: an email or phone on more than PLACEHOLDER_MIN_RECORDS records is "test@test.com"
# or "000-000-0000", not a person's (Splink's n_largest_blocks shows them at once). Without that
# last step the 1M set gives Splink 24M candidate pairs and EM trains on junk (F1 0.49).
# Ten is well above what one person (up to 5 records) or a household or office (up to 3) shares,
# and low enough to catch the junk values of the 10k set, each on about 20 records.
PLACEHOLDER_MIN_RECORDS = 10
SPLINK_CLEANING_SQL = """
    with cleaned as (
        select
            row as unique_id,
            {text_columns},
            nullif(right(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), 10), '') as phone
        from read_parquet('{path}')
    )
    select
        * replace (
            case when count(email) over (partition by email) > {placeholder_min} then null
                 else email end as email,
            case when count(phone) over (partition by phone) > {placeholder_min} then null
                 else phone end as phone
        )
    from cleaned
    order by unique_id
"""
SPLINK_TEXT_COLUMNS = [field for field in CORE_FIELDS if field != "phone"]

# Blocking rules for prediction, as equality on columns. Adding (zip, name_first) lifts FEBRL2
# recall from 0.64 to 0.73 but drops 100k-synthetic precision from 0.71 to 0.60: left out.
SPLINK_BLOCKING_COLUMNS: list[tuple[str, ...]] = [
    ("name_first", "name_last"),
    ("email",),
    ("phone",),
    ("zip", "name_last"),
    ("address1", "zip"),
]
MATCH_PROBABILITY = 0.5


def _fetch(con, sql: str) -> list[tuple]:
    # DuckDB 2 refuses new work on a connection while a result is unread, so read each one out.
    return con.execute(sql).fetchall()


def splink_cleaning_sql(path: Path) -> str:
    text_columns = ",\n        ".join(
        f"nullif(lower(trim({field})), '') as {field}" for field in SPLINK_TEXT_COLUMNS
    )
    return SPLINK_CLEANING_SQL.format(
        text_columns=text_columns, path=path, placeholder_min=PLACEHOLDER_MIN_RECORDS
    )


def _splink_settings():
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[block_on(*columns) for columns in SPLINK_BLOCKING_COLUMNS],
        comparisons=[
            cl.NameComparison("name_first"),
            cl.NameComparison("name_last"),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone"),
            cl.JaroWinklerAtThresholds("company_name", [0.9]),
            cl.JaroWinklerAtThresholds("address1", [0.95, 0.88]),
            # Only zip for the place: Splink's docs warn against columns predictable from one
            # another, and with city and state too one shared place counted three times (+27
            # bits), enough to match strangers with one surname: 1M F1 0.52, against 0.83 now.
            cl.ExactMatch("zip"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


# EM passes, best first; each trains every comparison but its own columns, so two disjoint ones
# cover the model. Blocks on strong identifiers hold mostly true matches, which EM needs: on 100k
# synthetic records email/phone gave Splink F1 0.82, against 0.70-0.80 for the name+name,
# zip+address and zip blocks. FEBRL has neither email nor phone, so it gets the next pair.
SPLINK_EM_BLOCKS: list[tuple[str, ...]] = [
    ("email",),
    ("phone",),
    ("name_first", "name_last"),
    ("zip", "address1"),
]


def train_splink(linker, columns_with_values: set[str]) -> None:
    from splink import block_on

    training = linker.training
    training.estimate_probability_two_random_records_match(
        [block_on("name_first", "name_last", "zip"), block_on("email")], recall=0.7
    )
    training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    usable = [block for block in SPLINK_EM_BLOCKS if set(block) <= columns_with_values]
    for block in usable[:2]:
        training.estimate_parameters_using_expectation_maximisation(block_on(*block))


def run_splink(data_path: Path, truth: np.ndarray) -> EngineRun:
    import logging

    from splink import DuckDBAPI, Linker

    with PeakMemory() as memory:
        started = time.perf_counter()
        db_api = DuckDBAPI()
        _fetch(db_api.duckdb_con, f"create table customers as {splink_cleaning_sql(data_path)}")
        size = int(_fetch(db_api.duckdb_con, "select count(*) from customers")[0][0])
        customers = db_api.register("customers", dataset_display_name="customers_input")
        linker = Linker(customers, _splink_settings(), log_level=logging.WARNING)

        train_splink(linker, _columns_with_values(db_api.duckdb_con))
        predictions = linker.inference.predict(threshold_match_probability=MATCH_PROBABILITY)
        linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=MATCH_PROBABILITY
        )
        found = db_api.duckdb_con.execute(
            f"select unique_id_l, unique_id_r from {predictions.physical_name}"
        ).fetchnumpy()
        wall_s = time.perf_counter() - started
    peak = memory.peak_mb

    predicted = np.sort(pair_codes(found["unique_id_l"], found["unique_id_r"], size))
    candidates, blocked_true = _splink_candidates(db_api.duckdb_con, truth, size)
    return EngineRun(predicted, candidates, wall_s, peak, blocked_true)


def _columns_with_values(con) -> set[str]:
    counts = _fetch(con, f"select {', '.join(f'count({field})' for field in CORE_FIELDS)} from customers")[0]
    return {field for field, count in zip(CORE_FIELDS, counts) if count}


def _pairs_agreeing_on_any(columns_per_rule: list[tuple[str, ...]], size: int) -> str:
    """SQL for the distinct pair codes of `customers` rows equal (and not null) on any rule."""
    rule_sqls = [
        "select l.unique_id as a, r.unique_id as b from customers l join customers r on "
        + " and ".join(f"l.{column} = r.{column}" for column in columns)
        + " where l.unique_id < r.unique_id"
        for columns in columns_per_rule
    ]
    return f"select distinct a * {size} + b as code from ({' union all '.join(rule_sqls)})"


def _splink_candidates(con, truth: np.ndarray, size: int) -> tuple[int, int]:
    """Splink's candidate set is the union of its equality blocking rules: rebuild it in SQL."""
    _fetch(con, f"create table blocked as {_pairs_agreeing_on_any(SPLINK_BLOCKING_COLUMNS, size)}")
    candidates = int(_fetch(con, "select count(*) from blocked")[0][0])
    con.register("truth_codes", pa.table({"code": truth}))
    blocked_true = int(_fetch(con, "select count(*) from truth_codes join blocked using (code)")[0][0])
    return candidates, blocked_true


# ---------------------------------------------------------------------------------------------
# Baseline: what a spreadsheet user does. Same cleaning as Splink's input, then a pair is a match
# when the email, the phone, or first name + last name + zip are equal. No scoring at all.

BASELINE_RULES: list[tuple[str, ...]] = [("email",), ("phone",), ("name_first", "name_last", "zip")]


def run_exact_rules(data_path: Path, truth: np.ndarray) -> EngineRun:
    import duckdb

    with PeakMemory() as memory:
        started = time.perf_counter()
        con = duckdb.connect(":memory:")
        _fetch(con, f"create table customers as {splink_cleaning_sql(data_path)}")
        size = int(_fetch(con, "select count(*) from customers")[0][0])
        pairs_sql = _pairs_agreeing_on_any(BASELINE_RULES, size)
        codes = con.execute(f"select code from ({pairs_sql})").fetchnumpy()
        wall_s = time.perf_counter() - started
    peak = memory.peak_mb
    predicted = np.sort(codes["code"].astype(np.int64))
    # No blocking: every pair it looks at is a match, so the candidates are its predictions.
    return EngineRun(predicted, int(predicted.size), wall_s, peak, _count_in(predicted, truth))


ENGINES: dict[str, Callable[[Path, np.ndarray], EngineRun]] = {
    "mergeassist": run_mergeassist,
    "splink": run_splink,
    "exact-rules": run_exact_rules,
}
