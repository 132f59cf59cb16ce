"""What the review screens show of two customers: side by side rows, differences, the explanation.

Reads only the snapshot (`Customer` and its `raw` record with expansions), so the pair screen
renders at once without a CRM call; the live preview comes after, through htmx.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from mergeassist.crm.models import Customer
from mergeassist.crm.types import Conflict

# Core fields as the preview's conflicts name them, with the words people read.
FIELD_LABELS: dict[str, str] = {
    "name_first": "First name",
    "name_last": "Last name",
    "email": "Email",
    "phone": "Phone",
    "company_name": "Company",
    "address1": "Address",
    "address2": "Address line 2",
    "city": "City",
    "state": "State",
    "zip": "ZIP",
    "country": "Country",
}
# The explanation's rows that are not a field of their own but evidence from several.
COMBINED_EVIDENCE = {"different_person", "contact_conflict", "name_only", "cluster"}


@dataclass(frozen=True)
class Side:
    """One customer as the pair screen shows it."""

    customer: Customer
    orders: int | None
    lifetime_value: str
    last_order_at: datetime | None
    subscriptions: list[dict[str, Any]]
    cards: list[dict[str, Any]]
    integrations: list[dict[str, Any]]
    custom_fields: dict[str, tuple[str, str]]  # key -> (label, value)

    @property
    def active_subscriptions(self) -> list[dict[str, Any]]:
        return [s for s in self.subscriptions if s.get("status") == "active"]


@dataclass(frozen=True)
class Row:
    label: str
    primary: str
    secondary: str
    differs: bool
    key: str = ""


@dataclass(frozen=True)
class ExplanationRow:
    field: str
    value_a: str
    value_b: str
    similarity: float | None
    points: float
    note: str

    @property
    def label(self) -> str:
        return FIELD_LABELS.get(self.field, self.field.replace("_", " ").capitalize())


@dataclass(frozen=True)
class ConflictRow:
    field: str
    label: str
    primary_value: str
    secondary_value: str


@dataclass(frozen=True)
class Comparison:
    primary: Side
    secondary: Side
    rows: list[Row] = field(default_factory=list)

    @property
    def sides(self) -> tuple[Side, Side]:
        return (self.primary, self.secondary)

    @property
    def differences(self) -> int:
        return sum(row.differs for row in self.rows)


def side_of(customer: Customer) -> Side:
    raw: Mapping[str, Any] = customer.raw or {}
    stats = raw.get("stats") or {}
    lifetime = stats.get("lifetime_value")
    currency = stats.get("currency") or ""
    return Side(
        customer=customer,
        orders=stats.get("orders_count") if isinstance(stats.get("orders_count"), int) else None,
        lifetime_value=f"{lifetime} {currency}".strip() if lifetime not in (None, "") else "",
        last_order_at=_when(stats.get("last_order_at")),
        subscriptions=[
            {**s, "next_bill_at": _when(s.get("next_bill_at"))} for s in _dicts(raw.get("subscriptions"))
        ],
        cards=_dicts(raw.get("cards")),
        integrations=_dicts(raw.get("integrations")),
        custom_fields={
            str(f.get("key")): (str(f.get("label") or f.get("key")), _text(f.get("value")))
            for f in _dicts(raw.get("fields"))
            if f.get("key")
        },
    )


def compare(primary: Customer, secondary: Customer) -> Comparison:
    """Both customers field by field; `differs` marks what the reviewer should look at."""
    p, s = side_of(primary), side_of(secondary)
    rows = [
        Row(label, _text(getattr(primary, key)), _text(getattr(secondary, key)), _differs(
            getattr(primary, key), getattr(secondary, key)), key)
        for key, label in FIELD_LABELS.items()
    ]
    rows += [
        Row("Customer since", _date(primary.crm_created_at), _date(secondary.crm_created_at), False, "created_at"),
        Row("Orders", _text(p.orders), _text(s.orders), False, "orders"),
        Row("Lifetime value", p.lifetime_value, s.lifetime_value, False, "lifetime_value"),
        Row("Last order", _date(p.last_order_at), _date(s.last_order_at), False, "last_order_at"),
    ]
    for key in sorted(set(p.custom_fields) | set(s.custom_fields)):
        label = (p.custom_fields.get(key) or s.custom_fields.get(key) or (key, ""))[0]
        mine, theirs = p.custom_fields.get(key, ("", ""))[1], s.custom_fields.get(key, ("", ""))[1]
        rows.append(Row(label, mine, theirs, _differs(mine, theirs), f"fields.{key}"))
    return Comparison(primary=p, secondary=s, rows=rows)


def explanation_rows(explanation: Iterable[Mapping[str, Any]]) -> list[ExplanationRow]:
    """The stored explanation, field rows first; evidence rows only when they counted."""
    rows = []
    for item in explanation:
        name = str(item.get("field", ""))
        points = float(item.get("points") or 0)
        if name in COMBINED_EVIDENCE and not points and not item.get("note"):
            continue
        similarity = item.get("similarity")
        rows.append(
            ExplanationRow(
                field=name,
                value_a=_text(item.get("value_a")),
                value_b=_text(item.get("value_b")),
                similarity=float(similarity) if isinstance(similarity, (int, float)) else None,
                points=points,
                note=str(item.get("note") or ""),
            )
        )
    return rows


def conflict_rows(conflicts: Iterable[Conflict], custom_labels: Mapping[str, str] | None = None) -> list[ConflictRow]:
    labels = {**(custom_labels or {}), **FIELD_LABELS}
    return [
        ConflictRow(
            field=c.field,
            label=labels.get(c.field, c.field.replace("_", " ").capitalize()),
            primary_value=_text(c.primary_value),
            secondary_value=_text(c.secondary_value),
        )
        for c in conflicts
    ]


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _differs(a: object, b: object) -> bool:
    """Different enough to point out: case and surrounding spaces do not count."""
    return _text(a).strip().casefold() != _text(b).strip().casefold()


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    return None


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""
