"""The history's queries: filter, one page by keyset, a bounded count, and the export's rows.

Pages are cut by keyset on (created_at, id), newest first, never by OFFSET: page 2,000 of 100,000
decisions costs what page 1 does, with the indexes of migration 0002. The count stops at
COUNT_LIMIT, because an exact count of a broad filter is the one query that grows with the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from mergeassist.audit.forms import NOTE_PENDING, NOTE_UNDELIVERABLE, HistoryQuery
from mergeassist.audit.models import Decision
from mergeassist.crm.ids import parse_crm_id

COUNT_LIMIT = 10_000
LIST_COLUMNS = (
    "id", "kind", "outcome", "note_status", "reviewer_username", "created_at", "score",
    "primary_crm_id", "primary_name", "primary_email",
    "secondary_crm_id", "secondary_name", "secondary_email",
)  # fmt: skip
_DIGITS = re.compile(r"[0-9]+")
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")  # a whole address; "@gmail.com" searches by part


class UnknownCursor(Exception):
    """The page cursor names a decision that does not exist (a hand-edited URL)."""


@dataclass(frozen=True)
class HistoryPage:
    decisions: list[Decision]
    count: int  # capped at COUNT_LIMIT + 1
    newer_cursor: int | None  # ?after=<id> for the newer page, None on the first page
    older_cursor: int | None  # ?before=<id> for the older page, None on the last page

    @property
    def count_is_capped(self) -> bool:
        return self.count > COUNT_LIMIT

    @property
    def shown_count(self) -> int:
        return min(self.count, COUNT_LIMIT)


def reviewer_names() -> list[str]:
    """Everyone who ever decided, for the reviewer filter (a walk of the reviewer index)."""
    return list(Decision.objects.order_by("reviewer_username").values_list("reviewer_username", flat=True).distinct())


def filter_decisions(query: HistoryQuery) -> QuerySet[Decision]:
    decisions = Decision.objects.all()
    if query.date_from:
        decisions = decisions.filter(created_at__gte=_start_of(query.date_from))
    if query.date_to:
        decisions = decisions.filter(created_at__lt=_start_of(query.date_to + timedelta(days=1)))
    if query.reviewer:
        decisions = decisions.filter(reviewer_username=query.reviewer)
    if query.outcome == NOTE_PENDING:
        decisions = decisions.filter(note_status=Decision.NoteStatus.PENDING)
    elif query.outcome == NOTE_UNDELIVERABLE:
        decisions = decisions.filter(note_status=Decision.NoteStatus.UNDELIVERABLE)
    elif query.outcome:
        decisions = decisions.filter(outcome=query.outcome)
    if query.search:
        decisions = _search(decisions, query.search)
    return decisions


def _search(decisions: QuerySet[Decision], term: str) -> QuerySet[Decision]:
    """A customer id or a whole email address finds decisions on either side (by index); other
    text looks for a part of either customer's name or email (a scan).

    Both sides are searched on purpose: the secondary is the customer the merge deleted, and
    finding it by the address it had is the reason this page exists.
    """
    crm_id = parse_crm_id(term)
    by_id = Q(primary_crm_id=crm_id) | Q(secondary_crm_id=crm_id) if crm_id else Q(pk__in=[])
    if _DIGITS.fullmatch(term):
        return decisions.filter(by_id)
    if _ADDRESS.fullmatch(term):
        address = term.lower()
        return decisions.alias(primary_lower=Lower("primary_email"), secondary_lower=Lower("secondary_email")).filter(
            Q(primary_lower=address) | Q(secondary_lower=address)
        )
    return decisions.filter(
        by_id
        | Q(primary_email__icontains=term)
        | Q(secondary_email__icontains=term)
        | Q(primary_name__icontains=term)
        | Q(secondary_name__icontains=term)
    )


def _start_of(day) -> datetime:  # noqa: ANN001 - a date
    return timezone.make_aware(datetime.combine(day, time.min))


def history_page(query: HistoryQuery) -> HistoryPage:
    """One page of the filtered history, newest first, cut at the query's cursor."""
    decisions = filter_decisions(query).only(*LIST_COLUMNS)
    count = decisions.order_by()[: COUNT_LIMIT + 1].count()
    size = query.per_page
    if query.after:
        # The newer page: read upwards from the cursor, then show it newest first again.
        anchor = _anchor(query.after)
        rows = list(decisions.filter(_newer_than(anchor)).order_by("created_at", "id")[: size + 1])
        has_newer = len(rows) > size
        rows = rows[:size][::-1]
        has_older = True
    else:
        if query.before:
            decisions = decisions.filter(_older_than(_anchor(query.before)))
        rows = list(decisions.order_by("-created_at", "-id")[: size + 1])
        has_older = len(rows) > size
        rows = rows[:size]
        has_newer = query.before is not None and bool(rows)
    return HistoryPage(
        decisions=rows,
        count=count,
        newer_cursor=rows[0].id if rows and has_newer else None,
        older_cursor=rows[-1].id if rows and has_older else None,
    )


def _anchor(decision_id: int) -> tuple[datetime, int]:
    created_at = Decision.objects.filter(pk=decision_id).values_list("created_at", flat=True).first()
    if created_at is None:
        raise UnknownCursor(f"There is no decision {decision_id} to page from.")
    return created_at, decision_id


# (created_at, id) < (c, pk), spelt so the first term is a plain range the index can seek to;
# the OR alone would make SQLite and PostgreSQL scan from the newest row.
def _older_than(anchor: tuple[datetime, int]) -> Q:
    created_at, pk = anchor
    return Q(created_at__lte=created_at) & (Q(created_at__lt=created_at) | Q(id__lt=pk))


def _newer_than(anchor: tuple[datetime, int]) -> Q:
    created_at, pk = anchor
    return Q(created_at__gte=created_at) & (Q(created_at__gt=created_at) | Q(id__gt=pk))


EXPORT_HEADER = (
    "decision_id", "decided_at", "kind", "outcome", "note_status", "reviewer", "score",
    "primary_id", "primary_name", "primary_email", "secondary_id", "secondary_name", "secondary_email",
)  # fmt: skip
_EXPORT_COLUMNS = (
    "id", "created_at", "kind", "outcome", "note_status", "reviewer_username", "score",
    "primary_crm_id", "primary_name", "primary_email", "secondary_crm_id", "secondary_name", "secondary_email",
)  # fmt: skip


def export_rows(query: HistoryQuery) -> Iterator[tuple[object, ...]]:
    """Every decision the filter matches (no paging), newest first, read in chunks from a cursor."""
    decisions = filter_decisions(query).order_by("-created_at", "-id").values_list(*_EXPORT_COLUMNS)
    for row in decisions.iterator(chunk_size=2000):
        created_at, score = row[1], row[6]
        yield (row[0], created_at.isoformat(), *row[2:6], "" if score is None else f"{score:.1f}", *row[7:])
