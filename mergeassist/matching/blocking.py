"""Blocking: choose the few pairs worth scoring out of the N² possible.

Each blocking key groups records that share a value (same email, same phone, same phonetic
surname and first initial, ...). Inside a group of at most `max_block_size` records every pair
is a candidate; a bigger group (a common name, a shared switchboard) is sorted and only records
within `window` places of each other are paired, so cost stays near-linear. Candidates from all
keys are merged as int64 codes `i * N + j` (i < j) and de-duplicated with one sort.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial

import jellyfish
import numpy as np

from .arrays import sorted_unique
from .columns import Column, Columns

MISSING = -1
FULL_NAME_WINDOW_UP_TO = 200_000
# Two keys at a time: more would hold more key arrays in memory for little gain on 2-4 cores.
BLOCKING_THREADS = 2


@dataclass(slots=True)
class BlockingStats:
    pairs_by_key: dict[str, int] = field(default_factory=dict)
    windowed_blocks_by_key: dict[str, int] = field(default_factory=dict)


def pairs_within_blocks(
    keys: np.ndarray, rows: np.ndarray, order: np.ndarray, size: int, max_block_size: int, window: int
) -> tuple[np.ndarray, int]:
    """Pair codes (i*size + j, i < j) for rows sharing a key; big blocks are only windowed.

    `keys[k]` is the blocking key of `rows[k]` (MISSING to skip); `order` sorts rows inside a
    block so that a window over a big block still pairs the most alike records.
    Returns the codes and the number of blocks that were too big and so windowed.
    """
    present = keys != MISSING
    keys, rows, order = keys[present], rows[present], order[present]
    if keys.size < 2:
        return np.empty(0, dtype=np.int64), 0
    # Sort by key alone (fast); only the entries of blocks too big to pair in full need the
    # slower sort by (key, order), since only a window over them depends on the order.
    sort = np.argsort(keys)
    keys, rows, order = keys[sort], rows[sort], order[sort]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, keys.size])
    block_of = np.repeat(np.arange(starts.size), sizes)
    position = np.arange(keys.size) - starts[block_of]
    block_size = sizes[block_of]
    in_big_block = np.flatnonzero(block_size > max_block_size)
    if in_big_block.size and window > 0:  # without a window big blocks pair nothing: no order needed
        # Entries of one block are contiguous and blocks stay in key order, so sorting the
        # big blocks' entries by (key, order) among themselves keeps every block in place.
        # Ties broken by row number, so the windows of different keys see the same neighbours.
        reordered = in_big_block[np.lexsort((rows[in_big_block], order[in_big_block], keys[in_big_block]))]
        rows[in_big_block] = rows[reordered]
    reach = np.where(block_size <= max_block_size, block_size - 1, window)
    partners = np.clip(np.minimum(block_size - position - 1, reach), 0, None)
    # Intermediates are dropped as soon as they are used: at a million records each is 8-16 MB.
    del block_of, position, block_size, reach, order
    windowed = int((sizes > max_block_size).sum())
    total = int(partners.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64), windowed
    left = np.repeat(np.arange(keys.size), partners)
    first_of_run = np.repeat(np.cumsum(partners) - partners, partners)
    del partners
    right = np.arange(total)
    right -= first_of_run
    del first_of_run
    right += left
    right += 1
    a = rows[left].astype(np.int64)
    del left
    b = rows[right].astype(np.int64)
    del right
    low = np.minimum(a, b)
    np.maximum(a, b, out=b)
    del a
    distinct = low != b
    if distinct.all():
        low *= size
        low += b
        return low, windowed
    return low[distinct] * size + b[distinct], windowed


def _vocab_map(column: Column, function, index: dict[str, int] | None = None) -> np.ndarray:
    """Apply `function` to each distinct value and code the results (MISSING for "").

    Pass one `index` to several calls to code their results in one space (first and last names
    must share phonetic codes for the swapped-name key to work).
    """
    index = {} if index is None else index
    setdefault = index.setdefault
    # A list filled in one pass, then one array: item writes into numpy cost ~100 ns each.
    mapped: list[int] = []
    append = mapped.append
    for value in column.vocab.tolist():
        result = function(value) if value else ""
        append(setdefault(result, len(index)) if result else MISSING)
    return np.array(mapped, dtype=np.int64)


def _street_word_codes(column: Column) -> np.ndarray:
    """Per street vocab entry, a code for its longest word spelt phonetically ("tullaroop" in
    "6 tullaroop st"). Street lines are mostly distinct, but without their house number many
    share one ("12 main st", "14 main st"), so the word is found once per line without it."""
    index: dict[str, int] = {}
    code_of_rest: dict[str, int] = {}
    mapped: list[int] = []
    append = mapped.append
    for street in column.vocab.tolist():
        head, _, rest = street.partition(" ")
        rest = rest if head[:1].isdigit() else street
        code = code_of_rest.get(rest)
        if code is None:
            word = _street_word_of(rest) if rest else ""
            code = code_of_rest[rest] = index.setdefault(word, len(index)) if word else MISSING
        append(code)
    return np.array(mapped, dtype=np.int64)


def _rank_of_values(column: Column) -> np.ndarray:
    """Alphabetical rank of each vocab entry, to sort records by that field."""
    ranks = np.empty(len(column.vocab), dtype=np.int64)
    ranks[np.argsort(column.vocab.astype(str), kind="stable")] = np.arange(len(column.vocab))
    return ranks


def _combine(*parts: tuple[np.ndarray, int]) -> np.ndarray:
    """One int64 key out of several coded parts; MISSING if any part is missing."""
    key = np.zeros(parts[0][0].size, dtype=np.int64)
    missing = np.zeros(parts[0][0].size, dtype=bool)
    for codes, cardinality in parts:
        missing |= codes == MISSING
        key = key * (cardinality + 1) + codes
    key[missing] = MISSING
    return key


def _phonetic(name: str) -> str:
    # Metaphone of the longest word: "garcia lopez" and "garcia" still share a key via the
    # other name-based keys; the longest word is the most distinctive one.
    word = max(name.split(" "), key=len)
    return jellyfish.metaphone(word) or word


def _street_word_of(street: str) -> str:
    words = [word for word in street.split(" ") if not word[:1].isdigit()]
    return _metaphone(max(words, key=len)) if words else ""


@lru_cache(maxsize=1 << 16)
def _metaphone(word: str) -> str:
    # Street lines are mostly distinct, their words are not: phonetic codes are cached per word.
    return jellyfish.metaphone(word)


def candidate_pairs(columns: Columns, max_block_size: int, window: int, live_records: int | None = None) -> tuple[np.ndarray, np.ndarray, BlockingStats]:
    """(rows_a, rows_b) of every candidate pair, rows_a < rows_b, without duplicates.

    `live_records`: how many rows are records (an incremental run keeps rows of records that
    are gone, all missing); the keys used depend on it, not on the row count."""
    size = columns.size
    records = size if live_records is None else live_records
    rows = np.arange(size, dtype=np.int64)
    stats = BlockingStats()

    first_code = columns.first.codes
    last_code = columns.last.codes
    first_rank = _rank_of_values(columns.first)[first_code]
    last_rank = _rank_of_values(columns.last)[last_code]
    name_order = last_rank * (len(columns.first.vocab) + 1) + first_rank

    def coded(column: Column) -> tuple[np.ndarray, int]:
        codes = column.codes.astype(np.int64)
        codes[codes == 0] = MISSING
        return codes, len(column.vocab)

    def mapped(column: Column, function, index: dict[str, int] | None = None) -> tuple[np.ndarray, int]:
        table = _vocab_map(column, function, index)
        return table[column.codes], int(table.max(initial=0)) + 1

    email_codes = columns.email.codes.astype(np.int64)
    email_codes[(email_codes == 0) | columns.email_shared[columns.email.codes]] = MISSING
    phonetics: dict[str, int] = {}
    initials: dict[str, int] = {}
    phonetic_last = mapped(columns.last, _phonetic, phonetics)
    phonetic_first = mapped(columns.first, _phonetic, phonetics)
    initial_first = mapped(columns.first, lambda value: value[0], initials)
    initial_last = mapped(columns.last, lambda value: value[0], initials)
    zip_code = coded(columns.zip)
    house = coded(columns.house)
    street = coded(columns.street)
    company = coded(columns.company)
    first = coded(columns.first)
    last = coded(columns.last)
    cardinality = max(phonetic_last[1], phonetic_first[1]) + 1
    alphabet = max(initial_first[1], initial_last[1]) + 1

    street_word_memo: list[tuple[np.ndarray, int]] = []
    street_word_lock = threading.Lock()

    def street_word() -> tuple[np.ndarray, int]:
        # Built on first use by whichever thread gets there, so that its Python loop over the
        # streets overlaps the other thread's numpy work.
        with street_word_lock:
            if not street_word_memo:
                table = _street_word_codes(columns.street)
                street_word_memo.append((table[columns.street.codes], int(table.max(initial=0)) + 1))
        return street_word_memo[0]

    city = coded(columns.city)
    name_cap = max(2, max_block_size // 4)
    # Windows over names are a safety net for typos in both names (FEBRL needs them); past
    # FULL_NAME_WINDOW_UP_TO records the identity keys carry recall, and half a window halves
    # the millions of candidates that the name windows add.
    name_window = window if records <= FULL_NAME_WINDOW_UP_TO else max(1, window // 2)

    # (name, keys, order inside a block, cap). Identity keys (email, phone, address) get the full
    # cap; name and place keys are shared by many strangers, so they get a quarter of it.
    # Each key array is built only when its turn comes (a lambda), so at most one is alive.
    single_keys: list[tuple[str, Callable[[], np.ndarray], np.ndarray, int]] = [
        ("email", lambda: email_codes, name_order, max_block_size),
        ("phone", lambda: coded(columns.phone)[0], name_order, max_block_size),
        ("address+zip", lambda: _combine(street, zip_code), name_order, max_block_size),
        ("company+zip", lambda: _combine(company, zip_code), name_order, max_block_size),
        ("house+street-word", lambda: _combine(house, street_word()), name_order, name_cap),
        ("first+zip", lambda: _combine(first, zip_code), last_rank, name_cap),
        ("last+zip", lambda: _combine(last, zip_code), first_rank, name_cap),
        ("first+city", lambda: _combine(first, city), last_rank, name_cap),
        ("last+city", lambda: _combine(last, city), first_rank, name_cap),
    ]
    small = records <= FULL_NAME_WINDOW_UP_TO
    if small:
        # Safety nets for records with typos in both names and the house number (FEBRL2: +1.5
        # points of recall). At a million synthetic records they add 2.3M of the 5.1M candidates
        # and find 171 true pairs that no other key finds (0.05 % of recall): see
        # docs/matching.md, "Blocking at scale".
        single_keys += [
            ("house+zip", lambda: _combine(house, zip_code), name_order, name_cap),
            ("house+city", lambda: _combine(house, city), name_order, name_cap),
            ("street-word+zip", lambda: _combine(street_word(), zip_code), name_order, name_cap),
            ("street-word+city", lambda: _combine(street_word(), city), name_order, name_cap),
            ("initials+zip", lambda: _combine(initial_first, initial_last, zip_code), name_order, name_cap),
            # A given name replaced and a surname misspelt (or the reverse), with a typo in the
            # ZIP, the street or the suburb (see docs/matching.md, "Recall on FEBRL-style misses").
            ("phonetic-surname+zip", lambda: _combine(phonetic_last, zip_code), first_rank, name_cap),
            ("phonetic-surname+house", lambda: _combine(phonetic_last, house), first_rank, name_cap),
            ("phonetic-first+city", lambda: _combine(phonetic_first, city), last_rank, name_cap),
        ]
    def single_key(name: str, make_keys: Callable[[], np.ndarray], order: np.ndarray, cap: int) -> tuple[str, list[np.ndarray], int]:
        found, windowed = pairs_within_blocks(make_keys(), rows, order, size, cap, window if cap == max_block_size else name_window)
        return name, [found], windowed

    def phonetic_key() -> tuple[str, list[np.ndarray], int]:
        # Phonetic surname + first initial, in one key space with the swapped version, so that
        # "Smith, John" meets "John Smith".
        straight = _combine((phonetic_last[0], cardinality), (initial_first[0], alphabet))
        swapped = _combine((phonetic_first[0], cardinality), (initial_last[0], alphabet))
        # Big blocks are windowed on the straight key only: windowing the swapped copies too would
        # double the candidates for the rare swapped record that a small block already catches.
        crosswise, _ = pairs_within_blocks(
            np.r_[straight, swapped], np.r_[rows, rows], np.r_[first_rank, last_rank], size, name_cap, window=0
        )
        if not small:  # windows over common surnames: a safety net, as above
            return "phonetic-surname+initial", [crosswise], 0
        found, windowed = pairs_within_blocks(straight, rows, first_rank, size, name_cap, name_window)
        return "phonetic-surname+initial", [crosswise, found], windowed

    def sorted_name() -> tuple[str, list[np.ndarray], int]:
        # Sorted neighbourhood over the whole name: catches typos that change the phonetic key.
        has_name = (first_code != 0) | (last_code != 0)
        everyone = np.where(has_name, 0, MISSING).astype(np.int64)
        found, _ = pairs_within_blocks(everyone, rows, name_order, size, max_block_size=1, window=name_window)
        return "sorted-name", [found], 0

    jobs: list[Callable[[], tuple[str, list[np.ndarray], int]]] = [
        *(partial(single_key, *key) for key in single_keys), phonetic_key, *([sorted_name] if small else []),
    ]
    codes_found: list[np.ndarray] = []
    # Keys are independent and their work is numpy sorts and gathers that let go of the GIL, so
    # two threads block in about 60 % of the time; results are taken in job order.
    with ThreadPoolExecutor(BLOCKING_THREADS) as pool:
        for name, found, windowed in pool.map(lambda job: job(), jobs):
            stats.pairs_by_key[name] = sum(int(part.size) for part in found)
            stats.windowed_blocks_by_key[name] = windowed
            codes_found += found

    codes = np.concatenate(codes_found)
    codes_found.clear()  # the parts are copied: free them before sorting
    unique = sorted_unique(codes, in_place=True)
    del codes
    return unique // size, unique % size, stats
