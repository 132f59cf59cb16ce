"""The adapter between the CRM's JSON and the typed results: strict about shape, stable fingerprints."""

from __future__ import annotations

import time

import pytest

from mergeassist.crm.types import MalformedBody, parse_customer_page, parse_json, parse_merge_preview

CUSTOMER = {
    "id": "7",
    "name_first": "Ada",
    "name_last": "Lovelace",
    "email": "ada@example.org",
    "created_at": "2024-01-02T03:04:05Z",
    "updated_at": "2024-02-03T04:05:06+00:00",
}
META = {"current_page": 1, "per_page": 25, "last_page": 1, "total": 1}


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [',  # cut in half, as the sandbox's "malformed" fault does
        b"<html>502 Bad Gateway</html>",
        b'{"data": {}, "meta": {}}',
        b'{"data": [], "meta": {"current_page": "one"}}',
        b'{"data": [{"name_first": "no id"}], "meta": {"current_page": 1, "per_page": 1, "last_page": 1, "total": 1}}',
        b'{"data": ["7"], "meta": {"current_page": 1, "per_page": 1, "last_page": 1, "total": 1}}',
        b'{"data": [{"id": {"n": 1}}], "meta": {"current_page": 1, "per_page": 1, "last_page": 1, "total": 1}}',
    ],
)
def test_it_refuses_a_body_that_is_not_the_contracts_shape(body):
    with pytest.raises(MalformedBody):
        parse_customer_page(parse_json(body))


def test_it_reads_timestamps_with_z_or_offsets_as_aware_datetimes():
    page = parse_customer_page({"data": [CUSTOMER], "meta": META})
    customer = page.customers[0]
    assert customer.created_at.isoformat() == "2024-01-02T03:04:05+00:00"
    assert customer.updated_at.isoformat() == "2024-02-03T04:05:06+00:00"
    assert customer.phone is None and customer.cards is None
    assert customer.display_name == "Ada Lovelace"


def _preview(conflicts: list[dict], warnings: list[str], city: str = "Paris") -> dict:
    return {
        "primary": {**CUSTOMER, "city": city},
        "secondary": {**CUSTOMER, "id": "8"},
        "conflicts": conflicts,
        "transfers": {"orders": 2, "cards": 1},
        "warnings": warnings,
    }


def test_it_fingerprints_the_content_not_the_order_it_came_in():
    a = {"field": "city", "primary_value": "Paris", "secondary_value": None}
    b = {"field": "email", "primary_value": "x@example.org", "secondary_value": "y@example.org"}
    first = parse_merge_preview(_preview([a, b], ["one", "two"]))
    same = parse_merge_preview(_preview([b, a], ["two", "one"]))
    changed = parse_merge_preview(_preview([a, b], ["one", "two"], city="Lyon"))

    assert first.fingerprint == same.fingerprint
    assert first.fingerprint != changed.fingerprint
    assert [c.field for c in first.conflicts] == ["city", "email"]
    assert first.transfers == {"orders": 2, "cards": 1}


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), (" 0 ", 0.0), ("¹", None), ("soon", None), ("", None), (None, None)],
)
def test_it_reads_retry_after_in_seconds_and_ignores_nonsense(header, seconds):
    from mergeassist.crm.client import _retry_after_seconds

    assert _retry_after_seconds(header) == seconds


def test_it_reads_retry_after_as_an_http_date():
    from email.utils import formatdate

    from mergeassist.crm.client import _retry_after_seconds

    assert 25 <= _retry_after_seconds(formatdate(time.time() + 30, usegmt=True)) <= 31
