"""Typed results of the CRM client, and the one adapter between the CRM's JSON and them.

Every assumption about the shape of a response (and of a request body) lives in the `parse_*` and
`*_body` functions at the bottom of this module, so a difference in the real API is a one-place
change. A body that does not fit raises `MalformedBody`, which the client turns into a retry (on a
GET) or a `CrmUnexpectedResponse`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mergeassist.crm.ids import InvalidCrmId, canonical_id

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


# Deeper than anything the contract describes (a preview's custom field is 4 levels down).
MAX_DEPTH = 32


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
class SkippedCustomer:
    """A customer the page listed but MergeAssist cannot read (e.g. an object where a name belongs)."""

    id: str
    reason: str


@dataclass(frozen=True)
class CustomerPage:
    customers: list[CrmCustomer]
    current_page: int
    per_page: int
    last_page: int
    total: int
    # Customers left out because their record is unreadable; the rest of the page stands.
    skipped: list[SkippedCustomer] = field(default_factory=list)
    # Every id the page listed, read or skipped, in the CRM's order (keyset paging goes past both).
    listed_ids: list[str] = field(default_factory=list, repr=False)

    @property
    def ids_in_order(self) -> list[str]:
        return self.listed_ids or [customer.id for customer in self.customers]

    @property
    def is_last(self) -> bool:
        """True when no page follows. An empty or short page ends the list whatever `meta` says."""
        listed = len(self.listed_ids) or len(self.customers)
        return not listed or listed < self.per_page or self.current_page >= self.last_page


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
    """The body as JSON with every string made storable; MalformedBody for anything else.

    This is the one place where text from the CRM is made fit for a database column and a page:
    every string (keys too) goes through `storable_text`. Numbers must be finite, and nesting is
    bounded, so a hostile body ends in MalformedBody rather than RecursionError or a value that
    PostgreSQL refuses at the end of a page.
    """
    try:
        body = json.loads(content, parse_constant=_refuse_constant, parse_float=_finite_float)
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError comes from deep nesting.
    # The decoder's own words ("line 1 column 40835") mean nothing to a person, so they stay out.
    except (ValueError, RecursionError):
        raise MalformedBody("the body is not valid JSON") from None
    return _storable(body, depth=0)


def storable_text(value: str) -> str:
    """Text any database column and page can take: lone surrogates become U+FFFD, NUL and the other
    C0 control characters are removed (tab, line feed and carriage return are kept)."""
    if _UNSTORABLE.search(value) is None:
        return value
    return _UNSTORABLE.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else "", value)


# json.loads joins a valid surrogate pair into one character, so any surrogate left is unpaired.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _storable(value: Any, *, depth: int) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, (list, dict)) and depth >= MAX_DEPTH:
        raise MalformedBody(f"the body is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, list):
        return [_storable(item, depth=depth + 1) for item in value]
    if isinstance(value, dict):
        return {storable_text(key): _storable(item, depth=depth + 1) for key, item in value.items()}
    return value


def _refuse_constant(name: str) -> float:
    raise MalformedBody(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise MalformedBody("a number too large to represent")
    return number


def parse_customer_page(body: Any) -> CustomerPage:
    """A page of customers. One unreadable customer is skipped with its id; an unreadable page
    (no list, no meta, an item that is not a customer with an id) is MalformedBody."""
    data = _require(body, "data", list)
    meta = _require(body, "meta", dict)
    customers: list[CrmCustomer] = []
    skipped: list[SkippedCustomer] = []
    listed: list[str] = []
    for item in data:
        customer_id = _customer_id(item)
        listed.append(customer_id)
        try:
            customers.append(parse_customer(item))
        except MalformedBody as problem:
            skipped.append(SkippedCustomer(id=customer_id, reason=str(problem)))
    return CustomerPage(
        customers=customers,
        current_page=_int(meta.get("current_page"), "meta.current_page"),
        per_page=_int(meta.get("per_page"), "meta.per_page"),
        last_page=_int(meta.get("last_page"), "meta.last_page"),
        total=_int(meta.get("total"), "meta.total"),
        skipped=skipped,
        listed_ids=listed,
    )


def parse_customer(body: Any) -> CrmCustomer:
    customer_id = _customer_id(body)
    return CrmCustomer(
        id=customer_id,
        **{key: _text_or_none(body.get(key), key) for key in CORE_FIELDS},
        created_at=parse_datetime(body.get("created_at")),
        updated_at=parse_datetime(body.get("updated_at")),
        cards=_list_of(body, "cards", _parse_card),
        fields=_list_of(body, "fields", _parse_custom_field),
        stats=_parse_stats(body["stats"]) if body.get("stats") is not None else None,
        integrations=_list_of(body, "integrations", _parse_integration),
        subscriptions=_list_of(body, "subscriptions", _parse_subscription),
        raw=body,
    )


def parse_merge_preview(body: Any) -> MergePreview:
    primary = parse_customer(_require(body, "primary", dict))
    secondary = parse_customer(_require(body, "secondary", dict))
    conflicts = [
        Conflict(
            field=_text(c.get("field"), "conflicts.field"),
            primary_value=c.get("primary_value"),
            secondary_value=c.get("secondary_value"),
        )
        for c in _items(_require(body, "conflicts", list), "conflicts")
    ]
    transfers = _counts(body.get("transfers"), "transfers")
    warnings = [_text(w, "warnings") for w in _optional_list(body.get("warnings"), "warnings")]
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
        transferred=_counts(body.get("transferred"), "transferred"),
        raw=body,
    )


def parse_note(body: Any) -> Note:
    if not isinstance(body, dict) or body.get("id") in (None, ""):
        raise MalformedBody("a note without an id")
    return Note(
        id=_id_text(body["id"], "note id"),
        customer_id=_customer_id({"id": body.get("customer_id")}),
        text=_text(body.get("notes", ""), "notes"),
        created_at=parse_datetime(body.get("created_at")),
    )


def parse_error(content: bytes) -> tuple[str, dict[str, list[str]]]:
    """The message and field errors of an error answer; tolerant, since proxies answer in HTML."""
    try:
        body = parse_json(content)
    except MalformedBody:
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
        raise MalformedBody(f"a date that is {_kind(value)}, not a string")
    try:
        # fromisoformat reads "Z" and offsets since Python 3.11.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedBody(f"a date that is not ISO 8601: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        # RFC 3339 always has an offset; a bare time could be any zone's.
        raise MalformedBody(f"a date without a time zone: {value[:40]!r}")
    return parsed


def _parse_card(item: dict[str, Any]) -> Card:
    return Card(
        id=_id_text(item.get("id", ""), "cards.id"),
        brand=_text(item.get("brand", ""), "cards.brand"),
        last4=_text(item.get("last4", ""), "cards.last4"),
        exp_month=_int(item.get("exp_month") or 0, "cards.exp_month"),
        exp_year=_int(item.get("exp_year") or 0, "cards.exp_year"),
        is_default=_bool(item.get("is_default", False), "cards.is_default"),
    )


def _parse_custom_field(item: dict[str, Any]) -> CustomField:
    return CustomField(
        key=_text(item.get("key", ""), "fields.key"),
        value=_text_or_none(item.get("value"), "fields.value"),
        label=_text(item.get("label") or "", "fields.label"),
    )


def _parse_stats(item: Any) -> Stats:
    if not isinstance(item, dict):
        raise MalformedBody(f"stats is {_kind(item)}, not an object")
    lifetime_value = item.get("lifetime_value")
    return Stats(
        orders_count=_int(item.get("orders_count") or 0, "stats.orders_count"),
        # A decimal string in the contract; a plain number is read the same way.
        lifetime_value=_text(
            str(lifetime_value) if _is_number(lifetime_value) else lifetime_value or "0",
            "stats.lifetime_value",
        ),
        currency=_text(item.get("currency") or "", "stats.currency"),
        last_order_at=parse_datetime(item.get("last_order_at")),
    )


def _parse_integration(item: dict[str, Any]) -> Integration:
    return Integration(
        name=_text(item.get("name", ""), "integrations.name"),
        external_id=_id_text(item.get("external_id", ""), "integrations.external_id"),
    )


def _parse_subscription(item: dict[str, Any]) -> Subscription:
    amount = item.get("amount")
    return Subscription(
        id=_id_text(item.get("id", ""), "subscriptions.id"),
        status=_text(item.get("status", ""), "subscriptions.status"),
        product=_text(item.get("product") or "", "subscriptions.product"),
        amount=_text(str(amount) if _is_number(amount) else amount or "", "subscriptions.amount"),
        next_bill_at=parse_datetime(item.get("next_bill_at")),
    )


def _list_of(body: dict[str, Any], key: str, parse: Callable[[dict[str, Any]], Any]) -> list[Any] | None:
    if body.get(key) is None:
        return None
    return [parse(item) for item in _items(body[key], key)]


def _items(value: Any, where: str) -> list[dict[str, Any]]:
    """A list of objects, or MalformedBody: a number or a string in a list of cards is not a card."""
    if not isinstance(value, list):
        raise MalformedBody(f"{where} is {_kind(value)}, not a list")
    for item in value:
        if not isinstance(item, dict):
            raise MalformedBody(f"{where} holds {_kind(item)}, not an object")
    return value


def _optional_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedBody(f"{where} is {_kind(value)}, not a list")
    return value


def _require(body: Any, key: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(key), kind):
        raise MalformedBody(f"no {key!r} {kind.__name__} in the body")
    return body[key]


def _customer_id(body: Any) -> str:
    """The canonical id of a customer object, or MalformedBody: a page cannot name a customer otherwise."""
    if not isinstance(body, dict):
        raise MalformedBody(f"a customer that is {_kind(body)}, not an object")
    try:
        return canonical_id(body.get("id"))
    except InvalidCrmId:
        raise MalformedBody("a customer without a usable id") from None


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MalformedBody(f"{where} is {_kind(value)}, not a whole number")
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]{1,18}", value.strip()):
        raise MalformedBody(f"{where} is not a whole number: {value[:20]!r}")
    number = int(value)
    if abs(number) >= 2**63:
        # Bigger than any database integer; no count or page number is that large.
        raise MalformedBody(f"{where} is too large")
    return number


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedBody(f"{where} is {_kind(value)}, not true or false")
    return value


def _counts(value: Any, where: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedBody(f"{where} is {_kind(value)}, not an object")
    return {key: _int(count, f"{where}.{key}") for key, count in value.items()}


def _text(value: Any, where: str) -> str:
    """A string from the CRM (already made storable by parse_json); any other JSON type is refused
    rather than turned into "{'a': 1}" or "True"."""
    if not isinstance(value, str):
        raise MalformedBody(f"{where} is {_kind(value)}, not text")
    return value


def _text_or_none(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _id_text(value: Any, where: str) -> str:
    """Ids of cards and subscriptions: strings in the contract, numbers in some answers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value, where)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    """The JSON type of a value, in words for a message (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"
