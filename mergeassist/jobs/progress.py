"""What a running (or finished) sync or scan shows: one function each, used by every page and command.

`sync_progress(run)` and `scan_progress(scan)` turn a run row into a `Progress`: counts, rate, time
left, then the outcome, the error in words and what changed. The jobs panel renders it as a
progress bar; `Progress.line()` is the same thing as one line of terminal text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.utils import timezone

from mergeassist.crm.models import Customer, SyncRun
from mergeassist.crm.sync import STALE_AFTER
from mergeassist.jobs.models import Job, WorkerBeat
from mergeassist.review.models import ScanRun

# A worker that has not beaten for this long is not counted as present (it beats every few seconds).
WORKER_SEEN_WITHIN = timedelta(seconds=60)


@dataclass(frozen=True)
class Change:
    label: str  # "new customers", "pairs retired"
    count: int


@dataclass(frozen=True)
class Progress:
    title: str  # "Full sync", "Incremental sync", "Scan"
    state: str  # running | succeeded | failed
    done: int
    total: int | None
    unit: str
    started_at: datetime
    finished_at: datetime | None = None
    rate: float | None = None  # units a second
    seconds_left: float | None = None
    # The scan reports no counts while it runs: its done count, rate and time left are estimated
    # from the previous scan's speed, and say so.
    estimated: bool = False
    # Running, but its process has not shown a sign of life for a long time.
    stalled: bool = False
    error: str = ""
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def succeeded(self) -> bool:
        return self.state == "succeeded"

    @property
    def failed(self) -> bool:
        return self.state == "failed"

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, int(100 * self.done / self.total))

    @property
    def duration_seconds(self) -> float:
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def just_finished(self) -> bool:
        """Finished within the last minute ("just now" reads better than "0 minutes ago")."""
        return self.finished_at is not None and timezone.now() - self.finished_at < timedelta(minutes=1)

    @property
    def time_left(self) -> str:
        return format_seconds(self.seconds_left) if self.seconds_left is not None else ""

    @property
    def took(self) -> str:
        return format_seconds(self.duration_seconds)

    def line(self) -> str:
        """The progress or the outcome as one line of text, for terminals and logs."""
        if self.running:
            about = "about " if self.estimated else ""
            parts = [f"{self.title}: {about}{self.done:,}"]
            if self.total is not None:
                parts[0] += f" of {self.total:,} {self.unit}"
                if self.percent is not None:
                    parts[0] += f" ({self.percent}%)"
            else:
                parts[0] += f" {self.unit}"
            if self.rate:
                parts.append(f"{self.rate:,.0f} {self.unit}/s")
            if self.seconds_left is not None:
                parts.append(f"about {format_seconds(self.seconds_left)} left")
            if self.stalled:
                parts.append("no sign of life for a while, it may have stopped")
            return ", ".join(parts)
        if self.failed:
            return f"{self.title} failed after {format_seconds(self.duration_seconds)}: {self.error or 'no reason given'}"
        changes = ", ".join(f"{change.count:,} {change.label}" for change in self.changes)
        return (
            f"{self.title} done in {format_seconds(self.duration_seconds)}: {self.done:,} {self.unit}"
            + (f" ({changes})" if changes else "")
            + "."
        )


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 90:
        return f"{minutes} min {seconds} s" if seconds and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def sync_progress(run: SyncRun, *, now: datetime | None = None) -> Progress:
    """What a sync run shows, running or finished."""
    now = now or timezone.now()
    title = f"{run.get_kind_display()} sync"
    state = {SyncRun.Status.RUNNING: "running", SyncRun.Status.SUCCEEDED: "succeeded"}.get(run.status, "failed")
    end = now if state == "running" else (run.finished_at or run.heartbeat_at)
    elapsed = max(0.0, (end - run.started_at).total_seconds())
    rate = run.customers_seen / elapsed if elapsed > 0 and run.customers_seen else None
    total = run.total_expected if run.kind == SyncRun.Kind.FULL else None
    seconds_left = None
    if state == "running" and total is not None and rate:
        seconds_left = max(0, total - run.customers_seen) / rate
    changes: tuple[Change, ...] = ()
    if state == "succeeded":
        changes = (
            Change("new", run.customers_created),
            Change("updated", run.customers_updated),
            Change("gone", run.customers_gone),
        )
    return Progress(
        title=title,
        state=state,
        done=run.customers_seen,
        total=total if state == "running" else None,
        unit="customers",
        started_at=run.started_at,
        finished_at=None if state == "running" else end,
        rate=rate,
        seconds_left=seconds_left,
        stalled=state == "running" and run.heartbeat_at < now - STALE_AFTER,
        error=run.error_message if state == "failed" else "",
        changes=changes,
    )


def scan_progress(scan: ScanRun, *, now: datetime | None = None) -> Progress:
    """What a scan run shows. While it runs the scan has no counts to read, so the share done and
    the time left are estimated from the previous scan's speed (and the page says "about")."""
    now = now or timezone.now()
    state = {ScanRun.Status.RUNNING: "running", ScanRun.Status.SUCCEEDED: "succeeded"}.get(scan.status, "failed")
    if state != "running":
        end = scan.finished_at or scan.started_at
        elapsed = max(0.0, (end - scan.started_at).total_seconds())
        changes: tuple[Change, ...] = ()
        if state == "succeeded":
            changes = (
                Change("new pairs", scan.pairs_created),
                Change("re-scored", scan.pairs_rescored),
                Change("retired", scan.pairs_retired),
            )
        return Progress(
            title="Scan",
            state=state,
            done=scan.customers_scanned,
            total=None,
            unit="customers",
            started_at=scan.started_at,
            finished_at=end,
            rate=scan.customers_scanned / elapsed if elapsed > 0 and scan.customers_scanned else None,
            error=scan.error_message if state == "failed" else "",
            changes=changes,
        )
    total = Customer.objects.filter(is_gone=False).count()
    elapsed = max(0.0, (now - scan.started_at).total_seconds())
    rate = _previous_scan_rate(scan)
    done, seconds_left = 0, None
    if rate:
        done = min(total, int(rate * elapsed))
        seconds_left = max(0.0, total / rate - elapsed)
    return Progress(
        title="Scan",
        state="running",
        done=done,
        total=total,
        unit="customers",
        started_at=scan.started_at,
        rate=rate,
        seconds_left=seconds_left,
        estimated=True,
    )


