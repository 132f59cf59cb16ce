"""find_duplicates: normalise, block, score, explain, cluster."""

from __future__ import annotations

import ctypes
import gc
import os
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import normalise as n
from .blocking import candidate_pairs
from .clusters import Cluster, build_clusters
from .columns import Columns, FieldValues, fields_of_records, normalise_columns
from .records import FieldRule, MatchConfig
from .scoring import FIELD_ORDER, PairSimilarities, compare_pairs, field_points


# Past four threads the chunks' temporaries cost more memory than the extra cores save time.
MAX_SCORING_THREADS = 4


class _Explainer:
    """Holds what explanations need, so they are built only for pairs someone looks at."""

    def __init__(self, columns: Columns, rules: dict[str, FieldRule]) -> None:
        self.columns = columns
        self.rules = rules

    def _row(self, name: str, value_a: str, value_b: str, similarity: float | None, points: dict[str, np.ndarray], note: str) -> dict[str, Any]:
        return {
            "field": name,
            "value_a": value_a,
            "value_b": value_b,
            "similarity": similarity,
            "weight": self.rules[name].weight,
            "points": round(float(points[name][0]), 2),
            "note": note,
        }

    def explain(self, row_a: int, row_b: int) -> list[dict[str, Any]]:
        rows_a, rows_b = np.array([row_a]), np.array([row_b])
        similarity = compare_pairs(self.columns, rows_a, rows_b, self.rules)
        points = field_points(similarity, self.rules)
        swapped = bool(similarity.names_swapped[0])
        values = _field_values(self.columns, row_a, row_b, swapped)
        explanation: list[dict[str, Any]] = []
        for name in FIELD_ORDER:
            value_a, value_b = values[name]
            raw = float(similarity.by_field[name][0])
            notes: list[str] = []
            if name in ("first_name", "last_name") and swapped:
                notes.append("first and last name swapped")
            if name == "first_name" and similarity.nickname[0]:
                notes.append("nickname")
            if name == "email" and similarity.shared_mailbox[0]:
                notes.append("shared mailbox: weak evidence")
            if raw != raw:  # NaN: missing on one side or both
                notes.append("missing")
            explanation.append(self._row(name, value_a, value_b, None if raw != raw else round(raw, 3), points, "; ".join(notes)))
        # Rows that are not fields: evidence that only shows in a combination of fields.
        if similarity.different_person[0]:
            note = "first name and a personal email or the last name both differ: a different person"
        else:
            note = ""
        explanation.append(self._row("different_person", "", "", None, points, note))
        note = "email, phone and address: two or more differ, none agrees" if similarity.contact_conflict[0] else ""
        explanation.append(self._row("contact_conflict", "", "", None, points, note))
        note = "nothing but the name agrees" if points["name_only"][0] < 0 else ""
        explanation.append(self._row("name_only", "", "", None, points, note))
        return explanation


def _field_values(columns: Columns, row_a: int, row_b: int, swapped: bool) -> dict[str, tuple[str, str]]:
    first_b = columns.last.value(row_b) if swapped else columns.first.value(row_b)
    last_b = columns.first.value(row_b) if swapped else columns.last.value(row_b)

    def address(row: int) -> str:
        unit = columns.unit.value(row)
        return columns.street.value(row) + (f" #{unit}" if unit else "")

    return {
        "first_name": (columns.first.value(row_a), first_b),
        "last_name": (columns.last.value(row_a), last_b),
        "email": (columns.email.value(row_a), columns.email.value(row_b)),
        "phone": (columns.phone.value(row_a), columns.phone.value(row_b)),
        "company": (columns.company.value(row_a), columns.company.value(row_b)),
        "address": (address(row_a), address(row_b)),
        "city": (columns.city.value(row_a), columns.city.value(row_b)),
        "zip": (columns.zip.value(row_a), columns.zip.value(row_b)),
        "state": (columns.state.value(row_a), columns.state.value(row_b)),
    }


