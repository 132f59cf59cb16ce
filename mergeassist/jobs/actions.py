"""Starting, running, watching and re-running background jobs (a sync or a scan).

- `do_request_job`: "Sync now" / "Scan now" / the schedule. One INSERT decides, in the database,
  whether this press starts a job or joins the one already queued or running.
- `run_job_now`: the body of the `run_job` task, in a `db_worker`: claims the job, beats while it
  works, runs `run_sync` or `do_scan`, records the outcome and chains a scan after each sync.
- `reap_abandoned_jobs`: a running job whose heartbeat stopped (its worker was killed) is marked
  abandoned, the run it held is released, and the job is queued again; a sync resumes from its
  last committed page because `run_sync` resumes an unfinished full run.
- `run_schedule`: what the workers start on their own (settings.MERGEASSIST_SCHEDULE).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from types import TracebackType

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q
from django.tasks import TaskResultStatus
from django.utils import timezone

from mergeassist.core.logs import log_context
from mergeassist.crm.errors import CrmError
from mergeassist.crm.models import SyncRun
from mergeassist.crm.sync import SyncAlreadyRunning, SyncProgress, run_sync
from mergeassist.jobs.models import Job, ScheduleSlot, WorkerBeat
from mergeassist.review.models import ScanRun
from mergeassist.review.scan import do_scan

logger = logging.getLogger(__name__)


class JobAbandoned(Exception):
    """Raised inside a job whose row was marked abandoned while it still ran (its beats stopped
    reaching the database): another worker has taken its place, so this one stops."""


# -- asking for a job -----------------------------------------------------------------------------


def do_request_job(
    *,
    kind: str,
    requested_by: User | None = None,
    full: bool = False,
    reason: str = "",
    retry_of: Job | None = None,
) -> tuple[Job, bool]:
    """Queue a sync or a scan, or join the one of that kind already queued or running.

    Returns (job, created). The `one_active_job_per_kind` constraint decides: of twenty presses at
    once on several web servers, one INSERT succeeds and the others find its job.
    """
    if kind not in Job.Kind.values:
        raise ValueError(f"Unknown job kind {kind!r}")
    reap_abandoned_jobs()
    for _ in range(5):
        try:
            with transaction.atomic():
                job = Job.objects.create(
                    kind=kind,
                    full=full and kind == Job.Kind.SYNC,
                    requested_by=requested_by,
                    reason=reason[:64],
                    attempt=retry_of.attempt + 1 if retry_of else 1,
                    retry_of=retry_of,
                )
                # In the same transaction: a job without its task, or a task without its job, never exists.
                from mergeassist.jobs.tasks import run_job

                job.task_id = str(run_job.enqueue(job.pk).id)
                job.save(update_fields=["task_id"])
        except IntegrityError:
            active = Job.objects.filter(kind=kind, status__in=Job.ACTIVE).first()
            if active is not None:
                return active, False
            # The active job finished between our INSERT and this read: ask again.
            continue
        logger.info("Queued %s job %s (%s)", kind, job.pk, reason or f"asked by {requested_by or 'the app'}")
        return job, True
    raise RuntimeError(f"Could not queue or join a {kind} job: jobs keep finishing and starting")


def request_scan_after_sync(sync_job: Job) -> Job:
    """A scan that sees the sync's changes: queue one, join a queued one, or, when a scan is already
    reading the snapshot, ask it to run again once it is done."""
    for _ in range(5):
        job, created = do_request_job(kind=Job.Kind.SCAN, reason=f"after sync job {sync_job.pk}")
        if created or job.status == Job.Status.QUEUED:
            return job
        # Running since before the sync finished. A conditional UPDATE, because the scan may be
        # finishing right now: then nothing matches and the next turn queues a fresh scan.
        if Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(rerun_requested=True):
            return job
    raise RuntimeError("Could not chain a scan after the sync")


# -- running a job (inside a db_worker) ---------------------------------------------------------------


def run_job_now(job_id: int, *, worker_id: str = "") -> dict[str, object]:
    """Run one queued job to its end; returns a summary for the task's result."""
    # Every log line of the job (the sync's, the client's) carries "job-<id>" where a request id goes.
    with log_context(f"job-{job_id}"):
        return _run_job(job_id, worker_id=worker_id)


