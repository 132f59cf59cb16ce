"""Normalise many records at once into coded columns.

Each field becomes an int32 code per record plus a vocabulary (code → normalised value), code 0
meaning "missing". Repeated raw values (first names, cities, companies) are normalised once;
equality is an integer comparison; the strings are only looked up for the pairs that need a
fuzzy comparison or an explanation. This keeps 1M records well under the memory budget.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from operator import attrgetter
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any

import numpy as np

from . import normalise as n
from .arrays import sorted_unique_with_inverse
from .records import RECORD_FIELDS

# The fields the engine compares (country is not one: see docs/matching.md).
MATCHED_FIELDS: tuple[str, ...] = tuple(field for field in RECORD_FIELDS if field != "country")


@dataclass(slots=True)
class NameFeatures:
    """Per vocab entry of a name column, what the weak name evidence needs, as arrays.

    Word and family codes come from indexes shared by the first- and last-name columns, so a
    swapped name compares in one space.
    """

    first_word: np.ndarray  # int32: code of the first word ("mary" for "mary ann")
    letter: np.ndarray  # int32: the first letter
    single_letter: np.ndarray  # bool: the first word is an initial ("r")
    multiword: np.ndarray  # bool: "garcia lopez"
    families: list[list[int]]  # nickname family codes (bob → robert, bobby, ...)


@dataclass(slots=True)
class Column:
    codes: np.ndarray  # int32 per record, 0 = missing
    vocab: np.ndarray  # object array of normalised strings; vocab[0] == ""
    names: NameFeatures | None = None  # only for the first- and last-name columns

    def value(self, row: int) -> str:
        return self.vocab[self.codes[row]]

    # Pickled with the vocabulary as one joined str: a million small str objects take seconds
    # to pickle and unpickle, one str a fraction of that (the scan keeps columns between runs).
    def __getstate__(self) -> tuple[np.ndarray, str | list[str], NameFeatures | None]:
        return (self.codes, _joined(self.vocab), self.names)

    def __setstate__(self, state: tuple[np.ndarray, str | list[str], NameFeatures | None]) -> None:
        self.codes, vocab, self.names = state
        self.vocab = _object_array(vocab)

    def strings(self, rows: np.ndarray) -> np.ndarray:
        return self.vocab[self.codes[rows]]


def _joined(vocab: np.ndarray) -> str | list[str]:
    """The vocabulary as one str when no value holds the separator (normalised values never
    do), else as a list."""
    values = vocab.tolist()
    joined = _VOCAB_SEPARATOR.join(values)
    return joined if joined.count(_VOCAB_SEPARATOR) == len(values) - 1 else values


def _object_array(vocab: str | list[str]) -> np.ndarray:
    values = vocab.split(_VOCAB_SEPARATOR) if isinstance(vocab, str) else vocab
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


@dataclass(slots=True)
class EmailParts:
    """Per email vocab entry: its local part (coded), its domain (coded), and whether the local
    part is distinctive enough that seeing it at another domain suggests the same person."""

    local: np.ndarray
    local_vocab: np.ndarray
    domain: np.ndarray
    distinctive: np.ndarray
    domain_vocab: np.ndarray | None = None  # for extending the parts (patch_columns)

    def __getstate__(self) -> tuple:
        domains = None if self.domain_vocab is None else _joined(self.domain_vocab)
        return (self.local, _joined(self.local_vocab), self.domain, self.distinctive, domains)

    def __setstate__(self, state: tuple) -> None:
        self.local, local_vocab, self.domain, self.distinctive, domains = state
        self.local_vocab = _object_array(local_vocab)
        self.domain_vocab = None if domains is None else _object_array(domains)


@dataclass(slots=True)
class Columns:
    size: int
    first: Column
    last: Column
    email: Column
    email_shared: np.ndarray  # bool per vocab entry of `email`
    email_parts: EmailParts
    phone: Column
    phone_digits: np.ndarray  # int64 per vocab entry of `phone`: the E.164 digits as a number
    company: Column
    street: Column
    house: Column
    unit: Column
    city: Column
    state: Column
    zip: Column
    # Derived tables that scoring builds once per run (nickname pairs), keyed by name.
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CodedValues:
    """A field given as its distinct raw values plus, per record, an index into them (-1 for
    missing): the shape of an Arrow dictionary array or a pandas Categorical.

    Each distinct value is normalised once and the per-record work is one numpy gather, where a
    plain list costs a dict lookup per record in Python.
    """

    codes: np.ndarray  # integer index into `values` per record; -1 = missing
    values: Sequence[Any]  # the distinct raw values (str, None or "")

    def __len__(self) -> int:
        return len(self.codes)

    def decoded(self) -> list[Any]:
        """One raw value per record, as a plain column would hold it."""
        values = [*self.values, None]  # index -1 reads the None at the end
        return [values[code] for code in self.codes.tolist()]


# A field's raw values in record order: a plain sequence (None or "" when missing) or CodedValues.
RawValues = Sequence[Any] | CodedValues


class _Coder:
    """Hands out a code per distinct normalised value."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}

    def code(self, value: str) -> int:
        code = self.index.get(value)
        if code is None:
            code = self.index[value] = len(self.index)
        return code

    def vocab(self) -> np.ndarray:
        vocab = np.empty(len(self.index), dtype=object)
        vocab[:] = list(self.index)
        return vocab


