"""A CRM customer id: its one canonical form, its number, and how ids order.

The contract types ids as strings; in practice they are numbers, and the CRM parses them as such
(`041` and `41` name one customer). Everything that compares, stores or orders ids goes through
here, so two spellings of one id can never be taken for two customers.
"""

from __future__ import annotations

import re

# ASCII digits only: str.isdigit() also accepts "³" and "¹", which int() refuses.
_NUMERIC = re.compile(r"[0-9]+")
MAX_ID_LENGTH = 64


class InvalidCrmId(ValueError):
    """A value that cannot be a CRM customer id (empty, too long, or with control characters)."""


def canonical_id(value: object) -> str:
    """The one spelling of an id: numbers without leading zeros, other ids as given.

    Raises InvalidCrmId for values no CRM id can have.
    """
    if isinstance(value, bool) or value is None:
        raise InvalidCrmId("a customer id is missing")
    text = str(value).strip() if isinstance(value, int) else value
    if not isinstance(text, str) or not text:
        raise InvalidCrmId("a customer id must be a non-empty string")
    if _NUMERIC.fullmatch(text):
        return str(int(text))
    if len(text) > MAX_ID_LENGTH or any(ord(ch) < 32 or ord(ch) == 127 for ch in text) or text != text.strip():
        raise InvalidCrmId(f"{text[:20]!r} is not a customer id")
    return text


def parse_crm_id(value: object) -> str | None:
    """canonical_id, or None when the value cannot be an id (for input from people and files)."""
    try:
        return canonical_id(value)
    except InvalidCrmId:
        return None


def id_number(crm_id: str) -> int | None:
    """The number behind a numeric id (for ordering and `filter[id.gte]`), else None."""
    return int(crm_id) if _NUMERIC.fullmatch(crm_id) else None


def id_sort_key(crm_id: str) -> tuple[bool, int, str]:
    """Numeric ids first, in numeric order; any others after them, as text."""
    number = id_number(crm_id)
    return (number is None, number or 0, crm_id)


def same_customer(id_a: object, id_b: object) -> bool:
    """True when two ids name one customer, however they are spelt."""
    a, b = parse_crm_id(id_a), parse_crm_id(id_b)
    return a is not None and a == b
