"""Copy the CRM's customers into the local snapshot (`Customer`), one page at a time.

Full runs page by id (`sort=id`, `filter[id.gte]=<last id + 1>`), so customers added or removed
while the run goes neither shift a page nor make one row appear twice. Each page is upserted by
crm_id in one transaction together with the run's cursor, so a run that stops (crash, Ctrl-C, the
CRM going down) resumes after the last committed id. Only a full pass that reached the end marks
customers it did not see as gone. A resumed pass first re-checks the ids it read before the stop
(pages without expansions; changed customers read again in full), so it ends with the same
snapshot as a pass that never stopped.

Incremental runs read `sort=-updated_at` until they reach the previous run's watermark, then read
by id past the highest id the snapshot knows (new customers whose updated_at is back-dated). Upserts
are idempotent, so reading a row twice is harmless; a row vanishing mid-run (which shifts the pages
up by one) restarts the read from page 1 so nothing is skipped.

Memory stays flat: only the current page is held; gone-marking is one UPDATE.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, reset_queries, transaction
from django.db.models import Max
from django.utils import timezone

from mergeassist.crm.client import CrmClient
from mergeassist.crm.errors import CrmError, CrmUnexpectedResponse
from mergeassist.crm.ids import canonical_id, id_number
from mergeassist.crm.models import Customer, SyncRun
from mergeassist.crm.types import CORE_FIELDS, EXPANSIONS, CrmCustomer, CustomerPage, SkippedCustomer
from mergeassist.matching import Record, normalise_record

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
INCLUDE = EXPANSIONS
# A running run whose heartbeat is older than this is presumed dead and is resumed. Longer than the
# worst wait inside one page (retries honouring Retry-After up to 60 s each).
STALE_AFTER = timedelta(minutes=10)
# A row vanishing mid-way through an incremental run restarts it; a CRM that keeps changing
# under us gets a few tries, then the run goes on (the next run overlaps anyway).
MAX_INCREMENTAL_RESTARTS = 3
# How much of the skipped customers' ids and reasons the run row keeps.
MAX_SKIPPED_DETAIL = 2000

# Customer columns a sync rewrites on every upsert (last_seen_run last: a refresh outside a run skips it).
_UPDATED_COLUMNS = [
    "crm_id_number",
    *CORE_FIELDS,
    "crm_created_at",
    "crm_updated_at",
    "raw",
    "active_subscriptions",
    "cards_count",
    "search_name",
    "search_email",
    "search_phone",
    "search_company",
    "is_gone",
    "gone_at",
    "synced_at",
    "last_seen_run",
]


class SyncAlreadyRunning(Exception):
    def __init__(self, run: SyncRun) -> None:
        self.run = run
        super().__init__(
            f"A {run.get_kind_display().lower()} sync is already running (started "
            f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC, last heartbeat {run.heartbeat_at:%H:%M:%S} UTC)."
        )


@dataclass
class SyncProgress:
    """What this process did, for progress lines; the run row holds the totals across resumes."""

    run: SyncRun
    started: float = field(default_factory=time.monotonic)
    customers_this_process: int = 0
    # The cursor an unfinished run was resumed from ("" for a fresh run).
    resumed_after: str = ""
    # The run's working time before this process took it over (a resumed run's pause is not work).
    seconds_before: float = 0.0
    # The run's request count when this process took it over, and the client's, so a failure
    # records the requests of the page that failed too.
    requests_before: int = 0
    client_requests_before: int = 0
    client: CrmClient | None = None
    # While a resumed run re-checks what it read before the stop: how far, and what it found.
    rechecking: bool = False
    rechecked_to: int = 0
    recheck_up_to: int = 0
    rechecked_again: int = 0
    rechecked_gone: int = 0

    @property
    def seconds_working(self) -> float:
        return self.seconds_before + time.monotonic() - self.started

    @property
    def requests_so_far(self) -> int:
        made = self.client.requests_made - self.client_requests_before if self.client else 0
        return self.requests_before + made

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.customers_this_process / elapsed if elapsed > 0 else 0.0


ProgressCallback = Callable[[SyncProgress], None]


def run_sync(
    *, full: bool = False, client: CrmClient | None = None, on_progress: ProgressCallback | None = None
) -> SyncRun:
    """Sync the snapshot with the CRM and return the finished run.

    Resumes an unfinished full run if there is one; otherwise runs a full sync when `full` is set
    or no sync has ever succeeded, and an incremental one when not. Raises `SyncAlreadyRunning`
    if another live process is syncing, and `CrmError` when the CRM fails (the run is then marked
    failed and the next call resumes it).
    """
    client = client or CrmClient.for_jobs()
    run = start_or_resume_run(full=full)
    progress = SyncProgress(
        run,
        resumed_after=run.cursor,
        seconds_before=run.seconds_working,
        requests_before=run.requests_made,
        client_requests_before=client.requests_made,
        client=client,
    )
    try:
        if run.kind == SyncRun.Kind.FULL:
            _sync_full(run, client, progress, on_progress)
        else:
            _sync_incremental(run, client, progress, on_progress)
    except BaseException as exc:  # KeyboardInterrupt too: the row must not claim to be running
        _mark_failed(run, exc, progress)
        raise
    return run


def start_or_resume_run(*, full: bool) -> SyncRun:
    """The run to work on now: a resumed unfinished full run, or a new one.

    Raises `SyncAlreadyRunning` when another process holds a live run, including one that started
    in the same instant (the `one_sync_running` constraint refuses the second).
    """
    try:
        return _claim_run(full=full)
    except IntegrityError:
        raise SyncAlreadyRunning(SyncRun.objects.get(status=SyncRun.Status.RUNNING)) from None


def _claim_run(*, full: bool) -> SyncRun:
    # One transaction: on SQLite (IMMEDIATE mode) it holds the write lock, so two commands
    # starting together cannot both decide that no sync is running.
    with transaction.atomic():
        now = timezone.now()
        running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING)
        live = running.filter(heartbeat_at__gte=now - STALE_AFTER).first()
        if live is not None:
            raise SyncAlreadyRunning(live)
        # Only stale rows: a run another worker committed since the check above is alive.
        dead_runs = running.filter(heartbeat_at__lt=now - STALE_AFTER)
        for dead in dead_runs:
            logger.warning(
                "Sync run %s stopped without finishing (last heartbeat %s)", dead.pk, dead.heartbeat_at
            )
        dead_runs.update(
            status=SyncRun.Status.FAILED,
            finished_at=now,
            error_message="Stopped without finishing (no heartbeat).",
        )

        unfinished = _unfinished_full_run()
        if unfinished is not None:
            # A conditional UPDATE: the run may have been started by another worker since the
            # check above (PostgreSQL reads each statement afresh); then it is theirs, not ours.
            claimed = (
                SyncRun.objects.filter(pk=unfinished.pk)
                .exclude(status=SyncRun.Status.RUNNING)
                .update(status=SyncRun.Status.RUNNING, heartbeat_at=now, finished_at=None, error_message="")
            )
            if not claimed:
                raise SyncAlreadyRunning(unfinished)
            unfinished.refresh_from_db()
            logger.info(
                "Resuming full sync run %s after customer id %s", unfinished.pk, unfinished.cursor or "-"
            )
            return unfinished

        kind = SyncRun.Kind.FULL if full or last_succeeded_run() is None else SyncRun.Kind.INCREMENTAL
        return SyncRun.objects.create(kind=kind, started_at=now, heartbeat_at=now)


def last_succeeded_run() -> SyncRun | None:
    return SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).order_by("-finished_at").first()


def _unfinished_full_run() -> SyncRun | None:
    """The newest full run, if it never completed its pass (and so still owes the gone-marking)."""
    newest_full = SyncRun.objects.filter(kind=SyncRun.Kind.FULL).order_by("-started_at", "-pk").first()
    if newest_full is None or newest_full.status == SyncRun.Status.SUCCEEDED:
        return None
    return newest_full


# -- full runs ----------------------------------------------------------------------------------


def _sync_full(
    run: SyncRun, client: CrmClient, progress: SyncProgress, on_progress: ProgressCallback | None
) -> None:
    if run.watermark is None:
        # The newest change *before* reading anything: whatever changes during the pass is newer,
        # so the next incremental run picks it up even if the pass had already gone by.
        newest, requests = _fetch(client, page=1, per_page=1, sort="-updated_at")
        run.watermark = newest.customers[0].updated_at if newest.customers else None
        run.requests_made += requests
        run.save(update_fields=["watermark", "requests_made"])
    resumed_after = id_number(run.cursor) if run.cursor else None
    if resumed_after:
        # What was read before the stop may have changed since: re-check it first, so the pass
        # ends as one that never stopped would (no ghost of a customer merged away meanwhile).
        _recheck_read_part(run, client, progress, on_progress, up_to=resumed_after)
    _read_by_id(run, client, progress, on_progress, after_id=resumed_after or 0)
    with transaction.atomic():
        run.customers_gone += mark_unseen_customers_gone(run)
        _finish(run, progress)
    _report(progress, 0, on_progress)


def _read_by_id(
    run: SyncRun,
    client: CrmClient,
    progress: SyncProgress,
    on_progress: ProgressCallback | None,
    *,
    after_id: int,
) -> None:
    """Upsert every customer with an id above `after_id`, a page at a time, saving the cursor with each.

    The next page is fetched in the background while the current one is written: the CRM's latency
    and the database's work overlap, and at most two pages are ever held.
    """
    prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-sync-prefetch")
    try:
        next_page = prefetch.submit(_fetch_after, client, after_id)
        while True:
            page, requests = next_page.result()
            last_id = _check_id_order(page.ids_in_order, after_id)
            more = last_id is not None and not page.is_last
            if more:
                next_page = prefetch.submit(_fetch_after, client, last_id)
            with transaction.atomic():
                created, updated = upsert_customers(page.customers, run)
                _count_page(run, page, created, updated, requests, progress)
                if last_id is not None:
                    run.cursor = str(last_id)
                if run.kind == SyncRun.Kind.FULL:
                    # What was read so far plus what is left from here on (`total` counts the filter).
                    run.total_expected = run.customers_seen - len(page.customers) + page.total
                run.save()
            _report(progress, len(page.customers), on_progress)
            if not more:
                return
            after_id = last_id
    finally:
        # On a stop, do not wait for a page nobody will write (it ends by its own timeout).
        prefetch.shutdown(wait=False, cancel_futures=True)


def _fetch_after(client: CrmClient, after_id: int) -> tuple[CustomerPage, int]:
    return _fetch(
        client, page=1, per_page=PAGE_SIZE, include=INCLUDE, filters={"id.gte": str(after_id + 1)}, sort="id"
    )


def _fetch(client: CrmClient, **query: Any) -> tuple[CustomerPage, int]:
    """One page and the HTTP requests it took (retries included). One fetch runs at a time."""
    before = client.requests_made
    page = client.list_customers(**query)
    return page, client.requests_made - before


def _check_id_order(ids: list[str], after_id: int) -> int | None:
    """The page's last id; refuses a page that is not in ascending numeric id order after `after_id`.

    Keyset paging is only lossless if the CRM sorts and filters ids as numbers; if it ever stops
    doing so the sync must stop rather than silently skip customers. `ids` include the customers
    the page skipped as unreadable, so paging goes past them too.
    """
    previous = after_id
    for crm_id in ids:
        number = id_number(crm_id)
        if number is None or number <= previous:
            raise CrmUnexpectedResponse(
                f"The CRM did not list customers in numeric id order (got id {crm_id!r} after {previous}); "
                "the sync stopped so that no customer is skipped."
            )
        previous = number
    return previous if ids else None


def _recheck_read_part(
    run: SyncRun,
    client: CrmClient,
    progress: SyncProgress,
    on_progress: ProgressCallback | None,
    *,
    up_to: int,
) -> None:
    """Bring the customers with ids up to `up_to` (read before the run stopped) up to date.

    Pages of ids and `updated_at` only (no expansions) are compared with the
    snapshot: a customer the snapshot has in the page's id range but the CRM no longer lists is
    gone; one that is new, or whose `updated_at` moved, is read again in full. A recheck that is
    itself interrupted is simply done again on the next resume.
    """
    after_id = 0
    progress.rechecking, progress.recheck_up_to = True, up_to
    while True:
        filters = {"id.gte": str(after_id + 1), "id.lte": str(up_to)}
        page, requests = _fetch(client, page=1, per_page=PAGE_SIZE, filters=filters, sort="id")
        last_id = _check_id_order(page.ids_in_order, after_id)
        # The ids the CRM has between after_id and covered_to are exactly those the page lists.
        covered_to = up_to if page.is_last or last_id is None else last_id
        listed = {customer.id: customer for customer in page.customers}
        known = dict(
            Customer.objects.filter(
                is_gone=False, crm_id_number__gt=after_id, crm_id_number__lte=covered_to
            ).values_list("crm_id", "crm_updated_at")
        )
        changed = [
            number
            for crm_id, customer in listed.items()
            if (number := id_number(crm_id)) is not None
            and (crm_id not in known or known[crm_id] != customer.updated_at)
        ]
        fresh, more_requests = _read_ids_between(client, min(changed), max(changed)) if changed else ([], 0)
        with transaction.atomic():
            # The snapshot's own ids, as stored: no spelling to translate.
            vanished = set(known) - set(page.ids_in_order)
            gone = Customer.objects.filter(crm_id__in=vanished, is_gone=False).update(
                is_gone=True, gone_at=timezone.now()
            )
            created, updated = upsert_customers(fresh, run)
            run.customers_gone += gone
            run.customers_created += created
            run.customers_updated += updated
            run.requests_made += requests + more_requests
            run.heartbeat_at = timezone.now()
            run.seconds_working = progress.seconds_working
            run.save()
        progress.rechecked_to = covered_to
        progress.rechecked_again += len(fresh)
        progress.rechecked_gone += gone
        _report(progress, 0, on_progress)
        if covered_to >= up_to:
            progress.rechecking = False
            return
        after_id = covered_to


def _read_ids_between(client: CrmClient, first: int, last: int) -> tuple[list[CrmCustomer], int]:
    """Every customer with an id from `first` to `last`, with every expansion."""
    customers: list[CrmCustomer] = []
    requests, after_id = 0, first - 1
    while True:
        filters = {"id.gte": str(after_id + 1), "id.lte": str(last)}
        page, more = _fetch(client, page=1, per_page=PAGE_SIZE, include=INCLUDE, filters=filters, sort="id")
        requests += more
        customers += page.customers
        page_last = _check_id_order(page.ids_in_order, after_id)
        if page.is_last or page_last is None:
            return customers, requests
        after_id = page_last


def mark_unseen_customers_gone(run: SyncRun) -> int:
    """After a complete full pass: customers the pass never saw are no longer in the CRM."""
    return (
        Customer.objects.filter(is_gone=False)
        .exclude(last_seen_run=run)
        .update(is_gone=True, gone_at=timezone.now())
    )


# -- incremental runs ---------------------------------------------------------------------------


def _sync_incremental(
    run: SyncRun, client: CrmClient, progress: SyncProgress, on_progress: ProgressCallback | None
) -> None:
    previous = last_succeeded_run()
    since = previous.watermark if previous else None
    # Customers created with a back-dated updated_at (imports, the sandbox's seeded history) sort
    # below the watermark; new customers always get higher ids, so also read past the highest id
    # known *before* this run (the first pass may already have brought in some of the new ones).
    highest_known = Customer.objects.aggregate(top=Max("crm_id_number"))["top"] or 0
    _read_changed_since(since, run, client, progress, on_progress)
    _read_by_id(run, client, progress, on_progress, after_id=highest_known)
    if run.watermark is None:
        run.watermark = since
    _finish(run, progress)
    _report(progress, 0, on_progress)


def _read_changed_since(
    since: datetime | None,
    run: SyncRun,
    client: CrmClient,
    progress: SyncProgress,
    on_progress: ProgressCallback | None,
) -> None:
    """Upsert customers newest change first, down to `since` (inclusive: upserts are idempotent)."""
    page_number, restarts, previous_total = 1, 0, None
    while True:
        page, requests = _fetch(
            client, page=page_number, per_page=PAGE_SIZE, include=INCLUDE, sort="-updated_at"
        )
        if previous_total is not None and page.total < previous_total and restarts < MAX_INCREMENTAL_RESTARTS:
            # A customer vanished (merged or deleted) since the last page: every later row moved up
            # one place and the first of this page was skipped. Read again from the top.
            logger.info("Customers vanished during incremental sync %s; reading again from page 1", run.pk)
            page_number, restarts, previous_total = 1, restarts + 1, None
            continue
        previous_total = page.total
        if page_number == 1 and run.watermark is None and page.customers:
            # The newest change when the run began; anything changed later is newer still, so the
            # next run's stop point cannot skip it (the page it moved to was read already).
            run.watermark = page.customers[0].updated_at
        changed = [
            c for c in page.customers if since is None or c.updated_at is None or c.updated_at >= since
        ]
        with transaction.atomic():
            created, updated = upsert_customers(changed, run)
            _count_page(run, page, created, updated, requests, progress, customers=changed)
            run.save()
        _report(progress, len(changed), on_progress)
        if len(changed) < len(page.customers) or page.is_last:
            return
        page_number += 1


# -- writing the snapshot -----------------------------------------------------------------------


def upsert_customers(customers: list[CrmCustomer], run: SyncRun | None) -> tuple[int, int]:
    """Insert or update customers by crm_id; returns (created, updated).

    Without a run (a single customer refreshed outside a sync) the row keeps the run that last saw
    it, so a full pass going on at the same time does not take it for gone.
    """
    by_id = {customer.id: customer for customer in customers}  # one row per id, or PostgreSQL refuses
    if not by_id:
        return 0, 0
    existing = set(Customer.objects.filter(crm_id__in=by_id).values_list("crm_id", flat=True))
    now = timezone.now()
    Customer.objects.bulk_create(
        [snapshot_row(customer, run, now) for customer in by_id.values()],
        update_conflicts=True,
        unique_fields=["crm_id"],
        update_fields=_UPDATED_COLUMNS if run is not None else _UPDATED_COLUMNS[:-1],
    )
    created = len(by_id.keys() - existing)
    return created, len(by_id) - created


def refresh_customer(customer: CrmCustomer) -> Customer:
    """Write one customer just read from the CRM into the snapshot (e.g. a primary after its merge)."""
    upsert_customers([customer], run=None)
    return Customer.objects.get(crm_id=canonical_id(customer.id))


def mark_customers_gone(crm_ids: Iterable[str]) -> int:
    """Mark customers the app knows are no longer in the CRM (e.g. a merged-away secondary)."""
    canonical = [canonical_id(crm_id) for crm_id in crm_ids]
    if not canonical:
        return 0
    return Customer.objects.filter(crm_id__in=canonical, is_gone=False).update(
        is_gone=True, gone_at=timezone.now()
    )


def snapshot_row(customer: CrmCustomer, run: SyncRun | None, now: datetime) -> Customer:
    row = Customer(
        crm_id=customer.id,
        crm_id_number=id_number(customer.id),
        crm_created_at=customer.created_at,
        crm_updated_at=customer.updated_at,
        raw=customer.raw,
        active_subscriptions=sum(1 for s in customer.subscriptions or () if s.status == "active"),
        cards_count=len(customer.cards or ()),
        is_gone=False,
        gone_at=None,
        synced_at=now,
        last_seen_run=run,
        **search_columns(customer),
    )
    for key in CORE_FIELDS:
        # The snapshot stores "" for a missing value; `raw` keeps the CRM's own None or "".
        setattr(row, key, _fit(key, getattr(customer, key) or ""))
    return row


def search_columns(customer: CrmCustomer) -> dict[str, str]:
    """The normalised columns the customer search and the matcher's blocking use."""
    record = Record(id=customer.id, **{key: getattr(customer, key) for key in CORE_FIELDS})
    normalised = normalise_record(record, region=settings.MERGEASSIST_PHONE_REGION)
    return {
        "search_name": _fit("search_name", normalised.get("name") or ""),
        "search_email": _fit("search_email", normalised.get("email") or ""),
        "search_phone": _fit("search_phone", normalised.get("phone") or ""),
        "search_company": _fit("search_company", normalised.get("company") or ""),
    }