def _code_distinct(raw: CodedValues, normalised: Iterable[str]) -> Column:
    """Code every record of `raw` with one gather, from its distinct values' normalised forms
    (a C-level `map` over `raw.values`: ~35 % faster than calling a partial in a comprehension)."""
    coder = _Coder()
    index = coder.index
    setdefault = index.setdefault
    # The extra 0 at the end is what a missing record's index, -1, reads.
    table = np.array([setdefault(value, len(index)) for value in normalised] + [0], dtype=np.int32)
    return Column(table[raw.codes], coder.vocab())


def _code_column(raw_values: RawValues, normaliser: Callable[[Any], str]) -> Column:
    if isinstance(raw_values, CodedValues):
        return _code_distinct(raw_values, map(normaliser, raw_values.values))
    coder = _Coder()
    index = coder.index
    seen: dict[Any, int] = {}
    codes: list[int] = []
    append = codes.append
    for raw in raw_values:
        code = seen.get(raw)
        if code is None:
            # setdefault with the next free code: one dict call instead of a method call.
            code = seen[raw] = index.setdefault(normaliser(raw), len(index))
        append(code)
    return Column(np.array(codes, dtype=np.int32), coder.vocab())


def _code_normalised(values: Iterable[str]) -> Column:
    """Codes for values already normalised, one per record: for columns whose raw values are
    mostly distinct (emails, phones).

    There, remembering raw value → code (as `_code_column` does) saves few normalisations and
    costs two lookups and an insert per record in a dict as large as the column: normalising
    every value, in a C-level `map`, is cheaper.
    """
    coder = _Coder()
    index = coder.index
    setdefault = index.setdefault
    codes = [setdefault(value, len(index)) for value in values]
    return Column(np.array(codes, dtype=np.int32), coder.vocab())


