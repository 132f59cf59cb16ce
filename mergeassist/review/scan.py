"""The scan: run the matching engine over the snapshot and bring the candidate pairs up to date.

Decisions are never undone by a scan: a pair marked "not a duplicate" stays rejected, a merged pair
stays in history, and the clusters decided pairs point to are kept. Pending pairs get fresh scores;
pending pairs that no longer score, or whose customers are gone, are retired; a retired pair whose
customers score again comes back as pending.

One scan runs at a time: the database refuses a second running ScanRun (`one_scan_running`).

A scan is incremental when it can be: the engine's state after a scan (normalised columns, every
candidate pair and its score) is kept in the scan cache (`scan_cache.py`), and the next scan
normalises again only the customers synced since, scores only the pairs that involve them (or
that blocking reaches anew), and writes only the pairs and clusters that changed. Its pairs and
clusters equal a full scan's on the same snapshot. The cache is rebuilt by a full scan when the
engine's settings or code change, when the cache is missing or belongs to another scan, or when
many customers changed.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, models, reset_queries, transaction
from django.db.models import Min, Q
from django.utils import timezone

from mergeassist.core.dbstats import refresh_planner_statistics
from mergeassist.crm.ids import InvalidCrmId, canonical_id, id_sort_key
from mergeassist.crm.models import Customer, SyncRun
from mergeassist.crm.types import CORE_FIELDS
from mergeassist.matching import DEFAULT_THRESHOLD, MatchConfig, MatchResult, run_full, run_incremental
from mergeassist.review import scan_cache
from mergeassist.review.models import CandidatePair, Cluster, ScanRun
from mergeassist.review.reasons import REASON_LABELS, reason_flags_in_bulk

logger = logging.getLogger(__name__)

# The engine compares every customer field but the country (see docs/matching.md).
MATCHED_FIELDS: tuple[str, ...] = tuple(name for name in CORE_FIELDS if name != "country")
BATCH = 1000
# Pairs explained and written per step: bounds the memory explanations take (~2 KB a pair).
WRITE_CHUNK = 5000
READ_CHUNK = 20_000
# SQLite's page cache while a scan writes its pairs (see _page_cache_for_big_writes).
WRITE_CACHE_KIB = 256 * 1024
# A running scan whose heartbeat is older than this is presumed dead (a crash, a kill -9) and no
# longer blocks the next one. Far longer than any stage of a 1M-customer scan.
STALE_AFTER = timedelta(minutes=30)
# Customers written by something else than a sync run (a merge refreshing its survivor) may
# commit a moment after their synced_at: the next incremental scan looks back this far too.
SNAPSHOT_MARGIN = timedelta(minutes=5)
# Past this share of changed customers a full scan costs about as much and is simpler.
INCREMENTAL_UP_TO = 0.3

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class ScanAlreadyRunning(Exception):
    """Another scan holds the running slot."""

    def __init__(self, run: ScanRun | None) -> None:
        self.run = run
        since = f" (started {run.started_at:%Y-%m-%d %H:%M:%S} UTC)" if run is not None else ""
        super().__init__(f"A scan is already running{since}; wait for it to finish.")


def match_config() -> MatchConfig:
    threshold = settings.MERGEASSIST_MATCH_THRESHOLD
    return MatchConfig(
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        weights=settings.MERGEASSIST_MATCH_WEIGHTS or None,
        phone_region=settings.MERGEASSIST_PHONE_REGION,
    )


def pair_key_of(id_a: str, id_b: str) -> str:
    """The order-independent key of two customers, in their canonical ids ("041" is "41"), in
    `mergeassist.crm.ids` order (numbers first, as numbers).

    Raises InvalidCrmId for one customer named twice: no pair can ask to merge it into itself.
    """
    first, second = sorted((canonical_id(id_a), canonical_id(id_b)), key=id_sort_key)
    if first == second:
        raise InvalidCrmId(f"customer {first} cannot be paired with itself")
    return f"{first}|{second}"


# -- one scan at a time -------------------------------------------------------------------------


def claim_scan() -> ScanRun:
    """A new running ScanRun, or ScanAlreadyRunning when a live one exists.

    The check and the insert share a transaction (on SQLite it holds the write lock); on
    PostgreSQL two transactions may both pass the check, and then the `one_scan_running`
    constraint refuses the second insert.
    """
    try:
        with transaction.atomic():
            now = timezone.now()
            running = ScanRun.objects.filter(status=ScanRun.Status.RUNNING)
            live = running.filter(heartbeat_at__gte=now - STALE_AFTER).first()
            if live is not None:
                raise ScanAlreadyRunning(live)
            running.filter(heartbeat_at__lt=now - STALE_AFTER).update(
                status=ScanRun.Status.FAILED, finished_at=now, error_message="Stopped without finishing (no heartbeat)."
            )
            return ScanRun.objects.create(threshold=0.0, started_at=now, heartbeat_at=now)
    except IntegrityError:
        raise ScanAlreadyRunning(ScanRun.objects.filter(status=ScanRun.Status.RUNNING).first()) from None


def _beat(scan: ScanRun) -> None:
    scan.heartbeat_at = timezone.now()
    ScanRun.objects.filter(pk=scan.pk).update(heartbeat_at=scan.heartbeat_at)


# -- the scan -----------------------------------------------------------------------------------


@dataclass
class _Snapshot:
    """The scan's rows: one per customer row the engine state holds, in primary-key order."""

    pks: np.ndarray  # int64 Customer pk per row, ascending
    ids: list[str]
    live: np.ndarray  # bool per row: False for a customer gone since the state was built
    changed_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def do_scan(*, full: bool = False, big_run: bool = False, on_progress: Progress | None = None) -> ScanRun:
    """Scan the snapshot for duplicates and update the candidate pairs; returns the finished run.

    Incremental when the scan cache allows (see the module docstring), unless `full`. `big_run`
    is for processes that exist to scan (the `scan` command): see
    `mergeassist.matching.find_duplicates_in_columns`. Raises ScanAlreadyRunning.
    """
    progress = on_progress or (lambda stage, done, total: None)
    config = match_config()
    scan = claim_scan()
    try:
        scan.threshold = config.threshold
        scan.snapshot_at = _snapshot_horizon()
        key = scan_cache.config_key(config)
        cached = None if full else _usable_cache(key)
        if cached is not None:
            snapshot, fields = _changed_customers(cached, progress)
            if snapshot is None:
                cached = None
        if cached is None:
            scan.kind = ScanRun.Kind.FULL
            snapshot, fields = _all_customers(progress)
            progress("matching", 0, len(snapshot.ids))
            result, state = run_full(snapshot.ids, fields, config, big_run=big_run)
        else:
            scan.kind = ScanRun.Kind.INCREMENTAL
            progress("matching", 0, int(snapshot.changed_rows.size))
            result, state = run_incremental(
                cached["state"], snapshot.ids, snapshot.live, snapshot.changed_rows, fields, config
            )
        del fields
        progress("matching", int(result.stats["records"]), int(result.stats["records"]))
        _beat(scan)
        scan.engine_stats = result.stats  # not stored: for the command's verbose line
        scan.customers_scanned = int(result.stats["records"])
        scan.candidate_pairs = int(result.stats["candidate_pairs"])
        scan.state_token = uuid.uuid4().hex
        with _page_cache_for_big_writes(), transaction.atomic():
            written = _write(scan, result, snapshot, cached, progress)
            scan.status = ScanRun.Status.SUCCEEDED
            scan.finished_at = scan.heartbeat_at = timezone.now()
            scan.save()
        # The queue's plans depend on what the pair table holds; a scan is what changes it.
        try:
            refresh_planner_statistics(CandidatePair, Cluster, Customer)
        except DatabaseError:  # the scan stands; the queue is slower until the next one
            logger.warning("Could not refresh the planner's statistics", exc_info=True)
        try:
            scan_cache.save(
                key, scan.state_token, pks=snapshot.pks, ids=snapshot.ids, live=snapshot.live, state=state, **written
            )
        except OSError:  # the scan stands; the next one is a full one
            logger.warning("Could not write the scan cache", exc_info=True)
    except BaseException as exc:  # KeyboardInterrupt too: the row must not claim to be running
        logger.exception("Scan %s failed", scan.pk)
        ScanRun.objects.filter(pk=scan.pk).update(
            status=ScanRun.Status.FAILED, finished_at=timezone.now(), error_message=_message(exc)[:2000]
        )
        raise
    return scan


