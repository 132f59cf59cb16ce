"""A small world for the merge tests: customers in the live sandbox CRM, synced into the snapshot
over real HTTP, and the candidate pairs between them.

    robert (1 active subscription, a card)   <- the primary
    bob    (same person, other email, a card) <- the secondary
    carol  paired with bob only               (re-pointed to robert after the merge)
    dave   paired with bob and with robert    (bob~dave retired: robert~dave exists)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from mergeassist.crm.client import CrmClient
from mergeassist.crm.models import Customer
from mergeassist.crm.sync import run_sync
from mergeassist.review.models import CandidatePair
from mergeassist.review.scan import pair_key_of
from mergeassist.sandbox.models import SandboxCustomer, SandboxNote


def make_sandbox_customer(
    *,
    cards: int = 0,
    subscriptions: tuple[str, ...] = (),
    orders: int = 0,
    fields: dict | None = None,
    **core,
) -> SandboxCustomer:
    core.setdefault("created_at", datetime(2024, 1, 1, tzinfo=UTC))
    core.setdefault("updated_at", core["created_at"])
    customer = SandboxCustomer.objects.create(**core)
    for index in range(cards):
        customer.cards.create(
            brand="visa", last4=f"{4242 + index}", exp_month=1, exp_year=2030, is_default=index == 0
        )
    for status in subscriptions:
        customer.subscriptions.create(status=status, product="Coffee Club", amount=Decimal("24.00"))
    for index in range(orders):
        customer.orders.create(total=Decimal("10.00"), placed_at=datetime(2024, 2, 1 + index, tzinfo=UTC))
    for key, value in (fields or {}).items():
        customer.fields.create(key=key, label=key.title(), value=value)
    return customer


def make_pair(a: Customer, b: Customer, score: float = 90.0) -> CandidatePair:
    return CandidatePair.objects.create(
        pair_key=pair_key_of(a.crm_id, b.crm_id), customer_a=a, customer_b=b, score=score,
        explanation=[{"field": "email", "similarity": 0.9, "points": 30}],
    )  # fmt: skip


@dataclass
class World:
    client: CrmClient
    robert: Customer
    bob: Customer
    carol: Customer
    dave: Customer
    pair: CandidatePair  # robert ~ bob
    bob_carol: CandidatePair
    bob_dave: CandidatePair
    robert_dave: CandidatePair

    @property
    def primary_id(self) -> str:
        return self.robert.crm_id

    @property
    def secondary_id(self) -> str:
        return self.bob.crm_id

    def notes_on(self, crm_id: str) -> list[str]:
        return list(SandboxNote.objects.filter(customer_id=int(crm_id)).values_list("notes", flat=True))

    def sandbox_customer(self, crm_id: str) -> SandboxCustomer:
        return SandboxCustomer.objects.get(id=int(crm_id))


@pytest.fixture
def fast_client_settings(settings) -> None:
    settings.MERGEASSIST_CRM_BACKOFF = 0.001
    settings.MERGEASSIST_CRM_RETRIES = 2
    settings.MERGEASSIST_CRM_TIMEOUT = 5


@pytest.fixture
def world(crm_sandbox, fast_client_settings) -> World:
    make_sandbox_customer(
        name_first="Robert", name_last="Smith", email="robert@example.com", city="Leeds",
        cards=1, subscriptions=("active",), orders=3, fields={"loyalty_tier": "gold"},
        created_at=datetime(2019, 4, 2, tzinfo=UTC),
    )  # fmt: skip
    make_sandbox_customer(
        name_first="Bob", name_last="Smith", email="bob.smith@example.com", phone="+1 555 0100", city="Leeds",
        cards=1, orders=1, fields={"loyalty_tier": "silver", "shirt_size": "L"},
    )  # fmt: skip
    make_sandbox_customer(name_first="Carol", name_last="Smith", email="carol@example.com")
    make_sandbox_customer(name_first="Dave", name_last="Smith", email="dave@example.com")
    client = CrmClient.from_settings()
    run_sync(full=True, client=client)
    robert, bob, carol, dave = (
        Customer.objects.get(name_first=n) for n in ("Robert", "Bob", "Carol", "Dave")
    )
    world = World(
        client=client,
        robert=robert,
        bob=bob,
        carol=carol,
        dave=dave,
        pair=make_pair(robert, bob, 92),
        bob_carol=make_pair(bob, carol, 70),
        bob_dave=make_pair(bob, dave, 65),
        robert_dave=make_pair(robert, dave, 64),
    )
    yield world
    client.close()
