"""The review actions: what a reviewer's "Merge", "Not a duplicate", "Skip" and "Compare" do.

Views call only these. Each `do_<verb>_<noun>` is keyword-only, holds the whole workflow and writes
the audit rows (`mergeassist.audit.models.Decision`, `CrmCall`). The merge's steps live in
`mergeassist.review.merge`; docs/merge.md tells the steps, the states and what each failure leaves.

Errors a view must handle:
- `MergeRefused` and its subclasses: raised *before any CRM write*; `.message` is for people and
  nothing changed in the CRM (render it as a form error / 4xx with the message).
- `CrmError` subclasses: raised unchanged by `load_preview` only (render the error fragment with a
  Retry button). `do_merge` never raises them: CRM failures come back as a `MergeOutcome`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AbstractBaseUser

from mergeassist.audit.models import Decision
from mergeassist.crm.client import CrmClient, MergePreview
from mergeassist.crm.models import Customer
from mergeassist.review.models import CandidatePair, Cluster

if TYPE_CHECKING:
    User = AbstractBaseUser
else:
    User = AbstractBaseUser

__all__ = [
    "FieldChange",
    "InvalidChoice",
    "MergeOutcome",
    "MergeRefused",
    "PairNotPending",
    "PreviewChanged",
    "PrimaryChoice",
    "RiskNotConfirmed",
    "ShownPreview",
    "cluster_member_pairs",
    "cluster_risks",
    "do_compare",
    "do_merge",
    "do_merge_cluster",
    "do_reject",
    "do_skip",
    "load_preview",
    "retry_pending_notes",
    "suggest_primary",
]


# -- choosing the primary ----------------------------------------------------------------------


@dataclass(frozen=True)
class PrimaryChoice:
    """The suggested primary (kept) and secondary (folded in), and the rule that chose, in words.

    `reason` is a short phrase for the screen, e.g. "has 1 active subscription",
    "has more orders (12 against 3)", "is the older account (since 2019-04-02)" or
    "has the lower CRM id" when nothing else tells them apart.
    """

    primary: Customer
    secondary: Customer
    reason: str


def suggest_primary(a: Customer, b: Customer) -> PrimaryChoice:
    """Suggest which of two snapshot customers to keep; reads only the snapshot (no CRM call).

    Rules in order, the first that tells them apart wins: more active subscriptions; more orders
    (the raw record's stats.orders_count); the older account (crm_created_at); the lower id.
    """
    from mergeassist.review.merge import suggest_primary as _suggest

    return _suggest(a, b)


# -- the preview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownPreview:
    """What the pair screen's preview fragment renders, as the CRM answered it just now.

    `preview.primary` / `preview.secondary` are full `CrmCustomer`s (with cards, fields, stats,
    integrations, subscriptions); `preview.conflicts` lists the fields where both have a value
    and they differ (core fields like "email" and custom field keys like "loyalty_tier"), each
    with `primary_value` and `secondary_value`; `preview.transfers` counts what moves
    ({"orders": 2, ...}); `preview.warnings` are the CRM's own sentences.

    `risks` are sentences to show prominently: "Both customers have active subscriptions",
    "Both customers have saved cards", and each of the CRM's warnings. When non-empty the
    reviewer must tick a confirmation before "Merge" (pass it as `confirmed_risks=True`);
    the server checks it again.

    `fingerprint` goes into the merge form as a hidden field, unchanged.
    """

    preview: MergePreview
    risks: list[str]
    fingerprint: str

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.risks)


def load_preview(
    *,
    pair: CandidatePair,
    primary_id: str,
    secondary_id: str,
    reviewer: User,
    client: CrmClient | None = None,
) -> ShownPreview:
    """Fetch the CRM's live merge preview of `secondary_id` into `primary_id` and remember it.

    The two ids must be the pair's two customers (either way round: "Swap primary" passes them
    the other way), else `InvalidChoice`. What this reviewer was shown is stored (model
    `PreviewShown`), so that a later `do_merge` with its fingerprint can check the reviewer saw
    it and, if the CRM changed since, say field by field what changed.

    Raises `CrmError` subclasses unchanged (`.message` is for people): render the error fragment
    with a Retry button. Makes no change in the CRM.
    """
    from mergeassist.review.merge import load_preview as _load

    return _load(pair=pair, primary_id=primary_id, secondary_id=secondary_id, reviewer=reviewer, client=client)


# -- refusals (raised before any CRM write) -----------------------------------------------------


class MergeRefused(Exception):
    """The merge was not started; nothing changed in the CRM. `.message` is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldChange:
    """One difference between the preview the reviewer saw and the CRM's answer now.

    `side` is "primary" or "secondary" (a customer's field: a core field such as "email", a
    custom field such as "fields.loyalty_tier", an expansion such as "subscriptions" or
    "stats.orders_count") or "merge" (what the merge would do: "conflicts", "transfers.orders",
    "warnings"). `before` / `after` are the values (None when absent).
    """

    side: str
    field: str
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.side} {self.field}: {_show(self.before)} → {_show(self.after)}"