class ScoredPair:
    """One candidate pair worth showing. `explanation` is built on first access."""

    __slots__ = ("id_a", "id_b", "score", "is_match", "_rows", "_explainer", "_explanation")

    def __init__(self, id_a: str, id_b: str, score: float, is_match: bool, rows: tuple[int, int], explainer: _Explainer) -> None:
        self.id_a = id_a
        self.id_b = id_b
        self.score = score
        self.is_match = is_match
        self._rows = rows
        self._explainer = explainer
        self._explanation: list[dict[str, Any]] | None = None

    @property
    def pair_key(self) -> tuple[str, str]:
        """The same for (a, b) and (b, a): id_a is always the smaller id."""
        return (self.id_a, self.id_b)

    @property
    def explanation(self) -> list[dict[str, Any]]:
        """Per field: both normalised values, similarity (0-1 or None), weight, points added."""
        if self._explanation is None:
            self._explanation = self._explainer.explain(*self._rows)
        return self._explanation

    def __repr__(self) -> str:
        return f"ScoredPair({self.id_a!r}, {self.id_b!r}, score={self.score}, is_match={self.is_match})"


class MatchResult:
    """What a run found: reported pairs best first, the clusters of matches, and figures.

    `pairs` are objects for people and the database, built on first access; bulk consumers
    (a benchmark, a DataFrame) can read the same pairs as arrays instead: `rows_a`/`rows_b`
    are positions in the input (rows_a holds the smaller id), `scores` and `is_match` follow.
    """

    def __init__(
        self,
        *,
        ids: list[str],
        rows_a: np.ndarray,
        rows_b: np.ndarray,
        scores: np.ndarray,
        is_match: np.ndarray,
        clusters: list[Cluster],
        stats: dict[str, Any],
        explainer: _Explainer,
    ) -> None:
        self.rows_a, self.rows_b, self.scores, self.is_match = rows_a, rows_b, scores, is_match
        self.clusters = clusters
        self.stats = stats
        self._ids = ids
        self._explainer = explainer
        self._pairs: list[ScoredPair] | None = None

    @property
    def pairs(self) -> list[ScoredPair]:
        if self._pairs is None:
            ids, explainer = self._ids, self._explainer
            self._pairs = [
                ScoredPair(ids[row_a], ids[row_b], score, is_match, (row_a, row_b), explainer)
                for row_a, row_b, score, is_match in zip(
                    self.rows_a.tolist(), self.rows_b.tolist(), self.scores.tolist(), self.is_match.tolist()
                )
            ]
        return self._pairs


def _id_order(ids: list[str]) -> np.ndarray:
    """Rank of each id: numeric order when every id is made of digits, else text order."""
    order: np.ndarray | list[int]
    if ids and all(value.isdigit() for value in ids):
        try:
            order = np.argsort(np.fromiter(map(int, ids), dtype=np.int64, count=len(ids)), kind="stable")
        except OverflowError:  # ids longer than 18 digits
            numbers = [int(value) for value in ids]
            order = sorted(range(len(ids)), key=numbers.__getitem__)
    else:
        order = sorted(range(len(ids)), key=ids.__getitem__)
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[order] = np.arange(len(ids))
    return ranks


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them after big numpy temporaries)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _score_chunk(columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray, rules: dict[str, FieldRule]) -> np.ndarray:
    similarity: PairSimilarities = compare_pairs(columns, rows_a, rows_b, rules)
    total = np.zeros(rows_a.size, dtype=np.float32)
    for value in field_points(similarity, rules).values():
        total += value
    return np.clip(total, 0.0, 100.0)


def score_candidates(columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray, rules: dict[str, FieldRule], chunk: int = 500_000) -> np.ndarray:
    """0-100 score per pair: the sum of every field's points, clamped.

    Chunked to bound memory, and chunks are scored on several threads: numpy and rapidfuzz let
    go of the GIL in their loops, so two cores score 5M pairs in ~60 % of one core's time. The
    result does not depend on the chunking: every pair is scored on its own.
    """
    scores = np.empty(rows_a.size, dtype=np.float32)
    starts = range(0, rows_a.size, chunk)

    def score(start: int) -> None:
        scores[start : start + chunk] = _score_chunk(columns, rows_a[start : start + chunk], rows_b[start : start + chunk], rules)

    threads = min(len(starts), _usable_cores(), MAX_SCORING_THREADS)
    if threads <= 1:
        for start in starts:
            score(start)
    else:
        # Derived tables (nickname pairs) are built once here, not raced for by the threads.
        compare_pairs(columns, rows_a[:1], rows_b[:1], rules)
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(score, starts))
    return scores


