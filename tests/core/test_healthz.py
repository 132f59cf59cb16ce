import pytest


@pytest.mark.django_db
def test_it_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_it_sends_anonymous_users_to_the_login_page(client):
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_creates_the_role_groups(alice, bob):
    assert alice.groups.filter(name="Reviewers").exists()
    assert bob.groups.filter(name="Auditors").exists()
