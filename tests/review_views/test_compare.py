"""Customers page: a badge on customers in a pending pair, and "Compare" for two the scan did not pair."""

from __future__ import annotations

import pytest

from mergeassist.crm.client import CrmClient
from mergeassist.review.models import CandidatePair
from tests.crm_views.test_list_customers import FakeCrm, crm_customer
from tests.review_views.conftest import customer, pair


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch) -> FakeCrm:
    fake = FakeCrm()
    fake.customers = [crm_customer("1"), crm_customer("2", name_first="Bo"), crm_customer("3", name_first="Cy")]
    monkeypatch.setattr(CrmClient, "for_pages", lambda: fake)
    return fake


def test_reviewers_see_a_badge_that_opens_the_pending_pair(reviewer, crm, db):
    one, two = customer("1"), customer("2", "Bo")
    pending = pair(one, two)
    html = reviewer.get("/customers/").content.decode()
    assert f'id="pending-pair-1" href="/review/{pending.pk}/"' in html
    assert f'id="pending-pair-2" href="/review/{pending.pk}/"' in html
    assert 'id="pending-pair-3"' not in html
    assert 'id="compare-form"' in html and ">Compare</button>" in html
    assert 'name="customer" value="3"' in html


def test_a_customer_in_several_pending_pairs_gets_the_strongest(reviewer, crm, db):
    one, two, three = customer("1"), customer("2", "Bo"), customer("3", "Cy")
    pair(one, two, 70)
    strongest = pair(three, one, 95)  # the customer on the other side of this one
    html = reviewer.get("/customers/").content.decode()
    assert f'id="pending-pair-1" href="/review/{strongest.pk}/"' in html
    assert f'id="pending-pair-3" href="/review/{strongest.pk}/"' in html


def test_decided_pairs_carry_no_badge(reviewer, crm, db):
    pair(customer("1"), customer("2", "Bo"), state=CandidatePair.State.REJECTED)
    assert 'id="pending-pair-' not in reviewer.get("/customers/").content.decode()


def test_people_who_cannot_review_see_neither_badges_nor_compare(client, charlie, crm, db):
    pair(customer("1"), customer("2", "Bo"))
    client.force_login(charlie)
    html = client.get("/customers/").content.decode()
    assert "pending-pair-" not in html and "compare-form" not in html


def test_compare_opens_the_two_customers_on_the_pair_screen(reviewer, db):
    customer("1"), customer("3", "Cy")
    response = reviewer.post("/review/compare", {"customer": ["1", "003"]})
    assert response.status_code == 302
    made = CandidatePair.objects.get()
    assert response["Location"] == f"/review/{made.pk}/"
    assert {made.customer_a.crm_id, made.customer_b.crm_id} == {"1", "3"}
    assert made.state == CandidatePair.State.PENDING
    # Comparing again opens the same pair.
    assert reviewer.post("/review/compare", {"customer": ["3", "1"]})["Location"] == f"/review/{made.pk}/"


@pytest.mark.parametrize(
    ("ticked", "reason"),
    [
        (["1"], "Tick exactly two different customers to compare."),
        (["1", "01"], "Tick exactly two different customers to compare."),
        (["1", "2", "3"], "Tick exactly two different customers to compare."),
        (["1", "\x01"], "is not a customer id"),
        (["1", "77"], "77"),  # not in the snapshot
    ],
)
def test_compare_refuses_anything_but_two_known_customers(reviewer, db, ticked, reason):
    customer("1"), customer("2", "Bo"), customer("3", "Cy")
    response = reviewer.post("/review/compare", {"customer": ticked})
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not CandidatePair.objects.exists()


def test_compare_needs_the_review_permission(client, charlie, db):
    customer("1"), customer("2", "Bo")
    client.force_login(charlie)
    assert client.post("/review/compare", {"customer": ["1", "2"]}).status_code == 403
    assert not CandidatePair.objects.exists()
