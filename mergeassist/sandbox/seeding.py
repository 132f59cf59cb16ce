"""Fill the sandbox CRM with realistic customers, known duplicates and everything a merge moves.

The people come from `generator.generate_customers` (which also decides the duplicates and the
ground-truth `entity`); this module adds orders, cards, subscriptions, integrations, custom fields
and notes with its own seeded RNG, and writes them with bulk_create.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max

from mergeassist.sandbox.generator import SyntheticCustomer, generate_customers
from mergeassist.sandbox.models import (
    FaultCounter,
    FaultProfile,
    SandboxCard,
    SandboxCustomer,
    SandboxCustomField,
    SandboxIntegration,
    SandboxNote,
    SandboxOrder,
    SandboxSubscription,
)

# A fixed "now" for seeded histories, so the same seed gives the same records on any day.
SEED_EPOCH = datetime(2025, 6, 1, tzinfo=UTC)
HISTORY = timedelta(days=3 * 365)
BATCH_SIZE = 2000

CARD_BRANDS = ("visa", "mastercard", "amex", "discover")
PRODUCTS = (
    ("Coffee Club Monthly", "24.00"),
    ("Tea Sampler Box", "18.50"),
    ("Vitamin Pack", "39.90"),
    ("Razor Refills", "12.00"),
    ("Pet Food Bundle", "54.75"),
)
SUBSCRIPTION_STATUSES = (("active", 0.6), ("paused", 0.15), ("cancelled", 0.15), ("past_due", 0.1))
INTEGRATIONS = (("klaviyo", 0.5), ("shopify", 0.4), ("mailchimp", 0.1), ("zendesk", 0.1))
CUSTOM_FIELDS = (
    ("loyalty_tier", "Loyalty tier", ("bronze", "silver", "gold", "platinum"), 0.7),
    ("preferred_contact", "Preferred contact", ("email", "phone", "sms"), 0.5),
    ("referral_source", "Referral source", ("instagram", "friend", "podcast", "search", "newsletter"), 0.3),
    ("shirt_size", "Shirt size", ("S", "M", "L", "XL"), 0.15),
)
NOTES = (
    "Called about a late delivery.",
    "Asked to skip next month's box.",
    "Prefers deliveries after 5pm.",
    "Refunded a damaged item.",
)


def seed_customers(count: int, seed: int = 0, *, duplicate_rate: float = 0.25) -> int:
    """Add `count` customers (ids after the current highest) and their data; return how many."""
    people = generate_customers(count, seed=seed, duplicate_rate=duplicate_rate)
    rng = random.Random(f"sandbox-seed:{seed}")
    with transaction.atomic():
        offset = SandboxCustomer.objects.aggregate(top=Max("id"))["top"] or 0
        customers = [
            _customer(person, offset, (i + rng.random()) / len(people), rng)
            for i, person in enumerate(people)
        ]
        SandboxCustomer.objects.bulk_create(customers, batch_size=BATCH_SIZE)
        _bulk_create_related(customers, rng)
        _reset_id_sequences()
    return len(customers)


def wipe_sandbox() -> None:
    """Delete every sandbox record, and the fault profile with it."""
    with transaction.atomic():
        for model in (
            SandboxNote,
            SandboxOrder,
            SandboxCard,
            SandboxSubscription,
            SandboxIntegration,
            SandboxCustomField,
            SandboxCustomer,
            FaultCounter,
            FaultProfile,
        ):
            model.objects.all().delete()


def _customer(person: SyntheticCustomer, offset: int, age: float, rng: random.Random) -> SandboxCustomer:
    """`age` in [0, 1) places the creation time in the seeded history: ids grow with it, as in a CRM."""
    number = offset + int(person.id)
    created_at = (SEED_EPOCH - HISTORY + HISTORY * age).replace(microsecond=0)
    updated_at = created_at
    if rng.random() < 0.4:
        # Somewhere between creation and "now", so recent edits spread out instead of piling up at the epoch.
        updated_at = (created_at + (SEED_EPOCH - created_at) * rng.random()).replace(microsecond=0)
    return SandboxCustomer(
        id=number,
        name_first=person.name_first,
        name_last=person.name_last,
        email=person.email,
        phone=person.phone,
        company_name=person.company_name,
        address1=person.address1,
        address2=person.address2,
        city=person.city,
        state=person.state,
        zip=person.zip,
        country=person.country,
        created_at=created_at,
        updated_at=updated_at,
        # Entities are unique per batch: a second batch's "e1" is someone else.
        entity=person.entity if offset == 0 else f"{offset}+{person.entity}",
        variation=person.variation,
    )


def _bulk_create_related(customers: list[SandboxCustomer], rng: random.Random) -> None:
    orders: list[SandboxOrder] = []
    cards: list[SandboxCard] = []
    subscriptions: list[SandboxSubscription] = []
    integrations: list[SandboxIntegration] = []
    fields: list[SandboxCustomField] = []
    notes: list[SandboxNote] = []
    for customer in customers:
        orders += _orders(customer, rng)
        cards += _cards(customer, rng)
        subscriptions += _subscriptions(customer, rng)
        integrations += [
            SandboxIntegration(
                customer=customer, name=name, external_id=f"{name[:2]}_{rng.getrandbits(40):010x}"
            )
            for name, chance in INTEGRATIONS
            if rng.random() < chance
        ]
        fields += [
            SandboxCustomField(customer=customer, key=key, label=label, value=rng.choice(values))
            for key, label, values, chance in CUSTOM_FIELDS
            if rng.random() < chance
        ]
        if rng.random() < 0.1:
            notes.append(
                SandboxNote(customer=customer, notes=rng.choice(NOTES), created_at=customer.updated_at)
            )
    for model, rows in (
        (SandboxOrder, orders),
        (SandboxCard, cards),
        (SandboxSubscription, subscriptions),
        (SandboxIntegration, integrations),
        (SandboxCustomField, fields),
        (SandboxNote, notes),
    ):
        model.objects.bulk_create(rows, batch_size=BATCH_SIZE)


def _orders(customer: SandboxCustomer, rng: random.Random) -> list[SandboxOrder]:
    count = rng.choices((0, 1, 2, 3, 5, 8), weights=(30, 25, 15, 12, 10, 8))[0]
    span = max(1.0, (SEED_EPOCH - customer.created_at).total_seconds())
    return [
        SandboxOrder(
            customer=customer,
            total=Decimal(f"{rng.uniform(9, 240):.2f}"),
            placed_at=customer.created_at + timedelta(seconds=rng.uniform(0, span)),
        )
        for _ in range(count)
    ]


def _cards(customer: SandboxCustomer, rng: random.Random) -> list[SandboxCard]:
    count = rng.choices((0, 1, 2), weights=(40, 50, 10))[0]
    return [
        SandboxCard(
            customer=customer,
            brand=rng.choice(CARD_BRANDS),
            last4=f"{rng.randrange(10000):04d}",
            exp_month=rng.randint(1, 12),
            exp_year=rng.randint(2025, 2031),
            is_default=index == 0,
        )
        for index in range(count)
    ]


def _subscriptions(customer: SandboxCustomer, rng: random.Random) -> list[SandboxSubscription]:
    if rng.random() >= 0.45:
        return []
    product, amount = rng.choice(PRODUCTS)
    status = rng.choices(
        [s for s, _ in SUBSCRIPTION_STATUSES], weights=[w for _, w in SUBSCRIPTION_STATUSES]
    )[0]
    next_bill_at = (
        SEED_EPOCH + timedelta(days=rng.randint(1, 30)) if status in ("active", "past_due") else None
    )
    return [
        SandboxSubscription(
            customer=customer,
            status=status,
            product=product,
            amount=Decimal(amount),
            next_bill_at=next_bill_at,
        )
    ]


def _reset_id_sequences() -> None:
    """Explicit ids leave PostgreSQL's sequences behind; move them past the seeded rows."""
    statements = connection.ops.sequence_reset_sql(no_style(), [SandboxCustomer])
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
