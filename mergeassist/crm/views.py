"""The customer list: the CRM browsed live, with the local snapshot standing in when the CRM fails."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import F, Max, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from mergeassist.crm.client import CrmClient
from mergeassist.crm.errors import CrmError
from mergeassist.crm.forms import CustomerListForm, CustomerListQuery
from mergeassist.crm.models import Customer, SyncRun
from mergeassist.crm.types import CrmCustomer
from mergeassist.review.queue import pending_pairs_of

logger = logging.getLogger(__name__)

REVIEW_PAIRS = "review.review_pairs"
UNEXPECTED_CRM_FAILURE = (
    "Something went wrong while reading the CRM's answer; the details are in the server log."
)
# The snapshot's columns for the CRM's sort keys that are named differently there.
SNAPSHOT_SORT_COLUMNS = {
    "id": "crm_id_number",
    "created_at": "crm_created_at",
    "updated_at": "crm_updated_at",
}


@dataclass(frozen=True)
class CustomerRow:
    """One line of the list, whichever side (CRM or snapshot) it came from."""

    id: str
    name: str
    email: str
    phone: str
    company: str
    city: str
    country: str
    updated_at: datetime | None
    # The strongest pending review pair the customer is in (the badge links to it), for reviewers.
    pending_pair_id: int | None = None

    @property
    def place(self) -> str:
        return ", ".join(part for part in (self.city, self.country) if part)

    @classmethod
    def from_crm(cls, customer: CrmCustomer) -> CustomerRow:
        return cls(
            id=customer.id,
            name=f"{customer.name_first or ''} {customer.name_last or ''}".strip(),
            email=customer.email or "",
            phone=customer.phone or "",
            company=customer.company_name or "",
            city=customer.city or "",
            country=customer.country or "",
            updated_at=customer.updated_at,
        )

    @classmethod
    def from_snapshot(cls, customer: Customer) -> CustomerRow:
        return cls(
            id=customer.crm_id,
            name=f"{customer.name_first} {customer.name_last}".strip(),
            email=customer.email,
            phone=customer.phone,
            company=customer.company_name,
            city=customer.city,
            country=customer.country,
            updated_at=customer.crm_updated_at,
        )


@dataclass(frozen=True)
class CustomerResults:
    """One page of customers with what the pagination and the summary line need."""

    rows: list[CustomerRow]
    page: int
    per_page: int
    last_page: int
    total: int
    # True when the CRM failed and the rows come from the local snapshot (taken_at None: never synced).
    from_snapshot: bool = False
    snapshot_taken_at: datetime | None = None

    @property
    def first_number(self) -> int:
        return (self.page - 1) * self.per_page + 1

    @property
    def last_number(self) -> int:
        return self.first_number + len(self.rows) - 1

    @property
    def is_past_the_end(self) -> bool:
        return not self.rows and self.total > 0

    @property
    def previous_page(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def next_page(self) -> int | None:
        return self.page + 1 if self.page < self.last_page else None

    def page_numbers(self) -> list[int | str]:
        """1 … 4 5 [6] 7 8 … 80, with Paginator's own ellipsis."""
        last_page = max(self.last_page, 1)
        pages = Paginator(range(last_page), 1)
        return list(pages.get_elided_page_range(min(self.page, last_page), on_each_side=2, on_ends=1))


@permission_required("crm.view_customer", raise_exception=True)
@require_GET
@vary_on_headers("HX-Request")  # one URL, two bodies: caches must keep the fragment and the page apart
def list_customers(request: HttpRequest) -> HttpResponse:
    form = CustomerListForm.from_query(request.GET)
    context: dict[str, object] = {"form": form, **_sync_status()}
    status = 200
    if not form.is_valid():
        status = 400
    else:
        query = form.to_query()
        try:
            context["results"] = _fetch_from_crm(query)
        except CrmError as exc:
            # The person sees the message and the snapshot; operators see it in the log.
            logger.warning("Customer list fell back to the snapshot: %r", exc)
            context["crm_error"] = exc.message
            context["results"] = _search_snapshot(query)
        except Exception:
            # Whatever else breaks on the way to the CRM, the snapshot is still worth showing: a
            # plain-text 500 helps nobody. The traceback goes to the log, not to the page.
            logger.exception("Customer list fell back to the snapshot after an unexpected error")
            context["crm_error"] = UNEXPECTED_CRM_FAILURE
            context["results"] = _search_snapshot(query)
        if request.user.has_perm(REVIEW_PAIRS):
            context["can_review"] = True
            context["results"] = _with_pending_pairs(context["results"])

    # A history restore (back button after the cache expired) asks for the whole page, not the fragment.
    wants_fragment = request.htmx and not request.htmx.history_restore_request
    template = "crm/customers.html#customer-results" if wants_fragment else "crm/customers.html"
    return render(request, template, context, status=status)


