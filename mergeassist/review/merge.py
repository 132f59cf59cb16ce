"""The merge's building blocks: the primary rule, risks, what changed since a preview, the choices,
the note, the pairs' re-pointing, and the recording of a call made before its decision existed.

The workflows that use them are the actions in `mergeassist.review.actions`; nothing here calls the
CRM. docs/merge.md describes the whole merge.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from mergeassist.audit.models import CrmCall, Decision
from mergeassist.crm.errors import CrmError, CrmOutcomeUnknown
from mergeassist.crm.ids import canonical_id, id_sort_key, same_customer
from mergeassist.crm.models import Customer
from mergeassist.crm.types import CORE_FIELDS, MergePreview
from mergeassist.review.models import CandidatePair
from mergeassist.review.reasons import reason_flags
from mergeassist.review.scan import match_config, pair_key_of

logger = logging.getLogger(__name__)

SUBSCRIPTIONS_RISK = "Both customers have active subscriptions"
CARDS_RISK = "Both customers have saved cards"
# Pairs whose merge has not started (or failed with nothing merged) may be claimed.
CLAIMABLE = (CandidatePair.State.PENDING, CandidatePair.State.FAILED)


# -- the primary ------------------------------------------------------------------------------


def orders_count(customer: Customer) -> int:
    stats = (customer.raw or {}).get("stats")
    try:
        return int(stats.get("orders_count") or 0) if isinstance(stats, dict) else 0
    except (TypeError, ValueError):
        return 0


def choose_primary(a: Customer, b: Customer) -> tuple[Customer, Customer, str]:
    """(primary, secondary, reason): active subscriptions, then orders, then the older account."""
    if a.active_subscriptions != b.active_subscriptions:
        first, second = (a, b) if a.active_subscriptions > b.active_subscriptions else (b, a)
        count = first.active_subscriptions
        return first, second, f"has {count} active subscription{'s' if count != 1 else ''}"
    orders_a, orders_b = orders_count(a), orders_count(b)
    if orders_a != orders_b:
        first, second = (a, b) if orders_a > orders_b else (b, a)
        return first, second, f"has more orders ({max(orders_a, orders_b)} against {min(orders_a, orders_b)})"
    if a.crm_created_at and b.crm_created_at and a.crm_created_at != b.crm_created_at:
        first, second = (a, b) if a.crm_created_at < b.crm_created_at else (b, a)
        return first, second, f"is the older account (since {first.crm_created_at:%Y-%m-%d})"
    if (a.crm_created_at is None) != (b.crm_created_at is None):
        first, second = (a, b) if a.crm_created_at else (b, a)
        return first, second, "is the older account (the other has no creation date)"
    first, second = sorted((a, b), key=lambda c: id_sort_key(c.crm_id))
    return first, second, "has the lower CRM id (nothing else tells them apart)"


# -- risks ------------------------------------------------------------------------------------


def _active(subscriptions: list[Any] | None) -> int:
    return sum(1 for s in subscriptions or () if s.status == "active")


def preview_risks(preview: MergePreview) -> list[str]:
    """What the reviewer must confirm: both subscribed, both with cards, and every CRM warning."""
    risks: list[str] = []
    both_active = _active(preview.primary.subscriptions) and _active(preview.secondary.subscriptions)
    # The CRM may say the same in its own words; one sentence is enough on the screen.
    crm_says_it = any("both" in w.lower() and "active subscription" in w.lower() for w in preview.warnings)
    if both_active and not crm_says_it:
        risks.append(SUBSCRIPTIONS_RISK)
    if preview.primary.cards and preview.secondary.cards:
        risks.append(CARDS_RISK)
    for warning in preview.warnings:
        if warning not in risks:
            risks.append(warning)
    return risks


def group_risks(previews: list[MergePreview]) -> list[str]:
    """Risks of folding several secondaries into one primary: each preview's, and the group's."""
    risks: list[str] = []
    for preview in previews:
        for risk in preview_risks(preview):
            if risk not in risks:
                risks.append(risk)
    if previews:
        customers = [previews[0].primary, *(p.secondary for p in previews)]
        subscribed = sum(1 for c in customers if _active(c.subscriptions))
        with_cards = sum(1 for c in customers if c.cards)
        if subscribed >= 2:
            risks.append(f"{subscribed} customers of this group have active subscriptions")
        if with_cards >= 2:
            risks.append(f"{with_cards} customers of this group have saved cards")
    return risks


# -- what changed since the reviewer saw the preview ---------------------------------------------


@dataclass(frozen=True)
class Change:
    side: str
    field: str
    before: Any
    after: Any


def _flatten_customer(record: Mapping[str, Any]) -> dict[str, Any]:
    """A customer's raw record as field -> comparable value (custom fields by key, lists as text)."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "fields" and isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    flat[f"fields.{item.get('key')}"] = item.get("value")
        elif isinstance(value, dict):
            for inner, inner_value in value.items():
                flat[f"{key}.{inner}"] = inner_value
        elif isinstance(value, list):
            flat[key] = _list_summary(key, value)
        else:
            flat[key] = value
    return flat


