"""The sandbox's records as the contract (docs/vendor-api/openapi.yaml) shapes them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Prefetch, QuerySet, Sum

from mergeassist.sandbox.models import (
    CORE_FIELDS,
    SandboxCard,
    SandboxCustomer,
    SandboxCustomField,
    SandboxIntegration,
    SandboxNote,
    SandboxSubscription,
)

INCLUDES: tuple[str, ...] = ("cards", "fields", "stats", "integrations", "subscriptions")
CURRENCY = "USD"


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds, so `filter[updated_at]` can match a value exactly."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def with_includes(customers: QuerySet[SandboxCustomer], includes: Iterable[str]) -> QuerySet[SandboxCustomer]:
    """Fetch what the expansions need in a fixed number of queries, whatever the page size."""
    includes = set(includes)
    prefetches = {
        "cards": Prefetch("cards", queryset=SandboxCard.objects.order_by("id")),
        "fields": Prefetch("fields", queryset=SandboxCustomField.objects.order_by("id")),
        "integrations": Prefetch("integrations", queryset=SandboxIntegration.objects.order_by("id")),
        "subscriptions": Prefetch("subscriptions", queryset=SandboxSubscription.objects.order_by("id")),
    }
    customers = customers.prefetch_related(*(p for name, p in prefetches.items() if name in includes))
    if "stats" in includes:
        customers = customers.annotate(
            stats_orders_count=Count("orders"),
            stats_lifetime_value=Sum("orders__total"),
            stats_last_order_at=Max("orders__placed_at"),
        )
    return customers


def customer_json(customer: SandboxCustomer, includes: Iterable[str] = ()) -> dict[str, Any]:
    """One customer; expansions only when asked for (and loaded with `with_includes`)."""
    data: dict[str, Any] = {"id": str(customer.id)}
    data.update({name: getattr(customer, name) for name in CORE_FIELDS})
    data["created_at"] = timestamp(customer.created_at)
    data["updated_at"] = timestamp(customer.updated_at)
    includes = set(includes)
    if "cards" in includes:
        data["cards"] = [card_json(card) for card in customer.cards.all()]
    if "fields" in includes:
        data["fields"] = [{"key": f.key, "label": f.label, "value": f.value} for f in customer.fields.all()]
    if "stats" in includes:
        data["stats"] = stats_json(customer)
    if "integrations" in includes:
        data["integrations"] = [
            {"name": i.name, "external_id": i.external_id} for i in customer.integrations.all()
        ]
    if "subscriptions" in includes:
        data["subscriptions"] = [subscription_json(s) for s in customer.subscriptions.all()]
    return data


def card_json(card: SandboxCard) -> dict[str, Any]:
    return {
        "id": str(card.id),
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "is_default": card.is_default,
    }


def stats_json(customer: SandboxCustomer) -> dict[str, Any]:
    lifetime_value: Decimal = customer.stats_lifetime_value or Decimal(0)  # type: ignore[attr-defined]
    return {
        "orders_count": customer.stats_orders_count,  # type: ignore[attr-defined]
        "lifetime_value": f"{lifetime_value:.2f}",
        "currency": CURRENCY,
        "last_order_at": timestamp(customer.stats_last_order_at),  # type: ignore[attr-defined]
    }


def subscription_json(subscription: SandboxSubscription) -> dict[str, Any]:
    return {
        "id": str(subscription.id),
        "status": subscription.status,
        "product": subscription.product,
        "amount": f"{subscription.amount:.2f}",
        "next_bill_at": timestamp(subscription.next_bill_at),
    }


def note_json(note: SandboxNote) -> dict[str, Any]:
    return {
        "id": str(note.id),
        "customer_id": str(note.customer_id),
        "notes": note.notes,
        "created_at": timestamp(note.created_at),
    }


def error_json(message: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = errors
    return body
