"""The customer sync against the live sandbox: full, faulty, interrupted, resumed and incremental runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Max
from django.utils import timezone

from mergeassist.crm.client import CrmClient, CrmUnavailable
from mergeassist.crm.models import Customer, SyncRun
from mergeassist.crm.sync import (
    STALE_AFTER,
    SyncAlreadyRunning,
    SyncProgress,
    mark_customers_gone,
    refresh_customer,
    run_sync,
)
from mergeassist.crm.types import EXPANSIONS
from mergeassist.sandbox.models import SandboxCustomer


class StopAfterPages(Exception):
    pass


def stop_after(pages: int):
    def on_progress(progress: SyncProgress) -> None:
        if progress.run.pages_fetched >= pages and progress.run.status == SyncRun.Status.RUNNING:
            raise StopAfterPages

    return on_progress


def present_ids() -> list[str]:
    return list(
        Customer.objects.filter(is_gone=False).order_by("crm_id_number").values_list("crm_id", flat=True)
    )


def assert_snapshot_matches(crm_sandbox) -> None:
    ids = present_ids()
    assert ids == crm_sandbox.customer_ids(), "none missing, none extra"
    assert len(ids) == len(set(ids)), "none doubled"


def new_sandbox_customer(**fields) -> SandboxCustomer:
    """A customer who signs up now (the sandbox API has no create endpoint; the CRM's web shop does)."""
    # The next id after the highest, as the CRM gives it: SQLite's own counter remembers ids from
    # earlier tests' (flushed) rows, so a plain create() would depend on which tests ran before.
    next_id = (SandboxCustomer.objects.aggregate(top=Max("id"))["top"] or 0) + 1
    return SandboxCustomer.objects.create(
        id=next_id, name_first="Nova", name_last="Newcomer", email="nova@example.net", **fields
    )


def test_it_copies_every_customer_with_expansions_and_search_columns(crm_sandbox, fast_retries):
    crm_sandbox.seed(250)

    run = run_sync(full=True)

    assert_snapshot_matches(crm_sandbox)
    assert (run.status, run.kind, run.pages_fetched, run.customers_seen) == ("succeeded", "full", 3, 250)
    assert (run.customers_created, run.customers_updated, run.customers_gone) == (250, 0, 0)
    assert run.total_expected == 250 and run.cursor == "250"
    assert run.requests_made == 4, "3 pages and the watermark probe"

    source = SandboxCustomer.objects.exclude(email=None).exclude(phone=None).order_by("id").first()
    row = Customer.objects.get(crm_id=str(source.id))
    assert (row.name_first, row.email, row.crm_id_number) == (
        source.name_first or "",
        source.email,
        source.id,
    )
    assert row.crm_updated_at == source.updated_at
    assert row.search_email and row.search_phone.isdigit() or row.search_phone.startswith("+")
    assert row.search_name == row.search_name.lower()
    assert set(EXPANSIONS) <= set(row.raw)
    assert row.last_seen_run_id == run.pk


def test_it_ends_with_exactly_the_crms_customers_when_30_percent_of_gets_fail(
    crm_sandbox, fast_retries, settings
):
    crm_sandbox.seed(250)
    settings.MERGEASSIST_CRM_RETRIES = 10
    crm_sandbox.set_faults(
        "list.5xx=0.1,list.429=0.08,list.drop=0.06,list.malformed=0.06,seed=1,retry_after=0"
    )

    run = run_sync(full=True)

    assert_snapshot_matches(crm_sandbox)
    assert Customer.objects.count() == 250
    assert run.customers_seen == 250 and run.customers_created == 250
    assert run.requests_made > run.pages_fetched + 1, "some requests failed and were retried"


def test_it_resumes_an_interrupted_full_sync_without_duplicates_or_losses(crm_sandbox, crm, fast_retries):
    crm_sandbox.seed(250)
    with pytest.raises(StopAfterPages):
        run_sync(full=True, on_progress=stop_after(1))
    stopped = SyncRun.objects.get()
    assert (stopped.status, stopped.cursor, stopped.error_message) == ("failed", "100", "StopAfterPages: ")
    assert Customer.objects.count() == 100
    assert not Customer.objects.filter(is_gone=True).exists(), "an unfinished pass marks nothing gone"

    # Meanwhile the CRM changes on both sides of the cursor.
    crm.merge("51", "50")  # already synced; now gone
    crm.merge("181", "180")  # not synced yet; never seen
    crm.update_fields("20", {"city": "Changed Behind The Cursor"})
    crm.update_fields("200", {"city": "Changed Ahead Of The Cursor"})
    newcomer = new_sandbox_customer()
    assert newcomer.id == 251

    resumed = run_sync()

    assert resumed.pk == stopped.pk and resumed.kind == "full" and resumed.status == "succeeded"
    assert resumed.customers_seen == 250  # 100 before the stop + 149 after id 100 + the newcomer
    rows = list(Customer.objects.values_list("crm_id", flat=True))
    # 1..250 without 180 (merged before it was read), plus the newcomer: each once (50 kept as gone).
    assert len(rows) == len(set(rows)) == 250, "none doubled"
    assert set(crm_sandbox.customer_ids()) <= set(rows), "none lost"
    assert not Customer.objects.filter(crm_id="180").exists()
    assert Customer.objects.get(crm_id="200").city == "Changed Ahead Of The Cursor"
    # Behind the cursor too: the resumed pass re-checked what it had read before the stop, so 50
    # (merged away meanwhile) is gone and 20's change is in, as after a pass that never stopped.
    assert resumed.customers_gone == 1 and Customer.objects.get(crm_id="50").is_gone
    assert Customer.objects.get(crm_id="20").city == "Changed Behind The Cursor"
    assert_snapshot_matches(crm_sandbox)
    assert run_sync(full=True).customers_gone == 0, "nothing was left for the next pass to find"


def test_it_resumes_a_run_whose_process_died(crm_sandbox, fast_retries):
    crm_sandbox.seed(150)
    with pytest.raises(StopAfterPages):
        run_sync(full=True, on_progress=stop_after(1))
    # A killed process leaves the row "running" with a heartbeat that stops moving.
    SyncRun.objects.update(status=SyncRun.Status.RUNNING, heartbeat_at=timezone.now() - STALE_AFTER * 2)

    resumed = run_sync()

    assert resumed.status == "succeeded" and resumed.cursor == "150"
    assert SyncRun.objects.count() == 1
    assert_snapshot_matches(crm_sandbox)


def test_it_refuses_to_start_while_another_sync_is_alive(crm_sandbox, fast_retries):
    alive = SyncRun.objects.create(kind=SyncRun.Kind.FULL)
    with pytest.raises(SyncAlreadyRunning) as caught:
        run_sync(full=True)
    assert caught.value.run == alive
    assert "already running" in str(caught.value)


def test_it_marks_the_run_failed_and_resumes_when_the_crm_comes_back(crm_sandbox, fast_retries, settings):
    crm_sandbox.seed(150)
    settings.MERGEASSIST_CRM_RETRIES = 1
    crm_sandbox.set_faults("list.5xx=1")
    with pytest.raises(CrmUnavailable):
        run_sync(full=True)
    failed = SyncRun.objects.get()
    assert failed.status == "failed" and "is not answering (HTTP 50" in failed.error_message

    crm_sandbox.clear_faults()
    run = run_sync(full=True)

    assert run.pk == failed.pk and run.status == "succeeded" and run.error_message == ""
    assert_snapshot_matches(crm_sandbox)


def test_it_picks_up_changed_and_new_customers_incrementally(crm_sandbox, crm, fast_retries):
    crm_sandbox.seed(250)
    full = run_sync()  # nothing synced yet: the first run is a full one
    assert full.kind == "full"

    crm.update_fields("7", {"email": "patched@example.org"})
    crm.add_note("8", "Called about their order")  # a note moves updated_at too
    newcomer = new_sandbox_customer()
    crm_sandbox.seed(3)  # a bulk import: new ids, back-dated updated_at

    run = run_sync()

    assert (run.kind, run.status) == ("incremental", "succeeded")
    assert Customer.objects.get(crm_id="7").email == "patched@example.org"
    assert Customer.objects.filter(crm_id=str(newcomer.id)).exists()
    assert_snapshot_matches(crm_sandbox)
    # Only what changed since the last run is read (with the customers whose updated_at equals the
    # watermark: the overlap is inclusive), not all 254.
    assert run.customers_seen < 60
    assert run.requests_made <= 3
    assert run.watermark >= SandboxCustomer.objects.get(id=7).updated_at


def test_it_notices_customers_merged_away_on_the_next_full_run(crm_sandbox, crm, fast_retries):
    crm_sandbox.seed(120)
    run_sync(full=True)
    crm.merge("3", "4")

    run = run_sync(full=True)

    assert run.customers_gone == 1
    gone = Customer.objects.get(crm_id="4")
    assert gone.is_gone and gone.gone_at is not None
    assert_snapshot_matches(crm_sandbox)


def test_it_reads_again_when_a_customer_vanishes_mid_incremental_run(crm_sandbox, crm, fast_retries):
    crm_sandbox.seed(250)
    run_sync(full=True)
    # 150 customers change in the CRM, id 1 most recently: two pages of changes, newest first.
    now = timezone.now()
    for number in range(1, 151):
        SandboxCustomer.objects.filter(id=number).update(
            city=f"Moved {number}", updated_at=now - timedelta(seconds=number)
        )
    merged = False

    def merge_after_first_page(progress: SyncProgress) -> None:
        nonlocal merged
        if progress.run.pages_fetched == 1 and not merged:
            # 50 (read on page 1) vanishes and 10 moves to the top: page 2 now starts one customer
            # later than it did, so without a re-read customer 101's change would be skipped.
            crm.merge("10", "50")
            merged = True

    run_sync(on_progress=merge_after_first_page)

    assert merged
    stale = [
        number
        for number in range(1, 151)
        if number not in (10, 50) and Customer.objects.get(crm_id=str(number)).city != f"Moved {number}"
    ]
    assert stale == []


def test_it_keeps_memory_flat_by_holding_one_page_at_a_time(crm_sandbox, fast_retries):
    crm_sandbox.seed(300)
    sizes: list[int] = []
    original = CrmClient.list_customers

    def spy(self, **kwargs):
        page = original(self, **kwargs)
        sizes.append(len(page.customers))
        return page

    CrmClient.list_customers = spy
    try:
        run_sync(full=True)
    finally:
        CrmClient.list_customers = original
    assert max(sizes) == 100
    assert sizes.count(100) == 3


def test_it_refreshes_one_customer_without_confusing_a_full_pass(crm_sandbox, crm, fast_retries):
    crm_sandbox.seed(120)
    run_sync(full=True)
    result = crm.merge("5", "6")

    # What the merge step does after a merge: refresh the primary, mark the secondary gone.
    primary = refresh_customer(result.customer)
    assert mark_customers_gone(["6"]) == 1

    assert primary.crm_updated_at == result.customer.updated_at
    assert primary.last_seen_run is not None, "the full run that saw it still counts"
    assert Customer.objects.get(crm_id="6").is_gone
    assert run_sync(full=True).customers_gone == 0
    assert_snapshot_matches(crm_sandbox)
