"""suggest_primary, do_reject, do_skip and do_compare: the decisions that make no CRM call."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mergeassist.audit.models import Decision
from mergeassist.crm.models import Customer
from mergeassist.review.actions import (
    InvalidChoice,
    PairNotPending,
    do_compare,
    do_reject,
    do_skip,
    suggest_primary,
)
from mergeassist.review.models import CandidatePair, PairSkip
from mergeassist.review.scan import do_scan

pytestmark = pytest.mark.django_db


def customer(crm_id: str, first: str, last: str, email: str, **extra) -> Customer:
    return Customer.objects.create(
        crm_id=crm_id, crm_id_number=int(crm_id), name_first=first, name_last=last, email=email, **extra
    )


@pytest.fixture
def robert_twice() -> tuple[Customer, Customer]:
    a = customer(
        "1", "Robert", "Smith", "robert.smith@gmail.com", phone="(555) 201-3344", city="Austin", zip="73301"
    )
    b = customer(
        "2", "Bob", "Smith", "Robert.Smith+shop@gmail.com", phone="555.201.3344", city="Austin", zip="73301"
    )
    customer(
        "3", "Alice", "Nguyen", "alice.nguyen@example.com", phone="555-777-0000", city="Boston", zip="02110"
    )
    return a, b


@pytest.mark.parametrize(
    ("a_extra", "b_extra", "primary", "reason"),
    [
        ({"active_subscriptions": 0}, {"active_subscriptions": 1}, "b", "has 1 active subscription"),
        ({"active_subscriptions": 2}, {"active_subscriptions": 1}, "a", "has 2 active subscriptions"),
        (
            {"raw": {"stats": {"orders_count": 3}}},
            {"raw": {"stats": {"orders_count": 12}}},
            "b",
            "has more orders (12 against 3)",
        ),
        (
            {"crm_created_at": datetime(2021, 1, 1, tzinfo=UTC)},
            {"crm_created_at": datetime(2019, 4, 2, tzinfo=UTC)},
            "b",
            "is the older account (since 2019-04-02)",
        ),
        ({}, {}, "a", "has the lower CRM id (nothing else tells them apart)"),
    ],
)
def test_it_suggests_the_primary_by_subscriptions_then_orders_then_age(a_extra, b_extra, primary, reason):
    a = customer("9", "Ann", "Lee", "ann@example.com", **a_extra)
    b = customer("10", "Ann", "Lee", "ann.lee@example.com", **b_extra)

    for first, second in ((a, b), (b, a)):  # the order they are given in does not matter
        choice = suggest_primary(first, second)
        assert choice.primary == (a if primary == "a" else b)
        assert choice.secondary == (b if primary == "a" else a)
        assert choice.reason == reason


def test_not_a_duplicate_is_for_good_even_after_a_rescan(robert_twice, alice):
    do_scan()
    pair = CandidatePair.objects.get()

    decision = do_reject(pair=pair, reviewer=alice)
    do_scan()

    pair.refresh_from_db()
    assert pair.state == CandidatePair.State.REJECTED and pair.decided_by == alice
    assert CandidatePair.objects.count() == 1
    assert decision.kind == Decision.Kind.NOT_DUPLICATE and decision.outcome == Decision.Outcome.NOT_DUPLICATE
    assert decision.reviewer_username == "alice" and decision.pair_key == "1|2"
    assert decision.primary_email == "robert.smith@gmail.com" and decision.secondary_crm_id == "2"
    assert not decision.calls.exists()


def test_rejecting_twice_is_refused_and_says_who_did_it(robert_twice, alice, bob):
    do_scan()
    pair = CandidatePair.objects.get()
    do_reject(pair=pair, reviewer=alice)

    with pytest.raises(PairNotPending) as caught:
        do_reject(pair=pair, reviewer=bob)

    assert "marked “Not a duplicate” by alice" in caught.value.message
    assert Decision.objects.count() == 1


def test_skip_moves_the_pair_back_for_this_reviewer_only(robert_twice, alice, bob):
    do_scan()
    pair = CandidatePair.objects.get()

    do_skip(pair=pair, reviewer=alice)
    first = PairSkip.objects.get(pair=pair, user=alice).skipped_at
    do_skip(pair=pair, reviewer=alice)

    skip = PairSkip.objects.get(pair=pair, user=alice)
    assert skip.skipped_at > first  # skipping again sends it to the end again
    assert not PairSkip.objects.filter(user=bob).exists()
    pair.refresh_from_db()
    assert pair.state == CandidatePair.State.PENDING and not Decision.objects.exists()


def test_compare_makes_a_pending_pair_scored_and_marked_as_compared_by_hand(robert_twice, alice):
    pair = do_compare(reviewer=alice, crm_id_a="3", crm_id_b="01")

    assert pair.pk and pair.state == CandidatePair.State.PENDING
    assert pair.pair_key == "1|3"
    assert (pair.customer_a.crm_id, pair.customer_b.crm_id) == ("1", "3")
    assert pair.explanation[0]["note"] == "compared by hand (the scan did not pair them)"
    assert len(pair.explanation) > 1 and 0 <= pair.score < 50  # the engine's own verdict: not alike
    assert do_compare(reviewer=alice, crm_id_a="1", crm_id_b="3") == pair  # the same pair again


def test_compare_returns_the_scans_pair_when_there_is_one(robert_twice, alice):
    do_scan()
    scanned = CandidatePair.objects.get()

    assert do_compare(reviewer=alice, crm_id_a="2", crm_id_b="1") == scanned
    assert CandidatePair.objects.count() == 1


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ("1", "001", "cannot be compared with itself"),
        ("1", "99", "Customer 99 is not in the local snapshot"),
        ("1", "", "Tick two"),
    ],
)
def test_compare_refuses_what_cannot_be_a_pair(robert_twice, alice, a, b, reason):
    with pytest.raises(InvalidChoice) as caught:
        do_compare(reviewer=alice, crm_id_a=a, crm_id_b=b)
    assert reason in caught.value.message
    assert not CandidatePair.objects.exists()


def test_compare_refuses_a_customer_gone_from_the_crm(robert_twice, alice):
    Customer.objects.filter(crm_id="3").update(is_gone=True)
    with pytest.raises(InvalidChoice):
        do_compare(reviewer=alice, crm_id_a="1", crm_id_b="3")
