"""CSV in and out for `manage.py scan_csv`: records from a file, scored pairs to a file."""

from __future__ import annotations

import csv
import json

import numpy as np
from collections.abc import Iterable
from pathlib import Path

from mergeassist.core.csvsafe import neutralise_row
from mergeassist.crm.ids import parse_crm_id

from .engine import MatchResult, ScoredPair, compact_explanation
from .records import RECORD_FIELDS, Record

OUTPUT_COLUMNS: tuple[str, ...] = ("id_a", "id_b", "score", "is_match", "explanation")
# Explanation forms in the written file: "compact" (`field similarity points` per row that
# counts, see engine.compact_explanation) or "full" (the JSON rows the pair screen shows).
EXPLANATION_FORMS: tuple[str, ...] = ("compact", "full")


def read_columns_csv(path: str | Path) -> tuple[list[str], dict[str, list[str | None]], list[str]]:
    """(ids, {field: values}, problems) from a CSV with an `id` column and any Record field columns.

    Column-wise, for the engine's `find_duplicates_in_columns`. Extra columns are ignored and
    missing ones are empty. A row that cannot be used (no id, an id no customer can have, a
    duplicate id, the wrong number of cells) is skipped and described in `problems` with its line
    number, so one bad row never stops a scan. Ids are taken in their canonical form
    (`mergeassist.crm.ids`): "041" and "41" are one customer. A file without an `id` column is
    one problem.
    """
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
    records = [Record(record_id, **dict(zip(names, values))) for record_id, *values in zip(ids, *fields.values())]
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


def write_result_csv(path: str | Path, result: MatchResult, explanation: str = "compact", chunk: int = 50_000) -> int:
    """`write_pairs_csv` for a whole result, explanations built in bulk a chunk at a time (the
    compact form straight from the scoring arrays); returns rows written."""
    if explanation not in EXPLANATION_FORMS:
        raise ValueError(f"explanation must be one of {EXPLANATION_FORMS}, not {explanation!r}")
    ids = result._ids
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_COLUMNS)
        for start in range(0, result.scores.size, chunk):
            indexes = np.arange(start, min(start + chunk, result.scores.size))
            if explanation == "compact":
                texts = result.compact_explanations(indexes)
            else:
                texts = [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in result.explanations(indexes)]
            firsts = [ids[row] for row in result.rows_a[indexes].tolist()]
            seconds = [ids[row] for row in result.rows_b[indexes].tolist()]
            scores = [f"{score:.1f}" for score in result.scores[indexes].tolist()]
            matches = ["true" if match else "false" for match in result.is_match[indexes].tolist()]
            writer.writerows(zip(firsts, seconds, scores, matches, texts))
            count += indexes.size
    return count