def _list_summary(key: str, items: list[Any]) -> str:
    """Cards, subscriptions, integrations in words, so a change reads like what changed."""
    parts = []
    for item in items:
        if not isinstance(item, dict):
            parts.append(str(item))
        elif key == "cards":
            parts.append(
                f"{item.get('brand', '')} …{item.get('last4', '')} "
                f"{item.get('exp_month', '')}/{item.get('exp_year', '')}"
            )
        elif key == "subscriptions":
            parts.append(f"{item.get('product', '')} ({item.get('status', '')})")
        elif key == "integrations":
            parts.append(str(item.get("name", "")))
        else:
            parts.append(json.dumps(item, sort_keys=True, default=str))
    return ", ".join(sorted(parts)) or "none"


def _diff(side: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    changes = []
    for key in sorted(before.keys() | after.keys(), key=_field_order):
        old, new = before.get(key), after.get(key)
        if old != new and not (old in (None, "") and new in (None, "")):
            changes.append(Change(side, key, old, new))
    return changes


def _field_order(key: str) -> tuple[int, str]:
    # Core fields first in their usual order, then the rest alphabetically.
    return (CORE_FIELDS.index(key), key) if key in CORE_FIELDS else (len(CORE_FIELDS), key)


def preview_changes(shown: Mapping[str, Any], current: Mapping[str, Any]) -> list[Change]:
    """Field-by-field differences between two raw preview bodies (as the CRM sent them)."""
    changes = _diff(
        "primary",
        _flatten_customer(shown.get("primary") or {}),
        _flatten_customer(current.get("primary") or {}),
    )
    changes += _diff(
        "secondary",
        _flatten_customer(shown.get("secondary") or {}),
        _flatten_customer(current.get("secondary") or {}),
    )

    def conflicts(body: Mapping[str, Any]) -> dict[str, Any]:
        return {
            f"conflicts.{c.get('field')}": f"{c.get('primary_value')!s} / {c.get('secondary_value')!s}"
            for c in body.get("conflicts") or []
            if isinstance(c, dict)
        }

    changes += _diff("merge", conflicts(shown), conflicts(current))
    changes += _diff(
        "merge",
        {f"transfers.{k}": v for k, v in (shown.get("transfers") or {}).items()},
        {f"transfers.{k}": v for k, v in (current.get("transfers") or {}).items()},
    )
    if sorted(shown.get("warnings") or []) != sorted(current.get("warnings") or []):
        changes.append(
            Change(
                "merge",
                "warnings",
                "; ".join(shown.get("warnings") or []) or None,
                "; ".join(current.get("warnings") or []) or None,
            )
        )
    return changes


# -- choices and the note -----------------------------------------------------------------------


def unknown_choices(preview: MergePreview, take_secondary: Collection[str]) -> list[str]:
    fields = {c.field for c in preview.conflicts}
    return sorted(set(take_secondary) - fields)


def conflict_choices(preview: MergePreview, take_secondary: Collection[str]) -> dict[str, dict[str, Any]]:
    """field -> {"kept": "primary"|"secondary", "value": the winner, "replaced": the loser}."""
    take = set(take_secondary)
    choices: dict[str, dict[str, Any]] = {}
    for conflict in preview.conflicts:
        if conflict.field in take:
            choices[conflict.field] = {
                "kept": "secondary",
                "value": conflict.secondary_value,
                "replaced": conflict.primary_value,
            }
        else:
            choices[conflict.field] = {
                "kept": "primary",
                "value": conflict.primary_value,
                "replaced": conflict.secondary_value,
            }
    return choices


def values_to_write(choices: Mapping[str, Mapping[str, Any]]) -> dict[str, str | None]:
    """The PATCH body: the secondary's value for each field the reviewer took from it."""
    return {
        field: (None if choice["value"] is None else str(choice["value"]))
        for field, choice in choices.items()
        if choice["kept"] == "secondary"
    }


def note_text(*, decision: Decision, reviewer_name: str, when: datetime) -> str:
    """The note on the primary, in the shape the issue fixes; the losing values are kept in it."""
    kept = [
        f"{field} {_quote(c['value'])} (not {_quote(c['replaced'])})"
        for field, c in decision.choices.items()
        if c["kept"] == "primary"
    ]
    replaced = [
        f"{field} {_quote(c['replaced'])} with {_quote(c['value'])}"
        for field, c in decision.choices.items()
        if c["kept"] == "secondary"
    ]
    who = ", ".join(part for part in (decision.secondary_name, decision.secondary_email) if part) or "no name"
    score = f"{decision.score:.0f}" if decision.score is not None else "not scored"
    return (
        f"Merged customer #{decision.secondary_crm_id} ({who}) into this customer by {reviewer_name} "
        f"via MergeAssist on {timezone.localtime(when):%Y-%m-%d}; score {score}; "
        f"kept {', '.join(kept) or 'none'}; replaced {', '.join(replaced) or 'none'}; ref {decision.pk}"
    )


def _quote(value: Any) -> str:
    return "(empty)" if value in (None, "") else f'"{value}"'


# -- pairs ------------------------------------------------------------------------------------


def pair_ids(pair: CandidatePair) -> tuple[str, str]:
    return canonical_id(pair.customer_a.crm_id), canonical_id(pair.customer_b.crm_id)


def key_of(id_a: str, id_b: str) -> str:
    return pair_key_of(canonical_id(id_a), canonical_id(id_b))


def repoint_pairs(*, secondary: Customer, primary: Customer, merged_pair: CandidatePair) -> tuple[int, int]:
    """After `secondary` was merged into `primary`: its other open pairs now concern the primary.

    A pair S~X becomes P~X (pending again, to be reviewed against the merged customer), unless X
    is the primary itself or P~X already exists: then it is retired. Returns (re-pointed, retired).
    Call inside the transaction that marks the merge done.
    """
    now = timezone.now()
    repointed = retired = 0
    others = (
        CandidatePair.objects.select_related("customer_a", "customer_b")
        .filter(Q(customer_a=secondary) | Q(customer_b=secondary), state__in=CLAIMABLE)
        .exclude(pk=merged_pair.pk)
        .order_by("pk")
    )
    for pair in others:
        other = pair.customer_b if pair.customer_a_id == secondary.pk else pair.customer_a
        new_key = key_of(primary.crm_id, other.crm_id)
        if (
            other.pk == primary.pk
            or same_customer(other.crm_id, primary.crm_id)
            or CandidatePair.objects.filter(pair_key=new_key).exists()
        ):
            CandidatePair.objects.filter(pk=pair.pk).update(state=CandidatePair.State.RETIRED, decided_at=now)
            retired += 1
            continue
        first, second = sorted((primary, other), key=lambda c: id_sort_key(canonical_id(c.crm_id)))
        # The reviewer will see the merged customer beside X: score and explain that pair, not S~X.
        score, explanation = score_one_pair(first, second)
        rescored = (
            {"score": score, "explanation": explanation, **reason_flags(explanation)} if explanation else {}
        )
        CandidatePair.objects.filter(pk=pair.pk).update(
            pair_key=new_key,
            customer_a=first,
            customer_b=second,
            state=CandidatePair.State.PENDING,
            last_scored_at=now,
            **rescored,
        )
        repointed += 1
    return repointed, retired


def score_one_pair(a: Customer, b: Customer) -> tuple[float, list[dict[str, Any]]]:
    """The engine's score and explanation for two customers, without blocking (a "Compare")."""
    try:
        from mergeassist.crm.types import CORE_FIELDS
        from mergeassist.matching import Record, score_pair

        records = [Record(c.crm_id, *((getattr(c, f) or None) for f in CORE_FIELDS)) for c in (a, b)]
        scored = score_pair(*records, match_config())
        return scored.score, scored.explanation
    except Exception:  # a hand comparison needs no score to be useful; the log says why
        logger.exception("Scoring a compared pair failed; it gets score 0")
        return 0.0, []


COMPARED_BY_HAND = "compared by hand (the scan did not pair them)"


def compared_pair(a: Customer, b: Customer, *, note: str = COMPARED_BY_HAND) -> CandidatePair:
    """A new pending pair for two customers the scan did not pair (not saved); `note` says why
    it exists, as the first row of its explanation."""
    score, explanation = score_one_pair(a, b)
    explanation = [{"field": "compared", "note": note}, *explanation]
    first, second = sorted((a, b), key=lambda c: id_sort_key(canonical_id(c.crm_id)))
    return CandidatePair(
        pair_key=key_of(a.crm_id, b.crm_id),
        customer_a=first,
        customer_b=second,
        score=score,
        explanation=explanation,
        **reason_flags(explanation),
    )


# -- recording ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PastCall:
    """A CRM call made before its decision existed (the re-fetched preview), recorded afterwards."""

    step: str
    method: str
    path: str
    started_at: datetime
    duration_ms: int
    error: CrmError | None = None

    def record(self, decision: Decision, by: Any) -> CrmCall:
        if self.error is None:
            outcome, status, message = CrmCall.Outcome.OK, None, ""
        else:
            outcome = (
                CrmCall.Outcome.UNKNOWN
                if isinstance(self.error, CrmOutcomeUnknown)
                else CrmCall.Outcome.ERROR
            )
            status, message = self.error.status, str(self.error)
        return CrmCall.objects.create(
            decision=decision,
            step=self.step,
            method=self.method,
            path=self.path[:255],
            outcome=outcome,
            status_code=status,
            message=message[:2000],
            started_at=self.started_at,
            duration_ms=self.duration_ms,
            by=by,
        )


def merge_path(primary_id: str, secondary_id: str) -> str:
    return f"/v2/customers/{primary_id}/merge/{secondary_id}"