@contextmanager
def _page_cache_for_big_writes() -> Iterator[None]:
    """On SQLite, a page cache of WRITE_CACHE_KIB for the scan's write transaction, then the
    connection's own again. Its inserts touch seven indexes of the pair table in random order;
    with SQLite's default 2 MB cache their pages are spilled and read back over and over."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = {-WRITE_CACHE_KIB}")  # negative: a size in KiB
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def _message(exc: BaseException) -> str:
    return "Interrupted." if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"


def _snapshot_horizon() -> Any:
    """From when on a synced customer may be newer than what this scan reads: now, or the start
    of a sync still running (its rows commit page by page), less a margin."""
    now = timezone.now()
    running_since = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).aggregate(since=Min("started_at"))["since"]
    return min(now, running_since or now) - SNAPSHOT_MARGIN


def _usable_cache(key: str) -> dict[str, Any] | None:
    last = ScanRun.objects.filter(status=ScanRun.Status.SUCCEEDED).order_by("-finished_at", "-pk").first()
    if last is None or not last.state_token or last.snapshot_at is None:
        return None
    cached = scan_cache.load(key, last.state_token)
    if cached is not None:
        cached["since"] = last.snapshot_at
    return cached


def _columns_of(rows: list[tuple], columns: list[list[Any]]) -> None:
    for column, values in zip(columns, zip(*rows)):
        column.extend(values)


def _all_customers(progress: Progress) -> tuple[_Snapshot, dict[str, list[Any]]]:
    """Every live customer, column-wise, in primary-key order (values_list in chunks)."""
    total = Customer.objects.filter(is_gone=False).count()
    columns: list[list[Any]] = [[] for _ in range(2 + len(MATCHED_FIELDS))]
    query = Customer.objects.filter(is_gone=False).order_by("pk").values_list("pk", "crm_id", *MATCHED_FIELDS)
    rows: list[tuple] = []
    for row in query.iterator(chunk_size=READ_CHUNK):
        rows.append(row)
        if len(rows) == READ_CHUNK:
            _columns_of(rows, columns)
            rows.clear()
            progress("reading customers", len(columns[0]), total)
    _columns_of(rows, columns)
    progress("reading customers", len(columns[0]), total)
    pks, ids, *values = columns
    snapshot = _Snapshot(np.array(pks, dtype=np.int64), ids, np.ones(len(ids), dtype=bool))
    return snapshot, dict(zip(MATCHED_FIELDS, values))


def _changed_customers(cached: dict[str, Any], progress: Progress) -> tuple[_Snapshot | None, dict[str, list[Any]]]:
    """The cached rows brought up to date: customers synced or gone since the cached scan's
    snapshot, and new ones (appended: their pks are larger). None when a full scan is due."""
    pks: np.ndarray = cached["pks"]
    ids: list[str] = list(cached["ids"])
    live: np.ndarray = cached["live"].copy()
    since = cached["since"]
    newest = int(pks[-1]) if pks.size else 0
    query = (
        Customer.objects.filter(Q(synced_at__gte=since) | Q(gone_at__gte=since) | Q(pk__gt=newest))
        .order_by("pk")
        .values_list("pk", "crm_id", "is_gone", *MATCHED_FIELDS)
    )
    changed = list(query.iterator(chunk_size=READ_CHUNK))
    progress("reading changed customers", len(changed), len(changed))
    if len(changed) > INCREMENTAL_UP_TO * max(len(ids), 1):
        return None, {}
    changed_rows: list[int] = []
    values: list[tuple] = []
    new_pks: list[int] = []
    for pk, crm_id, is_gone, *fields in changed:
        if pk > newest:
            if is_gone:
                continue
            row = len(ids)
            ids.append(crm_id)
            new_pks.append(pk)
        else:
            row = int(np.searchsorted(pks, pk))
            if row >= pks.size or pks[row] != pk:  # a row the cache never had and older: rebuild
                return None, {}
            if ids[row] != crm_id:
                return None, {}
        if is_gone:
            live[row] = False
            continue
        if row < live.size:
            live[row] = True
        changed_rows.append(row)
        values.append(tuple(fields))
    live = np.concatenate([live, np.ones(len(new_pks), dtype=bool)])
    pks = np.concatenate([pks, np.array(new_pks, dtype=np.int64)])
    # A customer row removed from the database (not marked gone) would go unnoticed: count.
    if Customer.objects.filter(is_gone=False).count() != int(live.sum()):
        return None, {}
    fields = {name: list(column) for name, column in zip(MATCHED_FIELDS, zip(*values))} if values else {}
    return _Snapshot(pks, ids, live, np.array(changed_rows, dtype=np.int64)), fields


# -- writing pairs and clusters -----------------------------------------------------------------


def _row_codes(rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    low, high = np.minimum(rows_a, rows_b), np.maximum(rows_a, rows_b)
    return (low.astype(np.int64) << np.int64(32)) | high.astype(np.int64)


def _write(
    scan: ScanRun, result: MatchResult, snapshot: _Snapshot, cached: dict[str, Any] | None, progress: Progress
) -> dict[str, Any]:
    """Clusters and pairs into the database; returns what the cache keeps for the next scan."""
    matched = np.flatnonzero(result.is_match)
    rows_a, rows_b = result.rows_a[matched], result.rows_b[matched]
    codes = _row_codes(rows_a, rows_b)
    size = len(snapshot.ids)

    # The new clusters, and each row's cluster number (-1: in none).
    members = _ClusterMembers.of(result, snapshot.ids, np.concatenate([rows_a, rows_b]))
    cluster_of_row = np.full(size, -1, dtype=np.int64)
    cluster_of_row[members.rows] = np.repeat(np.arange(members.sizes.size), members.sizes)
    group_size_of_row = np.full(size, 2, dtype=np.int64)
    group_size_of_row[members.rows] = np.repeat(members.sizes, members.sizes)
    cluster_pks = _save_clusters(scan, result, members, cached)
    scan.clusters = len(result.clusters)
    new_cluster_pk_of_row = np.where(cluster_of_row >= 0, cluster_pks[np.maximum(cluster_of_row, 0)] if cluster_pks.size else 0, 0)

    if cached is None:
        to_write = np.arange(matched.size)
        retire_keys = None  # every pending pair not written
        old_cluster_pks: set[int] = set()
    else:
        old_codes: np.ndarray = cached["matched"]
        old_cluster_pk_of_row: np.ndarray = cached["cluster_pk_of_row"]
        old_cluster_pk_of_row = np.concatenate([old_cluster_pk_of_row, np.zeros(size - old_cluster_pk_of_row.size, dtype=np.int64)])
        changed = np.zeros(size, dtype=bool)
        changed[snapshot.changed_rows] = True
        was_matched = np.isin(codes, old_codes, assume_unique=True)
        moved = old_cluster_pk_of_row[rows_a] != new_cluster_pk_of_row[rows_a]
        # The engine's `cluster` row makes a pair's score depend on a third record of its cluster
        # (one both match strongly): every pair of a cluster with a changed member is rewritten.
        touched = np.setdiff1d(new_cluster_pk_of_row[snapshot.changed_rows], [0])
        in_touched = np.isin(new_cluster_pk_of_row[rows_a], touched)
        to_write = np.flatnonzero(~was_matched | changed[rows_a] | changed[rows_b] | moved | in_touched)
        gone_codes = np.setdiff1d(old_codes, codes, assume_unique=True)
        retire_keys = [
            pair_key_of(snapshot.ids[int(code >> 32)], snapshot.ids[int(code & 0xFFFFFFFF)]) for code in gone_codes.tolist()
        ]
        old_cluster_pks = set(cached["cluster_info"]) - set(cluster_pks.tolist())

    _write_pairs(scan, result, matched[to_write], snapshot, new_cluster_pk_of_row, group_size_of_row, progress)
    _retire(scan, result, matched, snapshot, retire_keys)
    _delete_unused_clusters(scan, old_cluster_pks if cached is not None else None)
    cluster_info = {
        pk: (size, cluster.weakest_link)
        for pk, size, cluster in zip(cluster_pks.tolist(), members.sizes.tolist(), result.clusters)
    }
    return {"matched": np.sort(codes), "cluster_pk_of_row": new_cluster_pk_of_row, "cluster_info": cluster_info}


@dataclass
class _ClusterMembers:
    """Every new cluster's member rows, one flat array in cluster order (`sizes` per cluster)."""

    rows: np.ndarray
    sizes: np.ndarray

    @classmethod
    def of(cls, result: MatchResult, ids: list[str], matched_rows: np.ndarray) -> _ClusterMembers:
        # Only rows in a matched pair can be in a cluster: map their ids, not the whole snapshot's.
        in_pairs = np.unique(matched_rows).tolist()
        row_of_id = {ids[row]: row for row in in_pairs}
        flat = [crm_id for cluster in result.clusters for crm_id in cluster.ids]
        rows = np.fromiter(map(row_of_id.__getitem__, flat), dtype=np.int64, count=len(flat))
        sizes = np.fromiter(
            (len(cluster.ids) for cluster in result.clusters), dtype=np.int64, count=len(result.clusters)
        )
        return cls(rows, sizes)

    @property
    def starts(self) -> np.ndarray:
        return np.cumsum(self.sizes) - self.sizes


