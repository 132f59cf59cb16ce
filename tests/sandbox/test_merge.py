"""GET and POST /v2/customers/{primary_id}/merge/{secondary_id}: the preview and the merge."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests

from mergeassist.sandbox.models import SandboxCustomer

EXPANSIONS = {"cards", "fields", "stats", "integrations", "subscriptions"}


@pytest.fixture
def pair(make_customer) -> tuple[SandboxCustomer, SandboxCustomer]:
    primary = make_customer(
        name_first="Robert",
        name_last="Smith",
        email="bob@example.com",
        phone=None,
        city="Leeds",
        orders=1,
        cards=1,
        subscriptions=("active",),
        integrations=("klaviyo",),
        fields={"loyalty_tier": "gold", "preferred_contact": None},
        notes=("VIP",),
        updated_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    secondary = make_customer(
        name_first="Bob",
        name_last="Smith",
        email="bob.smith@example.com",
        phone="+1 555 0100",
        city="Leeds",
        orders=2,
        cards=1,
        subscriptions=("active", "cancelled"),
        integrations=("klaviyo", "shopify"),
        fields={"loyalty_tier": "silver", "preferred_contact": "sms", "shirt_size": "L"},
        notes=("Asked for refund",),
    )
    return primary, secondary


def test_it_previews_both_customers_with_conflicts_transfers_and_warnings(api, pair):
    primary, secondary = pair

    response = api.get(f"/v2/customers/{primary.id}/merge/{secondary.id}")

    assert response.status_code == 200
    preview = response.json()
    assert preview["primary"]["id"] == str(primary.id) and preview["secondary"]["id"] == str(secondary.id)
    assert EXPANSIONS <= preview["primary"].keys() and EXPANSIONS <= preview["secondary"].keys()
    assert preview["conflicts"] == [
        {
            "field": "name_first",
            "primary_value": "Robert",
            "secondary_value": "Bob",
            "resolution": "keep_primary",
        },
        {
            "field": "email",
            "primary_value": "bob@example.com",
            "secondary_value": "bob.smith@example.com",
            "resolution": "keep_primary",
        },
        {
            "field": "loyalty_tier",
            "primary_value": "gold",
            "secondary_value": "silver",
            "resolution": "keep_primary",
        },
    ]  # not phone or preferred_contact (the primary's is empty), not city (equal)
    assert preview["transfers"] == {"orders": 2, "cards": 1, "subscriptions": 2, "notes": 1}
    assert preview["warnings"] == [
        "Both customers have an active subscription",
        "The secondary has a saved card",
        "Both customers are linked to klaviyo; the secondary's link will be removed",
    ]


def test_it_changes_nothing_on_a_preview(api, pair):
    primary, secondary = pair
    before = api.get("/v2/customers/", include=",".join(EXPANSIONS)).json()

    api.get(f"/v2/customers/{primary.id}/merge/{secondary.id}")

    assert api.get("/v2/customers/", include=",".join(EXPANSIONS)).json() == before


def test_it_merges_the_secondary_into_the_primary(api, pair):
    primary, secondary = pair

    response = api.post(f"/v2/customers/{primary.id}/merge/{secondary.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["transferred"] == {"orders": 2, "cards": 1, "subscriptions": 2, "notes": 1}
    merged = body["customer"]
    assert merged["id"] == str(primary.id)
    # Conflicts keep the primary's value; empty core fields are filled from the secondary.
    assert (merged["name_first"], merged["email"], merged["phone"]) == (
        "Robert",
        "bob@example.com",
        "+1 555 0100",
    )
    assert merged["stats"]["orders_count"] == 3
    assert len(merged["cards"]) == 2 and [c["is_default"] for c in merged["cards"]] == [True, False]
    assert sorted(s["status"] for s in merged["subscriptions"]) == ["active", "active", "cancelled"]
    assert {f["key"]: f["value"] for f in merged["fields"]} == {
        "loyalty_tier": "gold",
        "preferred_contact": "sms",
        "shirt_size": "L",
    }
    assert sorted(i["name"] for i in merged["integrations"]) == ["klaviyo", "shopify"]
    assert sorted(primary.notes.values_list("notes", flat=True)) == ["Asked for refund", "VIP"]
    assert merged["updated_at"] > "2025"
    assert not SandboxCustomer.objects.filter(id=secondary.id).exists()


def test_it_answers_404_everywhere_for_a_merged_away_secondary(api, pair, make_customer):
    primary, secondary = pair
    other = make_customer(name_first="Other")
    api.post(f"/v2/customers/{primary.id}/merge/{secondary.id}")

    assert api.list_ids(**{"filter[id]": str(secondary.id)}) == []
    assert api.patch(f"/v2/customers/{secondary.id}", [{"key": "city", "value": "York"}]).status_code == 404
    assert api.post(f"/v2/customers/{secondary.id}/notes", {"notes": "x"}).status_code == 404
    assert api.get(f"/v2/customers/{primary.id}/merge/{secondary.id}").status_code == 404
    assert api.get(f"/v2/customers/{secondary.id}/merge/{other.id}").status_code == 404
    assert api.post(f"/v2/customers/{primary.id}/merge/{secondary.id}").status_code == 404


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_refuses_to_merge_a_customer_into_itself(api, make_customer, method):
    ada = make_customer(name_first="Ada")

    response = getattr(api.session, method)(
        api.sandbox.url(f"/v2/customers/{ada.id}/merge/{ada.id}"), timeout=10
    )

    assert response.status_code == 422
    assert response.json()["errors"] == {"secondary_id": ["Must differ from primary_id."]}
    assert SandboxCustomer.objects.filter(id=ada.id).exists()


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("missing", ["primary", "secondary", "non-numeric", "superscript digit", "huge"])
def test_it_answers_404_when_either_customer_is_missing(api, make_customer, method, missing):
    ada = make_customer(name_first="Ada")
    primary, secondary = {
        "primary": ("999999", str(ada.id)),
        "secondary": (str(ada.id), "999999"),
        "non-numeric": (str(ada.id), "abc"),
        "superscript digit": ("³", str(ada.id)),
        "huge": (str(ada.id), "9" * 40),
    }[missing]

    response = getattr(api.session, method)(
        api.sandbox.url(f"/v2/customers/{primary}/merge/{secondary}"), timeout=10
    )

    assert response.status_code == 404
    assert SandboxCustomer.objects.filter(id=ada.id).exists()


def test_it_lets_only_one_of_two_concurrent_merges_succeed(crm_sandbox, make_customer):
    customers = [make_customer(name_first=f"Twin {i}", orders=1) for i in range(3)]
    a, b, c = (str(customer.id) for customer in customers)

    def merge_into(primary: str) -> int:
        url = crm_sandbox.url(f"/v2/customers/{primary}/merge/{b}")
        return requests.post(url, headers=crm_sandbox.headers, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        # The same secondary into two primaries, twice each: only one merge may take it.
        statuses = list(pool.map(merge_into, [a, c, a, c]))

    assert sorted(statuses) == [200, 404, 404, 404]
    assert SandboxCustomer.objects.filter(id__in=[a, c]).count() == 2
    assert sum(SandboxCustomer.objects.get(id=i).orders.count() for i in (a, c)) == 3
