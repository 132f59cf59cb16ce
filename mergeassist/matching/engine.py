"""find_duplicates: normalise, block, score, explain, cluster."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from json.encoder import encode_basestring_ascii as _encode_json_string  # what json.dumps uses for str
from typing import Any

import numpy as np

from . import normalise as n
from .blocking import MISSING, candidate_pairs, pairs_within_blocks
from .clusters import Cluster, build_clusters
from .columns import Columns, FieldValues, fields_of_records, normalise_columns, patch_columns
from mergeassist.crm.ids import id_sort_key  # plain Python, no Django: see _id_order
from .records import FieldRule, MatchConfig
from .scoring import FIELD_ORDER, PairSimilarities, compare_pairs, field_points


# Past four threads the chunks' temporaries cost more memory than the extra cores save time.
MAX_SCORING_THREADS = 4


class _Explainer:
    """Holds what explanations need, so they are built only for pairs someone looks at.

    `explain_rows` explains many pairs with one call of the scoring code (`compare_pairs` and
    `field_points` over arrays, as scoring does), so the cost per pair is building its dicts;
    `explain` is the same for one pair.
    """

    def __init__(self, columns: Columns, rules: dict[str, FieldRule], vouched: np.ndarray | None = None) -> None:
        self.columns = columns
        self.rules = rules
        # Sorted codes `low_row * size + high_row` of the pairs the cluster vouches for.
        self.vouched = np.empty(0, dtype=np.int64) if vouched is None else vouched

    def _vouched(self, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
        if self.vouched.size == 0:
            return np.zeros(rows_a.size, dtype=bool)
        codes = np.minimum(rows_a, rows_b) * self.columns.size + np.maximum(rows_a, rows_b)
        position = np.minimum(np.searchsorted(self.vouched, codes), self.vouched.size - 1)
        return self.vouched[position] == codes

    def explain(self, row_a: int, row_b: int) -> list[dict[str, Any]]:
        return self.explain_rows(np.array([row_a], dtype=np.int64), np.array([row_b], dtype=np.int64))[0]

    def _coded_table(
        self, rows_a: np.ndarray, rows_b: np.ndarray
    ) -> tuple[dict[str, _CodedRow], PairSimilarities]:
        """Per explanation row (field), column-wise over the pairs: similarity rounded to 3
        places (None when missing), points rounded to 2 and the note, each as a code per pair
        into its distinct values.

        One call of the scoring code for all pairs; rounding is done once per distinct value and
        notes are looked up by a code of their conditions, so the per-pair cost is a gather."""
        similarity = compare_pairs(self.columns, rows_a, rows_b, self.rules, self._vouched(rows_a, rows_b))
        points = field_points(similarity, self.rules)
        missing = {name: np.isnan(similarity.by_field[name]) for name in FIELD_ORDER}
        swapped = similarity.names_swapped
        conditions: dict[str, list[tuple[np.ndarray, str]]] = {
            name: [(missing[name], "missing")] for name in FIELD_ORDER
        }
        moved = similarity.name_moved
        full_swap = swapped & ~moved
        conditions["first_name"] = [
            (full_swap, "first and last name swapped"), (moved, MOVED_NOTE), (similarity.nickname, "nickname"), (missing["first_name"], "missing")
        ]
        conditions["last_name"] = [(full_swap, "first and last name swapped"), (moved, MOVED_NOTE), (missing["last_name"], "missing")]
        conditions["email"] = [(similarity.shared_mailbox, "shared mailbox: weak evidence"), (missing["email"], "missing")]
        # Rows that are not fields: evidence that only shows in a combination of fields.
        conditions["different_person"] = [(similarity.different_person, "first name and a personal email or the last name both differ: a different person")]
        conditions["contact_conflict"] = [(similarity.contact_conflict, "email, phone and address: two or more differ, none agrees")]
        conditions["name_only"] = [(points["name_only"] < 0, "nothing but the name agrees")]
        conditions["cluster"] = [(similarity.vouched, VOUCHED_NOTE)]
        nothing = (np.zeros(rows_a.size, dtype=np.int64), [None])
        table = {
            name: _CodedRow(
                *(_rounded_codes(similarity.by_field[name], 3) if name in similarity.by_field else nothing),
                *_rounded_codes(points[name], 2),
                *_note_codes(conditions[name]),
            )
            for name in (*FIELD_ORDER, *_EXTRA_ROWS)
        }
        return table, similarity

    def explain_rows(self, rows_a: np.ndarray, rows_b: np.ndarray) -> list[list[dict[str, Any]]]:
        """One explanation per pair (rows_a[k], rows_b[k]), as `explain` gives it."""
        rows_a, rows_b = np.asarray(rows_a, dtype=np.int64), np.asarray(rows_b, dtype=np.int64)
        if rows_a.size == 0:
            return []
        table, similarity = self._coded_table(rows_a, rows_b)
        values = _field_values_of_rows(self.columns, rows_a, rows_b, similarity.names_swapped)
        blank = [""] * rows_a.size
        columns = []
        for name in (*FIELD_ORDER, *_EXTRA_ROWS):
            value_a, value_b = values.get(name, (blank, blank))
            row = table[name]
            columns.append((name, self.rules[name].weight, value_a, value_b, *row.per_pair()))
        return [
            [
                {"field": name, "value_a": value_a[k], "value_b": value_b[k], "similarity": similar[k], "weight": weight,
                 "points": points[k], "note": notes[k]}
                for name, weight, value_a, value_b, similar, points, notes in columns
            ]
            for k in range(rows_a.size)
        ]

    def compact_rows(self, rows_a: np.ndarray, rows_b: np.ndarray) -> list[str]:
        """`compact_explanation(explanation)` for each pair, built from the same table without
        building the dicts (scan_csv writes hundreds of thousands of them): each field's text is
        made once per distinct (similarity, points, note) and gathered."""
        rows_a, rows_b = np.asarray(rows_a, dtype=np.int64), np.asarray(rows_b, dtype=np.int64)
        if rows_a.size == 0:
            return []
        table, _ = self._coded_table(rows_a, rows_b)
        joined = np.full(rows_a.size, "", dtype=object)
        for name in (*FIELD_ORDER, *_EXTRA_ROWS):
            joined += table[name].compact_texts(name)  # each non-empty text starts with "; "
        return [text[2:] for text in joined.tolist()]

    def json_rows(self, rows_a: np.ndarray, rows_b: np.ndarray) -> ExplainedColumns:
        """The explanations of many pairs as JSON text, each equal to `json.dumps(explanation)`,
        built from the same table without building the dicts: the parts that repeat (a row's
        similarity, weight, points and note) are encoded once per distinct combination, the
        values once per pair by the json module's own string encoder."""
        rows_a, rows_b = np.asarray(rows_a, dtype=np.int64), np.asarray(rows_b, dtype=np.int64)
        if rows_a.size == 0:
            return ExplainedColumns([], {})
        table, similarity = self._coded_table(rows_a, rows_b)
        values = _field_values_of_rows(self.columns, rows_a, rows_b, similarity.names_swapped)
        pieces: list[Iterable[str]] = []
        for position, name in enumerate((*FIELD_ORDER, *_EXTRA_ROWS)):
            opening = ("[" if position == 0 else ", ") + '{"field": ' + _encode_json_string(name) + ", "
            closing = table[name].json_tails(self.rules[name].weight)
            if name in values:
                value_a, value_b = values[name]
                pieces += [
                    repeat(opening + '"value_a": '), map(_encode_json_string, value_a), repeat(', "value_b": '),
                    map(_encode_json_string, value_b), closing,
                ]
            else:
                pieces += [repeat(opening + '"value_a": "", "value_b": ""'), closing]
        texts = ["".join(parts) + "]" for parts in zip(*pieces)]
        return ExplainedColumns(texts, table)


