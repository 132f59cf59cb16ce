"""Typed results of the CRM client, and the one adapter between the CRM's JSON and them.

Every assumption about the shape of a response (and of a request body) lives in the `parse_*` and
`*_body` functions at the bottom of this module, so a difference in the real API is a one-place
change. A body that does not fit raises `MalformedBody`, which the client turns into a retry (on a
GET) or a `CrmUnexpectedResponse`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# The customer's top-level string fields; any other PATCH key names a custom field.
CORE_FIELDS: tuple[str, ...] = (
    "name_first",
    "name_last",
    "email",
    "phone",
    "company_name",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
)
EXPANSIONS: tuple[str, ...] = ("cards", "fields", "stats", "integrations", "subscriptions")


class MalformedBody(ValueError):
    """The body is not JSON, or not the shape the contract promises."""


@dataclass(frozen=True)
class Card:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool = False


@dataclass(frozen=True)
class CustomField:
    key: str
    value: str | None
    label: str = ""


@dataclass(frozen=True)
class Stats:
    orders_count: int = 0
    lifetime_value: str = "0"
    currency: str = ""
    last_order_at: datetime | None = None


@dataclass(frozen=True)
class Integration:
    name: str
    external_id: str


@dataclass(frozen=True)
class Subscription:
    id: str
    status: str
    product: str = ""
    amount: str = ""
    next_bill_at: datetime | None = None


@dataclass(frozen=True)
class CrmCustomer:
    """One customer as the CRM returned it. Expansions are None unless asked for with `include`."""

    id: str
    name_first: str | None
    name_last: str | None
    email: str | None
    phone: str | None
    company_name: str | None
    address1: str | None
    address2: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str | None
    created_at: datetime | None
    updated_at: datetime | None
    cards: list[Card] | None = None
    fields: list[CustomField] | None = None
    stats: Stats | None = None
    integrations: list[Integration] | None = None
    subscriptions: list[Subscription] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def display_name(self) -> str:
        name = f"{self.name_first or ''} {self.name_last or ''}".strip()
        return name or self.email or f"Customer {self.id}"

    def core_values(self) -> dict[str, str | None]:
        """The core fields by key, as PATCH and the preview's conflicts name them."""
        return {key: getattr(self, key) for key in CORE_FIELDS}


@dataclass(frozen=True)
class CustomerPage:
    customers: list[CrmCustomer]
    current_page: int
    per_page: int
    last_page: int
    total: int

    @property
    def is_last(self) -> bool:
        """True when no page follows. An empty or short page ends the list whatever `meta` says."""
        return (
            not self.customers or len(self.customers) < self.per_page or self.current_page >= self.last_page
        )


@dataclass(frozen=True)
class Conflict:
    field: str
    primary_value: Any
    secondary_value: Any


@dataclass(frozen=True)
class MergePreview:
    """What a merge would do. `fingerprint` changes whenever anything the reviewer saw changes."""

    primary: CrmCustomer
    secondary: CrmCustomer
    conflicts: list[Conflict]
    transfers: dict[str, int]
    warnings: list[str]
    fingerprint: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class MergeResult:
    customer: CrmCustomer
    transferred: dict[str, int]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Note:
    id: str
    customer_id: str
    text: str
    created_at: datetime | None


class SettlementOutcome(StrEnum):
    MERGED = "merged"
    NOT_MERGED = "not_merged"
    # Both customers gone (merged elsewhere or deleted): a person has to look.
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class MergeSettlement:
    """What the CRM says now about a merge whose answer was lost."""

    primary_id: str
    secondary_id: str
    primary_exists: bool
    secondary_exists: bool

    @property
    def outcome(self) -> SettlementOutcome:
        if self.secondary_exists:
            return SettlementOutcome.NOT_MERGED
        if self.primary_exists:
            return SettlementOutcome.MERGED
        return SettlementOutcome.UNCLEAR

    @property
    def merged(self) -> bool:
        return self.outcome is SettlementOutcome.MERGED


# ---------------------------------------------------------------------------------------------
# The adapter: every assumption about the CRM's JSON is below this line.


def parse_json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise MalformedBody(f"the body is not JSON ({exc})") from None


def parse_customer_page(body: Any) -> CustomerPage:
    data = _require(body, "data", list)
    meta = _require(body, "meta", dict)
    return CustomerPage(
        customers=[parse_customer(item) for item in data],
        current_page=_int(meta.get("current_page"), "meta.current_page"),
        per_page=_int(meta.get("per_page"), "meta.per_page"),
        last_page=_int(meta.get("last_page"), "meta.last_page"),
        total=_int(meta.get("total"), "meta.total"),
    )


def parse_customer(body: Any) -> CrmCustomer:
    if not isinstance(body, dict) or body.get("id") in (None, ""):
        raise MalformedBody("a customer without an id")
    return CrmCustomer(
        id=str(body["id"]),
        **{key: _optional_str(body.get(key)) for key in CORE_FIELDS},
        created_at=parse_datetime(body.get("created_at")),
        updated_at=parse_datetime(body.get("updated_at")),
        cards=_list_of(body, "cards", _parse_card),
        fields=_list_of(body, "fields", _parse_custom_field),
        stats=_parse_stats(body["stats"]) if isinstance(body.get("stats"), dict) else None,
        integrations=_list_of(body, "integrations", _parse_integration),
        subscriptions=_list_of(body, "subscriptions", _parse_subscription),
        raw=body,
    )