def _save_clusters(
    scan: ScanRun, result: MatchResult, members: _ClusterMembers, cached: dict[str, Any] | None
) -> np.ndarray:
    """A Cluster pk per new cluster: the same row as before for a cluster that did not change
    (same members, same weakest link), a new row otherwise."""
    pks = np.zeros(len(result.clusters), dtype=np.int64)
    if not result.clusters:
        return pks
    if cached is not None:
        # A cluster may keep its row when all its members were in one old cluster (pk > 0) ...
        old_pk_of_row: np.ndarray = cached["cluster_pk_of_row"]
        known = members.rows < old_pk_of_row.size
        old_of_member = np.where(known, old_pk_of_row[np.minimum(members.rows, old_pk_of_row.size - 1)], -1)
        starts = members.starts
        first_old = old_of_member[starts]
        same = np.logical_and.reduceat(old_of_member == np.repeat(first_old, members.sizes), starts)
        old_info = cached["cluster_info"]
        # ... and that old cluster had as many members and the same weakest link.
        for number in np.flatnonzero(same & (first_old > 0)).tolist():
            old = int(first_old[number])
            if old_info.get(old) == (int(members.sizes[number]), result.clusters[number].weakest_link):
                pks[number] = old
    to_create = np.flatnonzero(pks == 0).tolist()
    # The weakest link's ids are canonical and in id order (the engine's), as in pair keys.
    rows = []
    for number in to_create:
        first, second, score = result.clusters[number].weakest_link
        rows.append({"scan_id": scan.pk, "size": int(members.sizes[number]), "weakest_score": score,
                     "weakest_pair_key": f"{first}|{second}"})
    created = _insert_rows(Cluster, rows, returning_pks_of_scan=scan)
    pks[to_create] = created
    return pks


