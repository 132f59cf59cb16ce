"""The review actions: what a reviewer's "Merge", "Not a duplicate", "Skip" and "Compare" do.

Views call only these. Each `do_<verb>_<noun>` is keyword-only, holds the whole workflow and writes
the audit rows (`mergeassist.audit.models.Decision`, `CrmCall`). Building blocks that make no CRM
call (the primary rule, risks, what changed, the note's text, re-pointing pairs) are in
`mergeassist.review.merge`; docs/merge.md tells the steps, the states and what each failure leaves.

Errors a view must handle:
- `MergeRefused` and its subclasses: raised *before any CRM write*; `.message` is for people and
  nothing changed in the CRM (render it as a form error / 4xx with the message).
- `CrmError` subclasses: raised unchanged by `load_preview` only (render the error fragment with a
  Retry button). `do_merge` never raises them: CRM failures come back as a `MergeOutcome`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from mergeassist.audit.models import CrmCall, Decision
from mergeassist.audit.recording import recorded_call
from mergeassist.crm.client import CrmClient, MergePreview
from mergeassist.crm.errors import CrmError, CrmNotFound, CrmOutcomeUnknown, CrmValidationError
from mergeassist.crm.ids import canonical_id, parse_crm_id, same_customer
from mergeassist.crm.models import Customer
from mergeassist.crm.sync import mark_customers_gone, refresh_customer
from mergeassist.crm.types import (
    EXPANSIONS,
    CrmCustomer,
    SettlementOutcome,
    field_update_body,
    parse_merge_preview,
)
from mergeassist.review import merge as steps
from mergeassist.review.models import CandidatePair, Cluster, PairSkip, PreviewShown

logger = logging.getLogger(__name__)

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
    "do_settle_merge",
    "do_skip",
    "load_preview",
    "retry_pending_notes",
    "settle_stuck_merges",
    "suggest_primary",
]

State = CandidatePair.State
# Previews remembered per pair and reviewer (each tab, each "Swap primary", each reload).
KEEP_SHOWN = 5


# -- choosing the primary ----------------------------------------------------------------------


@dataclass(frozen=True)
class PrimaryChoice:
    """The suggested primary (kept) and secondary (folded in), and the rule that chose, in words.

    `reason` is a short phrase for the screen, e.g. "has 1 active subscription",
    "has more orders (12 against 3)", "is the older account (since 2019-04-02)" or
    "has the lower CRM id (nothing else tells them apart)".
    """

    primary: Customer
    secondary: Customer
    reason: str


def suggest_primary(a: Customer, b: Customer) -> PrimaryChoice:
    """Suggest which of two snapshot customers to keep; reads only the snapshot (no CRM call).

    Rules in order, the first that tells them apart wins: more active subscriptions; more orders
    (the raw record's stats.orders_count); the older account (crm_created_at); the lower id.
    """
    primary, secondary, reason = steps.choose_primary(a, b)
    return PrimaryChoice(primary=primary, secondary=secondary, reason=reason)


# -- refusals (raised before any CRM write) -----------------------------------------------------


class MergeRefused(Exception):
    """The action was not started; nothing changed in the CRM. `.message` is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldChange:
    """One difference between the preview the reviewer saw and the CRM's answer now.

    `side` is "primary" or "secondary" (a customer's field: a core field such as "email", a
    custom field such as "fields.loyalty_tier", an expansion summarised in words such as "cards"
    or "subscriptions", a stat such as "stats.orders_count", or "updated_at") or "merge" (what
    the merge would do: "conflicts.<field>", "transfers.<kind>", "warnings"). `before` / `after`
    are the values (None when absent).
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
    never loaded by this reviewer). Show them and load the preview again; nothing was merged.
    When the CRM did change, a Decision with outcome "stale" records the attempt (`.decision`).
    """

    def __init__(self, message: str, changes: list[FieldChange], decision: Decision | None = None) -> None:
        super().__init__(message)
        self.changes = changes
        self.decision = decision


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


# -- the preview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownPreview:
    """What the pair screen's preview fragment renders, as the CRM answered it just now.

    `preview.primary` / `preview.secondary` are full `CrmCustomer`s (with cards, fields, stats,
    integrations, subscriptions); `preview.conflicts` lists the fields where both have a value
    and they differ (core fields like "email" and custom field keys like "loyalty_tier"), each
    with `primary_value` and `secondary_value`: their `field` is what `take_secondary` names;
    `preview.transfers` counts what moves ({"orders": 2, ...}); `preview.warnings` are the
    CRM's own sentences.

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
    primary_id, secondary_id = _check_ids(pair, primary_id, secondary_id)
    client = client or CrmClient.from_settings()
    preview = client.preview_merge(primary_id, secondary_id)
    _remember_shown(pair, reviewer, primary_id, secondary_id, preview)
    return ShownPreview(preview=preview, risks=steps.preview_risks(preview), fingerprint=preview.fingerprint)


def _remember_shown(
    pair: CandidatePair, reviewer: User, primary_id: str, secondary_id: str, preview: MergePreview
) -> None:
    lookup = dict(
        pair=pair, reviewer=reviewer, primary_crm_id=primary_id, secondary_crm_id=secondary_id,
        fingerprint=preview.fingerprint,
    )  # fmt: skip
    try:
        PreviewShown.objects.update_or_create(
            **lookup, defaults={"body": preview.raw, "shown_at": timezone.now()}
        )
    except IntegrityError:  # the same preview stored by a second tab at the same instant
        pass
    # A few are enough to tell an open tab what changed; the Decision keeps the one merged.
    older = PreviewShown.objects.filter(pair=pair, reviewer=reviewer).order_by("-shown_at", "-pk")[
        KEEP_SHOWN:
    ]
    PreviewShown.objects.filter(pk__in=list(older.values_list("pk", flat=True))).delete()


def _check_ids(pair: CandidatePair, primary_id: str, secondary_id: str) -> tuple[str, str]:
    """The two ids in canonical form, checked to be the pair's two customers."""
    primary, secondary = parse_crm_id(primary_id), parse_crm_id(secondary_id)
    if primary is None or secondary is None:
        raise InvalidChoice("Choose the primary and the secondary among the pair's two customers.")
    if same_customer(primary, secondary):
        raise InvalidChoice(f"Customer {primary} cannot be merged into itself.")
    if {primary, secondary} != set(steps.pair_ids(pair)):
        raise InvalidChoice(
            f"Customers {primary} and {secondary} are not this pair's customers "
            f"({pair.customer_a.crm_id} and {pair.customer_b.crm_id})."
        )
    return primary, secondary


# -- the merge ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeOutcome:
    """What one merge attempt did. `decision.outcome` is merged | failed | unknown.

    - merged: the secondary is gone in the CRM; `note_pending` is True while the note is not yet
      on the primary (it is retried in the background; show "note pending").
    - failed: nothing was merged; the pair is "failed" (or still "pending" when the preview could
      not be fetched) and may be merged again (Retry). If the chosen values were written before
      the failure, the message and `decision.choices[field]["written"]` say so.
    - unknown: the merge's answer was lost and asking the CRM did not settle it; the pair is
      "unknown" and must not be merged again until a person has checked the CRM.
    `message` says all of this in words for the reviewer. `pair` is the pair as it is now.
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

    Raises, before any CRM write (nothing changed): `InvalidChoice`, `PairNotPending` (someone
    else claimed or decided it; a double click), `RiskNotConfirmed`, `PreviewChanged` (with
    `.changes`; a "stale" Decision records it).

    Otherwise returns a `MergeOutcome` (merged / failed / unknown), never raising `CrmError`.
    The steps: re-fetch the preview and compare; claim the pair (one conditional UPDATE); write
    the Decision; PATCH the chosen values; merge (a lost answer is settled by asking the CRM,
    never by merging again); update the snapshot, re-point the secondary's other pairs and mark
    merged; post the note (retried by `retry_pending_notes` while it fails).
    """
    return _merge_one(
        pair=pair,
        reviewer=reviewer,
        primary_id=primary_id,
        secondary_id=secondary_id,
        fingerprint=fingerprint,
        take_secondary=take_secondary,
        confirmed_risks=confirmed_risks,
        client=client or CrmClient.from_settings(),
        in_group=False,
    )


def _merge_one(
    *,
    pair: CandidatePair,
    reviewer: User,
    primary_id: str,
    secondary_id: str,
    fingerprint: str,
    take_secondary: Collection[str],
    confirmed_risks: bool,
    client: CrmClient,
    in_group: bool,
) -> MergeOutcome:
    """do_merge's workflow. `in_group`: a later member of a cluster merge, whose primary was
    changed by this run's earlier merges, so only the secondary must be as it was shown (the
    group's risks were confirmed as a whole)."""
    primary_id, secondary_id = _check_ids(pair, primary_id, secondary_id)
    _check_open(pair)
    shown = _shown_preview(pair, reviewer, primary_id, secondary_id, fingerprint)
    shown_preview = parse_merge_preview(shown.body)
    unknown = steps.unknown_choices(shown_preview, take_secondary)
    if unknown:
        raise InvalidChoice(f"Not a conflict of this merge: {', '.join(unknown)}.")
    risks = steps.preview_risks(shown_preview)
    if risks and not confirmed_risks and not in_group:
        raise RiskNotConfirmed("Tick the confirmation first: " + "; ".join(risks) + ".", risks)

    # 1. The preview again, now: the reviewer's choices only stand for what the reviewer saw.
    current, preview_call = _refetch_preview(client, primary_id, secondary_id)
    # Another press may have claimed the pair while we waited for the CRM (its PATCH or merge then
    # explains a changed or missing preview): say so rather than "changed" or "failed".
    _check_open(pair)
    if current is None:
        assert preview_call.error is not None
        decision = _new_decision(
            pair, reviewer, shown_preview, {}, confirmed_risks, outcome=Decision.Outcome.FAILED
        )
        preview_call.record(decision, reviewer)
        why = preview_call.error.message
        message = f"Nothing was merged: the CRM's merge preview could not be fetched again. {why}"
        _finish_decision(decision, Decision.Outcome.FAILED, message)
        return MergeOutcome(decision=decision, pair=_fresh(pair), message=message)
    changes = _changes_since_shown(shown, current, fingerprint, in_group=in_group)
    if in_group:
        # A field the earlier merges made equal is no conflict any more: nothing to take.
        take_secondary = [f for f in take_secondary if f in {c.field for c in current.conflicts}]
    if changes:
        choices = steps.conflict_choices(shown_preview, take_secondary)
        decision = _new_decision(
            pair, reviewer, current, choices, confirmed_risks, outcome=Decision.Outcome.STALE
        )
        preview_call.record(decision, reviewer)
        message = (
            "Nothing was merged: the customers changed in the CRM since you saw the preview. "
            + "; ".join(str(c) for c in changes[:10])
        )
        _finish_decision(decision, Decision.Outcome.STALE, message)
        raise PreviewChanged(message, changes, decision)

    # 2 and 3. Claim the pair and write the merge record, in one transaction: the row count of
    # the conditional UPDATE decides who merges, whatever the database (see docs/merge.md).
    choices = steps.conflict_choices(current, take_secondary)
    with transaction.atomic():
        claimed = CandidatePair.objects.filter(pk=pair.pk, state__in=steps.CLAIMABLE).update(
            state=State.MERGING, decided_by=reviewer, decided_at=timezone.now()
        )
        if claimed:
            decision = _new_decision(pair, reviewer, current, choices, confirmed_risks)
    if not claimed:
        _check_open(pair)
        raise PairNotPending("Someone else started merging this pair a moment ago.", _fresh(pair))
    preview_call.record(decision, reviewer)
    try:
        return _write_and_merge(pair, decision, reviewer, choices, client)
    except BaseException as exc:
        # A bug or a crash of our own before the outcome was saved: never leave "merging" silently.
        decision.refresh_from_db()
        merge_called = decision.calls.filter(step=CrmCall.Step.MERGE).exists()
        if decision.outcome == Decision.Outcome.IN_PROGRESS and not merge_called:
            _fail(
                pair, decision, f"Nothing was merged: MergeAssist stopped ({type(exc).__name__}). Try again."
            )
        raise


def _check_open(pair: CandidatePair) -> None:
    """Raise PairNotPending unless the pair may be claimed now (pending, or failed: Retry)."""
    pair.refresh_from_db()
    if pair.state not in steps.CLAIMABLE:
        raise PairNotPending(_not_open_message(pair), pair)


def _shown_preview(
    pair: CandidatePair, reviewer: User, primary_id: str, secondary_id: str, fingerprint: str
) -> PreviewShown:
    """The preview this reviewer was shown with this fingerprint, or PreviewChanged."""
    shown = PreviewShown.objects.filter(
        pair=pair, reviewer=reviewer, primary_crm_id=primary_id, secondary_crm_id=secondary_id,
        fingerprint=fingerprint or "",
    ).first()  # fmt: skip
    if shown is None:
        raise PreviewChanged(
            "MergeAssist has no record of showing you this preview; "
            "load it again and check it before merging.",
            [],
        )
    return shown


def _refetch_preview(
    client: CrmClient, primary_id: str, secondary_id: str
) -> tuple[MergePreview | None, steps.PastCall]:
    """The preview now, and the call to record once the Decision exists (None when it failed)."""
    started, clock = timezone.now(), time.monotonic()
    current: MergePreview | None = None
    error: CrmError | None = None
    try:
        current = client.preview_merge(primary_id, secondary_id)
    except CrmError as exc:
        error = exc
    duration_ms = round((time.monotonic() - clock) * 1000)
    path = steps.merge_path(primary_id, secondary_id)
    return current, steps.PastCall(CrmCall.Step.PREVIEW, "GET", path, started, duration_ms, error)


def _changes_since_shown(
    shown: PreviewShown, current: MergePreview, fingerprint: str, *, in_group: bool
) -> list[FieldChange]:
    """What differs between the shown preview and the current one ([] when nothing does)."""
    if current.fingerprint == fingerprint:
        return []
    changes = steps.preview_changes(shown.body, current.raw)
    if in_group:
        # Our own earlier merges changed the primary; the secondary must be as the reviewer saw it.
        changes = [c for c in changes if c.side == "secondary"]
    elif not changes:  # the fingerprint says changed even if no field we compare does
        changes = [steps.Change("merge", "preview", "as shown", "changed")]
    return [FieldChange(c.side, c.field, c.before, c.after) for c in changes]


def _write_and_merge(
    pair: CandidatePair,
    decision: Decision,
    reviewer: User,
    choices: dict[str, dict[str, Any]],
    client: CrmClient,
) -> MergeOutcome:
    """Steps 4 and 5 for a claimed pair: PATCH the chosen values, merge (settling a lost answer)."""
    primary_id, secondary_id = decision.primary_crm_id, decision.secondary_crm_id
    # 4. The chosen values onto the primary, before the merge (the merge keeps the primary's).
    values = steps.values_to_write(choices)
    if values:
        try:
            with recorded_call(
                decision, CrmCall.Step.PATCH, "PATCH", f"/v2/customers/{primary_id}", by=reviewer,
                request_body=field_update_body(values),
            ):  # fmt: skip
                client.update_fields(primary_id, values)
        except CrmError as exc:
            return _fail(
                pair, decision,
                f"Nothing was merged: the chosen values ({', '.join(values)}) could not be written to "
                f"customer {primary_id}. {exc.message} They may or may not be on the customer now.",
            )  # fmt: skip
        for field in values:
            choices[field]["written"] = True
        Decision.objects.filter(pk=decision.pk).update(choices=choices)
        decision.choices = choices
    written = (
        f" The chosen values ({', '.join(values)}) were written to customer {primary_id}." if values else ""
    )

    # 5. The merge. Never the same customer twice, however its ids are spelt.
    if same_customer(primary_id, secondary_id):  # _check_ids refused it; this is the last guard
        return _fail(
            pair, decision, f"Nothing was merged: customer {primary_id} cannot be merged into itself."
        )
    merged_customer: CrmCustomer | None = None
    try:
        with recorded_call(
            decision, CrmCall.Step.MERGE, "POST", steps.merge_path(primary_id, secondary_id), by=reviewer
        ):
            merged_customer = client.merge(primary_id, secondary_id).customer
    except CrmOutcomeUnknown:
        settled = _settle(decision, reviewer, client)
        if settled is SettlementOutcome.NOT_MERGED:
            return _fail(
                pair, decision,
                f"Nothing was merged: the CRM's answer to the merge was lost, and the CRM shows customer "
                f"{secondary_id} still there.{written} Try again.",
            )  # fmt: skip
        if settled is not SettlementOutcome.MERGED:
            return _unknown(pair, decision, settled)
        merged_customer = _fetch_customer(decision, reviewer, client, primary_id)
    except CrmError as exc:
        return _fail(
            pair,
            decision,
            f"Nothing was merged: the CRM refused the merge. {exc.message}{written}",
        )

    return _complete_merge(pair, decision, reviewer, merged_customer, client)


def _complete_merge(
    pair: CandidatePair,
    decision: Decision,
    reviewer: User,
    merged_customer: CrmCustomer | None,
    client: CrmClient,
) -> MergeOutcome:
    """Steps 7 and 8, then 6: the merge happened, so it is recorded locally at once (a crash now
    must not leave "merging"); the note is an outbox that the background task delivers if this
    attempt fails. docs/merge.md says why the note comes last."""
    primary_id, secondary_id = decision.primary_crm_id, decision.secondary_crm_id
    now = timezone.now()
    note = steps.note_text(decision=decision, reviewer_name=decision.reviewer_username, when=now)
    try:
        with transaction.atomic():
            if merged_customer is not None:
                refresh_customer(merged_customer)
            mark_customers_gone([_snapshot_id(pair, secondary_id)])
            primary_row = Customer.objects.get(crm_id=_snapshot_id(pair, primary_id))
            secondary_row = Customer.objects.get(crm_id=_snapshot_id(pair, secondary_id))
            repointed, retired = steps.repoint_pairs(
                secondary=secondary_row, primary=primary_row, merged_pair=pair
            )
            _mark_merged(pair, decision, note, now)
        logger.info(
            "Merged customer %s into %s (decision %s; %d pairs re-pointed, %d retired)",
            secondary_id, primary_id, decision.pk, repointed, retired,
        )  # fmt: skip
    except Exception as exc:
        # The CRM merged; whatever went wrong with the snapshot or the other pairs, the merge
        # itself must be on record. The next sync and scan bring the snapshot and pairs round.
        logger.exception("Merge decision %s: updating the snapshot and pairs failed", decision.pk)
        with transaction.atomic():
            _mark_merged(pair, decision, note, now)
            Decision.objects.filter(pk=decision.pk).update(
                error_message="Merged, but the local snapshot and pairs were not updated "
                f"({type(exc).__name__}); "
                "the next sync and scan will."
            )
    posted = _post_note(decision, client, by=reviewer)
    decision.refresh_from_db()
    message = f"Merged customer {secondary_id} into {primary_id}."
    if decision.note_status == Decision.NoteStatus.UNDELIVERABLE:
        message += f" {decision.error_message}"
    elif not posted:
        message += " The note on the primary is pending; MergeAssist keeps trying to post it."
    return MergeOutcome(decision=decision, pair=_fresh(pair), message=message)


def _mark_merged(pair: CandidatePair, decision: Decision, note: str, now: datetime) -> None:
    CandidatePair.objects.filter(pk=pair.pk).update(state=State.MERGED, decided_at=now)
    decision.note_text = note
    decision.note_status = Decision.NoteStatus.PENDING
    decision.outcome = Decision.Outcome.MERGED
    decision.finished_at = now
    decision.save(update_fields=["note_text", "note_status", "outcome", "finished_at"])


def _settle(decision: Decision, reviewer: User | None, client: CrmClient) -> SettlementOutcome | None:
    """Ask the CRM whether the merge happened; None when even asking failed."""
    primary_id, secondary_id = decision.primary_crm_id, decision.secondary_crm_id
    try:
        with recorded_call(
            decision,
            CrmCall.Step.SETTLE,
            "GET",
            f"/v2/customers/?filter[id]={secondary_id} (then {primary_id})",
            by=reviewer,
        ):
            settlement = client.settle_merge(primary_id, secondary_id)
    except CrmError as exc:
        logger.warning("Settling merge decision %s failed: %s", decision.pk, exc.message)
        return None
    return settlement.outcome


def _fetch_customer(decision: Decision, reviewer: User, client: CrmClient, crm_id: str) -> CrmCustomer | None:
    """The primary after a merge whose answer was lost, for the snapshot; None if it cannot be read
    (the next sync brings it)."""
    try:
        with recorded_call(
            decision, CrmCall.Step.REFRESH, "GET", f"/v2/customers/?filter[id]={crm_id}", by=reviewer
        ):
            page = client.list_customers(page=1, per_page=1, include=EXPANSIONS, filters={"id": crm_id})
    except CrmError:
        return None
    return next((c for c in page.customers if same_customer(c.id, crm_id)), None)


def _snapshot_id(pair: CandidatePair, crm_id: str) -> str:
    """The snapshot's own spelling of one of the pair's ids."""
    for customer in (pair.customer_a, pair.customer_b):
        if same_customer(customer.crm_id, crm_id):
            return customer.crm_id
    return crm_id


def _new_decision(
    pair: CandidatePair,
    reviewer: User,
    preview: MergePreview,
    choices: dict[str, dict[str, Any]],
    confirmed_risks: bool,
    *,
    outcome: str = Decision.Outcome.IN_PROGRESS,
) -> Decision:
    return Decision.objects.create(
        kind=Decision.Kind.MERGE,
        outcome=outcome,
        pair=pair,
        pair_key=pair.pair_key,
        reviewer=reviewer,
        reviewer_username=reviewer.get_username(),
        score=pair.score,
        primary_crm_id=canonical_id(preview.primary.id),
        secondary_crm_id=canonical_id(preview.secondary.id),
        primary_name=preview.primary.display_name[:512],
        primary_email=(preview.primary.email or "")[:320],
        secondary_name=preview.secondary.display_name[:512],
        secondary_email=(preview.secondary.email or "")[:320],
        primary_before=preview.primary.raw,
        secondary_before=preview.secondary.raw,
        preview=preview.raw,
        preview_fingerprint=preview.fingerprint,
        choices=choices,
        confirmed_risks=confirmed_risks,
    )


def _finish_decision(decision: Decision, outcome: str, message: str) -> None:
    decision.outcome, decision.error_message, decision.finished_at = outcome, message, timezone.now()
    decision.save(update_fields=["outcome", "error_message", "finished_at"])


def _fail(pair: CandidatePair, decision: Decision, message: str) -> MergeOutcome:
    """Nothing was merged: the pair may be merged again."""
    with transaction.atomic():
        _finish_decision(decision, Decision.Outcome.FAILED, message)
        CandidatePair.objects.filter(pk=pair.pk, state=State.MERGING).update(state=State.FAILED)
    return MergeOutcome(decision=decision, pair=_fresh(pair), message=message)


def _unknown(pair: CandidatePair, decision: Decision, settled: SettlementOutcome | None) -> MergeOutcome:
    """The CRM's state is not known: the pair is parked until a person has looked."""
    if settled is SettlementOutcome.UNCLEAR:
        why = "both customers are gone from the CRM now (merged or deleted elsewhere)"
    else:
        why = "asking the CRM afterwards failed too"
    message = (
        f"The merge's answer was lost and {why}, so MergeAssist cannot tell whether customer "
        f"{decision.secondary_crm_id} was merged into {decision.primary_crm_id}. It will not merge them "
        "again: check both customers in the CRM."
    )
    with transaction.atomic():
        _finish_decision(decision, Decision.Outcome.UNKNOWN, message)
        CandidatePair.objects.filter(pk=pair.pk, state=State.MERGING).update(state=State.UNKNOWN)
    return MergeOutcome(decision=decision, pair=_fresh(pair), message=message)


def _fresh(pair: CandidatePair) -> CandidatePair:
    pair.refresh_from_db()
    return pair


def _not_open_message(pair: CandidatePair) -> str:
    who = pair.decided_by.get_username() if pair.decided_by else "someone"
    decided = pair.decided_at.astimezone(UTC) if pair.decided_at else None
    when = f" at {decided:%H:%M} UTC on {decided:%Y-%m-%d}" if decided else ""
    return {
        State.MERGING: f"This pair is being merged by {who} right now.",
        State.MERGED: f"This pair was already merged by {who}{when}.",
        State.REJECTED: f"This pair was marked “Not a duplicate” by {who}{when}.",
        State.UNKNOWN: f"A merge of this pair by {who}{when} has an unknown outcome; "
        "check the CRM before anything else.",
        State.RETIRED: "This pair was retired: one of its customers was merged or is gone from the CRM.",
    }.get(pair.state, f"This pair is {pair.get_state_display().lower()}.")


# -- settling an unknown or interrupted merge ---------------------------------------------------

# A merge still "merging" after this long has lost its process (a request takes seconds).
STUCK_AFTER = timedelta(minutes=15)


def do_settle_merge(
    *, pair: CandidatePair, reviewer: User | None, client: CrmClient | None = None
) -> MergeOutcome:
    """ "Check the CRM again" for a pair whose merge outcome is unknown, or that has been
    "merging" for longer than STUCK_AFTER (its process died mid-way). Never merges: it asks the
    CRM which of the two customers still exist (`settle_merge`, recorded on the pair's latest
    merge Decision) and moves the pair on:

    - the secondary gone and the primary there: merged (snapshot, other pairs, note, as after a
      merge);
    - the secondary still there: failed (nothing merged; it may be merged again);
    - both gone, or the CRM not answering: unknown, and the message says why.

    Raises `PairNotPending` for any other state (nothing to settle).
    """
    pair.refresh_from_db()
    decision = (
        Decision.objects.filter(pair=pair, kind=Decision.Kind.MERGE)
        .exclude(outcome__in=[Decision.Outcome.STALE, Decision.Outcome.FAILED])
        .order_by("-created_at", "-pk")
        .first()
    )
    if decision is None:
        raise PairNotPending(_not_open_message(pair), pair)
    stuck = pair.state == State.MERGING and decision.created_at < timezone.now() - STUCK_AFTER
    if pair.state == State.UNKNOWN:
        # Claimed like a merge, so two people pressing "Check" settle it once.
        if not CandidatePair.objects.filter(pk=pair.pk, state=State.UNKNOWN).update(state=State.MERGING):
            pair.refresh_from_db()
            raise PairNotPending(_not_open_message(pair), pair)
    elif not stuck:
        raise PairNotPending(_not_open_message(pair), pair)
    client = client or CrmClient.from_settings()
    by = reviewer or decision.reviewer
    settled = _settle(decision, by, client)
    if settled is SettlementOutcome.NOT_MERGED:
        return _fail(
            pair, decision,
            f"Nothing was merged: the CRM shows customer {decision.secondary_crm_id} still there. "
            "It may be merged again.",
        )  # fmt: skip
    if settled is not SettlementOutcome.MERGED:
        return _unknown(pair, decision, settled)
    merged_customer = _fetch_customer(decision, by, client, decision.primary_crm_id)
    return _complete_merge(pair, decision, by, merged_customer, client)


def settle_stuck_merges(*, client: CrmClient | None = None) -> int:
    """Settle every pair left "merging" by a process that died (see `do_settle_merge`); returns
    how many were settled. Run by the background task beside the note outbox."""
    cutoff = timezone.now() - STUCK_AFTER
    stuck = list(CandidatePair.objects.filter(state=State.MERGING, decided_at__lt=cutoff))
    if not stuck:
        return 0
    client = client or CrmClient.from_settings()
    count = 0
    for pair in stuck:
        try:
            do_settle_merge(pair=pair, reviewer=None, client=client)
            count += 1
        except PairNotPending:
            continue
    return count


# -- the note outbox ----------------------------------------------------------------------------


def _post_note(decision: Decision, client: CrmClient, *, by: User | None) -> bool:
    """One attempt at the decision's note; True when posted. Claimed by bumping note_attempts
    conditionally, so two workers never send one attempt twice."""
    attempts = decision.note_attempts
    claimed = Decision.objects.filter(
        pk=decision.pk, note_status=Decision.NoteStatus.PENDING, note_attempts=attempts
    ).update(note_attempts=F("note_attempts") + 1)
    if not claimed:
        return False
    try:
        with recorded_call(
            decision, CrmCall.Step.NOTE, "POST", f"/v2/customers/{decision.primary_crm_id}/notes", by=by,
            request_body={"notes": decision.note_text},
        ):  # fmt: skip
            client.add_note(decision.primary_crm_id, decision.note_text)
    except (CrmNotFound, CrmValidationError) as exc:
        # Asking again would get the same answer: the primary is gone (merged into another
        # customer or deleted since) or the CRM refuses the text. Say so instead of retrying forever.
        gone = isinstance(exc, CrmNotFound)
        reason = (
            f"customer {decision.primary_crm_id} is no longer in the CRM (merged into another customer or deleted since)"
            if gone
            else f"the CRM refused it: {exc.message}"
        )
        Decision.objects.filter(pk=decision.pk).update(
            note_status=Decision.NoteStatus.UNDELIVERABLE,
            error_message=f"The note cannot be posted: {reason}. The merge stands; the note's text is kept in this record.",
        )
        return False
    except CrmError as exc:
        Decision.objects.filter(pk=decision.pk).update(
            error_message=f"The note is not posted yet: {exc.message}"
        )
        _enqueue_note_retry()
        return False
    Decision.objects.filter(pk=decision.pk).update(note_status=Decision.NoteStatus.POSTED, error_message="")
    return True


def _enqueue_note_retry() -> None:
    try:
        from mergeassist.review.tasks import retry_pending_notes_task, schedule_note_retry

        schedule_note_retry(retry_pending_notes_task)
    except Exception:  # the task queue being down must not turn a good merge into an error
        logger.exception("Could not enqueue the note retry; the next failing note enqueues it again")


def retry_pending_notes(
    *, limit: int = 100, client: CrmClient | None = None, min_age: timedelta = timedelta(seconds=60)
) -> int:
    """Post the notes of merged decisions whose note is still pending; returns how many were posted.

    The outbox behind "note pending", run by `mergeassist.review.tasks.retry_pending_notes_task`.
    A note attempted less than `min_age` ago (or whose merge finished then) is left for the next
    run, since that attempt may still be in flight. A note whose answer was lost is sent again:
    a duplicate carrying the same ref is better than none.
    """
    cutoff = timezone.now() - min_age
    recent_attempt = CrmCall.objects.filter(
        decision=OuterRef("pk"), step=CrmCall.Step.NOTE, started_at__gt=cutoff
    )
    due = list(
        Decision.objects.filter(
            outcome=Decision.Outcome.MERGED, note_status=Decision.NoteStatus.PENDING, finished_at__lte=cutoff
        )
        .exclude(Exists(recent_attempt))
        .order_by("finished_at", "pk")[:limit]
    )
    if not due:
        return 0
    client = client or CrmClient.from_settings()
    return sum(1 for decision in due if _post_note(decision, client, by=None))


# -- the other decisions ------------------------------------------------------------------------


def do_reject(*, pair: CandidatePair, reviewer: User) -> Decision:
    """ "Not a duplicate": the pair becomes `rejected` for good (a re-scan never revives it).

    Writes a Decision (kind and outcome not_duplicate; primary = customer_a, secondary =
    customer_b, with their snapshot records). Raises `PairNotPending` unless the pair is pending
    or failed (a double click: the second gets it). No CRM call.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = CandidatePair.objects.filter(pk=pair.pk, state__in=steps.CLAIMABLE).update(
            state=State.REJECTED, decided_by=reviewer, decided_at=now
        )
        if claimed:
            a, b = pair.customer_a, pair.customer_b
            decision = Decision.objects.create(
                kind=Decision.Kind.NOT_DUPLICATE,
                outcome=Decision.Outcome.NOT_DUPLICATE,
                pair=pair,
                pair_key=pair.pair_key,
                reviewer=reviewer,
                reviewer_username=reviewer.get_username(),
                created_at=now,
                finished_at=now,
                score=pair.score,
                primary_crm_id=a.crm_id,
                secondary_crm_id=b.crm_id,
                primary_name=a.display_name[:512],
                primary_email=a.email,
                secondary_name=b.display_name[:512],
                secondary_email=b.email,
                primary_before=a.raw,
                secondary_before=b.raw,
            )
    pair.refresh_from_db()
    if not claimed:
        raise PairNotPending(_not_open_message(pair), pair)
    return decision


def do_skip(*, pair: CandidatePair, reviewer: User) -> None:
    """ "Skip": the pair goes to the end of this reviewer's queue and stays pending for everyone.

    Upserts `PairSkip(pair, reviewer)` with a fresh `skipped_at` (skipping again moves it to the
    end again). No Decision, no CRM call, whatever the pair's state.
    """
    try:
        PairSkip.objects.update_or_create(pair=pair, user=reviewer, defaults={"skipped_at": timezone.now()})
    except IntegrityError:  # two tabs skipping at once: one row is all it takes
        PairSkip.objects.filter(pair=pair, user=reviewer).update(skipped_at=timezone.now())


def do_compare(*, reviewer: User, crm_id_a: str, crm_id_b: str) -> CandidatePair:
    """ "Compare": the pair of two snapshot customers, made if the scan did not pair them.

    Ids are canonicalised (`041` is `41`). Raises `InvalidChoice` when an id is not a live
    customer of the snapshot or both name the same customer. An existing pair is returned as
    it is, whatever its state. A new pair is pending, scored by the engine without blocking,
    its explanation's first row saying "compared by hand".
    """
    id_a, id_b = parse_crm_id(crm_id_a), parse_crm_id(crm_id_b)
    if id_a is None or id_b is None:
        raise InvalidChoice("Tick two customers to compare.")
    if same_customer(id_a, id_b):
        raise InvalidChoice(f"Customer {id_a} cannot be compared with itself.")
    customers = {
        canonical_id(c.crm_id): c for c in Customer.objects.filter(crm_id__in=[id_a, id_b], is_gone=False)
    }
    missing = [crm_id for crm_id in (id_a, id_b) if crm_id not in customers]
    if missing:
        raise InvalidChoice(
            f"Customer {missing[0]} is not in the local snapshot (or is gone from the CRM); "
            "sync and try again."
        )
    return _get_or_create_pair(customers[id_a], customers[id_b])


def _get_or_create_pair(
    a: Customer, b: Customer, *, cluster: Cluster | None = None, note: str = steps.COMPARED_BY_HAND
) -> CandidatePair:
    key = steps.key_of(a.crm_id, b.crm_id)
    existing = CandidatePair.objects.filter(pair_key=key).first()
    if existing is not None:
        return existing
    pair = steps.compared_pair(a, b, note=note)
    pair.cluster = cluster
    try:
        with transaction.atomic():
            pair.save()
    except IntegrityError:  # made by someone else in the meantime
        return CandidatePair.objects.get(pair_key=key)
    return pair


# -- clusters -----------------------------------------------------------------------------------


def cluster_member_pairs(*, cluster: Cluster, primary_id: str) -> list[CandidatePair]:
    """For a cluster and the chosen primary: the pair of the primary with each other live member.

    Members are the customers of the cluster's pairs that are not gone; raises `InvalidChoice`
    when `primary_id` is not one of them. A member the scan did not pair with the primary
    directly (a chain A~B~C) gets a pair made like `do_compare` does. Strongest first. Load each
    one's preview with `load_preview` (primary_id, the member's id) before `do_merge_cluster`.
    """
    members = _cluster_members(cluster)
    primary = members.get(parse_crm_id(primary_id) or "")
    if primary is None:
        raise InvalidChoice(f"Customer {primary_id} is not a member of this group.")
    note = f"in one group with customer {primary.crm_id} (the scan did not pair them directly)"
    pairs = [
        _get_or_create_pair(primary, member, cluster=cluster, note=note)
        for member in members.values()
        if member.pk != primary.pk
    ]
    return sorted(pairs, key=lambda p: (-p.score, p.pk))


def _cluster_members(cluster: Cluster) -> dict[str, Customer]:
    members: dict[str, Customer] = {}
    for pair in cluster.pairs.select_related("customer_a", "customer_b"):
        for customer in (pair.customer_a, pair.customer_b):
            if not customer.is_gone:
                members[canonical_id(customer.crm_id)] = customer
    return members


def cluster_risks(shown: list[ShownPreview]) -> list[str]:
    """The risks of folding all these previews' secondaries into one primary, for one confirmation.

    Each preview's risks, plus "N customers of this group have active subscriptions" / "... saved
    cards" when two or more of the primary and the members have them (the merges bring them
    together one by one, so single previews would not show it up front).
    """
    return steps.group_risks([s.preview for s in shown])


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
    `cluster_member_pairs`): a missing or empty fingerprint refuses the whole group before any
    merge. `take_secondary` maps a secondary id (as given in `members`) to its conflict fields.
    `confirmed_risks` is the group's one confirmation (see `cluster_risks`), required when the
    shown previews carry any risk.

    Returns one entry per member attempted: a `MergeOutcome`, or the `MergeRefused` that stopped
    it. Stops at the first refusal, failure or unknown outcome; members after it are not tried
    (and not in the list). For the second and later members the primary has changed by the
    earlier merges of this run, so their stale check compares the secondary only; any change to
    the secondary still stops the run.
    """
    if not members:
        raise InvalidChoice("Tick at least one member to fold into the primary.")
    member_ids = _cluster_members(cluster)
    primary = parse_crm_id(primary_id)
    if primary is None or primary not in member_ids:
        raise InvalidChoice(f"Customer {primary_id} is not a member of this group.")
    plan: list[tuple[CandidatePair, str, str, Collection[str]]] = []
    shown_previews: list[MergePreview] = []
    for secondary_id, fingerprint in members:
        secondary = parse_crm_id(secondary_id)
        if secondary is None or secondary not in member_ids or same_customer(secondary, primary):
            raise InvalidChoice(f"Customer {secondary_id} is not another member of this group.")
        if not fingerprint:
            raise PreviewChanged(f"Load the preview of customer {secondary} before merging the group.", [])
        pair = CandidatePair.objects.filter(pair_key=steps.key_of(primary, secondary)).first()
        shown = (
            PreviewShown.objects.filter(
                pair=pair,
                reviewer=reviewer,
                primary_crm_id=primary,
                secondary_crm_id=secondary,
                fingerprint=fingerprint,
            ).first()
            if pair is not None
            else None
        )
        if pair is None or shown is None:
            raise PreviewChanged(
                f"MergeAssist has no record of showing you the preview of customer {secondary}; "
                "load it again.",
                [],
            )
        shown_previews.append(parse_merge_preview(shown.body))
        plan.append((pair, secondary, fingerprint, take_secondary.get(secondary_id, ())))
    risks = steps.group_risks(shown_previews)
    if risks and not confirmed_risks:
        raise RiskNotConfirmed("Tick the confirmation first: " + "; ".join(risks) + ".", risks)

    client = client or CrmClient.from_settings()
    results: list[MergeOutcome | MergeRefused] = []
    for index, (pair, secondary, fingerprint, take) in enumerate(plan):
        try:
            outcome = _merge_one(
                pair=pair,
                reviewer=reviewer,
                primary_id=primary,
                secondary_id=secondary,
                fingerprint=fingerprint,
                take_secondary=take,
                confirmed_risks=confirmed_risks,
                client=client,
                in_group=index > 0,
            )
        except MergeRefused as refused:
            results.append(refused)
            break
        results.append(outcome)
        if not outcome.merged:
            break
    return results
