"""Jobs through real `db_worker` processes started by the test, against the sandbox over real HTTP.

Runs on SQLite and, in CI, again on PostgreSQL (the whole suite runs on both).
"""

from __future__ import annotations

import re
import time

import pytest
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from mergeassist.crm.models import Customer, SyncRun
from mergeassist.jobs.actions import do_request_job
from mergeassist.jobs.models import Job
from mergeassist.review.models import ScanRun
from tests.worker_fixtures import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

BAR = re.compile(r'id="job-sync-bar"[^>]*value="(\d+)" max="(\d+)"')


def squashed(html: str) -> str:
    return " ".join(html.split())


def test_a_worker_runs_a_sync_then_a_scan_and_the_panel_follows_both_to_the_end(workers, crm_sandbox, client, alice, role_permissions):
    crm_sandbox.seed(800, seed=3)
    # Slow pages, so the sync is seen part-way.
    crm_sandbox.set_faults("list.slow=1,delay=0.25")
    workers.start("worker-1")
    client.force_login(alice)

    pressed = squashed(client.post("/jobs/start", {"job": "sync"}, headers={"HX-Request": "true"}).content.decode())
    assert "The sync has been queued; its progress shows here." in pressed
    assert 'hx-get="/jobs/panel" hx-trigger="every 2s"' in pressed

    bars: list[tuple[int, int]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        html = squashed(client.get("/jobs/panel").content.decode())
        if match := BAR.search(html):
            bars.append((int(match.group(1)), int(match.group(2))))
        # The scan's row says "done" a moment before the worker marks the job ended (it saves
        # the engine state first); the panel stops polling once both jobs have ended.
        if "Scan done" in html and "hx-trigger" not in html:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the scan never finished, or the panel kept polling after it\n" + workers.logs())

    assert bars, "the sync's progress bar was never seen"
    assert all(total == 800 for _, total in bars)
    assert [done for done, _ in bars] == sorted(done for done, _ in bars), "progress went backwards"
    assert any(0 < done < 800 for done, _ in bars), f"never seen part-way: {bars}"

    scan = ScanRun.objects.get()
    assert scan.status == ScanRun.Status.SUCCEEDED and scan.customers_scanned == 800
    assert "Full sync done" in html and "<strong>800</strong> new customers" in html
    assert f"<strong>{scan.pairs_created:,}</strong> new pairs" in html
    assert '<a href="/review/">Open the review queue</a>' in html

    sync_job, scan_job = Job.objects.get(kind="sync"), Job.objects.get(kind="scan")
    assert sync_job.status == scan_job.status == Job.Status.SUCCEEDED
    assert sync_job.requested_by == alice and sync_job.worker_id == "worker-1"
    assert scan_job.reason == f"after sync job {sync_job.pk}" and scan_job.scan_run == scan
    assert Customer.objects.count() == 800


def test_a_sync_whose_worker_is_killed_finishes_on_another_worker_with_every_customer_once(workers, crm_sandbox, alice):
    crm_sandbox.seed(1200, seed=4)
    crm_sandbox.set_faults("list.slow=1,delay=0.3")
    first = workers.start("worker-1")
    job, created = do_request_job(kind=Job.Kind.SYNC, requested_by=alice)
    assert created

    wait_for(
        lambda: SyncRun.objects.filter(status="running", customers_seen__gte=300).exists(),
        timeout=90, what="the first worker to commit a few pages", workers=workers,
    )  # fmt: skip
    workers.kill(first)
    committed_at_kill = SyncRun.objects.get().customers_seen
    assert 300 <= committed_at_kill < 1200

    workers.start("worker-2")
    retry = wait_for(
        lambda: Job.objects.filter(retry_of=job, status=Job.Status.SUCCEEDED).first(),
        timeout=120, what="the re-run to finish on the second worker", workers=workers,
    )  # fmt: skip

    job.refresh_from_db()
    assert job.status == Job.Status.ABANDONED
    assert "Its worker stopped without finishing (no heartbeat since" in job.error_message
    assert retry.attempt == 2 and retry.worker_id == "worker-2" and retry.requested_by == alice
    # One run, resumed from its last committed page: had any page been read twice, the run's
    # counters (committed with each page) would add up to more than the CRM holds.
    run = SyncRun.objects.get()
    assert retry.sync_run == job.sync_run == run
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.customers_seen == run.customers_created == 1200
    assert sorted(Customer.objects.values_list("crm_id", flat=True)) == sorted(crm_sandbox.customer_ids())
    assert not Customer.objects.filter(is_gone=True).exists()
    # Nothing is left "running": not the job, not its task in the queue.
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, id=job.task_id).exists()
    assert DBTaskResult.objects.get(id=job.task_id).status == TaskResultStatus.FAILED
