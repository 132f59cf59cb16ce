"""Hostile requests to the sandbox: every refusal is a 4xx in the contract's {message, errors} shape,
and no spelling of an id can make a customer merge into itself."""

from __future__ import annotations

import json

import pytest
import requests

from mergeassist.sandbox.models import SandboxCustomer, SandboxNote


def assert_refusal(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body.get("errors", {}), dict)
    return body


# -- finding 1: one customer, two spellings -------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("spelling", ["0{id}", "00{id}", "000000{id}"])
def test_it_refuses_to_merge_a_customer_into_itself_however_its_id_is_spelt(
    api, make_customer, method, spelling
):
    ada = make_customer(name_first="Ada", orders=2, cards=1, notes=("VIP",))
    primary = spelling.format(id=ada.id)

    response = getattr(api.session, method)(
        api.sandbox.url(f"/v2/customers/{primary}/merge/{ada.id}"), timeout=10
    )

    body = assert_refusal(response, 422)
    assert body["errors"] == {"secondary_id": ["Must differ from primary_id."]}
    ada.refresh_from_db()  # still there, with everything it had
    assert (ada.orders.count(), ada.cards.count(), ada.notes.count()) == (2, 1, 1)


def test_it_answers_a_merge_with_the_primary_as_committed(api, make_customer):
    primary = make_customer(name_first="Ada", orders=1)
    secondary = make_customer(name_first="Bea", email="bea@example.com", orders=2)

    response = api.post(f"/v2/customers/0{primary.id}/merge/{secondary.id}")

    assert response.status_code == 200, response.text
    body = response.json()
    # The answer names the customer in its one spelling and shows the merged state.
    assert body["customer"]["id"] == str(primary.id)
    assert body["customer"]["email"] == "bea@example.com"
    assert body["customer"]["stats"]["orders_count"] == 3
    assert not SandboxCustomer.objects.filter(id=secondary.id).exists()


# -- finding 4: refusals a client can read ----------------------------------------------------------


@pytest.mark.parametrize("page", ["9223372036854775807", "99999999999999999999", str(10**12)])
def test_it_answers_an_empty_page_or_a_422_for_a_page_number_past_any_end(api, make_customer, page):
    make_customer(name_first="Ada")
    response = api.get("/v2/customers/", page=page)
    if response.status_code == 200:
        assert response.json()["data"] == []
    else:
        assert_refusal(response, 422)


@pytest.mark.parametrize(
    "date",
    ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-00:01"],
)
@pytest.mark.parametrize("name", ["created_at", "updated_at"])
def test_it_refuses_a_date_filter_outside_the_calendar_with_422(api, name, date):
    body = assert_refusal(api.get("/v2/customers/", **{f"filter[{name}]": date}), 422)
    assert f"filter[{name}]" in body["errors"]


def test_it_refuses_a_deeply_nested_patch_body_with_422(api, make_customer):
    ada = make_customer(name_first="Ada")
    response = api.session.patch(
        api.sandbox.url(f"/v2/customers/{ada.id}"),
        data=b"[" * 100_000,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert_refusal(response, 422)


@pytest.mark.parametrize("value", ["Ada\ud800", "Ada\x00", "\udfff"])
def test_it_refuses_a_patch_value_that_is_not_storable_text(api, make_customer, value):
    ada = make_customer(name_first="Ada")
    raw = json.dumps([{"key": "name_first", "value": value}])  # ensure_ascii: legal JSON escapes
    response = api.session.patch(
        api.sandbox.url(f"/v2/customers/{ada.id}"),
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    body = assert_refusal(response, 422)
    assert "name_first" in body["errors"]
    ada.refresh_from_db()
    assert ada.name_first == "Ada"


def test_it_refuses_a_surrogate_in_a_patch_key_with_422(api, make_customer):
    ada = make_customer(name_first="Ada")
    raw = json.dumps([{"key": "city\ud800", "value": "York"}])
    response = api.session.patch(
        api.sandbox.url(f"/v2/customers/{ada.id}"),
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert_refusal(response, 422)


@pytest.mark.parametrize("path", ["/v2/customers/{id}", "/v2/customers/{id}/notes"])
def test_it_refuses_a_body_over_the_limit_with_413_in_json(api, make_customer, path):
    ada = make_customer(name_first="Ada")
    method = "patch" if path.endswith("{id}") else "post"
    response = getattr(api.session, method)(
        api.sandbox.url(path.format(id=ada.id)),
        data=b'{"notes": "' + b"x" * 3_000_000 + b'"}',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert_refusal(response, 413)


def test_it_refuses_a_note_longer_than_the_limit(api, make_customer):
    ada = make_customer(name_first="Ada")
    body = assert_refusal(api.post(f"/v2/customers/{ada.id}/notes", {"notes": "x" * 10_001}), 422)
    assert "notes" in body["errors"]
    assert not SandboxNote.objects.filter(customer=ada).exists()


@pytest.mark.parametrize("text", ["Merged\x00", "a\ud800b"])
def test_it_refuses_a_note_that_is_not_storable_text(api, make_customer, text):
    ada = make_customer(name_first="Ada")
    response = api.session.post(
        api.sandbox.url(f"/v2/customers/{ada.id}/notes"),
        data=json.dumps({"notes": text}),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    body = assert_refusal(response, 422)
    assert "notes" in body["errors"]
    assert not SandboxNote.objects.filter(customer=ada).exists()


def test_it_keeps_a_note_of_exactly_the_limit(api, make_customer):
    ada = make_customer(name_first="Ada")
    assert api.post(f"/v2/customers/{ada.id}/notes", {"notes": "x" * 10_000}).status_code == 201