def _show(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    return repr(value) if isinstance(value, str) else str(value)


class PreviewChanged(MergeRefused):
    """The CRM's preview differs from the one the reviewer saw (or the reviewer saw none).

    `.changes` lists what changed (empty when the shown preview is not on record, e.g. it was
    never loaded by this reviewer). Show them and reload the preview; nothing was merged.
    A Decision with outcome "stale" records the attempt.
    """

    def __init__(self, message: str, changes: list[FieldChange]) -> None:
        super().__init__(message)
        self.changes = changes


class PairNotPending(MergeRefused):
    """The pair is not open for this action any more (merging, merged, rejected, retired, unknown).

    `.pair` is the pair as it is now (its `state`, `decided_by`, `decided_at` say who and when);
    the message says it in words, e.g. "This pair was already merged by alice at 21:04 UTC."
    """

    def __init__(self, message: str, pair: CandidatePair) -> None:
        super().__init__(message)
        self.pair = pair


class RiskNotConfirmed(MergeRefused):
    """The preview carries risks and the reviewer did not tick the confirmation. `.risks` lists them."""

    def __init__(self, message: str, risks: list[str]) -> None:
        super().__init__(message)
        self.risks = risks


class InvalidChoice(MergeRefused):
    """Input that cannot be right: an id that is not one of the pair's customers, the same
    customer twice (however its id is spelt), or a `take_secondary` field that is not one of the
    preview's conflicts. A form error (400)."""


# -- the merge ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeOutcome:
    """What one merge attempt did. `decision.outcome` is merged | failed | unknown.

    - merged: the secondary is gone in the CRM; `decision.note_status` is "posted" or "pending"
      (the note is retried in the background; show "note pending").
    - failed: nothing was merged; the pair is "failed" and may be merged again (Retry). If the
      chosen values were written before the failure, the message says so.
    - unknown: the merge's answer was lost and asking the CRM did not settle it; the pair is
      "unknown" and must not be merged again until a person has checked the CRM.
    `message` says all of this in words for the reviewer.
    """

    decision: Decision
    pair: CandidatePair
    message: str

    @property
    def merged(self) -> bool:
        return self.decision.outcome == Decision.Outcome.MERGED

    @property
    def note_pending(self) -> bool:
        return self.merged and self.decision.note_status == Decision.NoteStatus.PENDING


def do_merge(
    *,
    pair: CandidatePair,
    reviewer: User,
    primary_id: str,
    secondary_id: str,
    fingerprint: str,
    take_secondary: Collection[str],
    confirmed_risks: bool,
    client: CrmClient | None = None,
) -> MergeOutcome:
    """Merge `secondary_id` into `primary_id` as the reviewer saw it in the preview `fingerprint`.

    `take_secondary` names the conflict fields (as `Conflict.field` spells them) whose value the
    primary takes from the secondary; every other conflict keeps the primary's value.

    Raises, before any CRM write (nothing changed; a Decision only for PreviewChanged):
    `InvalidChoice`, `PairNotPending` (someone else claimed or decided it, a double click),
    `RiskNotConfirmed`, `PreviewChanged` (with `.changes`).

    Otherwise returns a `MergeOutcome` (merged / failed / unknown), never raising `CrmError`:
    re-fetch preview, claim the pair (one conditional UPDATE), write the Decision, PATCH the
    chosen values, merge, update the snapshot and re-point the secondary's other pairs, mark
    merged, post the note (retried by `retry_pending_notes` if it fails).
    """
    from mergeassist.review.merge import merge_pair

    return merge_pair(
        pair=pair,
        reviewer=reviewer,
        primary_id=primary_id,
        secondary_id=secondary_id,
        fingerprint=fingerprint,
        take_secondary=take_secondary,
        confirmed_risks=confirmed_risks,
        client=client,
    )


def retry_pending_notes(*, limit: int = 100, client: CrmClient | None = None, min_age_seconds: float = 60) -> int:
    """Post the notes of merged decisions whose note is still pending; returns how many were posted.

    The outbox behind "note pending": run by `mergeassist.review.tasks.retry_pending_notes_task`.
    A note whose last attempt is younger than `min_age_seconds` is left for the next run (its
    first attempt may still be in flight). A note whose answer was lost is sent again: a
    duplicate carrying the same ref is better than none.
    """
    from mergeassist.review.merge import retry_pending_notes as _retry

    return _retry(limit=limit, client=client, min_age_seconds=min_age_seconds)


# -- the other decisions ------------------------------------------------------------------------


def do_reject(*, pair: CandidatePair, reviewer: User) -> Decision:
    """"Not a duplicate": the pair becomes `rejected` for good (a re-scan never revives it).

    Writes a Decision (kind and outcome not_duplicate). Raises `PairNotPending` unless the pair
    is pending or failed. No CRM call.
    """
    from mergeassist.review.merge import reject_pair

    return reject_pair(pair=pair, reviewer=reviewer)


def do_skip(*, pair: CandidatePair, reviewer: User) -> None:
    """"Skip": the pair goes to the end of this reviewer's queue and stays pending for everyone.

    Upserts `PairSkip(pair, reviewer)` with a fresh `skipped_at` (skipping again moves it to the
    end again). No Decision, no CRM call.
    """
    from mergeassist.review.merge import skip_pair

    skip_pair(pair=pair, reviewer=reviewer)


def do_compare(*, reviewer: User, crm_id_a: str, crm_id_b: str) -> CandidatePair:
    """"Compare": the pair of two snapshot customers, made if the scan did not pair them.

    Ids are canonicalised (`041` is `41`). Raises `InvalidChoice` when an id is not a customer of
    the snapshot (or is gone) or both name the same customer. An existing pair is returned as it
    is, whatever its state. A new pair is pending, scored by the engine's one-pair scoring with
    its explanation (its first row says "compared by hand").
    """
    from mergeassist.review.merge import compare_pair

    return compare_pair(reviewer=reviewer, crm_id_a=crm_id_a, crm_id_b=crm_id_b)


# -- clusters -----------------------------------------------------------------------------------


def cluster_member_pairs(*, cluster: Cluster, primary_id: str) -> list[CandidatePair]:
    """For a cluster and the chosen primary: the pair of the primary with each other live member.

    Members are the customers of the cluster's pairs (not gone); a member the scan did not pair
    with the primary directly (a chain A~B~C) gets a pair made like `do_compare` does. Ordered by
    score, strongest first. Load each one's preview with `load_preview` before merging.
    """
    from mergeassist.review.merge import cluster_member_pairs as _pairs

    return _pairs(cluster=cluster, primary_id=primary_id)


def cluster_risks(shown: list[ShownPreview]) -> list[str]:
    """The risks of folding all these previews' secondaries into one primary, for one confirmation.

    Each preview's risks, plus "N customers of this group have active subscriptions" / "... saved
    cards" when two or more of the primary and the members have them (the merges bring them
    together one by one, so single previews would not show it up front).
    """
    from mergeassist.review.merge import cluster_risks as _risks

    return _risks(shown)


def do_merge_cluster(
    *,
    cluster: Cluster,
    reviewer: User,
    primary_id: str,
    members: list[tuple[str, str]],
    take_secondary: dict[str, Collection[str]],
    confirmed_risks: bool,
    client: CrmClient | None = None,
) -> list[MergeOutcome | MergeRefused]:
    """Fold each member into the primary, one merge after another, each with do_merge's guarantees.

    `members` is [(secondary_id, fingerprint)] in order; every member must have been previewed
    by this reviewer against this primary (`load_preview` on the pair from
    `cluster_member_pairs`). `take_secondary` maps a secondary id to its conflict fields.
    `confirmed_risks` is the group's one confirmation (see `cluster_risks`).

    Returns one entry per member attempted: a `MergeOutcome`, or the `MergeRefused` that stopped
    it. Stops at the first refusal, failure or unknown outcome; members after it are not tried
    (and not in the list). For the second and later members the primary has changed by the
    earlier merges of this run, so their stale check compares the secondary and the conflicts
    the reviewer decided on; any change to the secondary still stops the run.
    """
    from mergeassist.review.merge import merge_cluster

    return merge_cluster(
        cluster=cluster,
        reviewer=reviewer,
        primary_id=primary_id,
        members=members,
        take_secondary=take_secondary,
        confirmed_risks=confirmed_risks,
        client=client,
    )