def _run_job(job_id: int, *, worker_id: str) -> dict[str, object]:
    job = claim_job(job_id, worker_id=worker_id)
    if job is None:
        # Abandoned and re-queued as another job, or run already: nothing for us to do.
        return {"job_id": job_id, "status": "not queued"}
    logger.info("Running %s job %s (attempt %s)", job.kind, job.pk, job.attempt)
    with JobHeartbeat(job.pk) as heartbeat:
        try:
            if job.kind == Job.Kind.SYNC:
                _run_sync_job(job, heartbeat)
            else:
                _run_scan_job(job)
        except (KeyboardInterrupt, SystemExit):
            # The worker was stopped mid-job (a deploy, Ctrl-C twice): queue the job again, so the
            # next worker resumes it rather than leaving it to the next press or schedule.
            if _finish(job, Job.Status.ABANDONED, "Its worker was stopped before it finished; queued again.") is not None:
                _requeue(job)
            raise
        except BaseException as exc:
            _finish(job, Job.Status.FAILED, _in_words(exc))
            raise
    rerun = _finish(job, Job.Status.SUCCEEDED)
    if rerun is None:
        # Reaped while it ran (its beats could not reach the database); its re-run chains the scan.
        return {"job_id": job.pk, "status": "taken over"}
    if job.kind == Job.Kind.SYNC:
        request_scan_after_sync(job)
    elif rerun:
        do_request_job(kind=Job.Kind.SCAN, reason="a sync finished during the last scan")
    return {"job_id": job.pk, "status": "succeeded", "sync_run_id": job.sync_run_id, "scan_run_id": job.scan_run_id}


def claim_job(job_id: int, *, worker_id: str = "") -> Job | None:
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, worker_id=worker_id[:64]
    )
    return Job.objects.get(pk=job_id) if claimed else None


def _run_sync_job(job: Job, heartbeat: JobHeartbeat) -> None:
    def on_progress(progress: SyncProgress) -> None:
        if heartbeat.lost:
            raise JobAbandoned("This job was marked abandoned while it ran; another worker has taken it over.")
        if job.sync_run_id != progress.run.pk:
            # Link on the first report, so every page shows this run's progress from now on.
            job.sync_run_id = progress.run.pk
            Job.objects.filter(pk=job.pk).update(sync_run=progress.run)

    try:
        run = run_sync(full=job.full, on_progress=on_progress)
    except SyncAlreadyRunning as exc:
        job.sync_run_id = exc.run.pk
        raise
    except BaseException:
        if job.sync_run_id is None:
            # Failed before its first page: the run it claimed is the one that beat since the job began.
            job.sync_run_id = (
                SyncRun.objects.filter(heartbeat_at__gte=job.started_at)
                .order_by("-heartbeat_at")
                .values_list("pk", flat=True)
                .first()
            )
        raise
    job.sync_run_id = run.pk


def _run_scan_job(job: Job) -> None:
    try:
        scan = do_scan()
    except BaseException:
        job.scan_run_id = (
            ScanRun.objects.filter(started_at__gte=job.started_at).order_by("-started_at").values_list("pk", flat=True).first()
        )
        raise
    job.scan_run_id = scan.pk


def _finish(job: Job, status: str, message: str = "") -> bool | None:
    """Record the outcome unless the job was taken from us (then None); returns whether a re-run
    was asked for while it ran."""
    with transaction.atomic():
        current = Job.objects.select_for_update().filter(pk=job.pk).first()
        if current is None or current.status != Job.Status.RUNNING:
            return None
        Job.objects.filter(pk=job.pk).update(
            status=status,
            finished_at=timezone.now(),
            error_message=message[:2000],
            sync_run_id=job.sync_run_id,
            scan_run_id=job.scan_run_id,
        )
        return current.rerun_requested


def _in_words(exc: BaseException) -> str:
    if isinstance(exc, CrmError):
        return exc.message
    if isinstance(exc, (SyncAlreadyRunning, JobAbandoned)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class JobHeartbeat:
    """Renews the job's heartbeat from a thread while the job works, whatever the work is doing.

    A process that is killed stops beating; `reap_abandoned_jobs` notices. If a beat finds the job
    no longer running (it was reaped after the database was unreachable for too long), `lost` is
    set and the job stops at its next report.
    """

    def __init__(self, job_id: int, interval: float | None = None) -> None:
        self.job_id = job_id
        self.interval = interval if interval is not None else settings.MERGEASSIST_JOB_HEARTBEAT_SECONDS
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"job-{job_id}-heartbeat", daemon=True)

    def __enter__(self) -> JobHeartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    alive = Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError:
                    logger.warning("Could not renew the heartbeat of job %s", self.job_id, exc_info=True)
                    continue
                if not alive:
                    self.lost = True
                    return
        finally:
            connection.close()  # this thread's own connection


# -- dead workers -------------------------------------------------------------------------------------