def _write_pairs(
    scan: ScanRun,
    result: MatchResult,
    indexes: np.ndarray,
    snapshot: _Snapshot,
    cluster_pk_of_row: np.ndarray,
    group_size_of_row: np.ndarray,
    progress: Progress,
) -> None:
    """Create, re-score or revive the pairs at `indexes` of the result, explained in bulk."""
    now = timezone.now()
    ids, pks = snapshot.ids, snapshot.pks
    for start in range(0, indexes.size, WRITE_CHUNK):
        chunk = indexes[start : start + WRITE_CHUNK]
        rows_a, rows_b = result.rows_a[chunk].tolist(), result.rows_b[chunk].tolist()
        keys = [f"{ids[a]}|{ids[b]}" for a, b in zip(rows_a, rows_b)]  # rows_a holds the smaller id
        existing: dict[str, tuple[int, str]] = {}
        for part in range(0, len(keys), BATCH):
            existing.update(
                (key, (pk, state))
                for key, pk, state in CandidatePair.objects.filter(pair_key__in=keys[part : part + BATCH]).values_list(
                    "pair_key", "pk", "state"
                )
            )
        explained = result.explanations_as_json(chunk)
        scores = result.scores[chunk].tolist()
        clusters = cluster_pk_of_row[result.rows_a[chunk]].tolist()
        group_sizes = group_size_of_row[result.rows_a[chunk]].tolist()
        to_create: list[dict[str, Any]] = []
        to_update: list[dict[str, Any]] = []
        revived: list[dict[str, Any]] = []
        for key, row_a, row_b, score, text, cluster, group_size, flags in zip(
            keys, rows_a, rows_b, scores, explained.json, clusters, group_sizes, reason_flags_in_bulk(explained)
        ):
            values = {
                "score": score, "explanation": _JsonText(text), "cluster_id": cluster or None,
                "group_size": group_size, "last_scored_at": now, **flags,
            }
            found = existing.get(key)
            if found is None:
                to_create.append(
                    {"pair_key": key, "customer_a_id": int(pks[row_a]), "customer_b_id": int(pks[row_b]), "first_seen_at": now, **values}
                )
                continue
            pk, state = found
            if state == CandidatePair.State.PENDING:
                to_update.append({"pk": pk, **values})
            elif state == CandidatePair.State.RETIRED:
                # It scores again: back in the queue. Rejected and merged pairs never come back.
                revived.append({"pk": pk, **values})
            else:
                scan.pairs_kept_decided += 1
        _insert_pairs(to_create)
        _update_pending(to_update)
        for values in revived:
            # Only a pair still retired is revived: a reviewer may have acted on it meanwhile.
            pk = values.pop("pk")
            values["explanation"] = json.loads(values["explanation"])  # the ORM encodes it again
            CandidatePair.objects.filter(pk=pk, state=CandidatePair.State.RETIRED).update(
                state=CandidatePair.State.PENDING, decided_at=None, decided_by=None, **values
            )
        scan.pairs_created += len(to_create)
        scan.pairs_rescored += len(to_update)
        scan.pairs_revived += len(revived)
        done = start + chunk.size
        progress("writing pairs", done, int(indexes.size))
        reset_queries()  # DEBUG keeps every query's SQL; these are large


