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
from collections.abc import Callable, Sequence
from operator import attrgetter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import normalise as n


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

    def strings(self, rows: np.ndarray) -> np.ndarray:
        return self.vocab[self.codes[rows]]


@dataclass(slots=True)
class EmailParts:
    """Per email vocab entry: its local part (coded), its domain (coded), and whether the local
    part is distinctive enough that seeing it at another domain suggests the same person."""

    local: np.ndarray
    local_vocab: np.ndarray
    domain: np.ndarray
    distinctive: np.ndarray


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


def _code_column(raw_values: Sequence[Any], normaliser: Callable[[Any], str]) -> Column:
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


def _code_address(line1: Sequence[Any], line2: Sequence[Any]) -> tuple[Column, Column, Column]:
    house, street, unit = _Coder(), _Coder(), _Coder()
    house_index, street_index, unit_index = house.index, street.index, unit.index
    house_codes: list[int] = []
    street_codes: list[int] = []
    unit_codes: list[int] = []
    normalise_address = n.normalise_address
    for first_line, second_line in zip(line1, line2):
        number, line, flat = normalise_address(first_line, second_line)
        house_codes.append(house_index.setdefault(number, len(house_index)))
        street_codes.append(street_index.setdefault(line, len(street_index)))
        unit_codes.append(unit_index.setdefault(flat, len(unit_index)))
    return (
        Column(np.array(house_codes, dtype=np.int32), house.vocab()),
        Column(np.array(street_codes, dtype=np.int32), street.vocab()),
        Column(np.array(unit_codes, dtype=np.int32), unit.vocab()),
    )


def _email_parts(vocab: np.ndarray) -> EmailParts:
    locals_, domains = _Coder(), _Coder()
    local = np.zeros(len(vocab), dtype=np.int32)
    domain = np.zeros(len(vocab), dtype=np.int32)
    distinctive = np.zeros(len(vocab), dtype=bool)
    for code, email in enumerate(vocab):
        if email:
            name, _, host = email.rpartition("@")
            local[code], domain[code] = locals_.code(name), domains.code(host)
            # "john@" at two providers may be two Johns; "john.smith1984@" hardly.
            distinctive[code] = len(name) >= 8 or (len(name) >= 5 and any(c.isdigit() or c in "._-" for c in name))
    return EmailParts(local, locals_.vocab(), domain, distinctive)


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
# The records a forked helper reads: set just before the fork, so nothing is pickled to it.
_records_for_helper: Sequence[Any] = ()


def _raw(records: Sequence[Any], attribute: str) -> list[Any]:
    try:
        return list(map(attrgetter(attribute), records))  # several times faster than getattr in a loop
    except AttributeError:  # duck-typed records may leave fields out
        return [getattr(record, attribute, None) for record in records]


def _email_and_address(records: Sequence[Any]) -> tuple[Column, Column, Column, Column]:
    """The two costliest columns (mostly distinct values, so little caching)."""
    email = _code_column(_raw(records, "email"), n.normalise_email)
    house, street, unit = _code_address(_raw(records, "address1"), _raw(records, "address2"))
    return email, house, street, unit


def _email_and_address_in_helper() -> tuple[list[Any], ...]:
    columns = _email_and_address(_records_for_helper)
    # Lists of str pickle several times faster than object arrays.
    return tuple((column.codes, column.vocab.tolist()) for column in columns)


def _start_helper(records: Sequence[Any]) -> tuple[Any, Any] | None:
    """Normalise emails and addresses in a forked process while this one does the rest.

    Fork shares the records without copying or pickling them; only the coded columns come
    back. Where fork is missing (or for small inputs) everything runs here.
    """
    global _records_for_helper
    if len(records) < PARALLEL_FROM or (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    _records_for_helper = records
    # Frozen objects are left alone by the child's garbage collector, which would otherwise
    # touch every record and make the kernel copy their pages (copy-on-write).
    gc.freeze()
    try:
        pool = multiprocessing.get_context("fork").Pool(1, initializer=gc.disable)
    except (AssertionError, OSError):  # a daemonic process may not fork; no processes left
        return None
    finally:
        gc.unfreeze()
        _records_for_helper = ()
    return pool, pool.apply_async(_email_and_address_in_helper)


def _finish_helper(helper: tuple[Any, Any]) -> tuple[Column, Column, Column, Column]:
    pool, pending = helper
    try:
        parts = pending.get()
    finally:
        pool.close()
        pool.join()
    columns = []
    for codes, vocab in parts:
        array = np.empty(len(vocab), dtype=object)
        array[:] = vocab
        columns.append(Column(codes, array))
    return tuple(columns)  # type: ignore[return-value]


def normalise_columns(records: Sequence[Any], region: str = "US") -> Columns:
    """Every record's fields, normalised and coded. Records only need the Record attributes."""
    helper = _start_helper(records)

    def raw(attribute: str) -> list[Any]:
        return _raw(records, attribute)

    phone = _code_column(raw("phone"), lambda value: n.normalise_phone(value, region))
    phone_digits = np.fromiter((int(value[1:]) if value else 0 for value in phone.vocab), dtype=np.int64, count=len(phone.vocab))
    first = _code_column(raw("name_first"), n.normalise_name)
    last = _code_column(raw("name_last"), n.normalise_name)
    words, families = _Coder(), _Coder()
    first.names = _name_features(first.vocab, words, families)
    last.names = _name_features(last.vocab, words, families)
    company = _code_column(raw("company_name"), n.normalise_company)
    city = _code_column(raw("city"), n.normalise_city)
    state = _code_column(raw("state"), n.normalise_state)
    zip_code = _code_column(raw("zip"), n.normalise_postcode)

    email, house, street, unit = _finish_helper(helper) if helper else _email_and_address(records)
    email_shared = np.fromiter((n.is_shared_mailbox(value) for value in email.vocab), dtype=bool, count=len(email.vocab))
    email_shared[0] = False
    return Columns(
        size=len(records),
        first=first,
        last=last,
        email=email,
        email_shared=email_shared,
        email_parts=_email_parts(email.vocab),
        phone=phone,
        phone_digits=phone_digits,
        company=company,
        street=street,
        house=house,
        unit=unit,
        city=city,
        state=state,
        zip=zip_code,
    )
