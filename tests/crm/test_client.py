"""The CRM client against the live sandbox: every endpoint, every expansion, every documented error."""

from __future__ import annotations

import logging
import socket
from datetime import datetime

import pytest

from mergeassist.crm.client import (
    EXPANSIONS,
    CrmAuthError,
    CrmClient,
    CrmNotFound,
    CrmUnavailable,
    CrmValidationError,
    SettlementOutcome,
)
from mergeassist.sandbox.models import SandboxCustomer, SandboxCustomField, SandboxNote

# -- the five endpoints -----------------------------------------------------------------------------


def test_it_lists_customers_as_typed_records(crm_sandbox, crm):
    crm_sandbox.seed(30)
    page = crm.list_customers(per_page=10)
    assert (page.current_page, page.per_page, page.last_page, page.total) == (1, 10, 3, 30)
    assert [c.id for c in page.customers] == [str(i) for i in range(1, 11)]
    first = page.customers[0]
    stored = SandboxCustomer.objects.get(id=1)
    assert (first.name_first, first.email, first.phone) == (stored.name_first, stored.email, stored.phone)
    assert isinstance(first.created_at, datetime) and first.created_at.tzinfo is not None
    assert first.updated_at == stored.updated_at
    assert first.raw["id"] == "1"
    # Without include, no expansion is there (None, not an empty list).
    assert all(getattr(first, name) is None for name in EXPANSIONS)


@pytest.mark.parametrize("expansion", EXPANSIONS)
def test_it_reads_each_expansion_only_when_included(crm_sandbox, crm, expansion):
    crm_sandbox.seed(40)
    customers = crm.list_customers(per_page=40, include=[expansion]).customers
    for name in EXPANSIONS:
        present = [getattr(c, name) is not None for c in customers]
        assert all(present) if name == expansion else not any(present)
    if expansion == "stats":
        assert all(c.stats.currency for c in customers)
        assert sum(c.stats.orders_count for c in customers) > 0
    else:
        items = [item for c in customers for item in getattr(c, expansion)]
        assert items, f"40 seeded customers should have some {expansion}"
    if expansion == "cards":
        card = next(item for c in customers for item in c.cards)
        assert len(card.last4) == 4 and 1 <= card.exp_month <= 12
    if expansion == "subscriptions":
        assert {s.status for c in customers for s in c.subscriptions} <= {
            "active",
            "paused",
            "cancelled",
            "past_due",
        }


def test_it_searches_filters_and_sorts(crm_sandbox, crm):
    crm_sandbox.seed(60)
    target = SandboxCustomer.objects.exclude(email=None).order_by("id")[5]

    by_email = crm.list_customers(filters={"email": target.email}).customers
    assert target.id in {int(c.id) for c in by_email}
    assert all(c.email == target.email for c in by_email)

    contains = target.email.split("@")[1]
    assert all(
        contains in (c.email or "")
        for c in crm.list_customers(filters={"email.contains": contains}).customers
    )

    from_id = crm.list_customers(filters={"id.gte": "55"}, sort="id").customers
    assert [c.id for c in from_id] == ["55", "56", "57", "58", "59", "60"]

    assert [c.id for c in crm.list_customers(per_page=3, sort="-id").customers] == ["60", "59", "58"]

    found = crm.list_customers(search=target.name_last).customers
    assert target.id in {int(c.id) for c in found}


def test_it_updates_core_and_custom_fields(crm_sandbox, crm):
    crm_sandbox.seed(20)
    custom = SandboxCustomField.objects.order_by("id").first()
    customer_id = str(custom.customer_id)

    updated = crm.update_fields(customer_id, {"city": "Lisbon", "address2": None, custom.key: "changed"})

    assert updated.id == customer_id
    assert updated.city == "Lisbon" and updated.address2 is None
    stored = SandboxCustomer.objects.get(id=int(customer_id))
    assert stored.city == "Lisbon" and stored.address2 is None
    assert SandboxCustomField.objects.get(pk=custom.pk).value == "changed"


def test_it_adds_a_note(crm_sandbox, crm):
    crm_sandbox.seed(3)
    note = crm.add_note("2", "Merged duplicate 3 into this customer (MergeAssist).")
    assert note.customer_id == "2"
    assert note.text == "Merged duplicate 3 into this customer (MergeAssist)."
    assert note.created_at is not None
    assert SandboxNote.objects.filter(customer_id=2, notes=note.text).count() == 1


