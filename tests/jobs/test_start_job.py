"""The jobs panel's buttons: "Sync now", "Full sync now" (superusers), "Scan now"."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_tasks_db.models import DBTaskResult

from mergeassist.jobs.models import Job
from tests.conftest import PASSWORD

HTMX = {"HX-Request": "true"}


def squashed(html: bytes) -> str:
    return " ".join(html.decode().split())


@pytest.fixture
def admin(db) -> User:
    return User.objects.create_superuser("admin", "admin@example.org", PASSWORD)


def test_a_reviewer_queues_a_sync_and_a_second_press_joins_it(client, alice):
    client.force_login(alice)
    first = squashed(client.post("/jobs/start", {"job": "sync"}, headers=HTMX).content)
    second = squashed(client.post("/jobs/start", {"job": "sync"}, headers=HTMX).content)

    assert "The sync has been queued; its progress shows here." in first
    assert "A sync was already waiting for a worker: you joined it rather than starting another." in second
    job = Job.objects.get()
    assert (job.kind, job.status, job.full, job.requested_by) == ("sync", "queued", False, alice)
    assert DBTaskResult.objects.get().id.hex == job.task_id.replace("-", "")
    # The answer is the panel itself, polling while the job waits.
    assert first.startswith('<section id="jobs-panel"')
    assert 'hx-get="/jobs/panel" hx-trigger="every 2s"' in first
    assert "Waiting for a worker" in first


def test_a_sync_and_a_scan_may_wait_side_by_side(client, alice):
    client.force_login(alice)
    client.post("/jobs/start", {"job": "sync"}, headers=HTMX)
    client.post("/jobs/start", {"job": "scan"}, headers=HTMX)
    assert sorted(Job.objects.values_list("kind", flat=True)) == ["scan", "sync"]


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_people_without_the_review_permission_cannot_start_jobs(client, who, request):
    client.force_login(request.getfixturevalue(who))
    response = client.post("/jobs/start", {"job": "sync"}, headers=HTMX)
    assert response.status_code == 403
    assert b"Only reviewers and administrators can start a sync or a scan." in response.content
    assert not Job.objects.exists()


def test_only_a_superuser_starts_a_full_sync(client, alice, admin):
    client.force_login(alice)
    refused = client.post("/jobs/start", {"job": "full_sync"}, headers=HTMX)
    assert refused.status_code == 403 and b"Only an administrator can start a full sync." in refused.content
    assert not Job.objects.exists()

    client.force_login(admin)
    assert client.post("/jobs/start", {"job": "full_sync"}, headers=HTMX).status_code == 200
    assert Job.objects.get().full is True


def test_an_unknown_job_is_refused_with_a_reason(client, alice):
    client.force_login(alice)
    response = client.post("/jobs/start", {"job": "merge_everything"}, headers=HTMX)
    assert response.status_code == 400 and response.content == b"Choose Sync now or Scan now."
    assert not Job.objects.exists()


def test_without_javascript_it_goes_back_to_the_page_with_a_message(client, alice):
    client.force_login(alice)
    response = client.post("/jobs/start", {"job": "scan", "next": "/customers/?page=2"})
    assert response.status_code == 302 and response["Location"] == "/customers/?page=2"
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["The scan has been queued; its progress shows here."]


def test_it_never_sends_people_to_another_site(client, alice):
    client.force_login(alice)
    response = client.post("/jobs/start", {"job": "scan", "next": "https://evil.example/phish"})
    assert response["Location"] == "/customers/"


def test_pressing_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/jobs/start", {"job": "sync"}, headers=HTMX).status_code == 403
    assert not Job.objects.exists()


def test_it_refuses_get(client, alice):
    client.force_login(alice)
    assert client.get("/jobs/start").status_code == 405


def test_the_panel_needs_a_login(client, db):
    for url in ("/jobs/panel", "/jobs/start"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_buttons_show_only_to_those_who_may_press_them(client, alice, bob, admin):
    client.force_login(bob)
    auditor_sees = squashed(client.get("/jobs/panel").content)
    assert "Sync now" not in auditor_sees and "Scan now" not in auditor_sees
    assert "No sync has run yet." in auditor_sees

    client.force_login(alice)
    reviewer_sees = squashed(client.get("/jobs/panel").content)
    assert '<button type="submit" name="job" value="sync" class="primary">Sync now</button>' in reviewer_sees
    assert '<button type="submit" name="job" value="scan">Scan now</button>' in reviewer_sees
    assert "Full sync now" not in reviewer_sees

    client.force_login(admin)
    assert "Full sync now" in squashed(client.get("/jobs/panel").content)


def test_the_panel_warns_when_a_job_waits_and_no_worker_is_seen(client, alice):
    client.force_login(alice)
    html = squashed(client.post("/jobs/start", {"job": "scan"}, headers=HTMX).content)
    assert "No worker has been seen lately, so queued jobs are waiting." in html


def test_each_panel_tells_the_page_that_jobs_changed(client, alice):
    client.force_login(alice)
    assert client.get("/jobs/panel")["HX-Trigger"] == "jobs-updated"
    assert client.post("/jobs/start", {"job": "sync"}, headers=HTMX)["HX-Trigger"] == "jobs-updated"