def _insert_pairs(pairs: list[dict[str, Any]]) -> None:
    _insert_rows(CandidatePair, pairs)


def _insert_rows(model: Any, rows: list[dict[str, Any]], returning_pks_of_scan: ScanRun | None = None) -> list[int]:
    """New rows: one parameterised INSERT run for many rows (Django's bulk_create spends ~1 ms a
    row compiling its SQL). Every concrete field is written: given values, else the field's
    default, each through the field's own conversion as the ORM's insert would.

    `returning_pks_of_scan`: return the new rows' pks in insertion order, read back as this
    scan's rows by ascending pk (only for Cluster, inserted once per scan, in one transaction).
    """
    if not rows:
        return []
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    defaults = {field.attname: field.get_default() for field in fields}
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join('%s' for _ in fields)})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, _prepared(fields, rows, defaults))
    if returning_pks_of_scan is None:
        return []
    pks = list(model.objects.filter(scan=returning_pks_of_scan).order_by("pk").values_list("pk", flat=True))
    if len(pks) != len(rows):
        raise RuntimeError(f"expected {len(rows)} new clusters of scan {returning_pks_of_scan.pk}, found {len(pks)}")
    return pks


class _JsonText(str):
    """A JSONField's value already encoded (the engine's bulk explanations): written as it is."""


