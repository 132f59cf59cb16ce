"""The reasons a pair was suggested, as the queue shows and filters them.

Derived from the stored explanation (a list of rows, one per field: see mergeassist.matching).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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

    def same(field: str) -> bool:
        similarity = (rows.get(field) or {}).get("similarity")
        return similarity is not None and similarity >= SAME

    notes = " ".join(str((rows.get(f) or {}).get("note", "")) for f in ("first_name", "last_name"))
    return {
        "same_email": same("email"),
        "same_phone": same("phone"),
        "same_address": same("address"),
        "nickname": "nickname" in notes,
        "names_swapped": "swapped" in notes,
    }


def top_reasons(explanation: Iterable[Mapping[str, Any]], limit: int = 3) -> list[str]:
    """The fields that added the most points, for the queue's one-line summary."""
    rows = [row for row in explanation if (row.get("points") or 0) > 0 and row.get("similarity") is not None]
    rows.sort(key=lambda row: row.get("points") or 0, reverse=True)
    return [f"{str(row['field']).replace('_', ' ')} {row['similarity']:.0%}" for row in rows[:limit]]
