"""What the client retries, what it gives up on, and what it refuses to resend, under sandbox faults."""

from __future__ import annotations

import time

import pytest

from mergeassist.crm.client import (
    CrmClient,
    CrmOutcomeUnknown,
    CrmRateLimited,
    CrmUnavailable,
    CrmUnexpectedResponse,
)
from mergeassist.sandbox.models import SandboxCustomer, SandboxNote

# -- GETs: retried on everything transient ---------------------------------------------------------


@pytest.mark.parametrize("fault", ["5xx", "429", "drop", "malformed", "slow"])
def test_it_retries_a_get_through_a_transient_fault(crm_sandbox, fast_retries, fault):
    crm_sandbox.seed(5)
    crm_sandbox.set_faults(f"list.{fault}.times=2,retry_after=0,delay=0.6")
    client = CrmClient(crm_sandbox.base_url, crm_sandbox.api_key, timeout=0.3, retries=3, backoff=0.001)

    page = client.list_customers()

    assert [c.id for c in page.customers] == ["1", "2", "3", "4", "5"]
    assert client.requests_made == 3


@pytest.mark.parametrize(
    ("fault", "error", "reason"),
    [
        ("5xx", CrmUnavailable, "HTTP 50"),
        ("drop", CrmUnavailable, "the connection dropped"),
        ("slow", CrmUnavailable, "no answer within 0.3s"),
        ("malformed", CrmUnexpectedResponse, "cannot read"),
    ],
)
def test_it_gives_up_after_the_last_retry_with_a_clear_message(
    crm_sandbox, fast_retries, fault, error, reason
):
    crm_sandbox.seed(2)
    crm_sandbox.set_faults(f"list.{fault}=1,delay=0.6")
    client = CrmClient(crm_sandbox.base_url, crm_sandbox.api_key, timeout=0.3, retries=2, backoff=0.001)

    with pytest.raises(error) as caught:
        client.list_customers()

    assert reason in caught.value.message
    assert crm_sandbox.base_url.split("//")[1].split("/")[0] in caught.value.message
    if error is CrmUnavailable:
        assert caught.value.message.endswith("Try again in a few minutes.")
    assert client.requests_made == 3


def test_it_honours_retry_after(crm_sandbox, fast_retries):
    crm_sandbox.set_faults("list.429.times=1,retry_after=1")
    client = CrmClient(crm_sandbox.base_url, crm_sandbox.api_key, retries=2, backoff=0.001)

    started = time.monotonic()
    client.list_customers()

    assert time.monotonic() - started >= 1.0
    assert client.requests_made == 2


def test_it_caps_retry_after_and_reports_the_rate_limit(crm_sandbox, fast_retries):
    crm_sandbox.set_faults("list.429=1,retry_after=30")
    client = CrmClient(
        crm_sandbox.base_url, crm_sandbox.api_key, retries=2, backoff=0.001, max_retry_after=0.05
    )

    started = time.monotonic()
    with pytest.raises(CrmRateLimited) as caught:
        client.list_customers()

    assert time.monotonic() - started < 5, "a 30 s Retry-After is capped"
    assert caught.value.retry_after == 30
    assert caught.value.status == 429
    assert "Try again in 30 seconds" in caught.value.message
    assert client.requests_made == 3


def test_it_retries_customer_exists_like_any_get(crm_sandbox, crm):
    crm_sandbox.seed(3)
    crm_sandbox.set_faults("list.drop.times=1,list.malformed.times=1,retry_after=0")
    assert crm.customer_exists("3") is True
    assert crm.requests_made == 3


# -- PATCH: absolute values, so a lost answer is safe to resend -------------------------------------


@pytest.mark.parametrize("fault", ["429", "5xx", "drop", "drop_after", "malformed"])
def test_it_retries_a_patch_because_resending_absolute_values_is_harmless(crm_sandbox, crm, fault):
    crm_sandbox.seed(2)
    crm_sandbox.set_faults(f"patch.{fault}.times=1,retry_after=0")

    updated = crm.update_fields("2", {"city": "Porto"})

    assert updated.city == "Porto"
    assert SandboxCustomer.objects.get(id=2).city == "Porto"
    assert crm.requests_made == 2


# -- notes: sent at most once --------------------------------------------------------------------


def test_it_retries_a_note_the_crm_refused_with_429(crm_sandbox, crm):
    crm_sandbox.seed(1)
    crm_sandbox.set_faults("note.429.times=1,retry_after=0")
    crm.add_note("1", "once")
    assert SandboxNote.objects.filter(customer_id=1, notes="once").count() == 1
    assert crm.requests_made == 2


@pytest.mark.parametrize(
    ("fault", "notes_written"), [("drop_after", 1), ("malformed", 1), ("drop", 0), ("5xx", 0)]
)
def test_it_never_resends_a_note_whose_answer_was_lost(crm_sandbox, crm, fault, notes_written):
    crm_sandbox.seed(1)
    crm_sandbox.set_faults(f"note.{fault}=1")

    with pytest.raises(CrmOutcomeUnknown) as caught:
        crm.add_note("1", "maybe")

    assert "may or may not have happened" in caught.value.message
    assert crm.requests_made == 1
    assert SandboxNote.objects.filter(customer_id=1, notes="maybe").count() == notes_written


# -- merge: a lost answer is reported, then settled by checking ------------------------------------


def test_it_reports_a_dropped_merge_answer_as_unknown_then_settles_it_as_merged(crm_sandbox, crm):
    crm_sandbox.seed(4)
    crm_sandbox.set_faults("merge.drop_after=1")

    with pytest.raises(CrmOutcomeUnknown) as caught:
        crm.merge("1", "2")

    assert crm.requests_made == 1, "the merge POST is never resent"
    assert caught.value.message.startswith("The CRM did not confirm the merge of customer 2 into 1")
    assert not crm_sandbox.exists("2"), "the sandbox did merge before dropping the connection"
    settlement = crm.settle_merge("1", "2")
    assert settlement.merged is True
    assert (settlement.primary_exists, settlement.secondary_exists) == (True, False)


@pytest.mark.parametrize(("fault", "merged"), [("malformed", True), ("drop", False), ("5xx", False)])
def test_it_settles_every_lost_merge_answer_by_what_the_crm_holds(crm_sandbox, crm, fault, merged):
    crm_sandbox.seed(4)
    crm_sandbox.set_faults(f"merge.{fault}=1")

    with pytest.raises(CrmOutcomeUnknown):
        crm.merge("3", "4")

    assert crm.requests_made == 1
    crm_sandbox.clear_faults()
    assert crm.settle_merge("3", "4").merged is merged
    assert crm_sandbox.exists("4") is not merged


def test_it_retries_a_merge_the_crm_refused_with_429(crm_sandbox, crm):
    crm_sandbox.seed(2)
    crm_sandbox.set_faults("merge.429.times=1,retry_after=0")
    assert crm.merge("1", "2").customer.id == "1"
    assert crm.requests_made == 2
    assert not crm_sandbox.exists("2")


def test_it_raises_outcome_unknown_when_a_merge_times_out(crm_sandbox, fast_retries):
    crm_sandbox.seed(2)
    crm_sandbox.set_faults("merge.slow=1,delay=0.6")
    client = CrmClient(crm_sandbox.base_url, crm_sandbox.api_key, timeout=0.2, retries=3, backoff=0.001)

    with pytest.raises(CrmOutcomeUnknown) as caught:
        client.merge("1", "2")

    assert "no answer within 0.2s" in caught.value.message
    assert client.requests_made == 1
    time.sleep(0.6)  # the slow merge finishes on the server
    assert client.settle_merge("1", "2").merged is True
