"""The review queue: pending pairs strongest first, filtered and searched, a page at a time.

Paging is by keyset (the last row's position), not by offset, so page 400 of 100,000 pending pairs
costs what page 1 does: the database walks the (state, -score, id) index from the cursor and stops
after one page. A reviewer's skipped pairs come after everything else, for that reviewer only: the
queue is read in two phases (not skipped, then skipped), each a walk of that same index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, F, FilteredRelation, OuterRef, Q, QuerySet

from mergeassist.crm.ids import parse_crm_id
from mergeassist.crm.models import Customer, display_name_of
from mergeassist.matching.normalise import fold
from mergeassist.review.forms import SCORE_BANDS, QueuePosition, QueueQuery
from mergeassist.review.models import CandidatePair, Cluster, PairSkip
from mergeassist.review.reasons import REASON_LABELS, top_reasons

User = AbstractBaseUser | AnonymousUser
# The clusters panel lists this many of the strongest clusters of three or more.
CLUSTERS_SHOWN = 10
# The clusters panel reads the pending pairs of groups this many at a time.
CLUSTER_WALK_STEP = 200
# Every pending pair's customers whose name or email contains the search: capped, so a one-letter
# search cannot make the page build a list of 100,000 ids.
MAX_SEARCH_CUSTOMERS = 500
# A filtered queue counts its matches up to here and then says "more than": an exact count of a
# filter over 100,000 pairs would cost more than the page itself.
COUNT_CAP = 1000
# What a queue row shows, read as plain values: building 300 model instances (each pair and its
# two customers) per page of 100 cost more than the page's SQL.
ROW_COLUMNS = (
    "pk", "score", "explanation", "cluster_id", "group_size",
    *(f"{side}__{name}" for side in ("customer_a", "customer_b") for name in ("crm_id", "name_first", "name_last", "email")),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class QueueCustomer:
    crm_id: str
    name: str
    email: str


@dataclass(frozen=True)
class QueueRow:
    pair_id: int
    score: float
    customer_a: QueueCustomer
    customer_b: QueueCustomer
    reasons: list[str]
    cluster_id: int | None
    # Customers in the pair's cluster when the scan grouped them (2 for a pair alone).
    cluster_size: int
    position: QueuePosition

    @property
    def skipped(self) -> bool:
        return self.position.skipped


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    next_cursor: str | None
    is_first: bool
    total_is_capped: bool = False


def pending_pairs() -> QuerySet[CandidatePair]:
    return CandidatePair.objects.filter(state=CandidatePair.State.PENDING)


def filtered_pairs(query: QueueQuery) -> QuerySet[CandidatePair]:
    pairs = pending_pairs()
    if query.band:
        low, high = SCORE_BANDS[query.band]
        pairs = pairs.filter(score__gte=low)
        if high is not None:
            pairs = pairs.filter(score__lt=high)
    if query.reason:
        assert query.reason in REASON_LABELS  # the form's choices
        pairs = pairs.filter(**{query.reason: True})
    if query.subscription == "yes":
        pairs = pairs.filter(Q(customer_a__active_subscriptions__gt=0) | Q(customer_b__active_subscriptions__gt=0))
    elif query.subscription == "no":
        pairs = pairs.filter(customer_a__active_subscriptions=0, customer_b__active_subscriptions=0)
    if query.search:
        pairs = pairs.filter(pk__in=_pairs_of(_customers_matching(query.search)))
    return pairs


def _pairs_of(customer_pks: list[int]) -> list[int]:
    """The pending pairs of these customers, found through each side's foreign-key index (an OR of
    the two sides in one query would walk the whole queue instead)."""
    pending = CandidatePair.objects.filter(state=CandidatePair.State.PENDING)
    found = set(pending.filter(customer_a__in=customer_pks).values_list("pk", flat=True)[:MAX_SEARCH_CUSTOMERS])
    found.update(pending.filter(customer_b__in=customer_pks).values_list("pk", flat=True)[:MAX_SEARCH_CUSTOMERS])
    return sorted(found)


def _customers_matching(term: str) -> list[int]:
    """The snapshot rows a search names: a CRM id exactly, else the start of a name or an email.

    Prefixes of the normalised search columns are ranges on their indexes, so a search costs the
    same at 100,000 customers as at 1,000 ("ann", "ann lee", "lee ann", "ann.lee@ex").
    """
    crm_id = parse_crm_id(term)
    if crm_id is not None:
        found = list(Customer.objects.filter(crm_id=crm_id).values_list("pk", flat=True)[:1])
        if found:
            return found
    name = fold(term)
    by_text = _prefix("search_email", term.strip().lower())
    if name:
        by_text |= _prefix("search_name", name)
        words = name.split(" ")
        if len(words) > 1:
            by_text |= _prefix("search_name", " ".join(words[1:] + words[:1]))  # "lee ann" finds Ann Lee
    # No is_gone filter and no ordering here: either would steer the database off the two indexes
    # (gone customers have no pending pairs anyway).
    return list(Customer.objects.filter(by_text).order_by().values_list("pk", flat=True)[:MAX_SEARCH_CUSTOMERS])


def _prefix(column: str, value: str) -> Q:
    # A range, not LIKE 'x%': SQLite's LIKE ignores case and so cannot use the index.
    return Q(**{f"{column}__gte": value, f"{column}__lt": value + "\U0010ffff"}) if value else Q(pk__in=[])


def _fresh(pairs: QuerySet[CandidatePair], reviewer: User) -> QuerySet[CandidatePair]:
    """The pairs the reviewer has not skipped, strongest first: a walk of the queue index."""
    skipped = Exists(PairSkip.objects.filter(pair=OuterRef("pk"), user_id=reviewer.pk))
    return pairs.filter(~skipped).order_by("-score", "pk")


def _skipped(pairs: QuerySet[CandidatePair], reviewer: User) -> QuerySet[CandidatePair]:
    """The pairs the reviewer skipped, in the order skipped (a reviewer skips few: this stays small)."""
    # A join on the reviewer's own skips (not a subquery per pending pair): the database can start
    # from the handful of PairSkip rows instead of walking every pending pair.
    mine = FilteredRelation("skips", condition=Q(skips__user_id=reviewer.pk))
    return (
        pairs.annotate(my_skip=mine)
        .filter(my_skip__isnull=False)
        .annotate(skipped_at=F("my_skip__skipped_at"))
        .order_by("skipped_at", "pk")
    )


def _after(position: QueuePosition) -> Q:
    """Rows after `position` within its phase."""
    if position.skipped_at is not None:
        return Q(skipped_at__gt=position.skipped_at) | Q(skipped_at=position.skipped_at, pk__gt=position.pair_id)
    # The redundant `score <= s` lets the database start its walk of the (state, -score, id) index
    # at the position; the OR alone would make it walk from the top of the queue.
    return Q(score__lte=position.score) & (Q(score__lt=position.score) | Q(score=position.score, pk__gt=position.pair_id))


def _before(position: QueuePosition) -> Q:
    if position.skipped_at is not None:
        return Q(skipped_at__lt=position.skipped_at) | Q(skipped_at=position.skipped_at, pk__lt=position.pair_id)
    return Q(score__gte=position.score) & (Q(score__gt=position.score) | Q(score=position.score, pk__lt=position.pair_id))


def queue_page(reviewer: User, query: QueueQuery) -> QueuePage:
    """One page of the reviewer's queue after `query.after`; the query count is the same for any page size."""
    pairs = filtered_pairs(query)
    after = query.after
    limit = query.per_page + 1  # one more tells whether a next page exists
    found: list[QueueRow] = []
    if after is None or not after.skipped:
        fresh = _fresh(pairs, reviewer)
        if after is not None:
            fresh = fresh.filter(_after(after))
        found += [_row(values) for values in fresh.values_list(*ROW_COLUMNS)[:limit]]
    if len(found) < limit:
        skipped = _skipped(pairs, reviewer)
        if after is not None and after.skipped:
            skipped = skipped.filter(_after(after))
        found += [_row(values) for values in skipped.values_list(*ROW_COLUMNS, "skipped_at")[: limit - len(found)]]
    rows = found[: query.per_page]
    has_more = len(found) > query.per_page
    # Unfiltered, the count is one walk of the (state, ...) index; filtered, it stops at the cap.
    total = pairs.count() if not query.is_filtered else pairs[: COUNT_CAP + 1].count()
    return QueuePage(
        rows=rows,
        total=min(total, COUNT_CAP) if query.is_filtered else total,
        next_cursor=rows[-1].position.as_cursor() if has_more and rows else None,
        is_first=after is None,
        total_is_capped=query.is_filtered and total > COUNT_CAP,
    )


