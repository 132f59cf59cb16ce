"""PATCH /v2/customers/{id}: core and custom fields from an array of {key, value}, all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mergeassist.sandbox.models import SandboxCustomer


def test_it_updates_core_and_custom_fields_and_returns_the_customer(api, make_customer):
    ada = make_customer(name_first="Ada", email="ada@old.example", fields={"loyalty_tier": "silver"})

    response = api.patch(
        f"/v2/customers/{ada.id}",
        [
            {"key": "email", "value": "ada@new.example"},
            {"key": "phone", "value": "+44 20 7946 0000"},
            {"key": "address2", "value": None},
            {"key": "loyalty_tier", "value": "gold"},
        ],
    )

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(ada.id)
    assert (body["email"], body["phone"], body["address2"]) == ("ada@new.example", "+44 20 7946 0000", None)
    assert body["fields"] == [{"key": "loyalty_tier", "label": "Loyalty Tier", "value": "gold"}]
    ada.refresh_from_db()
    assert ada.email == "ada@new.example"


def test_it_moves_updated_at_on_a_change_only(api, make_customer):
    ada = make_customer(name_first="Ada", updated_at=datetime(2024, 1, 1, tzinfo=UTC))

    unchanged = api.patch(f"/v2/customers/{ada.id}", [{"key": "name_first", "value": "Ada"}]).json()
    changed = api.patch(f"/v2/customers/{ada.id}", [{"key": "name_first", "value": "Adah"}]).json()

    assert unchanged["updated_at"] == "2024-01-01T00:00:00.000000Z"
    assert changed["updated_at"] > "2025"
    assert api.list_ids(**{"filter[updated_at]": changed["updated_at"]}) == [str(ada.id)]


def test_it_answers_404_for_an_unknown_customer(api):
    response = api.patch("/v2/customers/999999", [{"key": "email", "value": "x@example.com"}])

    assert response.status_code == 404
    assert response.json()["message"] == "No customer with id 999999."


def test_it_refuses_an_unknown_key_and_changes_nothing(api, make_customer):
    ada = make_customer(name_first="Ada", fields={"loyalty_tier": "silver"})

    response = api.patch(
        f"/v2/customers/{ada.id}",
        [
            {"key": "name_first", "value": "Eve"},
            {"key": "shoe_size", "value": "38"},
            {"key": "id", "value": "7"},
        ],
    )

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"shoe_size", "id"}
    ada.refresh_from_db()
    assert ada.name_first == "Ada"


def test_it_refuses_a_custom_key_the_customer_does_not_have(api, make_customer):
    make_customer(name_first="Bea", fields={"loyalty_tier": "gold"})
    ada = make_customer(name_first="Ada")

    response = api.patch(f"/v2/customers/{ada.id}", [{"key": "loyalty_tier", "value": "gold"}])

    assert response.status_code == 422
    assert "loyalty_tier" in response.json()["errors"]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"key": "email", "value": "x@example.com"},
        [{"key": "email"}],
        [{"value": "x"}],
        [{"key": 5, "value": "x"}],
        [{"key": "email", "value": 5}],
        [{"key": "email", "value": ["x"]}],
        ["email"],
        None,
    ],
    ids=[
        "empty array",
        "object",
        "no value",
        "no key",
        "numeric key",
        "numeric value",
        "list value",
        "string",
        "null",
    ],
)
def test_it_refuses_a_body_that_is_not_an_array_of_field_objects(api, make_customer, body):
    ada = make_customer(name_first="Ada")

    response = api.patch(f"/v2/customers/{ada.id}", body)

    assert response.status_code == 422
    assert response.json()["errors"]


def test_it_refuses_a_body_that_is_not_json(api, make_customer):
    ada = make_customer(name_first="Ada")

    response = api.session.patch(api.sandbox.url(f"/v2/customers/{ada.id}"), data=b"{nope", timeout=10)

    assert response.status_code == 422
    assert response.json()["errors"] == {"body": ["Send a JSON document."]}


def test_it_refuses_a_value_longer_than_the_field(api, make_customer):
    ada = make_customer(name_first="Ada")

    response = api.patch(f"/v2/customers/{ada.id}", [{"key": "zip", "value": "9" * 33}])

    assert response.status_code == 422
    assert SandboxCustomer.objects.get(id=ada.id).zip is None
