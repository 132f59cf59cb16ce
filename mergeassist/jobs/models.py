"""Background jobs (a sync or a scan) as people and the schedule ask for them, and the workers' pulse.

A `Job` is what "Sync now" and "Scan now" create; its task in the django-tasks-db queue runs it. The
database decides that one sync and one scan are active at a time (`one_active_job_per_kind`): a
second press finds the first job and joins it. The work's own progress lives in `SyncRun` and
`ScanRun`; the job adds who asked, the worker's heartbeat and what happened to the job itself.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mergeassist.crm.models import SyncRun
from mergeassist.review.models import ScanRun


class Job(models.Model):
    class Kind(models.TextChoices):
        SYNC = "sync", "Sync"
        SCAN = "scan", "Scan"

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        # Its worker stopped beating (killed, machine lost); a new attempt is queued in its place.
        ABANDONED = "abandoned", "Abandoned"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Syncs only: a full pass (superusers) rather than the changes since the last sync.
    full = models.BooleanField(default=False)
    # None when the schedule or a chain (a scan after a sync) asked for it.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=64, blank=True, default="")
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=64, blank=True, default="")
    # The django-tasks-db result that runs this job.
    task_id = models.CharField(max_length=64, blank=True, default="")
    attempt = models.PositiveSmallIntegerField(default=1)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sync_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    scan_run = models.ForeignKey(ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Scans only: a sync finished while this scan was already reading the snapshot, so another
    # scan must follow it to see the sync's changes.
    rerun_requested = models.BooleanField(default=False)
    error_message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            # The database, not a check-then-insert, decides that one job of a kind is active:
            # twenty presses on two web servers create one job (tests/postgres/test_jobs_on_postgres.py).
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_job_per_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class WorkerBeat(models.Model):
    """One row per `db_worker` process, renewed every few seconds while it lives (for /healthz)."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    beat_at = models.DateTimeField(default=timezone.now, db_index=True)


class ScheduleSlot(models.Model):
    """When a scheduled job is next due. Workers claim a due slot with one conditional UPDATE."""

    name = models.CharField(max_length=64, unique=True)
    next_run_at = models.DateTimeField()
    last_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