class _AlreadyEncoded(json.JSONEncoder):
    """The encoder Django's `adapt_json_value` is given for a `_JsonText`: on every backend it
    then stores the text itself (SQLite takes the str, PostgreSQL's Jsonb wrapper dumps it)."""

    def encode(self, o: Any) -> str:
        return str(o) if isinstance(o, _JsonText) else super().encode(o)


# Django's own fields whose conversion of a str, int or float depends on its type alone.
_PLAIN_FIELDS: tuple[type, ...] = (models.CharField, models.IntegerField, models.FloatField, models.ForeignKey)


def _prepared(fields: list[Any], rows: list[dict[str, Any]], defaults: dict[str, Any]) -> list[list[Any]]:
    """Each row's values through each field's get_db_prep_save. Flags, timestamps and missing
    values repeat across rows (one `now` per scan): those are converted once per distinct value.
    A plain field (`_PLAIN_FIELDS`) whose values are all of one type and whose conversion gives
    the first one back as it is gives every one back as it is (SQLite; PostgreSQL wraps ints):
    those are passed as they are."""
    columns: list[list[Any]] = []
    for field in fields:
        name, default = field.attname, defaults.get(field.attname)
        raw = [row.get(name, default) for row in rows]
        if raw and all(type(value) is _JsonText for value in raw):
            columns.append([connection.ops.adapt_json_value(value, _AlreadyEncoded) for value in raw])
        elif all(value is None or isinstance(value, (bool, datetime)) for value in raw):
            memo: dict[Any, Any] = {}
            columns.append([memo[value] if value in memo else memo.setdefault(value, field.get_db_prep_save(value, connection)) for value in raw])
        elif _unchanged_by(field, raw):
            columns.append(raw)
        else:
            columns.append([field.get_db_prep_save(value, connection) for value in raw])
    return [list(values) for values in zip(*columns)]


