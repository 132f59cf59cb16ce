"""The dashboard's figures: one function per question an admin asks, each one aggregate query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from mergeassist.audit.models import CrmCall, Decision
from mergeassist.review.models import CandidatePair
from mergeassist.review.scan import match_config

BAND_WIDTH = 5  # score points per band
# The threshold the decisions suggest: the lowest band from which reviewers accepted at least
# TARGET_ACCEPTANCE of the suggestions in every band above, counting bands with MIN_DECISIONS or more.
TARGET_ACCEPTANCE = 0.9
MIN_DECISIONS = 10


class DayOf(TruncDate):
    """TruncDate that SQLite can do natively when the day is a UTC day.

    Django's SQLite TruncDate calls a Python function per row (about a second for a year of
    decisions); SQLite keeps datetimes as UTC text, so its own date() gives the same day there.
    """

    def as_sqlite(self, compiler, connection, **extra_context):  # noqa: ANN001, ANN003, ANN201
        if timezone.get_current_timezone_name() != "UTC":
            return self.as_sql(compiler, connection, **extra_context)
        sql, params = compiler.compile(self.lhs)
        return f"date({sql})", params


@dataclass(frozen=True)
class ScoreBand:
    low: int
    accepted: int  # "Merge" chosen (whatever the CRM then answered)
    rejected: int  # "Not a duplicate"

    @property
    def decided(self) -> int:
        return self.accepted + self.rejected

    @property
    def share(self) -> float:
        return self.accepted / self.decided if self.decided else 0.0

    @property
    def label(self) -> str:
        return f"{self.low}–{self.low + BAND_WIDTH}"


@dataclass(frozen=True)
class ReviewerDecisions:
    reviewer: str
    merges: int
    not_duplicates: int


@dataclass(frozen=True)
class CallsOnDay:
    day: date
    ok: int
    failed: int  # errors and lost answers


@dataclass(frozen=True)
class DashboardFigures:
    days: int
    pending_pairs: int
    merges_per_day: list[tuple[date, int]]
    per_reviewer: list[ReviewerDecisions]
    calls_per_day: list[CallsOnDay]
    bands: list[ScoreBand]
    current_threshold: float
    suggested_threshold: int | None

    @property
    def merges(self) -> int:
        return sum(n for _, n in self.merges_per_day)

    @property
    def crm_calls(self) -> int:
        return sum(d.ok + d.failed for d in self.calls_per_day)

    @property
    def crm_failures(self) -> int:
        return sum(d.failed for d in self.calls_per_day)

    @property
    def crm_error_rate(self) -> float | None:
        return self.crm_failures / self.crm_calls if self.crm_calls else None


def dashboard_figures(days: int) -> DashboardFigures:
    today = timezone.localdate()
    first_day = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first_day, time.min))
    decisions = Decision.objects.filter(created_at__gte=since)
    per_reviewer, bands = decision_counts(decisions)
    return DashboardFigures(
        days=days,
        pending_pairs=CandidatePair.objects.filter(state=CandidatePair.State.PENDING).count(),
        merges_per_day=_merges_per_day(decisions, first_day, today),
        per_reviewer=per_reviewer,
        calls_per_day=_calls_per_day(since, first_day, today),
        bands=bands,
        current_threshold=match_config().threshold,
        suggested_threshold=suggested_threshold(bands),
    )


def _each_day(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _merges_per_day(decisions, first: date, last: date) -> list[tuple[date, int]]:  # noqa: ANN001
    counts = dict(
        decisions.filter(outcome=Decision.Outcome.MERGED)
        .annotate(day=DayOf("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    return [(day, counts.get(day, 0)) for day in _each_day(first, last)]


def _calls_per_day(since, first: date, last: date) -> list[CallsOnDay]:  # noqa: ANN001
    rows = (
        CrmCall.objects.filter(started_at__gte=since)
        .annotate(day=DayOf("started_at"))
        .values("day")
        .annotate(
            ok=Count("id", filter=Q(outcome=CrmCall.Outcome.OK)),
            failed=Count("id", filter=~Q(outcome=CrmCall.Outcome.OK)),
        )
    )
    by_day = {r["day"]: r for r in rows}
    return [
        CallsOnDay(day, by_day.get(day, {}).get("ok", 0), by_day.get(day, {}).get("failed", 0))
        for day in _each_day(first, last)
    ]


def decision_counts(decisions) -> tuple[list[ReviewerDecisions], list[ScoreBand]]:  # noqa: ANN001
    """Decisions per reviewer and per score band of BAND_WIDTH points (lowest first), in one pass."""
    rows = decisions.values_list("reviewer_username", "kind", _band()).annotate(n=Count("id")).order_by()
    reviewers: dict[str, list[int]] = {}
    bands: dict[int, list[int]] = {}
    for reviewer, kind, band, n in rows:
        side = 0 if kind == Decision.Kind.MERGE else 1
        reviewers.setdefault(reviewer, [0, 0])[side] += n
        if band is not None:
            bands.setdefault(band, [0, 0])[side] += n
    per_reviewer = sorted(
        (ReviewerDecisions(name, merges, rejected) for name, (merges, rejected) in reviewers.items()),
        key=lambda r: (-r.merges, r.reviewer),
    )
    return per_reviewer, [ScoreBand(low, accepted, rejected) for low, (accepted, rejected) in sorted(bands.items())]


def score_bands(decisions) -> list[ScoreBand]:  # noqa: ANN001
    return decision_counts(decisions)[1]


def _band() -> Case:
    """The start of the score's band, as plain comparisons both databases run natively (SQLite
    would call a Python function per row for FLOOR); 100 belongs with 95–100."""
    lows = range(100 - BAND_WIDTH, 0, -BAND_WIDTH)
    return Case(
        *(When(score__gte=low, then=Value(low)) for low in lows),
        When(score__isnull=False, then=Value(0)),
        default=None,
        output_field=IntegerField(),
    )


def suggested_threshold(bands: list[ScoreBand]) -> int | None:
    """The lowest band start from which every band (with enough decisions) meets TARGET_ACCEPTANCE.

    None when no band has enough decisions, or the top band itself falls short. Pairs under the
    current threshold are never shown, so the suggestion cannot go below the lowest band decided.
    """
    suggestion: int | None = None
    for band in sorted(bands, key=lambda b: b.low, reverse=True):
        if band.decided < MIN_DECISIONS:
            continue
        if band.share < TARGET_ACCEPTANCE:
            break
        suggestion = band.low
    return suggestion
