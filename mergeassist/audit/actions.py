"""Undo what can be undone after a merge: put back the primary's pre-merge field values.

The CRM cannot recreate a deleted customer, so the secondary is offered as a JSON download (see
views); the primary's values, though, can be PATCHed back. Only fields the merge itself changed
are touched, and only while they still hold what the merge put there: a value someone changed in
the CRM since is newer information and is left alone (and said so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from mergeassist.audit.models import CrmCall, Decision
from mergeassist.audit.recording import recorded_call
from mergeassist.crm.client import EXPANSIONS, CrmClient, CrmCustomer, CrmError
from mergeassist.crm.sync import refresh_customer
from mergeassist.crm.types import CORE_FIELDS

# A merge that did happen (merged), or that may have written the chosen values before failing.
REVERTIBLE_OUTCOMES = (Decision.Outcome.MERGED, Decision.Outcome.FAILED, Decision.Outcome.UNKNOWN)


@dataclass(frozen=True)
class FieldChange:
    """One of the primary's fields the merge changed: what it held before, what the merge left."""

    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class RevertOutcome:
    put_back: list[FieldChange] = field(default_factory=list)
    # Changed in the CRM since the merge (neither the merge's value nor the old one): left alone.
    changed_since: list[tuple[FieldChange, str | None]] = field(default_factory=list)
    already_back: list[FieldChange] = field(default_factory=list)

    @property
    def message(self) -> str:
        parts = []
        if self.put_back:
            parts.append("Put back " + ", ".join(c.field for c in self.put_back) + ".")
        if self.already_back:
            parts.append("Already as before the merge: " + ", ".join(c.field for c in self.already_back) + ".")
        if self.changed_since:
            parts.append(
                "Changed in the CRM since the merge, so left as they are: "
                + ", ".join(c.field for c, _ in self.changed_since)
                + "."
            )
        return " ".join(parts) or "Nothing to put back."


class RevertRefused(Exception):
    """The revert cannot be done; `message` says why, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def merge_changes(decision: Decision) -> list[FieldChange]:
    """The primary's fields the merge changed, from the decision's own record (no CRM call).

    Two kinds: the values the reviewer took from the secondary (written by PATCH), and, once the
    merge happened, the primary's empty fields the CRM filled from the secondary.
    """
    if decision.kind != Decision.Kind.MERGE or decision.outcome not in REVERTIBLE_OUTCOMES:
        return []
    merged = decision.outcome == Decision.Outcome.MERGED
    patched = merged or decision.calls.filter(step=CrmCall.Step.PATCH).exclude(outcome=CrmCall.Outcome.ERROR).exists()
    before, secondary = _values(decision.primary_before), _values(decision.secondary_before)
    changes: list[FieldChange] = []
    for name in dict.fromkeys([*CORE_FIELDS, *before, *decision.choices]):
        choice = decision.choices.get(name)
        if isinstance(choice, Mapping) and choice.get("kept") == "secondary" and patched:
            after = choice.get("value", secondary.get(name))
        elif merged and _is_empty(before.get(name)) and not _is_empty(secondary.get(name)):
            after = secondary.get(name)
        else:
            continue
        if after != before.get(name):
            changes.append(FieldChange(name, before.get(name), after))
    return changes


def do_revert_fields(
    *, decision: Decision, user: AbstractBaseUser, client: CrmClient | None = None
) -> RevertOutcome:
    """Put back the primary's pre-merge values for the fields the merge changed (PATCH).

    Reads the primary first and PATCHes only fields that still hold the merge's value; every
    call is recorded on the decision (step "revert"). CRM errors propagate as CrmError, after
    their CrmCall row was written; nothing is retried here beyond the client's own policy.
    """
    changes = merge_changes(decision)
    if not changes:
        raise RevertRefused("This decision changed none of the primary's fields, so there is nothing to put back.")
    primary_id = decision.primary_crm_id
    crm = client or CrmClient.from_settings()
    try:
        current = _read_customer(crm, decision, primary_id, user, step=CrmCall.Step.REVERT)
        if current is None:
            raise RevertRefused(
                f"The CRM no longer has customer {primary_id} (merged away or deleted since), so there is "
                "nothing to put the values back on."
            )
        now = _values(current.raw)
        outcome = RevertOutcome(
            put_back=[c for c in changes if now.get(c.field) == c.after],
            changed_since=[(c, now.get(c.field)) for c in changes if now.get(c.field) not in (c.after, c.before)],
            already_back=[c for c in changes if now.get(c.field) == c.before],
        )
        if outcome.put_back:
            values = {c.field: c.before for c in outcome.put_back}
            path = f"/v2/customers/{primary_id}"
            with recorded_call(decision, CrmCall.Step.REVERT, "PATCH", path, by=user, request_body=values):
                crm.update_fields(primary_id, values)
            # The snapshot keeps whole records with their expansions: read the primary back in full.
            # The values are back whatever this read answers (it is on the trail); the sync catches up.
            try:
                if refreshed := _read_customer(crm, decision, primary_id, user, step=CrmCall.Step.REFRESH):
                    refresh_customer(refreshed)
            except CrmError:
                pass
    finally:
        if client is None:  # a client handed in belongs to the caller
            crm.close()
    return outcome


def _read_customer(
    crm: CrmClient, decision: Decision, customer_id: str, user: AbstractBaseUser, *, step: str
) -> CrmCustomer | None:
    path = f"/v2/customers/?filter[id]={customer_id}&include={','.join(EXPANSIONS)}"
    with recorded_call(decision, step, "GET", path, by=user):
        page = crm.list_customers(page=1, per_page=1, filters={"id": customer_id}, include=EXPANSIONS)
    return next((c for c in page.customers if c.id == customer_id), None)


def _values(record: Mapping[str, Any]) -> dict[str, Any]:
    """A customer's core fields and custom fields by key, as PATCH names them."""
    values: dict[str, Any] = {key: record.get(key) for key in CORE_FIELDS}
    for item in record.get("fields") or ():
        if isinstance(item, Mapping) and isinstance(item.get("key"), str) and item["key"] not in values:
            values[item["key"]] = item.get("value")
    return values


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")
