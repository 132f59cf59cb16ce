"""Lock-out: repeated failed logins refuse further logins for a while, say why, and are recorded."""

from __future__ import annotations

from axes.models import AccessAttempt, AccessFailureLog

from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"


def log_in(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_sixth_attempt_is_refused_even_with_the_right_password(client, alice):
    for _ in range(4):
        response = log_in(client, "alice", "wrong-password")
        assert response.status_code == 200
        assert "match. Please try again" in response.content.decode()
    # The fifth failure is the one that locks: its answer already says so.
    assert log_in(client, "alice", "wrong-password").status_code == 429

    response = log_in(client, "alice", PASSWORD)

    assert response.status_code == 429
    html = response.content.decode()
    assert 'id="locked-out"' in html
    assert "Too many failed logins" in html and "refused for 15 minutes" in html
    assert "_auth_user_id" not in client.session
    # And the person is really not in: a page still sends them to the login.
    assert client.get("/customers/").status_code == 302


def test_the_right_password_works_before_the_limit(client, alice):
    for _ in range(4):
        log_in(client, "alice", "wrong-password")
    response = log_in(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_one_address_trying_many_usernames_is_locked_out(client, alice, bob):
    for name in ("carol", "dave", "erin", "frank", "grace"):
        log_in(client, name, "guess", address="10.9.9.9")
    response = log_in(client, "bob", PASSWORD, address="10.9.9.9")
    assert response.status_code == 429
    # Bob himself, from his own address, is not locked out by someone else's guessing.
    assert log_in(client, "bob", PASSWORD, address="10.0.0.2").status_code == 302


def test_one_username_tried_from_many_addresses_is_locked_out(client, alice):
    for n in range(5):
        log_in(client, "alice", "guess", address=f"10.1.1.{n}")
    assert log_in(client, "alice", PASSWORD, address="10.2.2.2").status_code == 429


def test_the_limit_and_the_period_come_from_settings(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    log_in(client, "alice", "wrong")
    log_in(client, "alice", "wrong")
    response = log_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert "after 2 wrong passwords" in response.content.decode()


def test_failed_logins_are_recorded_with_who_where_and_when(client, alice):
    log_in(client, "alice", "wrong", address="10.3.3.3")
    failure = AccessFailureLog.objects.get()
    assert (failure.username, failure.ip_address) == ("alice", "10.3.3.3")
    assert failure.attempt_time is not None
    assert AccessAttempt.objects.get(username="alice").failures_since_start == 1


def test_superusers_see_the_failed_logins_and_others_do_not(client, alice, bob, sam):
    log_in(client, "mallory", "guess", address="10.4.4.4")
    client.force_login(sam)
    page = client.get("/admin/axes/accessfailurelog/")
    assert page.status_code == 200
    assert "mallory" in page.content.decode() and "10.4.4.4" in page.content.decode()
    client.force_login(bob)
    assert client.get("/admin/axes/accessfailurelog/").status_code == 302  # to the admin's login
