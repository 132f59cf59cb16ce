"""Every sandbox call needs `Authorization: Bearer <MERGEASSIST_CRM_API_KEY>`, and nothing else."""

from __future__ import annotations

import pytest
import requests

ENDPOINTS = [
    ("GET", "/v2/customers/"),
    ("PATCH", "/v2/customers/{a}"),
    ("POST", "/v2/customers/{a}/notes"),
    ("GET", "/v2/customers/{a}/merge/{b}"),
    ("POST", "/v2/customers/{a}/merge/{b}"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-key", "Bearer ", "Basic dXNlcjpwYXNz", "{key}"],
    ids=["missing", "wrong key", "empty key", "basic auth", "key without Bearer"],
)
def test_it_refuses_calls_without_the_right_key(crm_sandbox, make_customer, method, path, authorization):
    ada, bea = make_customer(name_first="Ada"), make_customer(name_first="Bea")
    path = path.format(a=ada.id, b=bea.id)
    headers = (
        {} if authorization is None else {"Authorization": authorization.format(key=crm_sandbox.api_key)}
    )

    response = requests.request(method, crm_sandbox.url(path), headers=headers, json=[], timeout=10)

    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["message"].startswith("Unauthenticated")


def test_it_accepts_the_key_without_a_login_session_or_csrf_token(crm_sandbox, make_customer):
    ada = make_customer(name_first="Ada")

    response = requests.post(
        crm_sandbox.url(f"/v2/customers/{ada.id}/notes"),
        headers=crm_sandbox.headers,
        json={"notes": "hi"},
        timeout=10,
    )

    assert response.status_code == 201  # not a redirect to /accounts/login/, not a 403 for CSRF


def test_it_accepts_the_scheme_in_any_case(crm_sandbox):
    response = requests.get(
        crm_sandbox.url("/v2/customers/"),
        headers={"Authorization": f"bearer {crm_sandbox.api_key}"},
        timeout=10,
    )

    assert response.status_code == 200


def test_it_refuses_everyone_when_no_key_is_configured(crm_sandbox, settings):
    settings.MERGEASSIST_CRM_API_KEY = ""

    response = requests.get(
        crm_sandbox.url("/v2/customers/"), headers={"Authorization": "Bearer "}, timeout=10
    )

    assert response.status_code == 401


def test_it_answers_an_unsupported_method_with_405(api):
    response = api.session.delete(api.sandbox.url("/v2/customers/"), timeout=10)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