def find_duplicates(records: Sequence[Any], config: MatchConfig | None = None) -> MatchResult:
    """Pairs of records that look like one customer, scored and explained, and their clusters.

    Records need the attributes of `Record` (missing ones count as empty). Pairs scoring at least
    `config.report_floor` are returned, best first; those at or above `config.threshold` are
    matches and form the clusters.
    """
    ids = [str(record.id) for record in records]
    return find_duplicates_in_columns(ids, fields_of_records(records), config)


def find_duplicates_in_columns(ids: Sequence[str], fields: FieldValues, config: MatchConfig | None = None) -> MatchResult:
    """`find_duplicates` for data that is already column-wise (a query's value lists, a file).

    `fields` maps `Record` attribute names to one value per id, in the order of `ids`; a field
    left out is missing for everyone. Saves building a million record objects only to take
    them apart again.
    """
    # The run allocates millions of objects (normalised values, pairs, clusters) and no reference
    # cycles; with the collector on, each allocation burst re-walks every object the caller holds.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _find_duplicates([str(value) for value in ids], fields, config or MatchConfig())
    finally:
        if was_enabled:
            gc.enable()


def _find_duplicates(ids: list[str], fields: FieldValues, config: MatchConfig) -> MatchResult:
    timings: dict[str, float] = {}
    started = time.perf_counter()

    columns = normalise_columns(fields, len(ids), config.phone_region)
    timings["normalise_s"] = time.perf_counter() - started

    mark = time.perf_counter()
    rows_a, rows_b, blocking = candidate_pairs(columns, config.max_block_size, config.window)
    timings["blocking_s"] = time.perf_counter() - mark
    _release_freed_memory()

    mark = time.perf_counter()
    scores = score_candidates(columns, rows_a, rows_b, config.rules)
    timings["scoring_s"] = time.perf_counter() - mark
    _release_freed_memory()

    mark = time.perf_counter()
    reported = np.flatnonzero(scores >= config.report_floor)
    reported = reported[np.argsort(-scores[reported], kind="stable")]
    ranks = _id_order(ids)
    explainer = _Explainer(columns, config.rules)
    firsts, seconds = rows_a[reported], rows_b[reported]
    swap = ranks[firsts] > ranks[seconds]
    firsts, seconds = np.where(swap, seconds, firsts), np.where(swap, firsts, seconds)
    rounded = np.round(scores[reported].astype(np.float64), 1)
    matched = rounded >= config.threshold
    clusters = build_clusters(firsts[matched], seconds[matched], rounded[matched], ids, ranks)
    timings["clustering_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - started

    stats: dict[str, Any] = {
        "records": len(ids),
        "candidate_pairs": int(rows_a.size),
        "candidate_pairs_by_key": blocking.pairs_by_key,
        "windowed_blocks_by_key": blocking.windowed_blocks_by_key,
        "reported_pairs": int(reported.size),
        "matches": int(matched.sum()),
        "clusters": len(clusters),
        **{key: round(value, 3) for key, value in timings.items()},
    }
    return MatchResult(
        ids=ids, rows_a=firsts, rows_b=seconds, scores=rounded, is_match=matched, clusters=clusters, stats=stats, explainer=explainer
    )


def normalise_record(record: Any, region: str = "US") -> dict[str, str]:
    """The normalised search values of one record ("" when missing), for the sync's search columns."""
    first = n.normalise_name(getattr(record, "name_first", None))
    last = n.normalise_name(getattr(record, "name_last", None))
    _, street, unit = n.normalise_address(getattr(record, "address1", None), getattr(record, "address2", None))
    locality = " ".join(
        part
        for part in (
            n.normalise_city(getattr(record, "city", None)),
            n.normalise_state(getattr(record, "state", None)),
            n.normalise_postcode(getattr(record, "zip", None)).lower(),
        )
        if part
    )
    address = " ".join(part for part in (street, f"#{unit}" if unit else "", locality) if part)
    return {
        "name": " ".join(part for part in (first, last) if part),
        "email": n.normalise_email(getattr(record, "email", None)),
        "phone": n.normalise_phone(getattr(record, "phone", None), region),
        "company": n.normalise_company(getattr(record, "company_name", None)),
        "address": address,
    }
