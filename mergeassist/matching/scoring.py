"""Scoring: per-field similarities (vectorised with rapidfuzz) turned into 0-100 points.

Similarities are float32 arrays over all candidate pairs, NaN where either side is missing.
Equal codes are 1.0 without looking at the strings; only unequal, present pairs go through
`rapidfuzz.process.cpdist`, which compares element-wise in C on every core.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, Indel, JaroWinkler

from .arrays import sorted_unique_with_inverse
from .columns import Column, Columns
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
HOUSE_NUMBER_SLIP_CAP = 0.8

FIELD_ORDER: tuple[str, ...] = ("first_name", "last_name", "email", "phone", "company", "address", "city", "zip", "state")
# A name needs one of these fields (nearly) agreeing too, or it costs the `name_only` weight.
# Text fields corroborate despite a typo; numbers must agree (a phone one digit off is another line).
CORROBORATED_AT: dict[str, float] = {"email": 0.95, "phone": 0.95, "company": 0.9, "address": 0.9, "city": 0.9, "zip": 0.95}
# Where either record has an email or a phone, the town no longer corroborates: contact
# details that exist but do not agree leave "same name, same town" (see _name_only).
TOWN_FIELDS: frozenset[str] = frozenset({"city", "zip"})
# Below this a first or last name is "clearly different" (JaroWinkler of unrelated names is ~0.4-0.6).
CLEARLY_DIFFERENT_NAME = 0.75
NOT_A_TYPO = 0.85
SWAP_FITS = 0.75
# One name written in the other's place and the other replaced ("Dylan Fondum" / "Fondum Zali"):
# FEBRL moves names between the fields that way. The moved name must agree but for a slip
# ("moulton" / "moulstn" 0.94); "david" / "davis" (0.92) are two names.
NAME_MOVED_FITS = 0.94
DIFFERENT_MAILBOX = 0.9
ADDRESS_DIFFERS = 0.55
SAME_ADDRESS = 0.9


@dataclass(slots=True)
class PairSimilarities:
    by_field: dict[str, np.ndarray]
    different_person: np.ndarray  # bool: see `_different_person`
    contact_conflict: np.ndarray  # bool: see `_contact_conflict`
    has_contact: np.ndarray  # bool: either record has an email or a phone
    names_swapped: np.ndarray  # bool: first/last compared crosswise
    name_moved: np.ndarray  # bool: crosswise because one name sits in the other's place (see compare_pairs)
    nickname: np.ndarray  # bool: first names matched only through the nickname table
    shared_mailbox: np.ndarray  # bool: an email on either side is a role address
    vouched: np.ndarray  # bool: the cluster vouches for the pair (engine.cluster_vouched)


def _unique_pairs(codes_a: np.ndarray, codes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (a, b) code pairs and, for each input pair, the index of its distinct pair."""
    width = np.int64(max(int(codes_a.max(initial=0)), int(codes_b.max(initial=0))) + 1)
    distinct, inverse = sorted_unique_with_inverse(codes_a.astype(np.int64) * width + codes_b)
    return distinct // width, distinct % width, inverse


def _cpdist_codes(vocab_a: np.ndarray, codes_a: np.ndarray, vocab_b: np.ndarray, codes_b: np.ndarray, scorer) -> np.ndarray:
    """scorer(vocab_a[codes_a[k]], vocab_b[codes_b[k]]) for every k, as float32.

    cpdist spends most of its time turning Python strings into its own form (~0.4 µs a pair),
    so when the same pair of values repeats (names, cities) each distinct pair is scored once.
    """
    if codes_a.size == 0:
        return np.empty(0, dtype=np.float32)
    distinct_a, distinct_b, inverse = _unique_pairs(codes_a, codes_b)
    if distinct_a.size < 0.7 * codes_a.size:
        scores = process.cpdist(vocab_a[distinct_a], vocab_b[distinct_b], scorer=scorer, workers=-1)
        return scores.astype(np.float32)[inverse]
    return process.cpdist(vocab_a[codes_a], vocab_b[codes_b], scorer=scorer, workers=-1).astype(np.float32)


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
        scores = _cpdist_codes(column_a.vocab, codes_a[todo], column_b.vocab, codes_b[todo], scorer)
        similarity[todo] = scores / scale
    return similarity


