"""The audit trail: every reviewer decision and every CRM call a merge made.

Rows are written by the review actions (`mergeassist.review.actions`) and only ever appended to or
moved forward (a merge's outcome, its note's delivery); no page edits or deletes them. A decision
keeps copies of everything a later reader needs (names, emails, both full records) because the
secondary no longer exists in the CRM, and the snapshot row may change or go.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class Decision(models.Model):
    """One reviewer decision on a pair: a merge (the "merge record") or "not a duplicate"."""

    class Kind(models.TextChoices):
        MERGE = "merge", "Merge"
        NOT_DUPLICATE = "not_duplicate", "Not a duplicate"

    class Outcome(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        MERGED = "merged", "Merged"
        # Nothing changed in the CRM's customers except, possibly, the PATCHed values (see calls).
        FAILED = "failed", "Failed"
        # The merge's answer was lost and settling did not tell: a person has to look in the CRM.
        UNKNOWN = "unknown", "Outcome unknown"
        STALE = "stale", "Stopped: preview changed"
        NOT_DUPLICATE = "not_duplicate", "Not a duplicate"

    class NoteStatus(models.TextChoices):
        NOT_NEEDED = "not_needed", "No note"
        PENDING = "pending", "Note pending"
        POSTED = "posted", "Note posted"
        # The CRM refused the note for good (the primary gone since, or the text refused): the
        # merge stands, the note's text stays here, and nothing retries it.
        UNDELIVERABLE = "undeliverable", "Note undeliverable"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.IN_PROGRESS, db_index=True)
    # The pair may later be re-pointed or retired; the decision keeps its own copy of the key.
    pair = models.ForeignKey("review.CandidatePair", null=True, on_delete=models.SET_NULL, related_name="decisions")
    pair_key = models.CharField(max_length=140, db_index=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reviewer_username = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    score = models.FloatField(null=True)
    # Who was kept and who was folded in (for "not a duplicate": a = primary, b = secondary as shown).
    primary_crm_id = models.CharField(max_length=64, db_index=True)
    secondary_crm_id = models.CharField(max_length=64, db_index=True)
    primary_name = models.CharField(max_length=512, blank=True, default="")
    primary_email = models.CharField(max_length=320, blank=True, default="", db_index=True)
    secondary_name = models.CharField(max_length=512, blank=True, default="")
    secondary_email = models.CharField(max_length=320, blank=True, default="", db_index=True)
    # Both customers' full records (as the CRM's preview returned them) before anything changed.
    primary_before = models.JSONField(default=dict)
    secondary_before = models.JSONField(default=dict)
    preview = models.JSONField(default=dict)
    preview_fingerprint = models.CharField(max_length=128, blank=True, default="")
    # field -> {"kept": "primary"|"secondary", "value": ..., "replaced": ...} for each conflict.
    choices = models.JSONField(default=dict)
    confirmed_risks = models.BooleanField(default=False)
    note_text = models.TextField(blank=True, default="")
    note_status = models.CharField(
        max_length=16, choices=NoteStatus.choices, default=NoteStatus.NOT_NEEDED, db_index=True
    )
    note_attempts = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"
        # The history pages by keyset (newest first), alone or within one reviewer or one outcome.
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="audit_decision_newest"),
            models.Index(fields=["reviewer_username", "-created_at", "-id"], name="audit_decision_reviewer"),
            models.Index(fields=["outcome", "-created_at", "-id"], name="audit_decision_outcome"),
            # A search by a whole email address, whatever its case, on either side.
            models.Index(Lower("primary_email"), name="audit_decision_primary_email"),
            models.Index(Lower("secondary_email"), name="audit_decision_second_email"),
            # The dashboard's per-reviewer and per-score-band counts, read from the index alone
            # (the rows carry both customers' records: a table scan reads ~2.7 KB per decision).
            models.Index(fields=["reviewer_username", "created_at", "kind", "score"], name="audit_decision_dashboard"),
        ]
        permissions = [
            ("view_history", "Can read the merge history and dashboard"),
            ("export_history", "Can export the merge history as CSV"),
            ("revert_fields", "Can put back a primary's pre-merge values"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.secondary_crm_id} → {self.primary_crm_id} ({self.outcome})"


class CrmCall(models.Model):
    """One call to the CRM made on behalf of a decision, with what it answered and how long it took."""

    class Step(models.TextChoices):
        PREVIEW = "preview", "Re-fetch preview"
        PATCH = "patch", "Write chosen values"
        MERGE = "merge", "Merge"
        SETTLE = "settle", "Settle a lost answer"
        NOTE = "note", "Post note"
        REFRESH = "refresh", "Refresh snapshot"
        REVERT = "revert", "Put back pre-merge values"

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"
        UNKNOWN = "unknown", "Answer lost"

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="calls")
    step = models.CharField(max_length=16, choices=Step.choices)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField(blank=True, default="")
    request_body = models.JSONField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["started_at", "id"]
        # The dashboard's error rate over the last days.
        indexes = [models.Index(fields=["started_at", "outcome"], name="audit_crmcall_started")]
