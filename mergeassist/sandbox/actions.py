"""What the sandbox CRM does on a write: update fields, add a note, preview and perform a merge.

These mimic the vendor's behaviour; they are the sandbox's own and no app code calls them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from mergeassist.sandbox.models import (
    CORE_FIELDS,
    SandboxCustomer,
    SandboxCustomField,
    SandboxIntegration,
    SandboxNote,
    SandboxSubscription,
    parse_customer_id,
)
from mergeassist.sandbox.serialize import INCLUDES, customer_json, with_includes

# The live test server shares one SQLite connection between its request threads, so the database
# cannot keep two requests' transactions apart there. This lock does, within one process (the views
# hold it around each call); select_for_update and the conditional delete do it between processes.
request_lock = threading.RLock()

TRANSFERRED_KINDS = ("orders", "cards", "subscriptions", "notes")


class CustomerNotFound(Exception):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"No customer with id {customer_id}.")
        self.customer_id = customer_id


class InvalidRequest(Exception):
    def __init__(self, message: str, errors: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.errors = errors


def get_customer(customer_id: str, *, includes: tuple[str, ...] = ()) -> SandboxCustomer:
    number = parse_customer_id(customer_id)
    if number is None:
        raise CustomerNotFound(customer_id)
    customer = with_includes(SandboxCustomer.objects.filter(id=number), includes).first()
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer


def full_customer_json(customer_id: str) -> dict[str, Any]:
    return customer_json(get_customer(customer_id, includes=INCLUDES), INCLUDES)


def _is_empty(value: str | None) -> bool:
    return value is None or value.strip() == ""


# PATCH /v2/customers/{id}


def parse_field_updates(body: Any) -> list[tuple[str, str | None]]:
    """The body must be a non-empty array of {"key": str, "value": str | null}."""
    if not isinstance(body, list) or not body:
        raise InvalidRequest(
            "The body must be a non-empty array of field objects.",
            {"body": ['Expected [{"key": ..., "value": ...}].']},
        )
    updates: list[tuple[str, str | None]] = []
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(body):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or "value" not in item:
            errors[f"{index}"] = ["Each field object needs a string key and a value."]
        elif item["value"] is not None and not isinstance(item["value"], str):
            errors[f"{index}.value"] = ["The value must be a string or null."]
        else:
            updates.append((item["key"], item["value"]))
    if errors:
        raise InvalidRequest("The field objects are invalid.", errors)
    return updates


def do_update_customer_fields(*, customer_id: str, updates: list[tuple[str, str | None]]) -> SandboxCustomer:
    """Set core and custom fields all or nothing; updated_at moves only when something changed."""
    with transaction.atomic():
        customer = get_customer(customer_id)
        custom_fields = {field.key: field for field in SandboxCustomField.objects.filter(customer=customer)}
        errors = _field_update_errors(updates, custom_fields)
        if errors:
            raise InvalidRequest("Some fields cannot be updated.", errors)
        changed_core: set[str] = set()
        changed_custom: dict[str, SandboxCustomField] = {}
        for key, value in updates:
            if key in CORE_FIELDS:
                if getattr(customer, key) != value:
                    setattr(customer, key, value)
                    changed_core.add(key)
            elif custom_fields[key].value != value:
                custom_fields[key].value = value
                changed_custom[key] = custom_fields[key]
        if changed_custom:
            SandboxCustomField.objects.bulk_update(changed_custom.values(), ["value"])
        if changed_core or changed_custom:
            customer.updated_at = timezone.now()
            customer.save(update_fields=[*changed_core, "updated_at"])
    return customer


def _field_update_errors(
    updates: list[tuple[str, str | None]], custom_fields: dict[str, SandboxCustomField]
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for key, value in updates:
        if key not in CORE_FIELDS and key not in custom_fields:
            errors[key] = [
                f"Unknown field key {key!r}: not a core field and not one of this customer's fields."
            ]
        elif value is not None and len(value) > _max_length(key):
            errors[key] = [f"At most {_max_length(key)} characters."]
    return errors


def _max_length(key: str) -> int:
    if key in CORE_FIELDS:
        return SandboxCustomer._meta.get_field(key).max_length  # type: ignore[return-value]
    return SandboxCustomField._meta.get_field("value").max_length  # type: ignore[return-value]


# POST /v2/customers/{id}/notes


def parse_note(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("notes"), str) or not body["notes"]:
        raise InvalidRequest(
            "The note is empty.", {"notes": ["The notes field is required (at least 1 character)."]}
        )
    text = body["notes"]
    # PostgreSQL stores neither NUL nor an unpaired surrogate (legal in JSON): refuse them as the
    # contract's 422 rather than failing with a 500 once the whole suite runs on PostgreSQL.
    if "\x00" in text or not _encodable(text):
        raise InvalidRequest(
            "The note contains characters that cannot be stored.",
            {"notes": ["NUL characters and unpaired surrogates are not allowed."]},
        )
    return text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def do_add_note(*, customer_id: str, text: str) -> SandboxNote:
    with transaction.atomic():
        customer = get_customer(customer_id)
        now = timezone.now()
        note = SandboxNote.objects.create(customer=customer, notes=text, created_at=now)
        # The activity history is part of the customer, so its updated_at moves too.
        SandboxCustomer.objects.filter(id=customer.id).update(updated_at=now)
    return note


# GET and POST /v2/customers/{primary_id}/merge/{secondary_id}


def _check_distinct(primary_id: str, secondary_id: str) -> None:
    if primary_id == secondary_id:
        raise InvalidRequest(
            "A customer cannot be merged into itself.", {"secondary_id": ["Must differ from primary_id."]}
        )


def merge_preview(primary_id: str, secondary_id: str) -> dict[str, Any]:
    """Both customers, what would conflict, move and deserve a warning. Changes nothing."""
    _check_distinct(primary_id, secondary_id)
    primary = get_customer(primary_id, includes=INCLUDES)
    secondary = get_customer(secondary_id, includes=INCLUDES)
    return {
        "primary": customer_json(primary, INCLUDES),
        "secondary": customer_json(secondary, INCLUDES),
        "conflicts": _conflicts(primary, secondary),
        "transfers": _transfer_counts(secondary),
        "warnings": _warnings(primary, secondary),
    }


def _conflicts(primary: SandboxCustomer, secondary: SandboxCustomer) -> list[dict[str, Any]]:
    pairs: list[tuple[str, str | None, str | None]] = [
        (name, getattr(primary, name), getattr(secondary, name)) for name in CORE_FIELDS
    ]
    secondary_fields = {field.key: field.value for field in secondary.fields.all()}
    pairs += [
        (f.key, f.value, secondary_fields[f.key]) for f in primary.fields.all() if f.key in secondary_fields
    ]
    return [
        {"field": name, "primary_value": mine, "secondary_value": theirs, "resolution": "keep_primary"}
        for name, mine, theirs in pairs
        if not _is_empty(mine) and not _is_empty(theirs) and mine != theirs
    ]


def _transfer_counts(secondary: SandboxCustomer) -> dict[str, int]:
    return {
        "orders": secondary.orders.count(),
        "cards": secondary.cards.count(),
        "subscriptions": secondary.subscriptions.count(),
        "notes": secondary.notes.count(),
    }


def _warnings(primary: SandboxCustomer, secondary: SandboxCustomer) -> list[str]:
    def active(customer: SandboxCustomer) -> bool:
        return any(s.status == SandboxSubscription.Status.ACTIVE for s in customer.subscriptions.all())

    warnings: list[str] = []
    if active(primary) and active(secondary):
        warnings.append("Both customers have an active subscription")
    elif active(secondary):
        warnings.append("The secondary has an active subscription")
    if secondary.cards.all():
        warnings.append("The secondary has a saved card")
    primary_integrations = {i.name for i in primary.integrations.all()}
    for name in sorted({i.name for i in secondary.integrations.all()} & primary_integrations):
        warnings.append(f"Both customers are linked to {name}; the secondary's link will be removed")
    return warnings


@dataclass(frozen=True)
class MergeOutcome:
    customer: dict[str, Any]
    transferred: dict[str, int]


def do_merge_customers(*, primary_id: str, secondary_id: str) -> MergeOutcome:
    """Move everything of the secondary to the primary and delete the secondary. Not idempotent.

    Orders, cards, subscriptions and notes move; custom fields and integrations move where the
    primary has none (or an empty one) of the same key; the primary's empty core fields are filled
    from the secondary. Conflicting values keep the primary's.
    """
    _check_distinct(primary_id, secondary_id)
    with request_lock, transaction.atomic():
        primary_number, secondary_number = parse_customer_id(primary_id), parse_customer_id(secondary_id)
        ids = [number for number in (primary_number, secondary_number) if number is not None]
        # Lock both rows in id order so two merges of the same pair cannot deadlock or both win.
        locked = {
            c.id: c for c in SandboxCustomer.objects.select_for_update().filter(id__in=ids).order_by("id")
        }
        primary = locked.get(primary_number) if primary_number is not None else None
        secondary = locked.get(secondary_number) if secondary_number is not None else None
        if primary is None:
            raise CustomerNotFound(primary_id)
        if secondary is None:
            raise CustomerNotFound(secondary_id)
        transferred = _move_related(primary, secondary)
        _move_missing_fields(primary, secondary)
        for name in CORE_FIELDS:
            if _is_empty(getattr(primary, name)) and not _is_empty(getattr(secondary, name)):
                setattr(primary, name, getattr(secondary, name))
        primary.updated_at = timezone.now()
        primary.save()
        deleted, _ = SandboxCustomer.objects.filter(id=secondary.id).delete()
        if not deleted:  # someone else merged it away between our read and now
            raise CustomerNotFound(secondary_id)
    return MergeOutcome(customer=full_customer_json(primary_id), transferred=transferred)


def _move_related(primary: SandboxCustomer, secondary: SandboxCustomer) -> dict[str, int]:
    if primary.cards.filter(is_default=True).exists():
        secondary.cards.update(is_default=False)  # one default card per customer
    return {
        "orders": secondary.orders.update(customer=primary),
        "cards": secondary.cards.update(customer=primary),
        "subscriptions": secondary.subscriptions.update(customer=primary),
        "notes": secondary.notes.update(customer=primary),
    }


def _move_missing_fields(primary: SandboxCustomer, secondary: SandboxCustomer) -> None:
    primary_fields = {f.key: f for f in SandboxCustomField.objects.filter(customer=primary)}
    for field in SandboxCustomField.objects.filter(customer=secondary):
        mine = primary_fields.get(field.key)
        if mine is None:
            field.customer = primary
            field.save(update_fields=["customer"])
        elif _is_empty(mine.value) and not _is_empty(field.value):
            mine.value = field.value
            mine.save(update_fields=["value"])
    primary_integrations = set(
        SandboxIntegration.objects.filter(customer=primary).values_list("name", flat=True)
    )
    SandboxIntegration.objects.filter(customer=secondary).exclude(name__in=primary_integrations).update(
        customer=primary
    )
