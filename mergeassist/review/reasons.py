"""The reasons a pair was suggested, as the queue shows and filters them.

Derived from the stored explanation (a list of rows, one per field: see mergeassist.matching).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mergeassist.matching.engine import ExplainedColumns

REASON_LABELS: dict[str, str] = {
    "same_email": "same email",
    "same_phone": "same phone",
    "same_address": "same address",
    "nickname": "nickname",
    "names_swapped": "swapped names",
}
SAME = 0.99  # similarity from which a field counts as "the same" (normalised values compared)


def reason_flags(explanation: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """The pair's reason flags, keyed like the CandidatePair columns."""
    rows = {row.get("field"): row for row in explanation}

    def similarity(field: str) -> float | None:
        return (rows.get(field) or {}).get("similarity")

    def note(field: str) -> str:
        return str((rows.get(field) or {}).get("note", ""))

    return _flags(
        similarity("email"), similarity("phone"), similarity("address"), note("first_name"), note("last_name")
    )


def reason_flags_in_bulk(explained: ExplainedColumns) -> list[dict[str, bool]]:
    """`reason_flags` of many explanations at once, from their rows column-wise (as the scan
    writes them), without building each explanation's dicts."""
    return list(
        map(
            _flags,
            explained.similarities("email"), explained.similarities("phone"), explained.similarities("address"),
            explained.notes("first_name"), explained.notes("last_name"),
        )
    )


def _flags(
    email: float | None, phone: float | None, address: float | None, first_name_note: str, last_name_note: str
) -> dict[str, bool]:
    notes = f"{first_name_note} {last_name_note}"
    return {
        "same_email": _same(email),
        "same_phone": _same(phone),
        "same_address": _same(address),
        "nickname": "nickname" in notes,
        "names_swapped": "swapped" in notes,
    }


def _same(similarity: float | None) -> bool:
    return similarity is not None and similarity >= SAME


def top_reasons(explanation: Iterable[Mapping[str, Any]], limit: int = 3) -> list[str]:
    """The fields that added the most points, for the queue's one-line summary."""
    rows = [row for row in explanation if (row.get("points") or 0) > 0 and row.get("similarity") is not None]
    rows.sort(key=lambda row: row.get("points") or 0, reverse=True)
    return [f"{str(row['field']).replace('_', ' ')} {row['similarity']:.0%}" for row in rows[:limit]]
