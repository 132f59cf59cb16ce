"""Decisions and CRM calls written straight into the audit tables, as the review actions would."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from typing import Any

from django.utils import timezone

from mergeassist.audit.models import CrmCall, Decision
from mergeassist.crm.client import CrmClient
from mergeassist.sandbox.models import SandboxCustomer

_numbers = count(1000)


def customer_record(crm_id: str, **values: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": crm_id,
        "name_first": "Ann",
        "name_last": "Lee",
        "email": f"ann{crm_id}@example.com",
        "phone": "+1 555 0100",
        "company_name": None,
        "address1": "1 Main St",
        "address2": None,
        "city": "Boston",
        "state": "MA",
        "zip": "02110",
        "country": "US",
        "fields": [],
        "cards": [],
        "subscriptions": [],
    }
    record.update(values)
    return record


def make_decision(
    *,
    kind: str = Decision.Kind.MERGE,
    outcome: str = Decision.Outcome.MERGED,
    reviewer: Any = None,
    reviewer_username: str = "alice",
    created_at: datetime | None = None,
    primary: dict[str, Any] | None = None,
    secondary: dict[str, Any] | None = None,
    **fields: Any,
) -> Decision:
    n = next(_numbers)
    primary = primary or customer_record(str(n * 2))
    secondary = secondary or customer_record(str(n * 2 + 1), name_first="Anne")
    values: dict[str, Any] = {
        "kind": kind,
        "outcome": outcome,
        "pair_key": f"{primary['id']}|{secondary['id']}",
        "reviewer": reviewer,
        "reviewer_username": reviewer.get_username() if reviewer else reviewer_username,
        "created_at": created_at or timezone.now(),
        "score": 91.0,
        "primary_crm_id": primary["id"],
        "secondary_crm_id": secondary["id"],
        "primary_name": f"{primary.get('name_first') or ''} {primary.get('name_last') or ''}".strip(),
        "primary_email": primary.get("email") or "",
        "secondary_name": f"{secondary.get('name_first') or ''} {secondary.get('name_last') or ''}".strip(),
        "secondary_email": secondary.get("email") or "",
        "primary_before": primary,
        "secondary_before": secondary,
        "preview": {"conflicts": [], "transfers": {"orders": 2}, "warnings": []},
        "preview_fingerprint": "f" * 64,
        "note_status": Decision.NoteStatus.POSTED if kind == Decision.Kind.MERGE else Decision.NoteStatus.NOT_NEEDED,
        "note_text": "Merged by MergeAssist" if kind == Decision.Kind.MERGE else "",
    }
    values.update(fields)
    return Decision.objects.create(**values)


def make_call(decision: Decision, *, step: str = CrmCall.Step.MERGE, outcome: str = CrmCall.Outcome.OK, **fields: Any) -> CrmCall:
    values: dict[str, Any] = {
        "decision": decision,
        "step": step,
        "method": "POST",
        "path": f"/v2/customers/{decision.primary_crm_id}/merge/{decision.secondary_crm_id}",
        "outcome": outcome,
        "status_code": 200 if outcome == CrmCall.Outcome.OK else 503,
        "started_at": decision.created_at + timedelta(seconds=1),
        "duration_ms": 120,
    }
    values.update(fields)
    return CrmCall.objects.create(**values)


def merge_in_the_sandbox(reviewer, *, take_secondary: tuple[str, ...] = ("email",)) -> Decision:
    """A real merge through the client, recorded as the review's do_merge records it."""
    primary = SandboxCustomer.objects.create(
        name_first="Ann", name_last="Lee", email="ann@old.example", phone=None, city="Boston", country="US"
    )
    secondary = SandboxCustomer.objects.create(
        name_first="Anne", name_last="Lee", email="ann@new.example", phone="+1 617 555 0199", city="Boston", country="US"
    )
    p, s = str(primary.id), str(secondary.id)
    with CrmClient.from_settings() as client:
        preview = client.preview_merge(p, s)
        before_p, before_s = preview.raw["primary"], preview.raw["secondary"]
        choices = {name: {"kept": "secondary", "value": before_s[name], "replaced": before_p[name]} for name in take_secondary}
        decision = make_decision(
            reviewer=reviewer, primary=before_p, secondary=before_s, preview=preview.raw, choices=choices,
            outcome=Decision.Outcome.IN_PROGRESS,
        )  # fmt: skip
        if choices:
            client.update_fields(p, {name: c["value"] for name, c in choices.items()})
        client.merge(p, s)
    decision.outcome = Decision.Outcome.MERGED
    decision.save(update_fields=["outcome"])
    return decision