def _unchanged_by(field: Any, values: list[Any]) -> bool:
    if type(field) not in _PLAIN_FIELDS or not values or len({type(value) for value in values}) != 1:
        return False
    first = values[0]
    if type(first) not in (str, int, float):
        return False
    converted = field.get_db_prep_save(first, connection)
    return type(converted) is type(first) and converted == first


_RESCORED_COLUMNS = ("score", "explanation", "cluster_id", "group_size", "last_scored_at", *REASON_LABELS)


def _update_pending(updates: list[dict[str, Any]]) -> None:
    """Re-scored values into pending pairs: one parameterised UPDATE run for many rows.

    Django's bulk_update builds a CASE expression per field and row (~8 ms a pair at 35,000
    pairs); executemany of one plain UPDATE costs a fraction of that on SQLite and PostgreSQL.
    Values go through each field's own conversion (get_db_prep_save), as the ORM's would; a
    pair a reviewer decided meanwhile is left alone (the state condition).
    """
    if not updates:
        return
    meta = CandidatePair._meta
    fields = [meta.get_field(name) for name in _RESCORED_COLUMNS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s AND {quote('state')} = %s"
    prepared = _prepared(fields, [{field.attname: update[name] for field, name in zip(fields, _RESCORED_COLUMNS)} for update in updates], {})
    rows = [[*values, update["pk"], CandidatePair.State.PENDING.value] for values, update in zip(prepared, updates)]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _retire(scan: ScanRun, result: MatchResult, matched: np.ndarray, snapshot: _Snapshot, retire_keys: list[str] | None) -> None:
    """Pending pairs that no longer match go to retired. `retire_keys` None: every pending pair
    this scan did not match (a full scan)."""
    now = timezone.now()
    if retire_keys is None:
        ids = snapshot.ids
        matched_keys = {
            f"{ids[a]}|{ids[b]}" for a, b in zip(result.rows_a[matched].tolist(), result.rows_b[matched].tolist())
        }
        pending = CandidatePair.objects.filter(state=CandidatePair.State.PENDING).values_list("pk", "pair_key")
        stale = [pk for pk, key in pending.iterator(chunk_size=READ_CHUNK) if key not in matched_keys]
        for start in range(0, len(stale), BATCH):
            scan.pairs_retired += CandidatePair.objects.filter(
                pk__in=stale[start : start + BATCH], state=CandidatePair.State.PENDING
            ).update(state=CandidatePair.State.RETIRED, decided_at=now)
        return
    for start in range(0, len(retire_keys), BATCH):
        scan.pairs_retired += CandidatePair.objects.filter(
            pair_key__in=retire_keys[start : start + BATCH], state=CandidatePair.State.PENDING
        ).update(state=CandidatePair.State.RETIRED, decided_at=now)


def _delete_unused_clusters(scan: ScanRun, candidates: set[int] | None) -> None:
    """Clusters no pair points to any more go; those a decided pair points to stay with it.
    `candidates` None: any cluster of an earlier scan (a full scan). One plain DELETE per batch:
    nothing points to these rows, so the ORM's collector has nothing to do but cost seconds."""
    quote = connection.ops.quote_name
    cluster_table, pair_table = quote(Cluster._meta.db_table), quote(CandidatePair._meta.db_table)
    cluster_pk, scan_column = quote(Cluster._meta.pk.column), quote(Cluster._meta.get_field("scan").column)
    pair_cluster = quote(CandidatePair._meta.get_field("cluster").column)
    unused = f"NOT EXISTS (SELECT 1 FROM {pair_table} p WHERE p.{pair_cluster} = {cluster_table}.{cluster_pk})"
    with connection.cursor() as cursor:
        if candidates is None:
            cursor.execute(f"DELETE FROM {cluster_table} WHERE {scan_column} <> %s AND {unused}", [scan.pk])
            return
        ordered = sorted(candidates)
        for start in range(0, len(ordered), BATCH):
            batch = ordered[start : start + BATCH]
            cursor.execute(
                f"DELETE FROM {cluster_table} WHERE {cluster_pk} IN ({', '.join('%s' for _ in batch)}) AND {unused}", batch
            )