def test_it_previews_a_merge_with_a_stable_fingerprint(crm_sandbox, crm):
    crm_sandbox.seed(10)
    preview = crm.preview_merge("1", "2")
    assert (preview.primary.id, preview.secondary.id) == ("1", "2")
    # The preview brings every expansion of both customers.
    assert all(getattr(preview.primary, name) is not None for name in EXPANSIONS)
    assert preview.conflicts and all(c.field for c in preview.conflicts)
    first = preview.conflicts[0]
    assert first.primary_value == preview.primary.core_values().get(first.field, first.primary_value)
    assert set(preview.transfers) == {"orders", "cards", "subscriptions", "notes"}
    assert isinstance(preview.warnings, list)

    assert crm.preview_merge("1", "2").fingerprint == preview.fingerprint
    assert SandboxCustomer.objects.filter(id=2).exists(), "a preview changes nothing"

    crm.update_fields("2", {"city": "Somewhere Else Entirely"})
    assert crm.preview_merge("1", "2").fingerprint != preview.fingerprint


def test_it_merges_and_the_secondary_is_gone(crm_sandbox, crm):
    crm_sandbox.seed(10)
    preview = crm.preview_merge("4", "7")

    result = crm.merge("4", "7")

    assert result.customer.id == "4"
    assert result.transferred == preview.transfers
    assert crm.customer_exists("4") is True
    assert crm.customer_exists("7") is False
    with pytest.raises(CrmNotFound):
        crm.preview_merge("4", "7")


def test_it_settles_merges_by_which_customers_exist(crm_sandbox, crm):
    crm_sandbox.seed(6)
    crm.merge("1", "2")
    assert crm.settle_merge("1", "2").outcome is SettlementOutcome.MERGED
    assert crm.settle_merge("1", "2").merged is True
    assert crm.settle_merge("3", "4").outcome is SettlementOutcome.NOT_MERGED
    crm.merge("5", "6")
    crm.merge("1", "5")
    # Both gone from where we stand: a person must look.
    assert crm.settle_merge("5", "2").outcome is SettlementOutcome.UNCLEAR


# -- documented errors ------------------------------------------------------------------------------


def test_it_reports_a_wrong_api_key_without_revealing_it(crm_sandbox, fast_retries, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "sk_live_do_not_print_me_123"
    client = CrmClient(crm_sandbox.base_url, secret, retries=3, backoff=0.001)

    with pytest.raises(CrmAuthError) as caught:
        client.list_customers()

    assert caught.value.status == 401
    assert caught.value.message == "The CRM refused the API key. Check MERGEASSIST_CRM_API_KEY."
    assert client.requests_made == 1, "a wrong key is not retried"
    for text in (str(caught.value), repr(caught.value), repr(client), caplog.text):
        assert secret not in text


def test_it_keeps_the_api_key_out_of_logs_while_retrying(crm_sandbox, crm, caplog):
    caplog.set_level(logging.DEBUG)
    crm_sandbox.set_faults("list.5xx.times=2,retry_after=0")
    crm.list_customers()
    assert "retry 2 of" in caplog.text
    assert crm_sandbox.api_key not in caplog.text


def test_it_raises_not_found_for_an_unknown_customer(crm_sandbox, crm):
    crm_sandbox.seed(2)
    with pytest.raises(CrmNotFound) as caught:
        crm.update_fields("999", {"city": "Nowhere"})
    assert caught.value.status == 404
    assert "999" in caught.value.message
    with pytest.raises(CrmNotFound):
        crm.add_note("999", "hello")
    with pytest.raises(CrmNotFound):
        crm.merge("1", "999")
    assert crm.customer_exists("999") is False


def test_it_raises_validation_errors_with_field_errors(crm_sandbox, crm):
    crm_sandbox.seed(3)
    with pytest.raises(CrmValidationError) as unknown_field:
        crm.update_fields("1", {"no_such_field": "x"})
    assert unknown_field.value.status == 422
    assert "no_such_field" in unknown_field.value.field_errors
    assert "no_such_field" in unknown_field.value.message

    with pytest.raises(CrmValidationError) as empty_note:
        crm.add_note("1", "")
    assert "notes" in empty_note.value.field_errors

    with pytest.raises(CrmValidationError) as too_many:
        crm.list_customers(per_page=500)
    assert "per_page" in too_many.value.field_errors

    assert crm.requests_made == 3, "a 422 is never retried"


def test_it_says_which_host_is_down_when_nothing_listens(fast_retries):
    with socket.socket() as probe:  # a port that was free a moment ago: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = CrmClient(f"http://127.0.0.1:{port}/sandbox", "k", retries=2, backoff=0.001)

    with pytest.raises(CrmUnavailable) as caught:
        client.list_customers()

    assert caught.value.message == (
        f"The CRM at 127.0.0.1:{port} is not answering (connection refused). Try again in a few minutes."
    )
    assert client.requests_made == 3
