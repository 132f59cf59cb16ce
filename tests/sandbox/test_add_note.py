"""POST /v2/customers/{id}/notes: a note in the customer's activity history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mergeassist.sandbox.actions import NOT_TEXT


def test_it_adds_a_note_and_answers_201_with_it(api, make_customer):
    ada = make_customer(name_first="Ada", updated_at=datetime(2024, 1, 1, tzinfo=UTC))

    response = api.post(f"/v2/customers/{ada.id}/notes", {"notes": "Merged 12 into this customer."})

    assert response.status_code == 201
    note = response.json()
    assert note["customer_id"] == str(ada.id)
    assert note["notes"] == "Merged 12 into this customer."
    assert note["id"].isdigit() and note["created_at"].endswith("Z")
    assert list(ada.notes.values_list("notes", flat=True)) == ["Merged 12 into this customer."]
    ada.refresh_from_db()
    assert ada.updated_at.year > 2024  # the activity history is part of the customer


@pytest.mark.parametrize(
    "body",
    [{}, {"notes": ""}, {"notes": None}, {"notes": 5}, {"note": "x"}, ["x"], None],
    ids=["no notes", "empty", "null", "number", "misspelt", "array", "no body"],
)
def test_it_refuses_a_missing_or_empty_note(api, make_customer, body):
    ada = make_customer(name_first="Ada")

    response = api.post(f"/v2/customers/{ada.id}/notes", body)

    assert response.status_code == 422
    assert response.json()["errors"] == {"notes": ["The notes field is required (at least 1 character)."]}
    assert not ada.notes.exists()


def test_it_answers_404_for_an_unknown_customer(api):
    response = api.post("/v2/customers/999999/notes", {"notes": "hello"})

    assert response.status_code == 404


def test_it_answers_404_for_a_non_numeric_id(api):
    response = api.post("/v2/customers/abc/notes", {"notes": "hello"})

    assert response.status_code == 404



@pytest.mark.parametrize("text", ["before\x00after", "lone \ud800 surrogate"])
def test_it_refuses_a_note_it_could_not_store(api, make_customer, text):
    ada = make_customer(name_first="Ada")

    response = api.post(f"/v2/customers/{ada.id}/notes", {"notes": text})

    assert response.status_code == 422
    assert response.json()["errors"] == {"notes": [NOT_TEXT]}
    assert not ada.notes.exists()
