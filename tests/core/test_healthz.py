import json

import pytest
from django.core.cache import cache
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from mergeassist.crm.client import CrmClient
from mergeassist.jobs.models import WorkerBeat


@pytest.fixture(autouse=True)
def fresh_crm_check():
    # /healthz remembers the CRM's answer for a while; each test asks afresh.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def crm_down(settings):
    settings.MERGEASSIST_CRM_URL = "http://127.0.0.1:9/sandbox"  # nothing listens on the discard port


@pytest.mark.django_db
def test_it_answers_without_login_and_reports_each_part(client, crm_down):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "database": "ok",
        "worker": {"status": "none", "last_heartbeat": None, "seconds_ago": None},
        "crm": {"status": "error"},
    }
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_it_is_ok_when_a_worker_beats_and_the_crm_answers(client, crm_sandbox):
    WorkerBeat.objects.create(worker_id="w1", beat_at=timezone.now())
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["worker"]["status"] == "ok" and body["worker"]["seconds_ago"] == 0
    assert body["crm"] == {"status": "ok"}


@pytest.mark.django_db
def test_it_says_when_the_workers_have_gone_quiet(client, crm_sandbox):
    WorkerBeat.objects.create(worker_id="w1", beat_at=timezone.now() - timezone.timedelta(minutes=5))
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["worker"]["status"] == "late" and body["worker"]["seconds_ago"] >= 300


@pytest.mark.django_db
def test_staff_see_why_the_crm_failed_but_never_the_key(client, crm_sandbox, monkeypatch, django_user_model):
    # The sandbox in this process reads the key from settings too, so give only the client a wrong one.
    monkeypatch.setattr(
        CrmClient, "from_settings", lambda: CrmClient(crm_sandbox.base_url, "sk_wrong_key_for_healthz", retries=0)
    )
    anonymous = client.get("/healthz").content.decode()
    assert json.loads(anonymous)["crm"] == {"status": "error"}
    assert "refused" not in anonymous

    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    body = client.get("/healthz").content.decode()
    assert json.loads(body)["crm"] == {"status": "error", "message": "The CRM refused the API key. Check MERGEASSIST_CRM_API_KEY."}
    assert "sk_wrong_key_for_healthz" not in body
    assert "sk_wrong_key_for_healthz" not in anonymous


@pytest.mark.django_db
def test_it_answers_503_without_the_reason_when_the_database_fails(client, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise RuntimeError("could not connect to server at db.internal:5432 as user secret_user")

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error"}


@pytest.mark.django_db
def test_it_sends_anonymous_users_to_the_login_page(client):
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_creates_the_role_groups(alice, bob):
    assert alice.groups.filter(name="Reviewers").exists()
    assert bob.groups.filter(name="Auditors").exists()