def _row(values: tuple[Any, ...]) -> QueueRow:
    pk, score, explanation, cluster_id, group_size, a_id, a_first, a_last, a_email, b_id, b_first, b_last, b_email = values[:13]
    skipped_at = values[13] if len(values) > 13 else None
    return QueueRow(
        pair_id=pk,
        score=score,
        customer_a=QueueCustomer(a_id, display_name_of(a_first, a_last, a_email, a_id), a_email),
        customer_b=QueueCustomer(b_id, display_name_of(b_first, b_last, b_email, b_id), b_email),
        reasons=top_reasons(explanation),
        cluster_id=cluster_id,
        cluster_size=group_size,
        position=QueuePosition(pair_id=pk, score=score, skipped_at=skipped_at),
    )


def position_of(pair: CandidatePair, reviewer: User) -> QueuePosition:
    skip = PairSkip.objects.filter(pair=pair, user_id=reviewer.pk).first()
    return QueuePosition(pair_id=pair.pk, score=pair.score, skipped_at=skip.skipped_at if skip else None)


def next_pair(reviewer: User, query: QueueQuery, position: QueuePosition) -> CandidatePair | None:
    """The pair after `position` in the reviewer's queue; past the end, the queue's first other pair."""
    # Only where it is: the screen links to it by id.
    pairs = filtered_pairs(query).exclude(pk=position.pair_id).only("pk", "score")
    if not position.skipped:
        found = _fresh(pairs, reviewer).filter(_after(position)).first()
        if found is None:
            found = _skipped(pairs, reviewer).first()
    else:
        found = _skipped(pairs, reviewer).filter(_after(position)).first()
    if found is None:
        # Past the end: start again from the top, so pairs above one opened by hand are not lost.
        found = _fresh(pairs, reviewer).first() or _skipped(pairs, reviewer).first()
    return found


