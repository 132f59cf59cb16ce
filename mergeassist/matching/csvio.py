"""CSV in and out for `manage.py scan_csv`: records from a file, scored pairs to a file."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path

from mergeassist.core.csvsafe import neutralise_row

from .engine import ScoredPair
from .records import RECORD_FIELDS, Record

OUTPUT_COLUMNS: tuple[str, ...] = ("id_a", "id_b", "score", "is_match", "explanation")


def read_records_csv(path: str | Path) -> tuple[list[Record], list[str]]:
    """Records from a CSV with an `id` column and any of the Record field columns.

    Extra columns are ignored and missing ones are empty. A row that cannot be used (no id, a
    duplicate id, the wrong number of cells) is skipped and described in `problems` with its line
    number, so one bad row never stops a scan. A file without an `id` column is one problem.
    """
    records: list[Record] = []
    problems: list[str] = []
    seen_ids: set[str] = set()
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        if "id" not in header:
            return [], [f"line 1: no 'id' column (found: {', '.join(header) or 'nothing'})"]
        reader.fieldnames = header
        wanted = [name for name in RECORD_FIELDS if name in header]
        try:
            for row in reader:
                line = reader.line_num
                if None in row or any(value is None for value in row.values()):
                    problems.append(f"line {line}: expected {len(header)} cells, skipped")
                    continue
                record_id = (row["id"] or "").strip()
                if not record_id:
                    problems.append(f"line {line}: empty id, skipped")
                    continue
                if record_id in seen_ids:
                    problems.append(f"line {line}: id {record_id!r} seen before, skipped")
                    continue
                seen_ids.add(record_id)
                values = {name: (row[name].strip() or None) for name in wanted}
                records.append(Record(id=record_id, **values))
        except csv.Error as error:
            problems.append(f"line {reader.line_num}: unreadable CSV ({error}); the rest of the file was skipped")
    return records, problems


def write_pairs_csv(path: str | Path, pairs: Iterable[ScoredPair]) -> int:
    """Write `id_a,id_b,score,is_match,explanation` (explanation as JSON); returns rows written."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_COLUMNS)
        for pair in pairs:
            writer.writerow(neutralise_row(
                [pair.id_a, pair.id_b, f"{pair.score:.1f}", "true" if pair.is_match else "false",
                 json.dumps(pair.explanation, separators=(",", ":"), ensure_ascii=False)]
            ))
            count += 1
    return count
