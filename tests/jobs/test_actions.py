"""Jobs in one process: the reaper, the schedule, the chain to a scan, the heartbeat, outcomes in words."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from mergeassist.crm.models import Customer, SyncRun
from mergeassist.jobs.actions import (
    JobHeartbeat,
    claim_job,
    do_request_job,
    reap_abandoned_jobs,
    request_scan_after_sync,
    run_job_now,
    run_schedule,
)
from mergeassist.jobs.models import Job, ScheduleSlot
from mergeassist.review.models import ScanRun


def running_job(kind: str = "sync", *, beat_ago: timedelta, attempt: int = 1) -> Job:
    job, _ = do_request_job(kind=kind)
    claim_job(job.pk, worker_id="w1")
    then = timezone.now() - beat_ago
    Job.objects.filter(pk=job.pk).update(started_at=then, heartbeat_at=then, attempt=attempt)
    DBTaskResult.objects.filter(id=job.task_id).update(status=TaskResultStatus.RUNNING)
    return Job.objects.get(pk=job.pk)


def test_a_job_whose_worker_stopped_beating_is_abandoned_released_and_queued_again(db, settings, alice):
    settings.MERGEASSIST_JOB_STALE_SECONDS = 60
    job = running_job(beat_ago=timedelta(minutes=5))
    Job.objects.filter(pk=job.pk).update(requested_by=alice, full=True)
    run = SyncRun.objects.create(kind="full", cursor="300", heartbeat_at=job.heartbeat_at)
    Job.objects.filter(pk=job.pk).update(sync_run=run)

    assert [j.pk for j in reap_abandoned_jobs()] == [job.pk]

    job.refresh_from_db()
    run.refresh_from_db()
    assert job.status == Job.Status.ABANDONED and "no heartbeat since" in job.error_message
    # The run is released at once, so the next sync resumes it after customer 300 without waiting.
    assert run.status == SyncRun.Status.FAILED and run.cursor == "300"
    assert "its worker stopped" in run.error_message
    assert DBTaskResult.objects.get(id=job.task_id).status == TaskResultStatus.FAILED
    again = Job.objects.get(retry_of=job)
    assert (again.status, again.attempt, again.full, again.requested_by) == ("queued", 2, True, alice)
    assert DBTaskResult.objects.get(id=again.task_id).status == TaskResultStatus.READY


def test_a_job_that_still_beats_is_left_alone(db, settings):
    settings.MERGEASSIST_JOB_STALE_SECONDS = 60
    job = running_job(beat_ago=timedelta(seconds=10))
    assert reap_abandoned_jobs() == []
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING


def test_a_job_abandoned_too_often_is_left_for_a_person(db, settings):
    settings.MERGEASSIST_JOB_MAX_ATTEMPTS = 3
    job = running_job("scan", beat_ago=timedelta(hours=1), attempt=3)
    scan = ScanRun.objects.create(threshold=80, started_at=job.started_at)

    reap_abandoned_jobs()

    assert not Job.objects.filter(retry_of=job).exists()
    scan.refresh_from_db()
    assert scan.status == ScanRun.Status.FAILED and "its worker stopped" in scan.error_message


def test_the_schedule_queues_one_sync_per_interval_however_many_workers_ask(db, settings):
    settings.MERGEASSIST_SCHEDULE = {"incremental-sync": {"job": "sync", "every_minutes": 15}}
    start = timezone.now()

    assert run_schedule(now=start) == []  # the clock starts: the first sync is one interval away
    assert run_schedule(now=start + timedelta(minutes=14)) == []
    due = start + timedelta(minutes=16)
    queued = run_schedule(now=due)
    assert run_schedule(now=due) == [] and run_schedule(now=due + timedelta(seconds=5)) == []

    assert [job.kind for job in queued] == ["sync"]
    assert queued[0].reason == "schedule: incremental-sync" and queued[0].requested_by is None
    assert ScheduleSlot.objects.get().next_run_at == due + timedelta(minutes=15)
    assert Job.objects.count() == 1


def test_a_schedule_set_to_zero_starts_nothing(db, settings):
    settings.MERGEASSIST_SCHEDULE = {"incremental-sync": {"job": "sync", "every_minutes": 0}}
    assert run_schedule(now=timezone.now() + timedelta(days=1)) == []
    assert not ScheduleSlot.objects.exists()


def test_a_sync_that_ends_while_a_scan_runs_asks_that_scan_to_run_again(db):
    sync_job, _ = do_request_job(kind="sync")
    scan_job = running_job("scan", beat_ago=timedelta(seconds=1))

    assert request_scan_after_sync(sync_job) == scan_job
    scan_job.refresh_from_db()
    assert scan_job.rerun_requested is True
    assert Job.objects.filter(kind="scan").count() == 1


def test_a_scan_already_waiting_is_joined_by_the_chain(db):
    sync_job, _ = do_request_job(kind="sync")
    waiting, _ = do_request_job(kind="scan")
    assert request_scan_after_sync(sync_job) == waiting
    assert Job.objects.filter(kind="scan").count() == 1


def test_a_sync_job_runs_links_its_run_and_queues_a_scan(crm_sandbox, fast_retries, alice):
    crm_sandbox.seed(120)
    job, _ = do_request_job(kind="sync", requested_by=alice)

    outcome = run_job_now(job.pk, worker_id="here")

    job.refresh_from_db()
    run = SyncRun.objects.get()
    assert outcome == {"job_id": job.pk, "status": "succeeded", "sync_run_id": run.pk, "scan_run_id": None}
    assert (job.status, job.sync_run, job.worker_id) == ("succeeded", run, "here")
    assert Customer.objects.count() == 120
    scan_job = Job.objects.get(kind="scan")
    assert scan_job.status == "queued" and scan_job.reason == f"after sync job {job.pk}"
    # Run twice (a duplicate task), the job does nothing the second time.
    assert run_job_now(job.pk) == {"job_id": job.pk, "status": "not queued"}


def test_a_failed_sync_job_says_why_in_words(crm_sandbox, fast_retries, settings, client, alice):
    settings.MERGEASSIST_CRM_URL = "http://127.0.0.1:9/sandbox"
    settings.MERGEASSIST_CRM_RETRIES = 0
    job, _ = do_request_job(kind="sync")

    with pytest.raises(Exception, match="not answering"):
        run_job_now(job.pk)

    job.refresh_from_db()
    reason = "The CRM at 127.0.0.1:9 is not answering (connection refused). Try again in a few minutes."
    assert job.status == "failed" and job.error_message == reason
    assert job.sync_run == SyncRun.objects.get()
    assert not Job.objects.filter(kind="scan").exists(), "no scan after a failed sync"
    client.force_login(alice)
    html = " ".join(client.get("/jobs/panel").content.decode().split())
    assert "Full sync failed" in html and reason in html


def test_the_heartbeat_beats_while_the_job_works_and_notices_when_the_job_was_taken(transactional_db):
    job = running_job(beat_ago=timedelta(minutes=1))
    before = job.heartbeat_at
    with JobHeartbeat(job.pk, interval=0.05) as heartbeat:
        time.sleep(0.3)
        job.refresh_from_db()
        assert job.heartbeat_at > before and not heartbeat.lost
        Job.objects.filter(pk=job.pk).update(status=Job.Status.ABANDONED)
        time.sleep(0.3)
        assert heartbeat.lost


def test_a_job_cut_short_by_stopping_its_worker_is_queued_again(db, monkeypatch):
    def stopped_mid_page(**kwargs):
        raise SystemExit(1)  # what db_worker's second Ctrl-C / SIGTERM does inside the task

    monkeypatch.setattr("mergeassist.jobs.actions.run_sync", stopped_mid_page)
    job, _ = do_request_job(kind="sync")

    with pytest.raises(SystemExit):
        run_job_now(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.ABANDONED
    assert job.error_message == "Its worker was stopped before it finished; queued again."
    assert Job.objects.get(retry_of=job).status == Job.Status.QUEUED


def test_a_jobs_log_lines_carry_its_id(db, monkeypatch):
    from mergeassist.core.logs import current_request_id

    seen = []
    monkeypatch.setattr("mergeassist.jobs.actions.do_scan", lambda: seen.append(current_request_id()) or ScanRun.objects.create(threshold=80, status="succeeded"))
    job, _ = do_request_job(kind="scan")
    run_job_now(job.pk)
    assert seen == [f"job-{job.pk}"] and current_request_id() == "-"


def test_a_batch_worker_runs_the_queue_and_its_pulse_ends_with_it(crm_sandbox, fast_retries):
    import threading

    from django.core.management import call_command

    from mergeassist.jobs.models import WorkerBeat

    crm_sandbox.seed(20)
    do_request_job(kind="sync")

    call_command("db_worker", batch=True, startup_delay=False, reload=False, worker_id="batch-1", verbosity=0)

    # The sync ran, and the scan it chained ran too (queued while the batch was still going).
    assert list(Job.objects.order_by("pk").values_list("kind", "status")) == [("sync", "succeeded"), ("scan", "succeeded")]
    assert WorkerBeat.objects.get().worker_id == "batch-1"
    assert not [t for t in threading.enumerate() if t.name == "worker-pulse"]