def reap_abandoned_jobs(*, now: datetime | None = None) -> list[Job]:
    """Mark running jobs whose worker stopped beating as abandoned, release what they held, re-queue them."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.MERGEASSIST_JOB_STALE_SECONDS)
    reaped = []
    for job in Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=stale_before):
        with transaction.atomic():
            # Conditional: another worker's reaper, or the job's own last beat, may have come first.
            marked = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, heartbeat_at__lt=stale_before).update(
                status=Job.Status.ABANDONED,
                finished_at=now,
                error_message=(
                    f"Its worker stopped without finishing (no heartbeat since {job.heartbeat_at:%H:%M:%S} UTC)."
                ),
            )
            if not marked:
                continue
            _release_runs(job, now)
            _fail_task_result(job, now)
        logger.warning("Job %s (%s) abandoned: its worker stopped beating at %s", job.pk, job.kind, job.heartbeat_at)
        reaped.append(job)
        _requeue(job)
    return reaped


def _requeue(job: Job) -> None:
    if job.attempt >= settings.MERGEASSIST_JOB_MAX_ATTEMPTS:
        logger.error("Job %s stopped unfinished %s times; not running it again", job.pk, job.attempt)
        return
    do_request_job(
        kind=job.kind, requested_by=job.requested_by, full=job.full, reason=f"re-run of job {job.pk}", retry_of=job
    )


def _release_runs(job: Job, now: datetime) -> None:
    # The run the dead worker held stays "running" otherwise, and the next sync would wait out the
    # sync's own ten-minute staleness before resuming it.
    started = job.started_at or job.requested_at
    if job.kind == Job.Kind.SYNC:
        SyncRun.objects.filter(status=SyncRun.Status.RUNNING).filter(
            Q(pk=job.sync_run_id) | Q(heartbeat_at__gte=started)
        ).update(
            status=SyncRun.Status.FAILED,
            finished_at=now,
            error_message="Stopped without finishing: its worker stopped. The next sync resumes where it stopped.",
        )
    else:
        ScanRun.objects.filter(status=ScanRun.Status.RUNNING, started_at__gte=started - timedelta(seconds=1)).update(
            status=ScanRun.Status.FAILED,
            finished_at=now,
            error_message="Stopped without finishing: its worker stopped.",
        )


def _fail_task_result(job: Job, now: datetime) -> None:
    # django-tasks-db leaves a killed worker's task RUNNING for good; say what became of it.
    from django_tasks_db.models import DBTaskResult

    if job.task_id:
        DBTaskResult.objects.filter(id=job.task_id, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED,
            finished_at=now,
            exception_class_path="mergeassist.jobs.actions.JobAbandoned",
            traceback="Its worker stopped without finishing (no heartbeat); the job was re-queued.",
        )


# -- the schedule and the worker's own pulse -------------------------------------------------------------


def run_schedule(*, now: datetime | None = None) -> list[Job]:
    """Queue each scheduled job that is due; any number of workers may call this at once."""
    now = now or timezone.now()
    queued = []
    for name, entry in settings.MERGEASSIST_SCHEDULE.items():
        minutes = int(entry.get("every_minutes", 0))  # type: ignore[call-overload]
        if minutes <= 0:
            continue
        every = timedelta(minutes=minutes)
        slot = ScheduleSlot.objects.filter(name=name).first()
        if slot is None:
            # The first worker to see the entry starts its clock; the first job is one interval away.
            try:
                with transaction.atomic():
                    ScheduleSlot.objects.create(name=name, next_run_at=now + every)
            except IntegrityError:
                pass
            continue
        # One conditional UPDATE decides which worker queues the job. A slot further away than one
        # interval means the interval was shortened: it is due now.
        due = Q(next_run_at__lte=now) | Q(next_run_at__gt=now + every)
        if ScheduleSlot.objects.filter(due, pk=slot.pk).update(next_run_at=now + every):
            job, _ = do_request_job(kind=str(entry["job"]), reason=f"schedule: {name}")
            ScheduleSlot.objects.filter(pk=slot.pk).update(last_job=job)
            queued.append(job)
    return queued


def beat_worker(worker_id: str) -> None:
    now = timezone.now()
    updated = WorkerBeat.objects.filter(worker_id=worker_id).update(beat_at=now)
    if not updated:
        WorkerBeat.objects.update_or_create(
            worker_id=worker_id,
            defaults={"beat_at": now, "started_at": now, "hostname": socket.gethostname()[:255], "pid": os.getpid()},
        )


class WorkerPulse(threading.Thread):
    """Beside a db_worker's loop: the worker's heartbeat, the reaper and the schedule, every few seconds."""

    def __init__(self, worker_id: str, interval: float | None = None) -> None:
        super().__init__(name="worker-pulse", daemon=True)
        self.worker_id = worker_id
        self.interval = interval if interval is not None else settings.MERGEASSIST_JOB_HEARTBEAT_SECONDS
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            try:
                beat_worker(self.worker_id)
                reap_abandoned_jobs()
                run_schedule()
            except Exception:  # the pulse must outlive a database hiccup
                logger.exception("The worker's pulse failed; trying again in %s s", self.interval)
            finally:
                connection.close()
            if self.stopping.wait(self.interval):
                return