def parse_merge_preview(body: Any) -> MergePreview:
    primary = parse_customer(_require(body, "primary", dict))
    secondary = parse_customer(_require(body, "secondary", dict))
    conflicts = [
        Conflict(
            field=str(c.get("field")),
            primary_value=c.get("primary_value"),
            secondary_value=c.get("secondary_value"),
        )
        for c in _require(body, "conflicts", list)
        if isinstance(c, dict)
    ]
    transfers = _counts(body.get("transfers"))
    warnings = [str(w) for w in body.get("warnings") or []]
    return MergePreview(
        primary=primary,
        secondary=secondary,
        conflicts=conflicts,
        transfers=transfers,
        warnings=warnings,
        fingerprint=preview_fingerprint(primary.raw, secondary.raw, conflicts, transfers, warnings),
        raw=body,
    )


def preview_fingerprint(
    primary: Mapping[str, Any],
    secondary: Mapping[str, Any],
    conflicts: list[Conflict],
    transfers: Mapping[str, int],
    warnings: list[str],
) -> str:
    """A stable hash of everything a reviewer sees in a preview.

    Canonical JSON (sorted keys, conflicts in field order) so the same content always gives the
    same hash, whatever order the CRM lists things in.
    """
    content = {
        "primary": primary,
        "secondary": secondary,
        "conflicts": sorted(
            ([c.field, c.primary_value, c.secondary_value] for c in conflicts),
            key=lambda c: json.dumps(c, default=str),
        ),
        "transfers": dict(transfers),
        "warnings": sorted(warnings),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_merge_result(body: Any) -> MergeResult:
    return MergeResult(
        customer=parse_customer(_require(body, "customer", dict)),
        transferred=_counts(body.get("transferred")),
        raw=body,
    )


def parse_note(body: Any) -> Note:
    if not isinstance(body, dict) or body.get("id") in (None, ""):
        raise MalformedBody("a note without an id")
    return Note(
        id=str(body["id"]),
        customer_id=str(body.get("customer_id", "")),
        text=str(body.get("notes", "")),
        created_at=parse_datetime(body.get("created_at")),
    )


def parse_error(content: bytes) -> tuple[str, dict[str, list[str]]]:
    """The message and field errors of an error answer; tolerant, since proxies answer in HTML."""
    try:
        body = json.loads(content)
    except ValueError:
        return "", {}
    if not isinstance(body, dict):
        return "", {}
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
    field_errors = {
        str(key): [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
        for key, msgs in errors.items()
    }
    return message, field_errors


def field_update_body(values: Mapping[str, str | None]) -> list[dict[str, str | None]]:
    """PATCH takes an array of {"key", "value"} objects."""
    return [{"key": key, "value": value} for key, value in values.items()]


def note_body(text: str) -> dict[str, str]:
    return {"notes": text}


def list_params(
    *,
    page: int,
    per_page: int,
    include: tuple[str, ...] | list[str],
    search: str | None,
    filters: Mapping[str, str] | None,
    sort: str | None,
) -> dict[str, str | int]:
    """Query parameters of the list call; filter keys like "email.contains" become filter[...]."""
    params: dict[str, str | int] = {"page": page, "per_page": per_page}
    if include:
        params["include"] = ",".join(include)
    if search:
        params["search"] = search
    for key, value in (filters or {}).items():
        params[f"filter[{key}]"] = value
    if sort:
        params["sort"] = sort
    return params


def parse_datetime(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MalformedBody(f"a date that is not a string: {value!r}")
    try:
        # fromisoformat reads "Z" and offsets since Python 3.11.
        return datetime.fromisoformat(value)
    except ValueError:
        raise MalformedBody(f"a date that is not ISO 8601: {value!r}") from None


def _parse_card(item: dict[str, Any]) -> Card:
    return Card(
        id=str(item.get("id", "")),
        brand=str(item.get("brand", "")),
        last4=str(item.get("last4", "")),
        exp_month=int(item.get("exp_month") or 0),
        exp_year=int(item.get("exp_year") or 0),
        is_default=bool(item.get("is_default", False)),
    )


def _parse_custom_field(item: dict[str, Any]) -> CustomField:
    return CustomField(
        key=str(item.get("key", "")),
        value=_optional_str(item.get("value")),
        label=str(item.get("label") or ""),
    )


def _parse_stats(item: dict[str, Any]) -> Stats:
    return Stats(
        orders_count=int(item.get("orders_count") or 0),
        lifetime_value=str(item.get("lifetime_value") or "0"),
        currency=str(item.get("currency") or ""),
        last_order_at=parse_datetime(item.get("last_order_at")),
    )


def _parse_integration(item: dict[str, Any]) -> Integration:
    return Integration(name=str(item.get("name", "")), external_id=str(item.get("external_id", "")))


def _parse_subscription(item: dict[str, Any]) -> Subscription:
    return Subscription(
        id=str(item.get("id", "")),
        status=str(item.get("status", "")),
        product=str(item.get("product") or ""),
        amount=str(item.get("amount") or ""),
        next_bill_at=parse_datetime(item.get("next_bill_at")),
    )


def _list_of(body: dict[str, Any], key: str, parse: Any) -> list[Any] | None:
    if key not in body:
        return None
    items = body[key]
    if not isinstance(items, list):
        raise MalformedBody(f"{key} is not a list")
    try:
        return [parse(item) for item in items if isinstance(item, dict)]
    except (TypeError, ValueError) as exc:
        raise MalformedBody(f"unreadable {key}: {exc}") from None


def _require(body: Any, key: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(key), kind):
        raise MalformedBody(f"no {key!r} {kind.__name__} in the body")
    return body[key]


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MalformedBody(f"{where} is not a number: {value!r}")
    try:
        return int(value)
    except ValueError:
        raise MalformedBody(f"{where} is not a number: {value!r}") from None


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
