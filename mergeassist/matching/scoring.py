"""Scoring: per-field similarities (vectorised with rapidfuzz) turned into 0-100 points.

Similarities are float32 arrays over all candidate pairs, NaN where either side is missing.
Equal codes are 1.0 without looking at the strings; only unequal, present pairs go through
`rapidfuzz.process.cpdist`, which compares element-wise in C on every core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel, JaroWinkler, Levenshtein

from .columns import Column, Columns
from .normalise import are_nicknames
from .records import FieldRule

# Similarities given to weak name evidence: below a clean match, above the neutral point.
NICKNAME_SIMILARITY = 0.88
INITIAL_SIMILARITY = 0.85
COMPOUND_SURNAME_SIMILARITY = 0.95
EMAIL_OTHER_DOMAIN_SIMILARITY = 0.92
# A shared mailbox (info@) says "same company": it keeps a tenth of the email weight.
SHARED_MAILBOX_FACTOR = 0.1
# Same street but a different house or flat number: neighbours, not one person.
OTHER_HOUSE_CAP = 0.5
OTHER_UNIT_CAP = 0.7

FIELD_ORDER: tuple[str, ...] = ("first_name", "last_name", "email", "phone", "company", "address", "city", "zip", "state")


@dataclass(slots=True)
class PairSimilarities:
    by_field: dict[str, np.ndarray]
    names_swapped: np.ndarray  # bool: first/last compared crosswise
    nickname: np.ndarray  # bool: first names matched only through the nickname table
    shared_mailbox: np.ndarray  # bool: an email on either side is a role address


def _fuzzy(column_a: Column, rows_a: np.ndarray, column_b: Column, rows_b: np.ndarray, scorer, scale: float = 1.0) -> np.ndarray:
    codes_a = column_a.codes[rows_a]
    codes_b = column_b.codes[rows_b]
    similarity = np.full(rows_a.size, np.nan, dtype=np.float32)
    present = (codes_a != 0) & (codes_b != 0)
    if column_a is column_b:
        equal = present & (codes_a == codes_b)
        similarity[equal] = 1.0
        todo = np.flatnonzero(present & ~equal)
    else:
        todo = np.flatnonzero(present)
    if todo.size:
        scores = process.cpdist(column_a.vocab[codes_a[todo]], column_b.vocab[codes_b[todo]], scorer=scorer, workers=-1)
        similarity[todo] = scores.astype(np.float32) / scale
    return similarity


def _first_name_similarity(columns: Columns, column_a: Column, rows_a: np.ndarray, column_b: Column, rows_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    similarity = _fuzzy(column_a, rows_a, column_b, rows_b, JaroWinkler.normalized_similarity)
    nickname = np.zeros(rows_a.size, dtype=bool)
    weak = np.flatnonzero(similarity < NICKNAME_SIMILARITY)
    if weak.size:
        values_a = column_a.vocab[column_a.codes[rows_a[weak]]]
        values_b = column_b.vocab[column_b.codes[rows_b[weak]]]
        # Distinct name pairs are few (names repeat), so the Python check runs once per pair of names.
        verdicts: dict[tuple[str, str], float] = {}
        weak_similarity = np.empty(weak.size, dtype=np.float32)
        for k, (a, b) in enumerate(zip(values_a, values_b)):
            verdict = verdicts.get((a, b))
            if verdict is None:
                verdict = verdicts[(a, b)] = _weak_name_evidence(a, b)
            weak_similarity[k] = verdict
        better = weak_similarity > similarity[weak]
        similarity[weak[better]] = weak_similarity[better]
        nickname[weak[better & (weak_similarity == NICKNAME_SIMILARITY)]] = True
    return similarity, nickname


def _weak_name_evidence(a: str, b: str) -> float:
    first_a, first_b = a.split(" ", 1)[0], b.split(" ", 1)[0]
    if (len(first_a) == 1 or len(first_b) == 1) and first_a[0] == first_b[0]:
        return INITIAL_SIMILARITY
    if first_a == first_b:  # "mary ann" vs "mary"
        return INITIAL_SIMILARITY
    if are_nicknames(first_a, first_b):
        return NICKNAME_SIMILARITY
    return 0.0


def _last_name_similarity(column_a: Column, rows_a: np.ndarray, column_b: Column, rows_b: np.ndarray) -> np.ndarray:
    similarity = _fuzzy(column_a, rows_a, column_b, rows_b, JaroWinkler.normalized_similarity)
    # Compound surnames: "garcia lopez" vs "garcia" share a whole word.
    compound = np.flatnonzero(similarity < COMPOUND_SURNAME_SIMILARITY)
    if compound.size:
        values_a = column_a.vocab[column_a.codes[rows_a[compound]]]
        values_b = column_b.vocab[column_b.codes[rows_b[compound]]]
        multiword = np.fromiter((" " in a or " " in b for a, b in zip(values_a, values_b)), dtype=bool, count=compound.size)
        if multiword.any():
            token_set = process.cpdist(values_a[multiword], values_b[multiword], scorer=fuzz.token_set_ratio, workers=-1) / 100.0
            hits = compound[multiword][token_set >= 99.9 / 100.0]
            similarity[hits] = COMPOUND_SURNAME_SIMILARITY
    return similarity


def _points(similarity: np.ndarray, rule: FieldRule) -> np.ndarray:
    """Piecewise-linear points: +weight at 1, 0 at neutral, -weight*penalty at floor or below."""
    above = (similarity - rule.neutral) / (1.0 - rule.neutral)
    below = np.clip((rule.neutral - similarity) / (rule.neutral - rule.floor), 0.0, 1.0)
    points = np.where(similarity >= rule.neutral, rule.weight * above, -rule.weight * rule.penalty_ratio * below)
    return np.nan_to_num(points.astype(np.float32), nan=0.0)


def field_points(similarity: PairSimilarities, rules: dict[str, FieldRule]) -> dict[str, np.ndarray]:
    points = {name: _points(similarity.by_field[name], rules[name]) for name in FIELD_ORDER}
    shared = similarity.shared_mailbox
    points["email"] = np.where(shared, np.maximum(points["email"], 0.0) * SHARED_MAILBOX_FACTOR, points["email"])
    return points


def compare_pairs(columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray, rules: dict[str, FieldRule]) -> PairSimilarities:
    first_straight, nickname_straight = _first_name_similarity(columns, columns.first, rows_a, columns.first, rows_b)
    last_straight = _last_name_similarity(columns.last, rows_a, columns.last, rows_b)

    # Swapped first/last: only worth the cost where the straight comparison is poor.
    first_name, last_name, nickname = first_straight, last_straight, nickname_straight
    swapped = np.zeros(rows_a.size, dtype=bool)
    poor = np.flatnonzero(~(np.nan_to_num(first_straight, nan=0.0) >= 0.9) | ~(np.nan_to_num(last_straight, nan=0.0) >= 0.9))
    if poor.size:
        first_cross, nick_cross = _first_name_similarity(columns, columns.first, rows_a[poor], columns.last, rows_b[poor])
        last_cross = _last_name_similarity(columns.last, rows_a[poor], columns.first, rows_b[poor])
        rule_first, rule_last = rules["first_name"], rules["last_name"]
        straight_points = _points(first_straight[poor], rule_first) + _points(last_straight[poor], rule_last)
        cross_points = _points(first_cross, rule_first) + _points(last_cross, rule_last)
        use_cross = cross_points > straight_points + 1.0
        chosen = poor[use_cross]
        first_name, last_name, nickname = first_straight.copy(), last_straight.copy(), nickname_straight.copy()
        first_name[chosen] = first_cross[use_cross]
        last_name[chosen] = last_cross[use_cross]
        nickname[chosen] = nick_cross[use_cross]
        swapped[chosen] = True

    email_codes_a = columns.email.codes[rows_a]
    email_codes_b = columns.email.codes[rows_b]
    shared_mailbox = columns.email_shared[email_codes_a] | columns.email_shared[email_codes_b]

    return PairSimilarities(
        by_field={
            "first_name": first_name,
            "last_name": last_name,
            "email": _email_similarity(columns.email, rows_a, rows_b),
            "phone": _fuzzy(columns.phone, rows_a, columns.phone, rows_b, Levenshtein.normalized_similarity),
            "company": _fuzzy(columns.company, rows_a, columns.company, rows_b, fuzz.token_sort_ratio, 100.0),
            "address": _address_similarity(columns, rows_a, rows_b),
            "city": _fuzzy(columns.city, rows_a, columns.city, rows_b, JaroWinkler.normalized_similarity),
            "zip": _fuzzy(columns.zip, rows_a, columns.zip, rows_b, Levenshtein.normalized_similarity),
            "state": _fuzzy(columns.state, rows_a, columns.state, rows_b, Indel.normalized_similarity),
        },
        names_swapped=swapped,
        nickname=nickname,
        shared_mailbox=shared_mailbox,
    )


def _email_similarity(column: Column, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    """1 for the same mailbox; high for the same distinctive local part at another domain or a
    one-letter slip; otherwise the local parts' similarity when the domain is the same, else 0."""
    codes_a, codes_b = column.codes[rows_a], column.codes[rows_b]
    similarity = np.full(rows_a.size, np.nan, dtype=np.float32)
    present = (codes_a != 0) & (codes_b != 0)
    equal = present & (codes_a == codes_b)
    similarity[equal] = 1.0
    todo = np.flatnonzero(present & ~equal)
    if todo.size:
        split_a = [value.rpartition("@") for value in column.vocab[codes_a[todo]]]
        split_b = [value.rpartition("@") for value in column.vocab[codes_b[todo]]]
        local_a = [parts[0] for parts in split_a]
        local_b = [parts[0] for parts in split_b]
        same_domain = np.fromiter((pa[2] == pb[2] for pa, pb in zip(split_a, split_b)), dtype=bool, count=todo.size)
        local_similarity = process.cpdist(local_a, local_b, scorer=Indel.normalized_similarity, workers=-1).astype(np.float32)
        distinctive = np.fromiter((len(a) >= 5 for a in local_a), dtype=bool, count=todo.size)
        other_domain = ~same_domain & (local_similarity >= 1.0) & distinctive
        similarity[todo] = np.where(
            same_domain, local_similarity, np.where(other_domain, EMAIL_OTHER_DOMAIN_SIMILARITY, 0.0)
        )
    return similarity


def _address_similarity(columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    similarity = _fuzzy(columns.street, rows_a, columns.street, rows_b, fuzz.token_set_ratio, 100.0)
    house_a, house_b = columns.house.codes[rows_a], columns.house.codes[rows_b]
    other_house = (house_a != 0) & (house_b != 0) & (house_a != house_b)
    similarity = np.where(other_house, np.minimum(similarity, OTHER_HOUSE_CAP), similarity)
    unit_a, unit_b = columns.unit.codes[rows_a], columns.unit.codes[rows_b]
    other_unit = (unit_a != 0) & (unit_b != 0) & (unit_a != unit_b)
    return np.where(other_unit, np.minimum(similarity, OTHER_UNIT_CAP), similarity).astype(np.float32)