@dataclass(frozen=True, slots=True)
class _CodedRow:
    """One explanation row over many pairs: per pair a code into each list of distinct values."""

    similarity_codes: np.ndarray
    similarities: list[float | None]
    point_codes: np.ndarray
    points: list[float | None]
    note_codes: np.ndarray
    notes: list[str]

    def per_pair(self) -> tuple[list[float | None], list[float | None], list[str]]:
        return (
            _gather(self.similarities, self.similarity_codes), _gather(self.points, self.point_codes),
            _gather(self.notes, self.note_codes),
        )

    def compact_texts(self, name: str) -> np.ndarray:
        """`"; " + _compact_row(...)` per pair ("" for a row the compact form leaves out)."""

        def text(similarity: float | None, point: float | None, note: str) -> str:
            compact = _compact_row(name, similarity, point, note)
            return f"; {compact}" if compact else ""

        texts, inverse = self._per_distinct(text)
        return np.array(texts, dtype=object)[inverse]

    def json_tails(self, weight: float) -> list[str]:
        """`, "similarity": …, "weight": …, "points": …, "note": …}` per pair, as json.dumps
        writes it."""

        def tail(similarity: float | None, point: float | None, note: str) -> str:
            return ", " + json.dumps({"similarity": similarity, "weight": weight, "points": point, "note": note})[1:]

        texts, inverse = self._per_distinct(tail)
        return _gather(texts, inverse)

    def _per_distinct(self, render: Callable[[float | None, float | None, str], str]) -> tuple[list[str], np.ndarray]:
        """`render(similarity, points, note)` once per distinct combination among the pairs, and
        each pair's index into those texts."""
        points, notes = len(self.points), len(self.notes)
        combined = (self.similarity_codes * points + self.point_codes) * notes + self.note_codes
        distinct, inverse = np.unique(combined, return_inverse=True)
        texts = [render(*self._values_of(code, points, notes)) for code in distinct.tolist()]
        return texts, inverse.reshape(-1)

    def _values_of(self, combined: int, points: int, notes: int) -> tuple[float | None, float | None, str]:
        """The (similarity, points, note) a combined code stands for."""
        return (
            self.similarities[combined // (points * notes)], self.points[combined // notes % points],
            self.notes[combined % notes],
        )


@dataclass(frozen=True, slots=True)
class ExplainedColumns:
    """Explanations of many pairs, column-wise: `json[k]` is pair k's explanation as JSON text
    (`json.dumps(explanation)`); `similarities(row)` and `notes(row)` give one explanation row's
    values for every pair, as the explanation's dicts hold them."""

    json: list[str]
    _table: dict[str, _CodedRow]

    def similarities(self, row: str) -> list[float | None]:
        return _gather(self._table[row].similarities, self._table[row].similarity_codes)

    def notes(self, row: str) -> list[str]:
        return _gather(self._table[row].notes, self._table[row].note_codes)


_EXTRA_ROWS: tuple[str, ...] = ("different_person", "contact_conflict", "name_only", "cluster")
VOUCHED_NOTE = "both match one third record strongly; neither has an email or phone"
# Says "swapped" so the review's reason flags (review/reasons.py) count it as swapped names.
MOVED_NOTE = "one name swapped into the other's place, the other differs"


def _gather(values: list[Any], codes: np.ndarray) -> list[Any]:
    table = np.empty(len(values), dtype=object)
    table[:] = values
    return table[codes].tolist()


def _rounded_codes(values: np.ndarray, digits: int) -> tuple[np.ndarray, list[float | None]]:
    """(code per value, distinct values): round(float(v), digits) once per distinct value, None for NaN."""
    distinct, inverse = np.unique(values, return_inverse=True)
    rounded = [None if value != value else round(value, digits) for value in distinct.tolist()]
    return inverse.reshape(-1).astype(np.int64), rounded


def _note_codes(conditions: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray, list[str]]:
    """(code per pair, notes): a pair's note is the texts of the conditions that hold, in order, joined by "; "."""
    code = np.zeros(conditions[0][0].size, dtype=np.int64)
    for bit, (holds, _) in enumerate(conditions):
        code |= np.asarray(holds, dtype=np.int64) << bit
    texts = ["; ".join(text for bit, (_, text) in enumerate(conditions) if combination >> bit & 1) for combination in range(1 << len(conditions))]
    return code, texts


def _compact_row(name: str, similarity: float | None, points: float, note: str) -> str:
    if not points and (not note or note == "missing"):
        return ""
    text = name if similarity is None else f"{name} {similarity:g}"
    text += f" {points:+g}"
    if note and note != "missing":
        text += f" ({note})"
    return text


def compact_explanation(explanation: list[dict[str, Any]]) -> str:
    """A short form of an explanation for files: `field similarity points` for every row that
    adds or takes points or carries a note, e.g. `email 1 +288; phone 0.8 -10.1; name_only -65`."""
    return "; ".join(
        filter(None, (_compact_row(row["field"], row["similarity"], row["points"], row["note"]) for row in explanation))
    )


def _field_values_of_rows(columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray, swapped: np.ndarray) -> dict[str, tuple[list[str], list[str]]]:
    first_b = np.where(swapped, columns.last.strings(rows_b), columns.first.strings(rows_b))
    last_b = np.where(swapped, columns.first.strings(rows_b), columns.last.strings(rows_b))

    def address(rows: np.ndarray) -> list[str]:
        return [street + (f" #{unit}" if unit else "") for street, unit in zip(columns.street.strings(rows).tolist(), columns.unit.strings(rows).tolist())]

    def pair(column) -> tuple[list[str], list[str]]:
        return column.strings(rows_a).tolist(), column.strings(rows_b).tolist()

    return {
        "first_name": (columns.first.strings(rows_a).tolist(), first_b.tolist()),
        "last_name": (columns.last.strings(rows_a).tolist(), last_b.tolist()),
        "email": pair(columns.email),
        "phone": pair(columns.phone),
        "company": pair(columns.company),
        "address": (address(rows_a), address(rows_b)),
        "city": pair(columns.city),
        "zip": pair(columns.zip),
        "state": pair(columns.state),
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

    def explanations(self, indexes: np.ndarray | Sequence[int]) -> list[list[dict[str, Any]]]:
        """The explanations of the reported pairs at `indexes`, built in one vectorised pass."""
        indexes = np.asarray(indexes, dtype=np.int64)
        return self._explainer.explain_rows(self.rows_a[indexes], self.rows_b[indexes])

    def compact_explanations(self, indexes: np.ndarray | Sequence[int]) -> list[str]:
        """`compact_explanation` of the reported pairs at `indexes`, without building the dicts."""
        indexes = np.asarray(indexes, dtype=np.int64)
        return self._explainer.compact_rows(self.rows_a[indexes], self.rows_b[indexes])

    def explanations_as_json(self, indexes: np.ndarray | Sequence[int]) -> ExplainedColumns:
        """The explanations of the reported pairs at `indexes` as JSON text (each equal to
        `json.dumps(pair.explanation)`), with their rows' similarities and notes column-wise:
        for writing many explanations to a database without building their dicts."""
        indexes = np.asarray(indexes, dtype=np.int64)
        return self._explainer.json_rows(self.rows_a[indexes], self.rows_b[indexes])

    def explained_pairs(self, *, only_matches: bool = False, chunk: int = 20_000) -> Iterator[ScoredPair]:
        """The pairs (or only the matches), best first, with their explanations built a chunk at a
        time in bulk: for writing them all out without paying one scoring call per pair, and
        without holding every explanation in memory at once."""
        pairs = self.pairs
        indexes = np.flatnonzero(self.is_match) if only_matches else np.arange(len(pairs))
        for start in range(0, indexes.size, chunk):
            part = indexes[start : start + chunk]
            for index, explanation in zip(part.tolist(), self.explanations(part)):
                pair = pairs[index]
                pair._explanation = explanation
                yield pair
                pair._explanation = None  # written out: let it go

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
    """Rank of each id in `mergeassist.crm.ids.id_sort_key` order (numeric ids first, as numbers;
    others after them, as text): the order the review's pair keys use, so `id_a` is the id that
    comes first in a CandidatePair key. Any id is accepted ("¹" sorts as text).
    """
    order: np.ndarray | list[int]
    joined = "".join(ids)
    # Fast path: every id is ASCII digits without a leading zero, so its number orders it alone.
    if ids and joined.isascii() and joined.isdigit() and all(ids) and not any(value[0] == "0" and len(value) > 1 for value in ids):
        try:
            order = np.argsort(np.fromiter(map(int, ids), dtype=np.int64, count=len(ids)), kind="stable")
        except OverflowError:  # ids longer than 18 digits
            keys = [id_sort_key(value) for value in ids]
            order = sorted(range(len(ids)), key=keys.__getitem__)
    else:
        keys = [id_sort_key(value) for value in ids]
        order = sorted(range(len(ids)), key=keys.__getitem__)
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[order] = np.arange(len(ids))
    return ranks


def _release_freed_memory(big_run: bool) -> None:
    """Hand freed heap pages back to the OS (glibc keeps them after big numpy temporaries).

    Only in a big run (see `big_run`): trimming the allocator is a process-wide act that a web or
    worker process did not ask for.
    """
    if not big_run:
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _score_chunk(
    columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray, rules: dict[str, FieldRule], vouched: np.ndarray | None = None
) -> np.ndarray:
    similarity: PairSimilarities = compare_pairs(columns, rows_a, rows_b, rules, vouched)
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


# Clusters up to this size have every pair of members scored; bigger ones are chains through
# shared switchboards and mailboxes, where pairing everyone would cost O(n²) for few matches.
MAX_COMPLETED_CLUSTER = 12


def _components(size: int, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    """For each row, the smallest row it is connected to through the edges (itself if none):
    label propagation with pointer jumping, all numpy."""
    labels = np.arange(size, dtype=np.int64)
    if rows_a.size == 0:
        return labels
    while True:
        smaller = np.minimum(labels[rows_a], labels[rows_b])
        updated = labels.copy()
        np.minimum.at(updated, rows_a, smaller)
        np.minimum.at(updated, rows_b, smaller)
        updated = updated[updated]
        if np.array_equal(updated, labels):
            return labels
        labels = updated


def cluster_pairs(size: int, rows_a: np.ndarray, rows_b: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows_a, rows_b), rows_a < rows_b, of the pairs inside a cluster of matches that blocking
    did not bring together, for clusters of up to MAX_COMPLETED_CLUSTER records.

    A cluster's other members are evidence blocking cannot use: when A matches B and B matches
    C, the pair A-C is worth scoring even if A and C share no key (FEBRL2: a surname replaced in
    one copy and the house number in another). Each such pair is scored on its own evidence like
    any other; the cluster only chooses which pairs to look at, so clusters do not change.
    `rows_a`/`rows_b` are every candidate pair, as blocking gives them (sorted by row_a, row_b).
    """
    matched = np.round(scores.astype(np.float64), 1) >= threshold
    labels = _components(size, rows_a[matched], rows_b[matched])
    rows = np.arange(size, dtype=np.int64)
    keys = np.where(np.bincount(labels, minlength=size)[labels] > 1, labels, MISSING)
    # window=0: a cluster bigger than the cap pairs nothing.
    found, _ = pairs_within_blocks(keys, rows, rows, size, MAX_COMPLETED_CLUSTER, window=0)
    found = np.sort(found)
    known = rows_a.astype(np.int64) * size + rows_b
    position = np.minimum(np.searchsorted(known, found), max(known.size - 1, 0))
    new = found if known.size == 0 else found[known[position] != found]
    return new // size, new % size


# A third record vouches for a pair when it matches both at least this well.
VOUCH_AT = 80.0


def cluster_vouched(columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Which candidate pairs the cluster vouches for: both records match one third record at
    VOUCH_AT or more (by the pairs' own scores), and neither record has an email or a phone.

    FEBRL-style records (no contact details) replace a name in one copy and mistype the address
    in another; each copy matches the original, but two copies share too little. The cluster's
    other member says what the pair cannot. Records with contact details are left out: there a
    bridge between two people is a family or an office (a shared landline, info@), and two
    copies of one customer keep an email or phone that agrees. Third records with more than
    MAX_COMPLETED_CLUSTER strong matches vouch for nobody (a hub, not a customer).
    """
    size = columns.size
    vouched = np.zeros(rows_a.size, dtype=bool)
    no_contact = (columns.email.codes == 0) & (columns.phone.codes == 0)
    strong = np.flatnonzero((np.round(scores.astype(np.float64), 1) >= VOUCH_AT) & no_contact[rows_a] & no_contact[rows_b])
    if strong.size < 2:
        return vouched
    # Both directions of each strong edge, keyed by the middle record: pairs within one key are
    # the two ends of a path A - B - C.
    middle = np.r_[rows_a[strong], rows_b[strong]].astype(np.int64)
    ends = np.r_[rows_b[strong], rows_a[strong]].astype(np.int64)
    paths, _ = pairs_within_blocks(middle, ends, ends, size, MAX_COMPLETED_CLUSTER, window=0)
    if paths.size == 0:
        return vouched
    paths = np.sort(paths)
    codes = rows_a.astype(np.int64) * size + rows_b
    position = np.minimum(np.searchsorted(paths, codes), paths.size - 1)
    return (paths[position] == codes) & no_contact[rows_a] & no_contact[rows_b]


def _vouch(columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray, scores: np.ndarray, rules: dict[str, FieldRule]) -> tuple[np.ndarray, np.ndarray]:
    """The scores with the cluster's points added where it vouches, and the vouched pairs' codes."""
    vouched = np.flatnonzero(cluster_vouched(columns, rows_a, rows_b, scores))
    if vouched.size == 0:
        return scores, np.empty(0, dtype=np.int64)
    final = scores.copy()
    picked_a, picked_b = rows_a[vouched], rows_b[vouched]
    final[vouched] = _score_chunk(columns, picked_a, picked_b, rules, np.ones(vouched.size, dtype=bool))
    return final, np.sort(picked_a.astype(np.int64) * columns.size + picked_b)


def _with_pairs(rows_a: np.ndarray, rows_b: np.ndarray, scores: np.ndarray, more_a: np.ndarray, more_b: np.ndarray, more_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate arrays with more pairs merged in, still sorted by (row_a, row_b)."""
    if more_a.size == 0:
        return rows_a, rows_b, scores
    at = np.searchsorted(_pair_codes(rows_a, rows_b), _pair_codes(more_a, more_b))
    return np.insert(rows_a, at, more_a), np.insert(rows_b, at, more_b), np.insert(scores, at, more_scores)


def find_duplicates(records: Sequence[Any], config: MatchConfig | None = None, *, big_run: bool = False) -> MatchResult:
    """Pairs of records that look like one customer, scored and explained, and their clusters.

    Records need the attributes of `Record` (missing ones count as empty). Pairs scoring at least
    `config.report_floor` are returned, best first; those at or above `config.threshold` are
    matches and form the clusters. `big_run`: see `find_duplicates_in_columns`.
    """
    ids = [str(record.id) for record in records]
    return find_duplicates_in_columns(ids, fields_of_records(records), config, big_run=big_run)


def find_duplicates_in_columns(ids: Sequence[str], fields: FieldValues, config: MatchConfig | None = None, *, big_run: bool = False) -> MatchResult:
    """`find_duplicates` for data that is already column-wise (a query's value lists, a file).

    `fields` maps `Record` attribute names to one value per id, in the order of `ids`; a field
    left out is missing for everyone. Saves building a million record objects only to take
    them apart again.

    `big_run` is for processes that exist to run the engine (`manage.py scan`, `scan_csv`, the
    benchmarks). It lets the run act on the whole process, as a web or worker process would
    not want: the garbage collector is paused during the run (and put back as it was), freed
    heap pages are handed back to the OS between stages, and from 100,000 records a forked
    helper process normalises half the columns. Without it the engine leaves the process as
    it found it: threads only, joined before it returns.
    """
    return run_full(ids, fields, config or MatchConfig(), big_run=big_run)[0]


def score_pair(record_a: Any, record_b: Any, config: MatchConfig | None = None) -> ScoredPair:
    """Two records scored and explained as a scan would, without blocking: for a pair a person
    chose to compare ("Compare" on the customer list) that the scan may never have put side by side."""
    config = config or MatchConfig()
    columns = normalise_columns(fields_of_records([record_a, record_b]), 2, config.phone_region)
    rows_a, rows_b = np.array([0], dtype=np.int64), np.array([1], dtype=np.int64)
    score = float(np.round(score_candidates(columns, rows_a, rows_b, config.rules)[0], 1))
    return ScoredPair(str(record_a.id), str(record_b.id), score, score >= config.threshold, (0, 1), _Explainer(columns, config.rules))


@contextmanager
def _collector_paused(big_run: bool) -> Iterator[None]:
    # The run allocates millions of objects (normalised values, pairs, clusters) and no reference
    # cycles; with the collector on, each allocation burst re-walks every object the caller holds.
    was_enabled = gc.isenabled()
    if big_run:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class RunState:
    """What a run leaves for the next one to start from (`run_incremental`): the normalised
    columns, and every candidate pair with its score (codes `row_a << 32 | row_b`, row_a < row_b,
    sorted). Picklable; the scan keeps it between runs."""

    def __init__(self, columns: Columns, candidates: np.ndarray, scores: np.ndarray) -> None:
        self.columns = columns
        self.candidates = candidates
        self.scores = scores

    def __getstate__(self) -> dict[str, Any]:
        self.columns.cache.clear()  # derived tables, rebuilt on use
        return {"columns": self.columns, "candidates": self.candidates, "scores": self.scores}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.columns, self.candidates, self.scores = state["columns"], state["candidates"], state["scores"]


_ROW_SHIFT = np.int64(32)


def _pair_codes(rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    return (rows_a.astype(np.int64) << _ROW_SHIFT) | rows_b.astype(np.int64)


def run_full(ids: Sequence[str], fields: FieldValues, config: MatchConfig, *, big_run: bool = False) -> tuple[MatchResult, RunState]:
    """`find_duplicates_in_columns`, plus the state an incremental run starts from."""
    with _collector_paused(big_run):
        ids = [str(value) for value in ids]
        timings: dict[str, float] = {}
        started = time.perf_counter()
        columns = normalise_columns(fields, len(ids), config.phone_region, allow_fork=big_run)
        timings["normalise_s"] = time.perf_counter() - started

        mark = time.perf_counter()
        rows_a, rows_b, blocking = candidate_pairs(columns, config.max_block_size, config.window)
        timings["blocking_s"] = time.perf_counter() - mark
        _release_freed_memory(big_run)

        mark = time.perf_counter()
        scores = score_candidates(columns, rows_a, rows_b, config.rules)
        more_a, more_b = cluster_pairs(columns.size, rows_a, rows_b, scores, config.threshold)
        more_scores = score_candidates(columns, more_a, more_b, config.rules)
        blocking.pairs_by_key["cluster"] = int(more_a.size)
        rows_a, rows_b, scores = _with_pairs(rows_a, rows_b, scores, more_a, more_b, more_scores)
        final, vouched = _vouch(columns, rows_a, rows_b, scores, config.rules)
        timings["scoring_s"] = time.perf_counter() - mark
        _release_freed_memory(big_run)
        result = _finish(ids, columns, rows_a, rows_b, final, blocking, config, timings, started, len(ids), vouched)
        # The pairs' own scores: the cluster's points depend on other records and are worked out again.
        state = RunState(columns, _pair_codes(rows_a, rows_b), scores)
        return result, state


def run_incremental(
    state: RunState, ids: Sequence[str], live: np.ndarray, changed_rows: np.ndarray, changed_fields: FieldValues, config: MatchConfig
) -> tuple[MatchResult, RunState]:
    """The result a full run would give, from the state of an earlier run and the rows changed since.

    `ids` names every row of the state and any new rows after them (len(ids) >= state rows);
    `live[row]` is False for records no longer there (they pair with nothing); `changed_rows`
    are the rows whose values are new or changed (new rows among them), and `changed_fields`
    their values in that order. Only those rows are normalised again. Blocking is run over all
    rows (a window over a big block reaches different neighbours when one member changes, so
    only full blocking gives the full run's candidates), and only candidates that involve a
    changed row or were not candidates before are scored; the rest keep their scores.
    """
    with _collector_paused(False):
        ids = [str(value) for value in ids]
        timings: dict[str, float] = {}
        started = time.perf_counter()
        columns = state.columns
        changed_rows = np.asarray(changed_rows, dtype=np.int64)
        patch_columns(columns, len(ids), changed_rows, changed_fields, ~np.asarray(live, dtype=bool), config.phone_region)
        timings["normalise_s"] = time.perf_counter() - started

        mark = time.perf_counter()
        live_count = int(np.count_nonzero(live))
        rows_a, rows_b, blocking = candidate_pairs(columns, config.max_block_size, config.window, live_records=live_count)
        timings["blocking_s"] = time.perf_counter() - mark

        mark = time.perf_counter()
        codes = _pair_codes(rows_a, rows_b)
        changed = np.zeros(len(ids), dtype=bool)
        changed[changed_rows] = True
        if state.candidates.size:
            position = np.minimum(np.searchsorted(state.candidates, codes), state.candidates.size - 1)
            known = state.candidates[position] == codes
        else:
            position = np.zeros(codes.size, dtype=np.int64)
            known = np.zeros(codes.size, dtype=bool)
        rescore = ~known | changed[rows_a] | changed[rows_b]
        scores = np.empty(codes.size, dtype=np.float32)
        scores[~rescore] = state.scores[position[~rescore]]
        todo = np.flatnonzero(rescore)
        if todo.size:
            scores[todo] = score_candidates(columns, rows_a[todo], rows_b[todo], config.rules)
        # The pairs a full run would add from its clusters: the same clusters, so the same pairs;
        # their scores are kept where the last run scored them and neither record changed.
        more_a, more_b = cluster_pairs(len(ids), rows_a, rows_b, scores, config.threshold)
        more_scores, rescored = _known_scores(state, more_a, more_b, changed, columns, config)
        blocking.pairs_by_key["cluster"] = int(more_a.size)
        rows_a, rows_b, scores = _with_pairs(rows_a, rows_b, scores, more_a, more_b, more_scores)
        codes = _pair_codes(rows_a, rows_b)
        final, vouched = _vouch(columns, rows_a, rows_b, scores, config.rules)
        timings["scoring_s"] = time.perf_counter() - mark
        result = _finish(ids, columns, rows_a, rows_b, final, blocking, config, timings, started, live_count, vouched)
        result.stats["rescored_pairs"] = int(todo.size) + rescored
        return result, RunState(columns, codes, scores)


def _known_scores(
    state: RunState, rows_a: np.ndarray, rows_b: np.ndarray, changed: np.ndarray, columns: Columns, config: MatchConfig
) -> tuple[np.ndarray, int]:
    """Scores of these pairs: the state's where it has the pair and neither row changed, else
    scored now. Returns the scores and how many were scored."""
    codes = _pair_codes(rows_a, rows_b)
    scores = np.empty(codes.size, dtype=np.float32)
    if state.candidates.size and codes.size:
        position = np.minimum(np.searchsorted(state.candidates, codes), state.candidates.size - 1)
        known = (state.candidates[position] == codes) & ~changed[rows_a] & ~changed[rows_b]
        scores[known] = state.scores[position[known]]
    else:
        known = np.zeros(codes.size, dtype=bool)
    todo = np.flatnonzero(~known)
    if todo.size:
        scores[todo] = score_candidates(columns, rows_a[todo], rows_b[todo], config.rules)
    return scores, int(todo.size)


def _finish(
    ids: list[str], columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray, scores: np.ndarray, blocking: Any,
    config: MatchConfig, timings: dict[str, float], started: float, records: int, vouched: np.ndarray,
) -> MatchResult:
    mark = time.perf_counter()
    reported = np.flatnonzero(scores >= config.report_floor)
    reported = reported[np.argsort(-scores[reported], kind="stable")]
    ranks = _id_order(ids)
    explainer = _Explainer(columns, config.rules, vouched)
    firsts, seconds = rows_a[reported], rows_b[reported]
    swap = ranks[firsts] > ranks[seconds]
    firsts, seconds = np.where(swap, seconds, firsts), np.where(swap, firsts, seconds)
    rounded = np.round(scores[reported].astype(np.float64), 1)
    matched = rounded >= config.threshold
    clusters = build_clusters(firsts[matched], seconds[matched], rounded[matched], ids, ranks)
    timings["clustering_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - started

    stats: dict[str, Any] = {
        "records": records,
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
