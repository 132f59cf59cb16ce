"""CSV in and out for `manage.py scan_csv`: records from a file, scored pairs to a file."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from mergeassist.core.csvsafe import neutralise_row, neutralise_texts
from mergeassist.crm.ids import parse_crm_id

from .columns import CodedValues, RawValues
from .engine import MatchResult, ScoredPair, compact_explanation
from .records import RECORD_FIELDS, Record

# From this size on a CSV is read by Arrow (see read_columns_csv). Below it, importing pyarrow and
# its memory pool costs more time and memory (~0.3 s, ~100 MB) than the csv module's reading.
ARROW_FROM_BYTES = 8 * 1024 * 1024
OUTPUT_COLUMNS: tuple[str, ...] = ("id_a", "id_b", "score", "is_match", "explanation")
# Explanation forms in the written file: "compact" (`field similarity points` per row that
# counts, see engine.compact_explanation) or "full" (the JSON rows the pair screen shows).
EXPLANATION_FORMS: tuple[str, ...] = ("compact", "full")


def read_columns_csv(path: str | Path) -> tuple[list[str], dict[str, RawValues], list[str]]:
    """(ids, {field: values}, problems) from a CSV with an `id` column and any Record field columns.

    Column-wise, for the engine's `find_duplicates_in_columns`. Extra columns are ignored and
    missing ones are empty. A row that cannot be used (no id, an id no customer can have, a
    duplicate id, the wrong number of cells) is skipped and described in `problems` with its line
    number, so one bad row never stops a scan. Ids are taken in their canonical form
    (`mergeassist.crm.ids`): "041" and "41" are one customer. A file without an `id` column is
    one problem. Values are stripped; an empty one is missing.

    A clean file from ARROW_FROM_BYTES on is read by Arrow's CSV reader, each field as
    `CodedValues` (its distinct values once, a code per record), without a Python object per
    cell. A file with any row to skip is read again row by row, which is what can say where each
    problem is; so is a small file.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = [name.strip() for name in next(csv.reader(handle), [])]
    if "id" not in header:
        return [], {}, [f"line 1: no 'id' column (found: {', '.join(header) or 'nothing'})"]
    clean = _read_clean_columns(path, header) if os.path.getsize(path) >= ARROW_FROM_BYTES else None
    if clean is not None:
        ids, fields = clean
        return ids, fields, []
    return _read_columns_by_row(path)


def _read_clean_columns(path: str | Path, header: list[str]) -> tuple[list[str], dict[str, RawValues]] | None:
    """`read_columns_csv` by Arrow, or None when a row must be skipped (a row of the wrong width,
    an unusable or repeated id) or the file is not valid CSV or UTF-8 (the row-by-row reader
    then says where)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    names = [f"column_{at}" for at in range(len(header))]  # the file's own may repeat or be blank
    id_column = names[header.index("id")]
    wanted = {name: names[header.index(name)] for name in RECORD_FIELDS if name in header}
    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                include_columns=[id_column, *dict.fromkeys(wanted.values())],
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    ids = _clean_ids(table.column(id_column), pc)
    if ids is None:
        return None

    def coded(column: str) -> CodedValues:
        # Trimmed by Arrow before encoding, of what the row reader's strip() removes, so the one
        # blank left in the dictionary is the missing value.
        encoded = pc.utf8_trim(table.column(column).combine_chunks(), characters=PYTHON_WHITESPACE).dictionary_encode()
        values: list[str | None] = encoded.dictionary.to_pylist()
        if "" in values:
            values[values.index("")] = None
        return CodedValues(encoded.indices.to_numpy(zero_copy_only=False), values)

    # Arrow lets go of the GIL while it hashes a column, so columns are encoded side by side.
    with ThreadPoolExecutor(2) as pool:
        fields: dict[str, RawValues] = dict(zip(wanted, pool.map(coded, wanted.values())))
    del table
    # Arrow's allocator keeps freed blocks for reuse; the engine allocates elsewhere, so they
    # would only add to the run's peak memory.
    pa.default_memory_pool().release_unused()
    return ids, fields


# What str.strip() removes (every character whose isspace() is true), for Arrow's trim: its own
# whitespace set is Unicode's, which leaves out the separators \x1c-\x1f.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

# Ids already in their canonical form and short enough for int64: the usual export.
_PLAIN_NUMERIC_ID = r"^[1-9][0-9]{0,17}$"


def _clean_ids(column: Any, pc: Any) -> list[str] | None:
    """The canonical ids of an Arrow column, or None if one is unusable or two are the same."""
    raw: list[str] = column.to_pylist()
    if pc.all(pc.match_substring_regex(column, _PLAIN_NUMERIC_ID)).as_py() is not False:
        ids = raw  # canonical already (ids of an empty file land here too), so equal text is an equal id
        distinct = pc.count_distinct(column).as_py()
    else:
        parsed = [parse_crm_id(value.strip()) if value.strip() else None for value in raw]
        if None in parsed:
            return None
        ids = parsed  # type: ignore[assignment]
        distinct = len(set(ids))
    return ids if distinct == len(ids) else None


def _read_columns_by_row(path: str | Path) -> tuple[list[str], dict[str, RawValues], list[str]]:
    """`read_columns_csv` with the csv module, one row at a time, naming each skipped row's line."""
    ids: list[str] = []
    problems: list[str] = []
    seen_ids: set[str] = set()
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if "id" not in header:
            return [], {}, [f"line 1: no 'id' column (found: {', '.join(header) or 'nothing'})"]
        width = len(header)
        id_at = header.index("id")
        wanted = [(name, header.index(name)) for name in RECORD_FIELDS if name in header]
        rows: list[list[str]] = []
        try:
            for row in reader:
                if len(row) != width:
                    if row:  # csv skips blank lines itself; a lone empty row is one too
                        problems.append(f"line {reader.line_num}: expected {width} cells, skipped")
                    continue
                raw_id = row[id_at].strip()
                if not raw_id:
                    problems.append(f"line {reader.line_num}: empty id, skipped")
                    continue
                record_id = parse_crm_id(raw_id)
                if record_id is None:
                    problems.append(f"line {reader.line_num}: {raw_id[:20]!r} is not a customer id, skipped")
                    continue
                if record_id in seen_ids:
                    problems.append(f"line {reader.line_num}: id {record_id!r} seen before, skipped")
                    continue
                seen_ids.add(record_id)
                ids.append(record_id)
                rows.append(row)
        except csv.Error as error:
            problems.append(f"line {reader.line_num}: unreadable CSV ({error}); the rest of the file was skipped")
    fields = {name: [row[at].strip() or None for row in rows] for name, at in wanted}
    return ids, fields, problems