def _fit(column: str, value: str) -> str:
    # PostgreSQL refuses an over-long value and would fail the whole page; the full value is in `raw`.
    max_length = Customer._meta.get_field(column).max_length
    return value[:max_length] if max_length else value


# -- the run row --------------------------------------------------------------------------------


def _count_page(
    run: SyncRun,
    page: CustomerPage,
    created: int,
    updated: int,
    requests: int,
    progress: SyncProgress,
    *,
    customers: list[CrmCustomer] | None = None,
) -> None:
    customers = page.customers if customers is None else customers
    run.pages_fetched += 1
    run.requests_made += requests
    run.customers_seen += len(customers)
    run.customers_created += created
    run.customers_updated += updated
    run.heartbeat_at = timezone.now()
    run.seconds_working = progress.seconds_working
    if page.skipped:
        _record_skipped(run, page.skipped)


def _record_skipped(run: SyncRun, skipped: list[SkippedCustomer]) -> None:
    """Unreadable customers are reported with their id and left out; the rest of the page stands.

    A skipped customer is still in the CRM, so its row (if an earlier sync stored one) counts as
    seen: a full pass must not mark it gone.
    """
    for customer in skipped:
        logger.warning("Sync run %s skipped customer %s: %s", run.pk, customer.id, customer.reason)
    Customer.objects.filter(crm_id__in=[c.id for c in skipped]).update(last_seen_run=run)
    run.customers_skipped += len(skipped)
    detail = "; ".join(f"{c.id} ({c.reason})" for c in skipped)
    run.skipped_detail = "; ".join(filter(None, [run.skipped_detail, detail]))[:MAX_SKIPPED_DETAIL]


def _report(progress: SyncProgress, customers: int, on_progress: ProgressCallback | None) -> None:
    progress.customers_this_process += customers
    # DEBUG keeps every query's SQL; a page's bulk upsert is large, so drop them as we go.
    reset_queries()
    if on_progress is not None:
        on_progress(progress)


def _finish(run: SyncRun, progress: SyncProgress) -> None:
    run.status = SyncRun.Status.SUCCEEDED
    run.finished_at = run.heartbeat_at = timezone.now()
    run.seconds_working = progress.seconds_working
    run.save()


def _mark_failed(run: SyncRun, exc: BaseException, progress: SyncProgress) -> None:
    if isinstance(exc, CrmError):
        message = exc.message
    elif isinstance(exc, KeyboardInterrupt):
        message = "Interrupted."
    else:
        message = f"{type(exc).__name__}: {exc}"
    # An update, not run.save(): the in-memory counters may be ahead of what was committed. The
    # requests are the exception: the ones made for the page that failed were made all the same.
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.FAILED,
        finished_at=timezone.now(),
        error_message=message[:2000],
        requests_made=progress.requests_so_far,
        seconds_working=progress.seconds_working,
    )
    run.refresh_from_db()
    logger.warning("Sync run %s failed: %s", run.pk, message)
