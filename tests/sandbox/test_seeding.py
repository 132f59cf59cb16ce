"""seed_sandbox and seed_customers: realistic customers, known duplicates, and the data a merge moves."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.core.management import call_command

from mergeassist.sandbox.models import (
    SandboxCard,
    SandboxCustomer,
    SandboxCustomField,
    SandboxIntegration,
    SandboxOrder,
    SandboxSubscription,
)
from mergeassist.sandbox.seeding import seed_customers

pytestmark = pytest.mark.django_db


def test_it_seeds_customers_with_everything_a_merge_moves():
    assert seed_customers(300, seed=1) == 300

    assert SandboxCustomer.objects.count() == 300
    assert SandboxOrder.objects.count() > 300
    assert SandboxCard.objects.values("customer").distinct().count() > 100
    assert SandboxSubscription.objects.filter(status="active").count() > 30
    assert {"klaviyo", "shopify"} <= set(SandboxIntegration.objects.values_list("name", flat=True))
    assert {"loyalty_tier", "preferred_contact"} <= set(
        SandboxCustomField.objects.values_list("key", flat=True)
    )


def test_it_keeps_known_duplicate_groups_as_ground_truth():
    seed_customers(500, seed=2)

    group_sizes = Counter(SandboxCustomer.objects.values_list("entity", flat=True))
    variations = set(SandboxCustomer.objects.values_list("variation", flat=True))

    assert any(size >= 3 for size in group_sizes.values())  # clusters of three or more
    assert sum(size >= 2 for size in group_sizes.values()) > 20
    assert {"original", "typo", "nickname", "email_variant"} <= variations
    assert variations & {"same_name", "family_member", "shared_mailbox"}  # look-alikes, different people


def test_it_gives_the_same_customers_for_the_same_seed():
    def snapshot() -> list[tuple]:
        rows = SandboxCustomer.objects.order_by("id").values_list(
            "id", "name_first", "email", "entity", "created_at", "updated_at"
        )
        cards = SandboxCard.objects.order_by("id").values_list("customer_id", "last4")
        return [*rows, *cards]

    seed_customers(100, seed=5)
    first = snapshot()
    call_command("seed_sandbox", "--customers", "100", "--seed", "5", "--reset")

    assert snapshot() == first


def test_it_appends_after_the_highest_id_with_distinct_entities():
    seed_customers(20, seed=0)
    top = max(SandboxCustomer.objects.values_list("id", flat=True))

    seed_customers(20, seed=0)

    second_batch = SandboxCustomer.objects.filter(id__gt=top)
    assert second_batch.count() == 20
    assert not set(second_batch.values_list("entity", flat=True)) & set(
        SandboxCustomer.objects.filter(id__lte=top).values_list("entity", flat=True)
    )


def test_it_creates_customers_in_id_order():
    seed_customers(200, seed=3)

    created = list(SandboxCustomer.objects.order_by("id").values_list("created_at", flat=True))

    assert created == sorted(created)
    assert all(c <= u for c, u in SandboxCustomer.objects.values_list("created_at", "updated_at"))


def test_it_seeds_from_the_command_only_when_empty_if_asked(capsys):
    call_command("seed_sandbox", "--customers", "40", "--seed", "1")
    call_command("seed_sandbox", "--customers", "40", "--if-empty")

    assert SandboxCustomer.objects.count() == 40
    assert "nothing seeded" in capsys.readouterr().out


def test_it_wipes_first_on_reset():
    seed_customers(30)

    call_command("seed_sandbox", "--customers", "10", "--reset")

    assert SandboxCustomer.objects.count() == 10


def test_it_seeds_2000_customers_in_seconds():
    seed_customers(10)  # the generator's name pools are built once per process; not what is measured

    started = time.monotonic()
    seed_customers(2000, seed=9)

    assert time.monotonic() - started < 10  # about 1-3 s; generous because CI machines are shared
