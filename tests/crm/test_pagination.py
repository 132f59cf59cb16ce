"""Paging through the customer list: edges at 0, 1, 100, 101 and 250 customers."""

from __future__ import annotations

import pytest

from mergeassist.crm.types import CustomerPage


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (1, 1), (100, 1), (101, 2), (250, 3)])
def test_it_pages_through_every_customer_once(crm_sandbox, crm, count, pages):
    if count:
        crm_sandbox.seed(count)

    fetched = list(crm.iter_pages(per_page=100, sort="id"))

    ids = [c.id for page in fetched for c in page.customers]
    assert ids == crm_sandbox.customer_ids()
    assert len(ids) == len(set(ids)) == count
    assert [page.current_page for page in fetched] == list(range(1, pages + 1))
    # Exactly one request per page: meta says when the last page is reached, no extra empty page.
    assert crm.requests_made == pages
    assert all(page.total == count for page in fetched)


def test_it_starts_from_a_given_page_and_streams_lazily(crm_sandbox, crm):
    crm_sandbox.seed(250)
    pages = crm.iter_pages(per_page=100, start_page=2)
    assert crm.requests_made == 0, "nothing is fetched before the first page is asked for"
    second = next(pages)
    assert (second.current_page, second.customers[0].id, crm.requests_made) == (2, "101", 1)
    assert [c.id for c in next(pages).customers][-1] == "250"
    assert list(pages) == []


def test_it_pages_with_filters_and_includes(crm_sandbox, crm):
    crm_sandbox.seed(120)
    fetched = list(crm.iter_pages(per_page=50, include=["cards"], filters={"id.gte": "31"}, sort="id"))
    ids = [c.id for page in fetched for c in page.customers]
    assert ids == [str(i) for i in range(31, 121)]
    assert all(c.cards is not None for page in fetched for c in page.customers)


def _page(size: int, *, per_page: int = 100, current: int = 1, last: int = 9) -> CustomerPage:
    return CustomerPage(
        customers=[object()] * size, current_page=current, per_page=per_page, last_page=last, total=900
    )  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("page", "is_last"),
    [
        (_page(100), False),
        (_page(0), True),  # an empty page ends the list whatever meta says
        (_page(99), True),  # so does a short one
        (_page(100, current=9), True),
        (_page(100, current=12), True),  # past the end by meta
    ],
)
def test_it_stops_on_an_empty_or_short_page_even_if_meta_says_more(page, is_last):
    assert page.is_last is is_last
