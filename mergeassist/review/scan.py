"""The scan: run the matching engine over the snapshot and bring the candidate pairs up to date.

Decisions are never undone by a scan: a pair marked "not a duplicate" stays rejected, a merged pair
stays in history. Pending pairs get fresh scores; pending pairs that no longer score, or whose
customers are gone, are retired.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mergeassist.crm.ids import InvalidCrmId, canonical_id, id_sort_key
from mergeassist.crm.models import Customer
from mergeassist.matching import DEFAULT_THRESHOLD, MatchConfig, Record, find_duplicates
from mergeassist.review.models import CandidatePair, Cluster, ScanRun
from mergeassist.review.reasons import REASON_LABELS, reason_flags

logger = logging.getLogger(__name__)

RECORD_FIELDS = (
    "crm_id", "name_first", "name_last", "email", "phone", "company_name",
    "address1", "address2", "city", "state", "zip", "country",
)  # fmt: skip
BATCH = 1000


def match_config() -> MatchConfig:
    threshold = settings.MERGEASSIST_MATCH_THRESHOLD
    return MatchConfig(
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        weights=settings.MERGEASSIST_MATCH_WEIGHTS or None,
        phone_region=settings.MERGEASSIST_PHONE_REGION,
    )


def snapshot_records() -> Iterator[Record]:
    """The live customers as the engine's plain records (empty strings become missing values)."""
    rows = Customer.objects.filter(is_gone=False).values_list(*RECORD_FIELDS).iterator(chunk_size=5000)
    for crm_id, *values in rows:
        yield Record(crm_id, *(value or None for value in values))


@dataclass
class PairUpdate:
    pair_key: str
    id_a: str
    id_b: str
    score: float
    explanation: list[dict]
    cluster_index: int | None


def do_scan() -> ScanRun:
    """Scan the snapshot for duplicates and update the candidate pairs; returns the finished run."""
    config = match_config()
    scan = ScanRun.objects.create(threshold=config.threshold)
    try:
        records = list(snapshot_records())
        result = find_duplicates(records, config)
        scan.customers_scanned = len(records)
        scan.candidate_pairs = int(result.stats.get("candidate_pairs", 0))
        cluster_of: dict[str, int] = {}
        for index, cluster in enumerate(result.clusters):
            for crm_id in cluster.ids:
                cluster_of[crm_id] = index
        updates = [
            PairUpdate(pair_key_of(p.id_a, p.id_b), p.id_a, p.id_b, p.score, p.explanation, cluster_of.get(p.id_a))
            for p in result.pairs
            if p.is_match
        ]
        with transaction.atomic():
            clusters = _save_clusters(scan, result.clusters)
            _apply_pair_updates(scan, updates, clusters)
            scan.clusters = len(clusters)
            scan.status = ScanRun.Status.SUCCEEDED
            scan.finished_at = timezone.now()
            scan.save()
    except Exception as exc:
        logger.exception("Scan %s failed", scan.pk)
        ScanRun.objects.filter(pk=scan.pk).update(
            status=ScanRun.Status.FAILED, finished_at=timezone.now(), error_message=str(exc)[:2000]
        )
        raise
    return scan


def _save_clusters(scan: ScanRun, found: list) -> list[Cluster]:
    # Only the newest scan's clusters mean anything; older ones go (pairs keep their history).
    Cluster.objects.exclude(scan=scan).delete()
    clusters = [
        Cluster(
            scan=scan,
            size=len(cluster.ids),
            weakest_score=cluster.weakest_link[2],
            weakest_pair_key=pair_key_of(cluster.weakest_link[0], cluster.weakest_link[1]),
        )
        for cluster in found
    ]
    return Cluster.objects.bulk_create(clusters, batch_size=BATCH)


def pair_key_of(id_a: str, id_b: str) -> str:
    """The order-independent key of two customers, in their canonical ids ("041" is "41").

    Raises InvalidCrmId for one customer named twice: no pair can ask to merge it into itself.
    """
    first, second = sorted((canonical_id(id_a), canonical_id(id_b)), key=id_sort_key)
    if first == second:
        raise InvalidCrmId(f"customer {first} cannot be paired with itself")
    return f"{first}|{second}"


def _apply_pair_updates(scan: ScanRun, updates: list[PairUpdate], clusters: list[Cluster]) -> None:
    now = timezone.now()
    existing = {pair.pair_key: pair for pair in CandidatePair.objects.all().iterator(chunk_size=5000)}
    customer_pk = _customer_pks({u.id_a for u in updates} | {u.id_b for u in updates})
    to_create: list[CandidatePair] = []
    to_rescore: list[CandidatePair] = []
    seen: set[str] = set()
    for update in updates:
        seen.add(update.pair_key)
        cluster = clusters[update.cluster_index] if update.cluster_index is not None else None
        pair = existing.get(update.pair_key)
        if pair is None:
            to_create.append(
                CandidatePair(
                    pair_key=update.pair_key,
                    customer_a_id=customer_pk[update.id_a],
                    customer_b_id=customer_pk[update.id_b],
                    score=update.score,
                    explanation=update.explanation,
                    **reason_flags(update.explanation),
                    cluster=cluster,
                    first_seen_at=now,
                    last_scored_at=now,
                )
            )
        elif pair.state == CandidatePair.State.PENDING:
            pair.score, pair.explanation, pair.cluster, pair.last_scored_at = (
                update.score, update.explanation, cluster, now,
            )  # fmt: skip
            for flag, value in reason_flags(update.explanation).items():
                setattr(pair, flag, value)
            to_rescore.append(pair)
        else:
            scan.pairs_kept_decided += 1
    stale = [
        pair.pk for key, pair in existing.items() if key not in seen and pair.state == CandidatePair.State.PENDING
    ]
    CandidatePair.objects.bulk_create(to_create, batch_size=BATCH)
    CandidatePair.objects.bulk_update(
        to_rescore, ["score", "explanation", "cluster", "last_scored_at", *REASON_LABELS], batch_size=BATCH
    )
    for start in range(0, len(stale), BATCH):
        CandidatePair.objects.filter(pk__in=stale[start : start + BATCH], state=CandidatePair.State.PENDING).update(
            state=CandidatePair.State.RETIRED, decided_at=now
        )
    scan.pairs_created = len(to_create)
    scan.pairs_rescored = len(to_rescore)
    scan.pairs_retired = len(stale)


def _customer_pks(crm_ids: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    ids = list(crm_ids)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        found.update(Customer.objects.filter(crm_id__in=chunk).values_list("crm_id", "pk"))
    return found
