"""Logged-in pages keep customer data out of caches, and an htmx request after the session expired
sends the person to the login page instead of swapping the login form into the results."""

from __future__ import annotations

import pytest

from mergeassist.crm.client import CrmClient
from mergeassist.crm.errors import CrmUnavailable

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm_down(monkeypatch):
    class Down:
        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            pass

        def list_customers(self, **kwargs):
            raise CrmUnavailable("The CRM is down.")

    monkeypatch.setattr(CrmClient, "for_pages", lambda: Down())


# -- finding 8 ---------------------------------------------------------------------------------------


def test_an_htmx_request_without_a_session_is_sent_to_the_login_page_whole(client):
    response = client.get(
        "/customers/",
        {"search": "ann"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/customers/?search=an"},
    )
    assert response.status_code == 200
    # Back to the page the person was on, not to the fragment's URL.
    assert response["HX-Redirect"] == "/accounts/login/?next=/customers/%3Fsearch%3Dan"
    assert b"<form" not in response.content


def test_it_never_sends_the_person_to_another_site_after_login(client):
    response = client.get(
        "/customers/sync-status",
        headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/customers/"},
    )
    assert response["HX-Redirect"] == "/accounts/login/?next=/customers/sync-status"


def test_a_request_without_htmx_is_still_redirected_as_usual(client):
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/customers/"
    assert "HX-Redirect" not in response


# -- finding 9 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/customers/", {}),
        ("/customers/", {"HX-Request": "true"}),
        ("/customers/sync-status", {"HX-Request": "true"}),
        ("/admin/crm/customer/", {}),
    ],
)
def test_pages_with_customer_data_are_private_and_never_stored(client, admin_user, crm_down, path, headers):
    client.force_login(admin_user)
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= directives
    assert "public" not in directives


def test_htmx_keeps_no_copy_of_pages_in_session_storage(client, alice, crm_down):
    client.force_login(alice)
    html = client.get("/customers/").content.decode()
    assert '"historyCacheSize": 0' in html