@permission_required("crm.view_customer", raise_exception=True)
@require_GET
def show_sync_status(request: HttpRequest) -> HttpResponse:
    """The status line alone: the customer list polls it while a sync runs."""
    return render(request, "crm/customers.html#sync-status", _sync_status())


def _sync_status() -> dict[str, object]:
    # What a running sync shows comes from one place, shared with the jobs panel and the command.
    from mergeassist.jobs.progress import sync_progress

    last_sync = SyncRun.objects.order_by("-started_at").first()
    progress = sync_progress(last_sync) if last_sync else None
    return {
        "last_sync": last_sync,
        "last_sync_progress": progress,
        "last_sync_looks_stalled": bool(progress and progress.stalled),
        "snapshot_count": Customer.objects.filter(is_gone=False).count(),
    }


def _with_pending_pairs(results: CustomerResults) -> CustomerResults:
    """Mark the rows whose customer waits in the review queue (one query for the page)."""
    pair_of = pending_pairs_of(row.id for row in results.rows)
    rows = [replace(row, pending_pair_id=pair_of.get(row.id)) for row in results.rows]
    return replace(results, rows=rows)


def _fetch_from_crm(query: CustomerListQuery) -> CustomerResults:
    # A person is waiting and the snapshot stands by: the short budget, not the sync's patience.
    with CrmClient.for_pages() as client:
        page = client.list_customers(
            page=query.page,
            per_page=query.per_page,
            search=query.search or None,
            filters=query.filters,
            sort=query.sort,
        )
    return CustomerResults(
        rows=[CustomerRow.from_crm(customer) for customer in page.customers],
        page=page.current_page,
        per_page=page.per_page,
        last_page=page.last_page,
        total=page.total,
    )


def _search_snapshot(query: CustomerListQuery) -> CustomerResults:
    """The same search, filters, sort and page, applied to the local snapshot."""
    customers = _filter_snapshot(Customer.objects.filter(is_gone=False), query)
    total = customers.count()
    offset = (query.page - 1) * query.per_page
    return CustomerResults(
        rows=[CustomerRow.from_snapshot(c) for c in customers[offset : offset + query.per_page]],
        page=query.page,
        per_page=query.per_page,
        last_page=max(1, -(-total // query.per_page)),
        total=total,
        from_snapshot=True,
        snapshot_taken_at=_snapshot_taken_at(),
    )


def _filter_snapshot(customers: QuerySet[Customer], query: CustomerListQuery) -> QuerySet[Customer]:
    if query.search:
        # The CRM's search looks in first name, last name and email, ignoring case.
        customers = customers.filter(
            Q(name_first__icontains=query.search)
            | Q(name_last__icontains=query.search)
            | Q(email__icontains=query.search)
        )
    for key, value in query.filters.items():
        # Keys come from the form's choices ("email", "email.contains"), which are also column names.
        field, _, match = key.partition(".")
        lookup = "icontains" if match == "contains" else "exact"
        customers = customers.filter(**{f"{field}__{lookup}": value})
    field = query.sort.removeprefix("-")
    column = F(SNAPSHOT_SORT_COLUMNS.get(field, field))
    order = column.desc(nulls_last=True) if query.sort.startswith("-") else column.asc(nulls_last=True)
    return customers.order_by(order, "crm_id_number", "crm_id")


def _snapshot_taken_at() -> datetime | None:
    last_good_sync = SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).order_by("-finished_at").first()
    if last_good_sync and last_good_sync.finished_at:
        return last_good_sync.finished_at
    return Customer.objects.aggregate(newest=Max("synced_at"))["newest"]