def _exact(column: Column, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    codes_a, codes_b = column.codes[rows_a], column.codes[rows_b]
    similarity = (codes_a == codes_b).astype(np.float32)
    similarity[(codes_a == 0) | (codes_b == 0)] = np.nan
    return similarity


def _nickname_pairs(columns: Columns, column_a: Column, column_b: Column) -> np.ndarray:
    """Sorted codes `a * len(b.vocab) + b` of every (a, b) vocab pair sharing a nickname family.

    Built once per run from the families (tens of thousands of pairs at most), so checking
    millions of candidate pairs is one vectorised `np.isin`.
    """
    key = f"nicknames:{id(column_a)}:{id(column_b)}"
    if key not in columns.cache:
        members_a: dict[int, list[int]] = {}
        for code, families in enumerate(column_a.names.families):
            for family in families:
                members_a.setdefault(family, []).append(code)
        width = len(column_b.vocab)
        related = [
            code_a * width + code_b
            for code_b, families in enumerate(column_b.names.families)
            for family in families
            for code_a in members_a.get(family, ())
        ]
        columns.cache[key] = np.unique(np.array(related, dtype=np.int64))
    return columns.cache[key]


def _first_name_similarity(columns: Columns, column_a: Column, rows_a: np.ndarray, column_b: Column, rows_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    similarity = _fuzzy(column_a, rows_a, column_b, rows_b, JaroWinkler.normalized_similarity)
    nickname = np.zeros(rows_a.size, dtype=bool)
    weak = np.flatnonzero(similarity < NICKNAME_SIMILARITY)
    if weak.size:
        codes_a, codes_b = column_a.codes[rows_a[weak]], column_b.codes[rows_b[weak]]
        names_a, names_b = column_a.names, column_b.names
        # "r" vs "robert", and "mary ann" vs "mary": an initial or the same first word.
        same_letter = names_a.letter[codes_a] == names_b.letter[codes_b]
        an_initial = names_a.single_letter[codes_a] | names_b.single_letter[codes_b]
        initial = (an_initial & same_letter) | (names_a.first_word[codes_a] == names_b.first_word[codes_b])
        pair_codes = codes_a.astype(np.int64) * len(column_b.vocab) + codes_b
        related = np.isin(pair_codes, _nickname_pairs(columns, column_a, column_b)) & ~initial
        evidence = np.where(initial, INITIAL_SIMILARITY, np.where(related, NICKNAME_SIMILARITY, 0.0)).astype(np.float32)
        better = evidence > similarity[weak]
        similarity[weak[better]] = evidence[better]
        nickname[weak[better & related]] = True
    return similarity, nickname


def _last_name_similarity(column_a: Column, rows_a: np.ndarray, column_b: Column, rows_b: np.ndarray) -> np.ndarray:
    similarity = _fuzzy(column_a, rows_a, column_b, rows_b, JaroWinkler.normalized_similarity)
    # Compound surnames: "garcia lopez" vs "garcia" share a whole word.
    weak = np.flatnonzero(similarity < COMPOUND_SURNAME_SIMILARITY)
    if weak.size:
        codes_a, codes_b = column_a.codes[rows_a[weak]], column_b.codes[rows_b[weak]]
        multiword = column_a.names.multiword[codes_a] | column_b.names.multiword[codes_b]
        if multiword.any():
            token_set = _cpdist_codes(column_a.vocab, codes_a[multiword], column_b.vocab, codes_b[multiword], fuzz.token_set_ratio)
            similarity[weak[multiword][token_set >= 99.9]] = COMPOUND_SURNAME_SIMILARITY
    return similarity


def _points(similarity: np.ndarray, rule: FieldRule) -> np.ndarray:
    """Piecewise-linear points: +weight at 1, 0 at neutral, -weight*penalty at floor or below."""
    above = (similarity - rule.neutral) / (1.0 - rule.neutral)
    below = np.clip((rule.neutral - similarity) / (rule.neutral - rule.floor), 0.0, 1.0)
    points = np.where(similarity >= rule.neutral, rule.weight * above, -rule.weight * rule.penalty_ratio * below)
    return np.nan_to_num(points.astype(np.float32), nan=0.0)


def field_points(similarity: PairSimilarities, rules: dict[str, FieldRule]) -> dict[str, np.ndarray]:
    """Points per field, plus the `different_person` row (0 or -its weight)."""
    points = {name: _points(similarity.by_field[name], rules[name]) for name in FIELD_ORDER}
    shared = similarity.shared_mailbox
    points["email"] = np.where(shared, np.maximum(points["email"], 0.0) * SHARED_MAILBOX_FACTOR, points["email"])
    points["different_person"] = np.where(similarity.different_person, -rules["different_person"].weight, 0.0).astype(np.float32)
    points["contact_conflict"] = np.where(similarity.contact_conflict, -rules["contact_conflict"].weight, 0.0).astype(np.float32)
    name_only = _name_only(similarity.by_field, points, similarity.has_contact)
    points["name_only"] = np.where(name_only, -rules["name_only"].weight, 0.0).astype(np.float32)
    points["cluster"] = np.where(similarity.vouched, rules["cluster"].weight, 0.0).astype(np.float32)
    return points


def _name_only(by_field: dict[str, np.ndarray], points: dict[str, np.ndarray], has_contact: np.ndarray) -> np.ndarray:
    """Pairs where nothing but the name agrees: a common name alone is not one customer.

    A corroborating field must (nearly) agree and add points: a field weighted 0 in the config
    corroborates nothing. The town (city, ZIP) corroborates only where neither record has an
    email or phone: thousands of strangers share a town, and a name plus a town is all that
    a pair of look-alikes with different contact details has in common.
    """
    corroborated = np.zeros(by_field["first_name"].size, dtype=bool)
    for name, at_least in CORROBORATED_AT.items():
        agrees = (by_field[name] >= at_least) & (points[name] > 0)
        corroborated |= agrees & ~has_contact if name in TOWN_FIELDS else agrees
    return ~corroborated


def _contact_conflict(by_field: dict[str, np.ndarray], shared_mailbox: np.ndarray) -> np.ndarray:
    """Pairs whose contact details all disagree: at least two of personal email, phone and
    street address present on both sides and different, and none of them the same.

    A customer who moved keeps an email; one who changed email keeps a phone or an address.
    Two strangers who share a common name and a town (a million customers drawn from one
    country's names) differ in all three.
    """
    email, phone, address = by_field["email"], by_field["phone"], by_field["address"]
    personal = ~shared_mailbox
    differ = (
        ((email < DIFFERENT_MAILBOX) & personal).astype(np.int8)
        + (phone < DIFFERENT_MAILBOX).astype(np.int8)
        + (address < ADDRESS_DIFFERS).astype(np.int8)
    )
    agree = ((email >= DIFFERENT_MAILBOX) & personal) | (phone >= DIFFERENT_MAILBOX) | (address >= ADDRESS_DIFFERS)
    return (differ >= 2) & ~agree


def _different_person(
    first_name: np.ndarray, last_name: np.ndarray, swapped: np.ndarray, moved: np.ndarray, by_field: dict[str, np.ndarray],
    shared_mailbox: np.ndarray, has_contact: np.ndarray,
) -> np.ndarray:
    """Pairs whose evidence is "same household, office or town, different person".

    Fields are not independent: a family shares a surname, an address and often a landline;
    colleagues share an address, a phone and info@; a town shares its city, ZIP and state. What
    tells people apart is the given name *together with* something personal:
    - a given name that is no typo of the other, and a different personal email or phone;
    - a given name that is no typo, and a clearly different surname;
    - a clearly different given name, no email or phone in common and no street address to
      compare: then only the surname and the town agree.
    Each difference alone is common in true duplicates (FEBRL replaces whole names, people
    have two emails), so only the combinations cost the `different_person` weight.

    Where one name was moved into the other's place and the other replaced, one name is all
    the name evidence there is, and a family ("Cynthia Garcia" / "Garcia Cheryl") or two
    colleagues share that much with a landline, a switchboard or info@. So where either record
    has an email or a phone, a personal email must agree, and none may differ; where neither
    has any (FEBRL, old imports), the address and the town are the corroboration, as in
    `_name_only`. The surname rule does not apply: the replaced name differs by construction.
    """
    # After a swap the given names sit in the last-name slot.
    given, family = np.where(swapped, last_name, first_name), np.where(swapped, first_name, last_name)
    email, phone, address = by_field["email"], by_field["phone"], by_field["address"]
    first_differs = given < CLEARLY_DIFFERENT_NAME
    # Michelle Todd / Chelsea White: given names alike as strings but not a slip of the keyboard.
    first_not_a_typo = given < NOT_A_TYPO
    last_differs = family < CLEARLY_DIFFERENT_NAME
    # "Not the same mailbox": at one provider, valerie_aguilar26@ and edward_aguilar52@ look
    # alike as strings but are two people's addresses.
    personal = ~shared_mailbox
    personal_contact_differs = ((email < DIFFERENT_MAILBOX) & personal) | (phone < DIFFERENT_MAILBOX)
    shares_an_identifier = ((email >= DIFFERENT_MAILBOX) & personal) | (phone >= DIFFERENT_MAILBOX) | (address >= SAME_ADDRESS)
    straight_rules = (
        (first_not_a_typo & personal_contact_differs)
        | (first_not_a_typo & last_differs)
        | (first_differs & ~shares_an_identifier & np.isnan(address))
    )
    personal_email_agrees = (email >= DIFFERENT_MAILBOX) & personal
    moved_rules = personal_contact_differs | (has_contact & ~personal_email_agrees)
    return np.where(moved, moved_rules, straight_rules)


def compare_pairs(
    columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray, rules: dict[str, FieldRule], vouched: np.ndarray | None = None
) -> PairSimilarities:
    """Every field's similarity and the combined-evidence flags of the pairs (rows_a[k], rows_b[k]).
    `vouched` marks the pairs the cluster vouches for (decided by the engine, after scoring)."""
    first_straight, nickname_straight = _first_name_similarity(columns, columns.first, rows_a, columns.first, rows_b)
    last_straight = _last_name_similarity(columns.last, rows_a, columns.last, rows_b)

    # Swapped first/last: only worth the cost where the straight comparison is poor.
    first_name, last_name, nickname = first_straight, last_straight, nickname_straight
    swapped = np.zeros(rows_a.size, dtype=bool)
    moved = np.zeros(rows_a.size, dtype=bool)
    poor = np.flatnonzero(~(np.nan_to_num(first_straight, nan=0.0) >= 0.9) | ~(np.nan_to_num(last_straight, nan=0.0) >= 0.9))
    if poor.size:
        first_cross, nick_cross = _first_name_similarity(columns, columns.first, rows_a[poor], columns.last, rows_b[poor])
        last_cross = _last_name_similarity(columns.last, rows_a[poor], columns.first, rows_b[poor])
        rule_first, rule_last = rules["first_name"], rules["last_name"]
        straight_points = _points(first_straight[poor], rule_first) + _points(last_straight[poor], rule_last)
        cross_points = _points(first_cross, rule_first) + _points(last_cross, rule_last)
        # A swap explains both names ("Smith John" / "John Smith"). A moved name explains one of
        # them, and only where neither name agrees straight: the other name was replaced, which
        # `_different_person` then reads as "the given name differs" (see there).
        cross_first, cross_last = np.nan_to_num(first_cross, nan=0.0), np.nan_to_num(last_cross, nan=0.0)
        both_fit = (cross_first >= SWAP_FITS) & (cross_last >= SWAP_FITS)
        neither_straight = (np.nan_to_num(first_straight[poor], nan=0.0) < NOT_A_TYPO) & (np.nan_to_num(last_straight[poor], nan=0.0) < NOT_A_TYPO)
        one_moved = ~both_fit & neither_straight & (np.maximum(cross_first, cross_last) >= NAME_MOVED_FITS)
        use_cross = (both_fit | one_moved) & (cross_points > straight_points + 1.0)
        chosen = poor[use_cross]
        first_name, last_name, nickname = first_straight.copy(), last_straight.copy(), nickname_straight.copy()
        first_name[chosen] = first_cross[use_cross]
        last_name[chosen] = last_cross[use_cross]
        nickname[chosen] = nick_cross[use_cross]
        swapped[chosen] = True
        moved[poor[use_cross & one_moved]] = True

    email_codes_a = columns.email.codes[rows_a]
    email_codes_b = columns.email.codes[rows_b]
    shared_mailbox = columns.email_shared[email_codes_a] | columns.email_shared[email_codes_b]

    email = _email_similarity(columns, rows_a, rows_b)
    has_contact = (email_codes_a != 0) | (email_codes_b != 0) | (columns.phone.codes[rows_a] != 0) | (columns.phone.codes[rows_b] != 0)
    by_field = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "phone": _phone_similarity(columns, rows_a, rows_b),
        "company": _fuzzy(columns.company, rows_a, columns.company, rows_b, fuzz.token_sort_ratio, 100.0),
        "address": _address_similarity(columns, rows_a, rows_b),
        "city": _fuzzy(columns.city, rows_a, columns.city, rows_b, JaroWinkler.normalized_similarity),
        "zip": _fuzzy(columns.zip, rows_a, columns.zip, rows_b, OSA.normalized_similarity),
        "state": _exact(columns.state, rows_a, rows_b),
    }
    return PairSimilarities(
        by_field=by_field,
        different_person=_different_person(first_name, last_name, swapped, moved, by_field, shared_mailbox, has_contact),
        contact_conflict=_contact_conflict(by_field, shared_mailbox),
        has_contact=has_contact,
        names_swapped=swapped,
        name_moved=moved,
        nickname=nickname,
        shared_mailbox=shared_mailbox,
        vouched=np.zeros(rows_a.size, dtype=bool) if vouched is None else np.asarray(vouched, dtype=bool),
    )


def _email_similarity(columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    """1 for the same mailbox; high for the same distinctive local part at another domain; the
    local parts' similarity at the same domain (a slip of the keyboard); otherwise 0."""
    column = columns.email
    codes_a, codes_b = column.codes[rows_a], column.codes[rows_b]
    similarity = np.full(rows_a.size, np.nan, dtype=np.float32)
    present = (codes_a != 0) & (codes_b != 0)
    equal = present & (codes_a == codes_b)
    similarity[equal] = 1.0
    todo = np.flatnonzero(present & ~equal)
    if todo.size:
        parts = columns.email_parts
        local_a, local_b = parts.local[codes_a[todo]], parts.local[codes_b[todo]]
        same_domain = parts.domain[codes_a[todo]] == parts.domain[codes_b[todo]]
        other_domain = (local_a == local_b) & parts.distinctive[codes_a[todo]]
        result = np.where(other_domain, EMAIL_OTHER_DOMAIN_SIMILARITY, 0.0).astype(np.float32)
        slips = np.flatnonzero(same_domain)
        if slips.size:
            result[slips] = _cpdist_codes(parts.local_vocab, local_a[slips], parts.local_vocab, local_b[slips], Indel.normalized_similarity)
        similarity[todo] = result
    return similarity


def _phone_similarity(columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    """1 for the same number, else the share of matching digits (a slip costs one digit)."""
    codes_a, codes_b = columns.phone.codes[rows_a], columns.phone.codes[rows_b]
    similarity = np.full(rows_a.size, np.nan, dtype=np.float32)
    present = (codes_a != 0) & (codes_b != 0)
    digits_a, digits_b = columns.phone_digits[codes_a[present]], columns.phone_digits[codes_b[present]]
    same = np.zeros(digits_a.size, dtype=np.int64)
    longest = np.zeros(digits_a.size, dtype=np.int64)
    # Compare right-aligned digit by digit: vectorised, no strings involved.
    for _ in range(15):
        present_digit = (digits_a > 0) | (digits_b > 0)
        same += present_digit & (digits_a % 10 == digits_b % 10)
        longest += present_digit
        digits_a //= 10
        digits_b //= 10
    similarity[present] = same / np.maximum(longest, 1)
    return similarity


def _house_anagrams(columns: Columns) -> np.ndarray:
    """Per house-number vocab entry, a code shared by numbers with the same digits."""
    anagram = columns.cache.get("house_anagram")
    if anagram is None:
        sorted_digits: dict[str, int] = {}
        anagram = columns.cache["house_anagram"] = np.array(
            [sorted_digits.setdefault("".join(sorted(value)), len(sorted_digits)) for value in columns.house.vocab], dtype=np.int64
        )
    return anagram


def _numbers_only(columns: Columns, codes: np.ndarray) -> np.ndarray:
    """Per street code: True when its line has no word but numbers ("1", "12 3").

    Worked out only for the lines asked about, and remembered: at a million records the street
    vocabulary holds ~700k lines, of which scoring compares far fewer. Two scoring threads may
    fill in the same line at once; both write the same answer."""
    known = columns.cache.get("street_numbers_only")
    if known is None:
        known = columns.cache["street_numbers_only"] = np.full(len(columns.street.vocab), -1, dtype=np.int8)
    wanted = np.unique(codes)
    unknown = wanted[known[wanted] < 0]
    if unknown.size:
        lines = columns.street.vocab[unknown].tolist()
        known[unknown] = [_NUMBERS_ONLY(line) is not None for line in lines]
    return known[codes] == 1


# Words separated by single spaces, each starting with a digit ("12", "12 3", "4a 5"): what
# `all(word[:1].isdigit() for word in line.split(" "))` says of a non-empty line, in one call.
_NUMBERS_ONLY = re.compile(r"\d\S*(?: \d\S*)*").fullmatch


def _street_joined(columns: Columns, codes: np.ndarray) -> np.ndarray:
    """Per street code asked about: the line with its spaces removed, remembered as for _numbers_only."""
    joined = columns.cache.get("street_joined")
    if joined is None:
        joined = columns.cache["street_joined"] = np.full(len(columns.street.vocab), None, dtype=object)
    wanted = np.unique(codes)
    unknown = wanted[joined[wanted] == None]  # noqa: E711 (element-wise, on an object array)
    if unknown.size:
        joined[unknown] = [line.replace(" ", "") for line in columns.street.vocab[unknown].tolist()]
    return joined


def _address_similarity(columns: Columns, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    """Token-set ratio of the street lines (a missing second line costs nothing), or the ratio
    with spaces removed when a slip split or joined words ("garrards treet").

    Another house number caps it at OTHER_HOUSE_CAP (the floor: neighbours, not one person),
    so those pairs skip the string comparison altogether; digits that are only transposed
    ("315" / "135") are a slip and cap it at HOUSE_NUMBER_SLIP_CAP. Another flat caps it too.
    """
    street = columns.street
    codes_a, codes_b = street.codes[rows_a], street.codes[rows_b]
    similarity = np.full(rows_a.size, np.nan, dtype=np.float32)
    present = (codes_a != 0) & (codes_b != 0)
    similarity[present & (codes_a == codes_b)] = 1.0
    house_a, house_b = columns.house.codes[rows_a], columns.house.codes[rows_b]
    other_house = present & (codes_a != codes_b) & (house_a != 0) & (house_b != 0) & (house_a != house_b)
    anagrams = _house_anagrams(columns)
    slip = other_house & (anagrams[house_a] == anagrams[house_b])
    similarity[other_house & ~slip] = OTHER_HOUSE_CAP
    todo = np.flatnonzero(present & (codes_a != codes_b) & (~other_house | slip))
    if todo.size:
        scores = _cpdist_codes(street.vocab, codes_a[todo], street.vocab, codes_b[todo], fuzz.token_set_ratio) / 100.0
        # A line that is only a number ("28": the street left out) is a subset of any line with
        # that number, which the token-set ratio scores 1; but nothing says the street is the
        # same: no street to compare, as if missing.
        scores[_numbers_only(columns, codes_a[todo]) | _numbers_only(columns, codes_b[todo])] = np.nan
        unsure = np.flatnonzero((scores < 0.9) & (scores >= 0.3))
        if unsure.size:
            picked = todo[unsure]
            joined = _street_joined(columns, np.concatenate([codes_a[picked], codes_b[picked]]))
            squeezed = _cpdist_codes(joined, codes_a[picked], joined, codes_b[picked], Indel.normalized_similarity)
            scores[unsure] = np.maximum(scores[unsure], squeezed)
        similarity[todo] = np.where(slip[todo], np.minimum(scores, HOUSE_NUMBER_SLIP_CAP), scores)
    unit_a, unit_b = columns.unit.codes[rows_a], columns.unit.codes[rows_b]
    other_unit = (unit_a != 0) & (unit_b != 0) & (unit_a != unit_b)
    return np.where(other_unit, np.minimum(similarity, OTHER_UNIT_CAP), similarity).astype(np.float32)
