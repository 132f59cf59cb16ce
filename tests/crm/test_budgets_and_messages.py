"""The two clients' budgets, and what the sync and the client say when things go wrong."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from mergeassist.crm.client import CrmClient, CrmError, CrmUnavailable
from mergeassist.crm.models import SyncRun
from mergeassist.crm.sync import SyncProgress, run_sync

# -- finding 5: a short budget for pages, a patient one for jobs -------------------------------------


def test_the_page_client_gives_up_within_its_budget_on_a_slow_crm(crm_sandbox, settings):
    crm_sandbox.seed(3)
    crm_sandbox.set_faults("list.slow=1,delay=6")
    client = CrmClient.for_pages()

    started = time.monotonic()
    with pytest.raises(CrmUnavailable) as caught:
        client.list_customers()
    waited = time.monotonic() - started

    assert "is not answering (no answer within" in caught.value.message
    # The budget is 3 s in all; the sync's client would wait 10 s a try, six tries.
    assert waited < settings.MERGEASSIST_CRM_PAGE_BUDGET + 1.5
    assert client.requests_made == 2, "one quick retry fits in the budget"


def test_the_page_client_does_not_wait_out_a_long_retry_after(crm_sandbox):
    crm_sandbox.set_faults("list.429=1,retry_after=30")
    client = CrmClient.for_pages()
    started = time.monotonic()
    with pytest.raises(CrmError) as caught:
        client.list_customers()
    assert time.monotonic() - started < 4.5
    assert "rate-limiting" in caught.value.message


def test_the_job_client_is_the_patient_one_and_from_settings_still_gives_it(settings):
    settings.MERGEASSIST_CRM_TIMEOUT, settings.MERGEASSIST_CRM_RETRIES = 10, 5
    for client in (CrmClient.for_jobs(), CrmClient.from_settings()):
        assert (client.timeout, client.retries, client.budget) == (10, 5, None)
    pages = CrmClient.for_pages()
    assert pages.budget == settings.MERGEASSIST_CRM_PAGE_BUDGET == 3
    assert pages.timeout <= 3 and pages.retries == 1


def test_the_customer_list_falls_back_within_the_page_budget_on_a_slow_crm(crm_sandbox, client, alice):
    crm_sandbox.seed(3)
    crm_sandbox.set_faults("list.slow=1,delay=6")
    client.force_login(alice)

    started = time.monotonic()
    html = client.get("/customers/").content.decode()

    assert time.monotonic() - started < 5
    assert "is not answering (no answer within" in html
    assert "Showing the local snapshot" in html


# -- finding 6: no credentials from a mistyped URL in any message ------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "htps://ops:s3cr3t-pw@crm.example.com/api",
        "ftp://ops:s3cr3t-pw@crm.example.com",
        "ops:s3cr3t-pw@crm.example.com",
        "http://ops:s3cr3t-pw@",
    ],
)
def test_no_message_shows_the_user_info_of_a_mistyped_url(url, db, settings):
    settings.MERGEASSIST_CRM_URL = url
    client = CrmClient.from_settings()
    with pytest.raises(CrmError) as caught:
        client.list_customers()
    assert "s3cr3t" not in caught.value.message and "ops:" not in caught.value.message
    assert "s3cr3t" not in repr(client)

    with pytest.raises(CrmError):
        run_sync(full=True)
    assert "s3cr3t" not in SyncRun.objects.get().error_message


def test_the_customer_list_shows_no_credentials_from_the_url(db, client, alice, settings):
    settings.MERGEASSIST_CRM_URL = "htps://ops:s3cr3t-pw@crm.example.com"
    SyncRun.objects.create(kind="full", status="failed", finished_at=timezone.now())
    client.force_login(alice)
    html = client.get("/customers/").content.decode()
    assert "not a valid http(s) URL" in html
    assert "s3cr3t" not in html


# -- finding 7: counts and times a person can trust ----------------------------------------------------


def test_a_failed_run_counts_the_requests_it_made(crm_sandbox, settings):
    settings.MERGEASSIST_CRM_BACKOFF, settings.MERGEASSIST_CRM_RETRIES = 0.001, 5
    crm_sandbox.seed(5)
    crm_sandbox.set_faults("list.5xx=1")
    with pytest.raises(CrmUnavailable):
        run_sync(full=True)
    assert SyncRun.objects.get().requests_made == 6, "the first try and five retries"


class Stop(Exception):
    pass


def stop_after_first_page(progress: SyncProgress) -> None:
    if progress.run.pages_fetched == 1:
        raise Stop


def test_a_resumed_runs_time_leaves_out_the_pause(crm_sandbox, settings):
    settings.MERGEASSIST_CRM_BACKOFF = 0.001
    crm_sandbox.seed(150)
    with pytest.raises(Stop):
        run_sync(full=True, on_progress=stop_after_first_page)
    # The run stopped yesterday and is resumed now.
    SyncRun.objects.update(started_at=timezone.now() - timedelta(days=1))
    out = io.StringIO()

    call_command("sync_customers", stdout=out)

    run = SyncRun.objects.get()
    assert run.status == "succeeded"
    assert 0 < run.seconds_working < 120
    summary = out.getvalue().splitlines()[-1]
    done_in = float(summary.split("done in ")[1].split("s:")[0])
    assert done_in == pytest.approx(run.seconds_working, abs=0.1)
    assert done_in < 120, "not the day it spent waiting"