def previous_pair(reviewer: User, query: QueueQuery, position: QueuePosition) -> CandidatePair | None:
    """The pair before `position` in the reviewer's queue, or None at the top."""
    pairs = filtered_pairs(query).exclude(pk=position.pair_id).only("pk", "score")
    if position.skipped:
        found = _skipped(pairs, reviewer).filter(_before(position)).reverse().first()
        if found is not None:
            return found
        return _fresh(pairs, reviewer).reverse().first()
    return _fresh(pairs, reviewer).filter(_before(position)).reverse().first()


@dataclass(frozen=True)
class ClusterSummary:
    cluster: Cluster
    pending: int
    strongest: float


def clusters_to_review(limit: int = CLUSTERS_SHOWN) -> list[ClusterSummary]:
    """Clusters of three or more customers with pending pairs, strongest pair first.

    A walk of the pending pairs of such groups, strongest first (their own partial index), until
    `limit` clusters are seen: it stops after a few dozen rows however many clusters exist, where
    asking every cluster for its strongest pair costs a lookup per cluster.
    """
    strongest: dict[int, float] = {}
    walk = (
        CandidatePair.objects.filter(state=CandidatePair.State.PENDING, group_size__gte=3)
        .order_by("-score", "pk")
        .values_list("cluster_id", "score", "pk")
    )
    after: Q | None = None
    while len(strongest) < limit:
        step = list((walk.filter(after) if after is not None else walk)[:CLUSTER_WALK_STEP])
        for cluster_id, score, _ in step:
            if cluster_id is not None:  # its cluster deleted by an admin
                strongest.setdefault(cluster_id, score)
            if len(strongest) == limit:
                break
        if len(step) < CLUSTER_WALK_STEP:
            break
        _, last_score, last_pk = step[-1]
        after = _after(QueuePosition(pair_id=last_pk, score=last_score))
    if not strongest:
        return []
    pending = dict(
        CandidatePair.objects.filter(state=CandidatePair.State.PENDING, cluster_id__in=strongest)
        .order_by()
        .values("cluster_id")
        .annotate(n=Count("pk"))
        .values_list("cluster_id", "n")
    )
    clusters = Cluster.objects.in_bulk(list(strongest))
    return [
        ClusterSummary(clusters[cluster_id], pending.get(cluster_id, 0), score)
        for cluster_id, score in strongest.items()
        if cluster_id in clusters
    ]


def pending_pairs_of(crm_ids: Iterable[str]) -> dict[str, int]:
    """For the customer list's badges: customer id -> the strongest pending pair it is in."""
    ids = [crm_id for crm_id in crm_ids if crm_id]
    if not ids:
        return {}
    crm_id_of = dict(Customer.objects.filter(crm_id__in=ids).values_list("pk", "crm_id"))
    # Each side through its own foreign-key index: an OR of the two sides ordered by score would
    # walk the whole queue index instead.
    pending = CandidatePair.objects.filter(state=CandidatePair.State.PENDING)
    found: dict[str, tuple[float, int]] = {}
    for side in ("customer_a", "customer_b"):
        for customer_pk, pair_id, score in pending.filter(**{f"{side}__in": list(crm_id_of)}).values_list(side, "pk", "score"):
            crm_id = crm_id_of[customer_pk]
            best = found.get(crm_id)
            if best is None or (-score, pair_id) < (-best[0], best[1]):
                found[crm_id] = (score, pair_id)
    return {crm_id: pair_id for crm_id, (_, pair_id) in found.items()}
