"""Property: whatever JSON (or not-JSON) the CRM sends, the client answers with valid, storable
results or its own errors, never another exception.

Hypothesis generates bodies with lone surrogates, NUL and other controls, bidi overrides, deep
nesting, wrong types where strings, numbers, lists and objects belong, huge and non-finite numbers,
and customer records that are almost right. "Valid" means what the sync and the pages rely on: a
canonical id, text fields that are str or None and that any database column takes, and a `raw`
that serialises to strict JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.adapters import BaseAdapter

from mergeassist.crm.client import CrmClient, CrmError
from mergeassist.crm.ids import canonical_id
from mergeassist.crm.types import (
    CORE_FIELDS,
    CrmCustomer,
    CustomerPage,
    MalformedBody,
    parse_customer_page,
    parse_json,
    parse_merge_preview,
    parse_merge_result,
    parse_note,
)

HOSTILE_CHARACTERS = ["\x00", "\x07", "\x1b", "\ud800", "\udfff", "\u202e", "\u200b", "\ufeff", "\n", "é", "😀"]

text = st.text(
    st.one_of(st.characters(exclude_categories=()), st.sampled_from(HOSTILE_CHARACTERS)), max_size=12
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**200),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=20,
)
ids = st.one_of(
    st.integers(min_value=0, max_value=10**20).map(str),
    st.integers(min_value=1, max_value=10**6).map(lambda n: f"00{n}"),
    st.integers(min_value=-5, max_value=10**6),
    json_values,
)
dates = st.one_of(
    st.none(),
    st.just("2024-01-02T03:04:05.000000Z"),
    st.just("9999-12-31T23:59:59-12:00"),
    st.just("2024-01-02T03:04:05"),
    json_values,
)
expansion_items = st.lists(st.one_of(st.dictionaries(text, json_values, max_size=3), json_values), max_size=3)


@st.composite
def customers(draw: st.DrawFn) -> Any:
    """Mostly customer-shaped objects, some fields wrong; now and then anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    record: dict[str, Any] = {"id": draw(ids)}
    for key in CORE_FIELDS:
        if draw(st.booleans()):
            record[key] = draw(st.one_of(text, st.none(), json_values))
    for key in ("created_at", "updated_at"):
        record[key] = draw(dates)
    for key in ("cards", "fields", "integrations", "subscriptions"):
        if draw(st.booleans()):
            record[key] = draw(st.one_of(expansion_items, json_values))
    if draw(st.booleans()):
        record["stats"] = draw(st.one_of(st.dictionaries(text, json_values, max_size=4), json_values))
    return record


meta_numbers = st.one_of(st.integers(min_value=0, max_value=10), json_values)
pages = st.fixed_dictionaries(
    {
        "data": st.one_of(st.lists(customers(), max_size=4), json_values),
        "meta": st.one_of(
            st.fixed_dictionaries(
                {"current_page": meta_numbers, "per_page": meta_numbers, "last_page": meta_numbers, "total": meta_numbers}
            ),
            json_values,
        ),
    }
)


def encoded(value: Any) -> bytes:
    # ensure_ascii writes lone surrogates as legal \\ud800 escapes, as a CRM's JSON encoder may.
    return json.dumps(value).encode()


raw_bodies = st.one_of(
    pages.map(encoded),
    json_values.map(encoded),
    st.binary(max_size=64),
    st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n),
    st.integers(min_value=1, max_value=200_000).map(lambda n: b'{"data":' * n),
    st.sampled_from([b"NaN", b"-Infinity", b'{"data": [], "meta": 1e999}', b"1" * 5000]),
)


def assert_storable(value: Any) -> None:
    """What a database column (SQLite, PostgreSQL text and jsonb) and a page can take."""
    if isinstance(value, str):
        value.encode("utf-8")  # no lone surrogate
        assert not any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value), repr(value)
    elif isinstance(value, list):
        for item in value:
            assert_storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_storable(key)
            assert_storable(item)


def assert_valid_customer(customer: CrmCustomer) -> None:
    assert canonical_id(customer.id) == customer.id
    for key in CORE_FIELDS:
        value = getattr(customer, key)
        assert value is None or isinstance(value, str)
        assert_storable(value)
    for moment in (customer.created_at, customer.updated_at):
        assert moment is None or moment.tzinfo is not None
    assert_storable(customer.raw)
    json.dumps(customer.raw, allow_nan=False).encode("utf-8")


def assert_valid_page(page: CustomerPage) -> None:
    for customer in page.customers:
        assert_valid_customer(customer)
    for skipped in page.skipped:
        assert canonical_id(skipped.id) == skipped.id
        assert_storable(skipped.reason)
    assert all(isinstance(n, int) for n in (page.current_page, page.per_page, page.last_page, page.total))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_bodies)
def test_the_page_parser_gives_a_valid_page_or_malformed_body(body):
    try:
        page = parse_customer_page(parse_json(body))
    except MalformedBody as refusal:
        assert_storable(str(refusal))
    else:
        assert_valid_page(page)


@settings(max_examples=200, deadline=None)
@given(st.one_of(json_values, customers(), st.fixed_dictionaries({"primary": customers(), "secondary": customers(), "conflicts": json_values, "customer": customers(), "transferred": json_values, "warnings": json_values})))
def test_the_other_parsers_give_valid_results_or_malformed_body(value):
    body = parse_json(encoded(value))
    for parse in (parse_merge_preview, parse_merge_result, parse_note):
        try:
            result = parse(body)
        except MalformedBody:
            continue
        for customer in (getattr(result, "primary", None), getattr(result, "secondary", None), getattr(result, "customer", None)):
            if customer is not None:
                assert_valid_customer(customer)


class CannedAnswer(BaseAdapter):
    """A transport that answers every request with one body: the client above it is the real one."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response._content = self.body
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


@pytest.mark.parametrize("call", ["list", "preview", "merge", "note"])
@settings(max_examples=100, deadline=None)
@given(body=raw_bodies)
def test_the_client_raises_only_its_own_errors_whatever_the_body(call, body):
    client = CrmClient("http://crm.invalid", "sk_test", retries=1, backoff=0)
    client._session.mount("http://", CannedAnswer(body))
    try:
        if call == "list":
            assert_valid_page(client.list_customers())
        elif call == "preview":
            result = client.preview_merge("1", "2")
            assert_valid_customer(result.primary)
            assert_valid_customer(result.secondary)
        elif call == "merge":
            assert_valid_customer(client.merge("1", "2").customer)
        else:
            client.add_note("1", "hello")
    except CrmError as error:
        assert_storable(error.message)