def _code_coded_address(line1: CodedValues, line2: CodedValues) -> tuple[Column, Column, Column]:
    """`_code_address` once per distinct (first line, second line), spread to every record."""
    width = np.int64(len(line2.values) + 1)
    combined = (line1.codes.astype(np.int64) + 1) * width + (line2.codes.astype(np.int64) + 1)
    distinct, inverse = sorted_unique_with_inverse(combined)
    firsts, seconds = [None, *line1.values], [None, *line2.values]
    columns = _code_address(
        [firsts[code] for code in (distinct // width).tolist()], [seconds[code] for code in (distinct % width).tolist()]
    )
    return tuple(Column(column.codes[inverse], column.vocab) for column in columns)  # type: ignore[return-value]


def _code_address(line1: RawValues, line2: RawValues) -> tuple[Column, Column, Column]:
    if isinstance(line1, CodedValues) and isinstance(line2, CodedValues):
        return _code_coded_address(line1, line2)
    line1 = line1.decoded() if isinstance(line1, CodedValues) else line1
    line2 = line2.decoded() if isinstance(line2, CodedValues) else line2
    house, street, unit = _Coder(), _Coder(), _Coder()
    house_index, street_index, unit_index = house.index, street.index, unit.index
    house_codes: list[int] = []
    street_codes: list[int] = []
    unit_codes: list[int] = []
    address_part = n.address_part
    # Second lines ("Apt 4", "Suite 33B") repeat heavily: each distinct one is normalised once.
    seconds: dict[Any, tuple[str, tuple[str, ...], str]] = {}
    for first_line, second_line in zip(line1, line2):
        # Same result as n.normalise_address(first_line, second_line), one part at a time.
        number = ""
        if first_line:
            line, found, number = address_part(first_line)
        else:
            line, found = "", ()
        if second_line:
            second = seconds.get(second_line)
            if second is None:
                second = seconds[second_line] = address_part(second_line)
            line_2, found_2, number_2 = second
            if line_2:
                line = f"{line} {line_2}" if line else line_2
            if found_2:
                found = found + found_2
            number = number or number_2
        if not number and line:
            number = next((word for word in line.split(" ") if word[:1].isdigit()), "")
        house_codes.append(house_index.setdefault(number, len(house_index)))
        street_codes.append(street_index.setdefault(line, len(street_index)))
        unit_codes.append(unit_index.setdefault(" ".join(found) if found else "", len(unit_index)))
    return (
        Column(np.array(house_codes, dtype=np.int32), house.vocab()),
        Column(np.array(street_codes, dtype=np.int32), street.vocab()),
        Column(np.array(unit_codes, dtype=np.int32), unit.vocab()),
    )


_DIGIT_OR_SEPARATOR = re.compile(r"[0-9._-]")


def _email_parts(vocab: np.ndarray) -> tuple[EmailParts, np.ndarray]:
    """The parts of every email vocab entry, and whether it is a shared mailbox."""
    locals_, domains = _Coder(), _Coder()
    local_index, domain_index = locals_.index, domains.index
    local_code, domain_code = local_index.setdefault, domain_index.setdefault
    emails = vocab[1:].tolist()  # vocab[0] is "" and every other entry is an email
    # List comprehensions, not one loop appending to several lists: ~20% faster.
    local = np.array([0] + [local_code(email.rpartition("@")[0], len(local_index)) for email in emails], dtype=np.int32)
    domain = np.array([0] + [domain_code(email.rpartition("@")[2], len(domain_index)) for email in emails], dtype=np.int32)
    # Both flags depend on the local part alone, so they are worked out once per distinct one.
    names = list(local_index)
    search = _DIGIT_OR_SEPARATOR.search
    # "john@" at two providers may be two Johns; "john.smith1984@" hardly.
    # (str.isdigit is also true for non-ASCII digits; normalised emails are ASCII.)
    distinctive = np.array([len(name) >= 8 or (len(name) >= 5 and search(name) is not None) for name in names], dtype=bool)
    # is_shared_mailbox reads the email up to its first "@", which lies in the local part.
    is_shared_local_part = n.is_shared_local_part
    shared = np.array([is_shared_local_part(name.split("@", 1)[0]) for name in names], dtype=bool)
    shared[0] = False  # local code 0 is the missing email's
    return EmailParts(local, locals_.vocab(), domain, distinctive[local], domains.vocab()), shared[local]


def _recode(codes: np.ndarray, vocab: np.ndarray, into: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`codes` into `vocab` re-coded into the vocabulary `into` (values it lacks appended):
    (the codes, the grown vocabulary)."""
    index = {value: code for code, value in enumerate(into.tolist())}
    setdefault = index.setdefault
    table = np.array([setdefault(value, len(index)) for value in vocab.tolist()], dtype=np.int32)
    grown = into
    if len(index) > len(into):
        grown = np.empty(len(index), dtype=object)
        grown[:] = list(index)
    return table[codes], grown


def _extend_email_parts(parts: EmailParts, shared: np.ndarray, vocab: np.ndarray, old_size: int) -> tuple[EmailParts, np.ndarray]:
    """The parts and shared flags of `vocab` whose first `old_size` entries `parts` already
    describes: only the new entries are split, by the same code as `_email_parts`."""
    if parts.domain_vocab is None:
        return _email_parts(vocab)
    added = np.empty(len(vocab) - old_size + 1, dtype=object)
    added[:] = ["", *vocab[old_size:].tolist()]
    new_parts, new_shared = _email_parts(added)
    local, local_vocab = _recode(new_parts.local[1:], new_parts.local_vocab, parts.local_vocab)
    domain, domain_vocab = _recode(new_parts.domain[1:], new_parts.domain_vocab, parts.domain_vocab)
    extended = EmailParts(
        np.concatenate([parts.local, local]), local_vocab, np.concatenate([parts.domain, domain]),
        np.concatenate([parts.distinctive, new_parts.distinctive[1:]]), domain_vocab,
    )
    return extended, np.concatenate([shared, new_shared[1:]])


def _code_emails(raw_values: RawValues) -> tuple[Column, np.ndarray, EmailParts]:
    """The email column, its shared-mailbox flags and its parts."""
    if isinstance(raw_values, CodedValues):
        email = _code_distinct(raw_values, map(n.normalise_email, raw_values.values))
    else:
        email = _code_normalised(map(n.normalise_email, raw_values))
    parts, shared = _email_parts(email.vocab)
    return email, shared, parts


def _name_features(vocab: np.ndarray, words: _Coder, families: _Coder) -> NameFeatures:
    size = len(vocab)
    first_word = np.zeros(size, dtype=np.int32)
    letter = np.zeros(size, dtype=np.int32)
    single_letter = np.zeros(size, dtype=bool)
    multiword = np.zeros(size, dtype=bool)
    family_codes: list[list[int]] = [[] for _ in range(size)]
    for code, value in enumerate(vocab):
        if not value:
            continue
        word = value.split(" ", 1)[0]
        first_word[code] = words.code(word)
        letter[code] = ord(word[0])
        single_letter[code] = len(word) == 1
        multiword[code] = " " in value
        family_codes[code] = [families.code(member) for member in n.name_family(word)]
    return NameFeatures(first_word, letter, single_letter, multiword, family_codes)


# Below this many records a second process costs more than it saves.
PARALLEL_FROM = 100_000
# What a forked helper codes while this process codes phones and emails. Measured at 1M records
# (plain lists / CodedValues, cold caches): addresses ~3.5 / 2.9 s and names, company, city,
# state and ZIP ~1.5 / 0.5 s there; phones ~1.8 / 1.4 s and emails with their parts and
# shared-mailbox flags ~2.4 / 2.3 s here, so the two finish at about the same time either way.
_HELPER_FIELDS: tuple[str, ...] = (
    "address1", "address2", "name_first", "name_last", "company_name", "city", "state", "zip",
)
# The packed raw values the forked helper reads: set just before the fork, so nothing is pickled
# to it.
_records_for_helper: dict[str, str | RawValues] = {}
_VOCAB_SEPARATOR = "\x00"


# Each field's raw values, one per record in record order (None or "" when missing), either as
# a plain sequence or as CodedValues.
FieldValues = Mapping[str, RawValues]


def _raw(records: Sequence[Any], attribute: str) -> list[Any]:
    try:
        return list(map(attrgetter(attribute), records))  # several times faster than getattr in a loop
    except AttributeError:  # duck-typed records may leave fields out
        return [getattr(record, attribute, None) for record in records]


def fields_of_records(records: Sequence[Any]) -> dict[str, list[Any]]:
    """The column-wise view of records that need only the `Record` attributes."""
    return {attribute: _raw(records, attribute) for attribute in MATCHED_FIELDS}


def _pack(values: RawValues) -> str | RawValues:
    """The raw values as one str (None as ""), or the values themselves if that cannot be done;
    for CodedValues, its distinct values are packed and its codes kept as they are (reading a
    numpy array after the fork writes no page but the array object's own).

    After the fork neither process reads the caller's own str objects: reading one writes its
    reference count, and every page written after a fork is copied. Splitting the packed str
    gives each process fresh strings that it frees once their column is coded.
    """
    if isinstance(values, CodedValues):
        return CodedValues(values.codes, _pack(values.values))  # type: ignore[arg-type]
    try:
        # A column without None joins as it is, ~4x faster than building a list of its values.
        joined = _VOCAB_SEPARATOR.join(values)
    except TypeError:
        try:
            joined = _VOCAB_SEPARATOR.join([value or "" for value in values])
        except TypeError:  # not all str: duck-typed records
            return values
    return joined if values and joined.count(_VOCAB_SEPARATOR) == len(values) - 1 else values


def _unpack(packed: str | RawValues) -> RawValues:
    if isinstance(packed, CodedValues):
        return CodedValues(packed.codes, _unpack(packed.values))  # type: ignore[arg-type]
    return packed.split(_VOCAB_SEPARATOR) if isinstance(packed, str) else packed


@dataclass(slots=True)
class _HelperColumns:
    """The columns coded from `_HELPER_FIELDS`."""

    first: Column
    last: Column
    company: Column
    street: Column
    house: Column
    unit: Column
    city: Column
    state: Column
    zip: Column


@dataclass(slots=True)
class _OwnColumns:
    """The columns this process codes while the helper works."""

    phone: Column
    email: Column
    email_shared: np.ndarray
    email_parts: EmailParts


def _code_phones(raw_values: RawValues, region: str) -> Column:
    if isinstance(raw_values, CodedValues):
        return _code_distinct(raw_values, map(n.normalise_phone, raw_values.values, repeat(region)))
    return _code_normalised(map(n.normalise_phone, raw_values, repeat(region)))


def _code_helper_fields(raw: Callable[[str], RawValues]) -> _HelperColumns:
    """`raw(field)` gives a field's raw values; each is asked for once, just before its coding,
    so that only one column's raw strings are alive at a time."""
    house, street, unit = _code_address(raw("address1"), raw("address2"))
    first = _code_column(raw("name_first"), n.normalise_name)
    last = _code_column(raw("name_last"), n.normalise_name)
    words, families = _Coder(), _Coder()
    first.names = _name_features(first.vocab, words, families)
    last.names = _name_features(last.vocab, words, families)
    company = _code_column(raw("company_name"), n.normalise_company)
    city = _code_column(raw("city"), n.normalise_city)
    state = _code_column(raw("state"), n.normalise_state)
    zip_code = _code_column(raw("zip"), n.normalise_postcode)
    return _HelperColumns(first, last, company, street, house, unit, city, state, zip_code)


def _code_own_fields(raw: Callable[[str], RawValues], region: str) -> _OwnColumns:
    phone = _code_phones(raw("phone"), region)
    email, email_shared, email_parts = _code_emails(raw("email"))
    return _OwnColumns(phone, email, email_shared, email_parts)


# A column as the helper sends it: codes, vocab (joined when it can be) and name features.
_SentColumn = tuple[np.ndarray, str | list[str], NameFeatures | None]


def _sendable(column: Column) -> _SentColumn:
    # One joined str pickles as a single copy (a list of a million str costs ~0.7 s to pickle);
    # normalised values never hold the separator, else the list is sent as it is.
    values = column.vocab.tolist()
    joined = _VOCAB_SEPARATOR.join(values)
    return column.codes, joined if joined.count(_VOCAB_SEPARATOR) == len(values) - 1 else values, column.names


def _received(sent: _SentColumn) -> Column:
    codes, vocab, names = sent
    if isinstance(vocab, str):
        vocab = vocab.split(_VOCAB_SEPARATOR)
    array = np.empty(len(vocab), dtype=object)
    array[:] = vocab
    return Column(codes, array, names)


def _helper_fields_in_helper() -> list[_SentColumn]:
    columns = _code_helper_fields(lambda name: _unpack(_records_for_helper[name]))
    return [_sendable(getattr(columns, column.name)) for column in dataclass_fields(_HelperColumns)]


def _helper_possible(size: int) -> bool:
    return size >= PARALLEL_FROM and (os.cpu_count() or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods()


def _start_helper(packed: dict[str, str | RawValues]) -> tuple[Any, Any] | None:
    """Code `_HELPER_FIELDS` in a forked process while this one does the rest.

    Fork shares the packed raw values without copying or pickling them; only the coded columns
    come back. Where fork is missing, everything runs here.

    Python warns that forking a process with other threads may deadlock the child on a lock
    one of them held. The child here runs only the address, name, company and place normalisers
    (no logging, no phonenumbers and its metadata lock, no imports), and CPython re-creates the
    GIL and import lock after a fork, so no lock it needs can be left held. forkserver or spawn
    would avoid the question, but they re-import the caller's `__main__` in the child, which
    breaks any script that calls the engine without an `if __name__ == "__main__"` guard.
    """
    global _records_for_helper
    _records_for_helper = packed
    # Frozen objects are left alone by the child's garbage collector, which would otherwise
    # touch every object the caller holds and make the kernel copy their pages (copy-on-write).
    gc.freeze()
    try:
        pool = multiprocessing.get_context("fork").Pool(1, initializer=gc.disable)
    except (AssertionError, OSError):  # a daemonic process may not fork; no processes left
        return None
    finally:
        gc.unfreeze()
        _records_for_helper = {}
    return pool, pool.apply_async(_helper_fields_in_helper)


def _finish_helper(helper: tuple[Any, Any]) -> _HelperColumns:
    pool, pending = helper
    try:
        sent = pending.get()
    finally:
        pool.close()
        pool.join()
    return _HelperColumns(*[_received(column) for column in sent])


def _field(fields: FieldValues, name: str, size: int) -> RawValues:
    values = fields.get(name)
    if values is None:
        return [None] * size
    if len(values) != size:
        raise ValueError(f"field {name!r} has {len(values)} values for {size} records")
    if isinstance(values, CodedValues) and values.codes.size:
        low, high = int(values.codes.min()), int(values.codes.max())
        if low < -1 or high >= len(values.values):
            raise ValueError(f"field {name!r} has codes from {low} to {high}; they must be -1 (missing) or index its {len(values.values)} values")
    return values


def normalise_columns(fields: FieldValues, size: int, region: str = "US", allow_fork: bool = False) -> Columns:
    """Every record's fields, normalised and coded. `fields` maps a `Record` attribute name to
    its values in record order; a field left out counts as missing everywhere.

    `allow_fork`: from PARALLEL_FROM records, let a forked helper code half the fields (only for
    processes that exist to run the engine: see `find_duplicates_in_columns`'s `big_run`)."""
    unknown = set(fields) - set(MATCHED_FIELDS) - {"id", "country"}
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}; known: {sorted(MATCHED_FIELDS)}")
    # With a helper, every raw value is packed before the fork: after it, reading one of the
    # caller's str objects writes its reference count and makes the kernel copy its page.
    parallel = allow_fork and _helper_possible(size)
    raw_values: dict[str, str | RawValues] = {
        name: _pack(_field(fields, name, size)) if parallel else _field(fields, name, size) for name in MATCHED_FIELDS
    }
    helper = _start_helper({name: raw_values[name] for name in _HELPER_FIELDS}) if parallel else None
    if helper:  # the helper has its own reference; this process has no more use for them
        for name in _HELPER_FIELDS:
            del raw_values[name]

    def raw(attribute: str) -> RawValues:
        return _unpack(raw_values.pop(attribute))

    own = _code_own_fields(raw, region)
    phone_digits = np.fromiter((int(value[1:]) if value else 0 for value in own.phone.vocab), dtype=np.int64, count=len(own.phone.vocab))
    theirs = _finish_helper(helper) if helper else _code_helper_fields(raw)
    return Columns(
        size=size,
        first=theirs.first,
        last=theirs.last,
        email=own.email,
        email_shared=own.email_shared,
        email_parts=own.email_parts,
        phone=own.phone,
        phone_digits=phone_digits,
        company=theirs.company,
        street=theirs.street,
        house=theirs.house,
        unit=theirs.unit,
        city=theirs.city,
        state=theirs.state,
        zip=theirs.zip,
    )


# The plain coded columns of `Columns`, as attribute names.
_PLAIN_COLUMNS: tuple[str, ...] = ("first", "last", "email", "phone", "company", "street", "house", "unit", "city", "state", "zip")


def _merge_vocab(column: Column, patch: Column, rows: np.ndarray) -> None:
    """Give `rows` of `column` the values `patch` holds for them (patch row k is rows[k]),
    coding a value already in the vocabulary with its code and appending the new ones."""
    column.codes[rows], column.vocab = _recode(patch.codes, patch.vocab, column.vocab)


def patch_columns(columns: Columns, size: int, rows: np.ndarray, fields: FieldValues, gone: np.ndarray, region: str = "US") -> None:
    """Bring normalised columns up to date in place: `size` rows from now on (new rows at the
    end), `rows` given the values in `fields` (in that order), rows where `gone` is True made
    missing in every field, so that they pair with nothing.

    Coding the changed rows and merging them in gives the columns a full `normalise_columns`
    would give, up to the numbering of codes (which only equality reads) and vocabulary entries
    no row uses any more (which pair with nothing).
    """
    grow = size - columns.size
    if grow < 0:
        raise ValueError(f"columns have {columns.size} rows; they cannot shrink to {size}")
    for name in _PLAIN_COLUMNS:
        column = getattr(columns, name)
        if grow:
            column.codes = np.concatenate([column.codes, np.zeros(grow, dtype=column.codes.dtype)])
    columns.size = size
    if rows.size:
        patch = normalise_columns(fields, rows.size, region)
        old_emails, old_phones = len(columns.email.vocab), len(columns.phone.vocab)
        for name in _PLAIN_COLUMNS:
            _merge_vocab(getattr(columns, name), getattr(patch, name), rows)
        words, families = _Coder(), _Coder()
        columns.first.names = _name_features(columns.first.vocab, words, families)
        columns.last.names = _name_features(columns.last.vocab, words, families)
        if len(columns.email.vocab) > old_emails:
            columns.email_parts, columns.email_shared = _extend_email_parts(
                columns.email_parts, columns.email_shared, columns.email.vocab, old_emails
            )
        if len(columns.phone.vocab) > old_phones:
            added = columns.phone.vocab[old_phones:].tolist()
            columns.phone_digits = np.concatenate(
                [columns.phone_digits, np.array([int(value[1:]) if value else 0 for value in added], dtype=np.int64)]
            )
    gone_rows = np.flatnonzero(np.asarray(gone, dtype=bool)[:size])
    for name in _PLAIN_COLUMNS:
        getattr(columns, name).codes[gone_rows] = 0
    columns.cache.clear()
