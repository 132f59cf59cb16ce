"""Candidate duplicate pairs, the clusters they form, and the scans that found them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mergeassist.crm.models import Customer


class ScanRun(models.Model):
    """One run of the duplicate scan over the snapshot. At most one runs at a time (`one_scan_running`)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FULL)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Bumped at each stage; a running scan whose heartbeat is old is presumed dead (see scan.py).
    heartbeat_at = models.DateTimeField(default=timezone.now)
    # Customers synced (or gone) from this moment on may be newer than what the scan read: the
    # next incremental scan reads them again.
    snapshot_at = models.DateTimeField(null=True, blank=True)
    # Names the engine state the scan left in the scan cache; the next scan starts from that
    # state only if it carries the same token (else it scans in full).
    state_token = models.CharField(max_length=64, blank=True, default="")
    threshold = models.FloatField()
    customers_scanned = models.PositiveIntegerField(default=0)
    candidate_pairs = models.PositiveIntegerField(default=0)
    pairs_created = models.PositiveIntegerField(default=0)
    pairs_rescored = models.PositiveIntegerField(default=0)
    pairs_retired = models.PositiveIntegerField(default=0)
    pairs_kept_decided = models.PositiveIntegerField(default=0)
    pairs_revived = models.PositiveIntegerField(default=0)
    clusters = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="running"), name="one_scan_running")
        ]


class Cluster(models.Model):
    """Customers joined by pairs over the threshold; the weakest link shows chains (A~B~C, A≠C)."""

    scan = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="cluster_set")
    size = models.PositiveIntegerField()
    weakest_score = models.FloatField()
    weakest_pair_key = models.CharField(max_length=140)

    class Meta:
        ordering = ["-size", "weakest_score"]


# The reason flags a queue filter reads (see mergeassist.review.reasons.REASON_LABELS).
REASON_COLUMNS = ("same_email", "same_phone", "same_address", "nickname", "names_swapped")


class CandidatePair(models.Model):
    """Two customers the scan thinks may be one person. The key is order-independent."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        REJECTED = "rejected", "Not a duplicate"
        MERGING = "merging", "Merging"
        MERGED = "merged", "Merged"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Outcome unknown"
        RETIRED = "retired", "Retired"

    # "<smaller id>|<larger id>", so A~B and B~A are one pair across scans.
    pair_key = models.CharField(max_length=140, unique=True)
    customer_a = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    customer_b = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    score = models.FloatField(db_index=True)
    explanation = models.JSONField(default=list)
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="pairs")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_scored_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # The queue's reason filters, derived from the explanation when the pair is scored
    # (`mergeassist.review.reasons.reason_flags`), so filtering 100,000 pairs needs no JSON.
    same_email = models.BooleanField(default=False)
    same_phone = models.BooleanField(default=False)
    same_address = models.BooleanField(default=False)
    nickname = models.BooleanField(default=False)
    names_swapped = models.BooleanField(default=False)
    # The size of the pair's cluster when it was scored (2: a pair alone), so the queue finds the
    # pairs of groups of three or more through their own index instead of joining every cluster.
    group_size = models.PositiveIntegerField(default=2)

    class Meta:
        ordering = ["-score", "id"]
        indexes = [
            # The queue's order, covering what its filters read (customers, reason flags): a filter
            # or a capped count walks this index alone, not the rows with their explanations.
            models.Index(
                fields=["state", "-score", "id", "customer_a", "customer_b", *REASON_COLUMNS], name="review_pair_queue"
            ),
            # The queue's order for the pairs of groups of three or more only (the clusters panel).
            models.Index(fields=["state", "-score", "id"], name="review_pair_group_queue", condition=Q(group_size__gte=3)),
        ]
        permissions = [("review_pairs", "Can review, merge, reject and skip candidate pairs")]

    def __str__(self) -> str:
        return f"{self.pair_key} ({self.score:.0f}, {self.state})"

    @property
    def is_decided(self) -> bool:
        """Decided pairs keep their state across re-scans: a rejection is for good."""
        return self.state != self.State.PENDING


class PairSkip(models.Model):
    """A reviewer's "Skip": the pair moves to the end of that reviewer's queue, pending for everyone else."""

    pair = models.ForeignKey(CandidatePair, on_delete=models.CASCADE, related_name="skips")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    skipped_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pair", "user"], name="one_skip_per_reviewer")]


class PreviewShown(models.Model):
    """A merge preview as the CRM answered it when a reviewer was shown it (`load_preview`).

    `do_merge` looks it up by the fingerprint carried in the form: it proves the reviewer saw that
    preview, and when the CRM has changed since, its body says field by field what changed.
    """

    pair = models.ForeignKey(CandidatePair, on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    primary_crm_id = models.CharField(max_length=64)
    secondary_crm_id = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=128)
    body = models.JSONField(default=dict)
    shown_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "reviewer", "primary_crm_id", "secondary_crm_id", "fingerprint"],
                name="one_shown_preview_per_fingerprint",
            )
        ]
