"""The local snapshot of the CRM's customers, and the record of each sync."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from mergeassist.core.text import isolated_text


class Customer(models.Model):
    """One CRM customer as last seen by a sync. The CRM stays the source of truth."""

    crm_id = models.CharField(max_length=64, unique=True)
    # IDs are opaque strings but numeric in practice; the number orders them like filter[id.gte] does.
    crm_id_number = models.BigIntegerField(null=True, db_index=True)
    name_first = models.CharField(max_length=255, blank=True, default="")
    name_last = models.CharField(max_length=255, blank=True, default="")
    email = models.CharField(max_length=320, blank=True, default="")
    phone = models.CharField(max_length=64, blank=True, default="")
    company_name = models.CharField(max_length=255, blank=True, default="")
    address1 = models.CharField(max_length=255, blank=True, default="")
    address2 = models.CharField(max_length=255, blank=True, default="")
    city = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=255, blank=True, default="")
    zip = models.CharField(max_length=32, blank=True, default="")
    country = models.CharField(max_length=64, blank=True, default="")
    crm_created_at = models.DateTimeField(null=True)
    crm_updated_at = models.DateTimeField(null=True, db_index=True)
    # Active subscriptions and saved cards, from `raw`: the review queue filters and warns on them.
    active_subscriptions = models.PositiveSmallIntegerField(default=0)
    cards_count = models.PositiveSmallIntegerField(default=0)
    # The whole record with its expansions (cards, fields, stats, integrations, subscriptions).
    raw = models.JSONField(default=dict)
    # Normalised search columns (see mergeassist.matching.normalise_record).
    search_name = models.CharField(max_length=255, blank=True, default="", db_index=True)
    search_email = models.CharField(max_length=320, blank=True, default="", db_index=True)
    search_phone = models.CharField(max_length=32, blank=True, default="", db_index=True)
    search_company = models.CharField(max_length=255, blank=True, default="", db_index=True)
    # A full sync that no longer finds the customer in the CRM marks it gone (merged away or deleted).
    is_gone = models.BooleanField(default=False, db_index=True)
    gone_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)
    # The last sync run that saw the customer in the CRM. A full run that completes marks every
    # customer it did not see as gone, without holding the set of seen ids in memory.
    last_seen_run = models.ForeignKey(
        "SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=True
    )

    class Meta:
        ordering = ["crm_id_number", "crm_id"]
        indexes = [
            # The queue's "active subscription" filter reads both customers of every pair it walks:
            # from this small index, not from the rows with their whole raw records.
            models.Index(fields=["id", "active_subscriptions"], name="crm_customer_subscriptions"),
        ]

    def __str__(self) -> str:
        # Shown as plain text (the admin's title, breadcrumbs and messages): isolated, controls
        # visible, so a name holding a right-to-left override cannot reverse the page around it.
        return f"{isolated_text(self.display_name)} ({self.crm_id})"

    @property
    def display_name(self) -> str:
        return display_name_of(self.name_first, self.name_last, self.email, self.crm_id)


def display_name_of(name_first: str, name_last: str, email: str, crm_id: str) -> str:
    """What a customer is called on screen: the name, else the email, else the id."""
    name = f"{name_first} {name_last}".strip()
    return name or email or f"Customer {crm_id}"


class SyncRun(models.Model):
    """One run of the customer sync: its progress, outcome and the cursor it resumes from."""

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    # Resume point: the last CRM id committed (full runs page by id) or the page reached.
    cursor = models.CharField(max_length=64, blank=True, default="")
    # The newest CRM updated_at seen; the next incremental run stops there.
    watermark = models.DateTimeField(null=True, blank=True)
    pages_fetched = models.PositiveIntegerField(default=0)
    requests_made = models.PositiveIntegerField(default=0)
    customers_seen = models.PositiveIntegerField(default=0)
    customers_created = models.PositiveIntegerField(default=0)
    customers_updated = models.PositiveIntegerField(default=0)
    customers_gone = models.PositiveIntegerField(default=0)
    total_expected = models.PositiveIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True, default="")
    # Customers the CRM listed but whose records cannot be read: left out, with ids and reasons.
    customers_skipped = models.PositiveIntegerField(default=0)
    skipped_detail = models.TextField(blank=True, default="")
    # Time spent working, summed over the processes that ran it: a resumed run's pause is not in it.
    seconds_working = models.FloatField(default=0)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        constraints = [
            # The database, not a check-then-insert, decides that one sync runs at a time: under
            # PostgreSQL's READ COMMITTED two workers could otherwise both see none running.
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="running"), name="one_sync_running"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync {self.started_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