def read_records_csv(path: str | Path) -> tuple[list[Record], list[str]]:
    """`read_columns_csv` as Records."""
    ids, fields, problems = read_columns_csv(path)
    names = list(fields)
    columns = [values.decoded() if isinstance(values, CodedValues) else values for values in fields.values()]
    records = [Record(record_id, **dict(zip(names, values))) for record_id, *values in zip(ids, *columns)]
    return records, problems


def write_pairs_csv(path: str | Path, pairs: Iterable[ScoredPair], explanation: str = "full") -> int:
    """Write `id_a,id_b,score,is_match,explanation`; returns rows written.

    `explanation` is "full" (JSON, as the pair screen shows it) or "compact". Pass
    `MatchResult.explained_pairs()` to have explanations built in bulk.
    """
    if explanation not in EXPLANATION_FORMS:
        raise ValueError(f"explanation must be one of {EXPLANATION_FORMS}, not {explanation!r}")
    compact = explanation == "compact"
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_COLUMNS)
        for pair in pairs:
            text = compact_explanation(pair.explanation) if compact else json.dumps(pair.explanation, separators=(",", ":"), ensure_ascii=False)
            writer.writerow(
                neutralise_row([pair.id_a, pair.id_b, f"{pair.score:.1f}", "true" if pair.is_match else "false", text])
            )
            count += 1
    return count


# What makes the csv module's default dialect (QUOTE_MINIMAL) quote a field.
_QUOTED_IF_IN = ('"', ",", "\r", "\n")


def _csv_lines(columns: list[list[str]]) -> str:
    """Rows given column-wise, as `csv.writer` writes them (default dialect), in one join: the
    csv module's per-row calls were a third of scan_csv's write at 1M. A column is quoted value
    by value only when some value in it needs quotes."""
    checked = [
        [_quoted(value) for value in column] if any(mark in "".join(column) for mark in _QUOTED_IF_IN) else column
        for column in columns
    ]
    return "".join(",".join(row) + "\r\n" for row in zip(*checked))


def _quoted(value: str) -> str:
    if any(mark in value for mark in _QUOTED_IF_IN):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_result_csv(path: str | Path, result: MatchResult, explanation: str = "compact", chunk: int = 50_000) -> int:
    """`write_pairs_csv` for a whole result, explanations built in bulk a chunk at a time (the
    compact form straight from the scoring arrays); returns rows written.

    Compact explanations are built two chunks at a time on two threads, as scoring does: their
    string matching and sorting run outside the GIL."""
    if explanation not in EXPLANATION_FORMS:
        raise ValueError(f"explanation must be one of {EXPLANATION_FORMS}, not {explanation!r}")
    ids = result._ids
    chunks = [np.arange(start, min(start + chunk, result.scores.size)) for start in range(0, result.scores.size, chunk)]

    def explained(indexes: np.ndarray) -> list[str]:
        if explanation == "compact":
            return result.compact_explanations(indexes)
        return [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in result.explanations(indexes)]

    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle, ThreadPoolExecutor(2) as pool:
        csv.writer(handle).writerow(OUTPUT_COLUMNS)
        for indexes, texts in zip(chunks, pool.map(explained, chunks)):
            # Ids may be text ("-5", "=A1" are ids a CRM can have): made inert as write_pairs_csv does.
            firsts = neutralise_texts(map(ids.__getitem__, result.rows_a[indexes].tolist()))
            seconds = neutralise_texts(map(ids.__getitem__, result.rows_b[indexes].tolist()))
            scores = [f"{score:.1f}" for score in result.scores[indexes].tolist()]
            matches = ["true" if match else "false" for match in result.is_match[indexes].tolist()]
            handle.write(_csv_lines([firsts, seconds, scores, matches, texts]))
            count += indexes.size
    return count