def _previous_scan_rate(scan: ScanRun) -> float | None:
    previous = (
        ScanRun.objects.filter(status=ScanRun.Status.SUCCEEDED, started_at__lt=scan.started_at)
        .exclude(finished_at=None)
        .order_by("-started_at")
        .first()
    )
    if previous is None or not previous.customers_scanned:
        return None
    seconds = (previous.finished_at - previous.started_at).total_seconds()
    return previous.customers_scanned / max(seconds, 0.5)


# -- the jobs panel -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobCard:
    """One kind of job on the panel: the latest job and the progress of the run it shows."""

    kind: str
    job: Job | None
    progress: Progress | None

    @property
    def queued(self) -> bool:
        return self.job is not None and self.job.status == Job.Status.QUEUED

    @property
    def active(self) -> bool:
        return self.job is not None and self.job.is_active or bool(self.progress and self.progress.running)

    @property
    def starting(self) -> bool:
        """Running as a job, but the run has not reported yet."""
        return self.job is not None and self.job.status == Job.Status.RUNNING and self.progress is None

    @property
    def job_problem(self) -> str:
        """A failed or abandoned job whose run says nothing of it (e.g. it failed before starting)."""
        if self.job is None or self.job.status not in (Job.Status.FAILED, Job.Status.ABANDONED):
            return ""
        if self.progress is not None and self.progress.failed:
            return ""
        return self.job.error_message or self.job.get_status_display()


@dataclass(frozen=True)
class JobsPanel:
    sync: JobCard
    scan: JobCard
    can_start: bool
    can_start_full_sync: bool
    worker_seen_at: datetime | None

    @property
    def cards(self) -> tuple[JobCard, JobCard]:
        return (self.sync, self.scan)

    @property
    def polling(self) -> bool:
        return self.sync.active or self.scan.active

    @property
    def no_worker(self) -> bool:
        """A job waits and no worker has beaten lately: say so, or people wait for nothing."""
        waiting = self.sync.queued or self.scan.queued
        return waiting and (self.worker_seen_at is None or self.worker_seen_at < timezone.now() - WORKER_SEEN_WITHIN)


def may_start_jobs(user: User | AnonymousUser) -> bool:
    """Reviewers and superusers start syncs and scans."""
    return user.is_authenticated and (user.is_superuser or user.has_perm("review.review_pairs"))


def build_panel(user: User | AnonymousUser) -> JobsPanel:
    newest_beat = WorkerBeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
    return JobsPanel(
        sync=_card(Job.Kind.SYNC),
        scan=_card(Job.Kind.SCAN),
        can_start=may_start_jobs(user),
        can_start_full_sync=bool(user.is_authenticated and user.is_superuser),
        worker_seen_at=newest_beat,
    )


def _card(kind: str) -> JobCard:
    job = Job.objects.filter(kind=kind).select_related("sync_run", "scan_run").first()
    run = _run_for(kind, job)
    if run is None:
        progress = None
    elif isinstance(run, SyncRun):
        progress = sync_progress(run)
    else:
        progress = scan_progress(run)
    return JobCard(kind=kind, job=job, progress=progress)


def _run_for(kind: str, job: Job | None) -> SyncRun | ScanRun | None:
    """The run the card shows: the job's own, the one it is running now, or the newest run."""
    model = SyncRun if kind == Job.Kind.SYNC else ScanRun
    linked = (job.sync_run if kind == Job.Kind.SYNC else job.scan_run) if job else None
    newest = model.objects.order_by("-started_at", "-pk").first()
    if job is not None and job.status == Job.Status.QUEUED:
        return None if newest is None or newest.status != "running" else newest
    if job is not None and job.status == Job.Status.RUNNING and linked is None:
        # Not linked yet (the run is linked on its first report): the run started since the job did.
        if newest is not None and job.started_at and newest.started_at >= job.started_at - timedelta(seconds=1):
            return newest
        return None
    if linked is not None and (newest is None or newest.started_at <= linked.started_at):
        return linked
    return newest


def worker_heartbeat() -> tuple[datetime | None, float | None]:
    """The newest worker heartbeat and its age in seconds (for /healthz)."""
    beat = WorkerBeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
    if beat is None:
        return None, None
    return beat, max(0.0, (timezone.now() - beat).total_seconds())

