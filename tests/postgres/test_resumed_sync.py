"""A full sync that stops, while the CRM changes behind its cursor, ends as one that never stopped.

Runs on SQLite in `make test` and again on PostgreSQL (the Makefile's PostgreSQL subset), against
the sandbox over real HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest

from mergeassist.crm.client import CrmClient
from mergeassist.crm.models import Customer, SyncRun
from mergeassist.crm.sync import SyncProgress, run_sync
from mergeassist.sandbox.models import SandboxCustomer

pytestmark = [pytest.mark.postgres]

COMPARED = [
    "crm_id", "crm_id_number", "name_first", "name_last", "email", "phone", "company_name",
    "address1", "address2", "city", "state", "zip", "country", "crm_created_at", "crm_updated_at",
    "active_subscriptions", "cards_count", "raw", "search_name", "search_email", "search_phone",
    "search_company",
]  # fmt: skip


class Stop(Exception):
    pass


def stop_after(pages: int):
    def on_progress(progress: SyncProgress) -> None:
        if progress.run.pages_fetched >= pages and progress.run.status == SyncRun.Status.RUNNING:
            raise Stop

    return on_progress


def snapshot() -> dict[str, dict[str, Any]]:
    """The live part of the snapshot, customer by customer, as the scan and the pages see it."""
    return {row["crm_id"]: row for row in Customer.objects.filter(is_gone=False).values(*COMPARED)}


@pytest.fixture
def crm(crm_sandbox, settings):
    settings.MERGEASSIST_CRM_BACKOFF = 0.001
    client = CrmClient.for_jobs()
    yield client
    client.close()


def test_a_resumed_full_sync_ends_with_the_same_snapshot_as_an_uninterrupted_one(crm_sandbox, crm):
    crm_sandbox.seed(250)
    crm.merge("61", "60")  # a gap in the ids, filled again below
    with pytest.raises(Stop):
        run_sync(full=True, on_progress=stop_after(2))
    assert SyncRun.objects.get().cursor == "201"  # ids 1..201 (60 missing) were read

    # The CRM changes behind the cursor: a merge, an update, a note, a customer created there.
    crm.merge("81", "80")
    crm.update_fields("20", {"city": "Changed Behind The Cursor"})
    crm.add_note("21", "Called about a refund")
    SandboxCustomer.objects.create(id=60, name_first="Ivo", name_last="Imported", email="ivo@example.com")
    # ... and ahead of it.
    crm.merge("230", "231")
    SandboxCustomer.objects.create(name_first="Nova", name_last="Newcomer", email="nova@example.net")

    resumed = run_sync()
    assert (resumed.kind, resumed.status) == ("full", "succeeded")
    assert resumed.customers_gone == 1, "80, merged away behind the cursor"
    after_resume = snapshot()

    # The same CRM, synced again by a pass that never stopped, into an empty snapshot.
    Customer.objects.all().delete()
    SyncRun.objects.all().delete()
    uninterrupted = run_sync(full=True)
    assert uninterrupted.status == "succeeded"
    expected = snapshot()

    assert sorted(after_resume, key=int) == sorted(expected, key=int) == crm_sandbox.customer_ids()
    differences = {
        crm_id: {key: (value, expected[crm_id][key]) for key, value in row.items() if value != expected[crm_id][key]}
        for crm_id, row in after_resume.items()
        if row != expected[crm_id]
    }
    assert differences == {}, "field: (after the resumed run, after an uninterrupted run)"
    assert after_resume["20"]["city"] == "Changed Behind The Cursor"
    assert after_resume["60"]["name_last"] == "Imported"
