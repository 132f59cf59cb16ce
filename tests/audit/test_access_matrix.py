"""Every URL the project serves, tried as anonymous, Auditor, Reviewer, no-group user and superuser.

The URL list comes from the resolver, so a URL added later (by any branch) is walked too; a URL
whose name matches no rule in RULES fails the test until someone decides who may use it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from mergeassist.audit.models import CrmCall, Decision
from tests.audit.factories import make_decision

PUBLIC = "public"  # no login needed (login page, health check)
LOGGED_IN = "logged in"  # any logged-in user
STAFF = "staff"  # the admin: staff only; non-staff are sent to the admin's own login
NOBODY_STAFF = "refused even to superusers"  # the admin's add/delete on append-only tables
API_KEY = "api key"  # the sandbox CRM: its own bearer key, never a session
LOGOUT = "logout"  # anyone; it ends at the login page


@dataclass(frozen=True)
class Rule:
    who: str  # one of the constants above, or a permission "app.codename"
    methods: tuple[str, ...] = ("GET", "POST")


# First match wins. Names are "namespace:name"; unnamed patterns are matched by their route.
RULES: list[tuple[str, Rule]] = [
    ("login", Rule(PUBLIC)),
    ("healthz", Rule(PUBLIC, ("GET",))),
    ("logout", Rule(LOGOUT)),
    ("home", Rule(LOGGED_IN)),
    ("customers", Rule("crm.view_customer")),
    ("customers-*", Rule("crm.view_customer")),
    ("history", Rule("audit.view_history")),
    ("history-detail", Rule("audit.view_history")),
    ("history-secondary-json", Rule("audit.view_history")),
    ("history-export", Rule("audit.export_history")),
    ("history-revert", Rule("audit.revert_fields")),
    ("dashboard", Rule("audit.view_history")),
    # The review queue and its actions (branch `review`): reviewers only, auditors never merge.
    ("review", Rule("review.review_pairs")),
    ("review-*", Rule("review.review_pairs")),
    # The jobs panel (branch `harden`): progress of the sync and the scan, for anyone logged in;
    # starting a job needs the reviewers' permission (or a superuser).
    ("jobs-panel", Rule(LOGGED_IN, ("GET",))),
    ("jobs-start", Rule("review.review_pairs", ("POST",))),
    ("sandbox-*", Rule(API_KEY)),
    ("admin:login", Rule(PUBLIC, ("GET",))),
    ("admin:logout", Rule(LOGOUT, ("GET",))),
    # It refuses a bare request (no app, model and field named) with 403, superusers included.
    ("admin:autocomplete", Rule(NOBODY_STAFF, ("GET",))),
    ("admin:django_tasks_database_*_add", Rule(NOBODY_STAFF, ("GET",))),
    ("admin:django_tasks_database_*_delete", Rule(NOBODY_STAFF, ("GET",))),
    # Append-only from the app: no add or delete, superusers included.
    ("admin:audit_*_add", Rule(NOBODY_STAFF, ("GET",))),
    ("admin:audit_*_delete", Rule(NOBODY_STAFF, ("GET",))),
    ("admin:review_*_add", Rule(NOBODY_STAFF, ("GET",))),
    ("admin:review_*_delete", Rule(NOBODY_STAFF, ("GET",))),
    ("admin:crm_*_add", Rule(NOBODY_STAFF, ("GET",))),
    ("admin:crm_*_delete", Rule(NOBODY_STAFF, ("GET",))),
    ("admin:axes_*_add", Rule(NOBODY_STAFF, ("GET",))),
    ("admin:jobs_job_add", Rule(NOBODY_STAFF, ("GET",))),  # jobs are started from the jobs panel
    # The rest of the admin; POSTs there are the admin's own forms, checked like its GETs.
    ("admin:*", Rule(STAFF, ("GET",))),
]


@dataclass(frozen=True)
class Endpoint:
    key: str  # "namespace:name", or "namespace:<route>" when unnamed
    path: str


def endpoints(sample: dict[str, str]) -> Iterator[Endpoint]:
    def walk(patterns, prefix: str, namespace: str | None) -> Iterator[Endpoint]:  # noqa: ANN001
        for pattern in patterns:
            route = prefix + _example(str(pattern.pattern), sample)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                name = pattern.name or f"<{pattern.pattern}>"
                yield Endpoint(f"{namespace}:{name}" if namespace else name, "/" + route)

    yield from walk(get_resolver().url_patterns, "", None)


def _example(route: str, sample: dict[str, str]) -> str:
    """A concrete path for a route or regex: each parameter replaced by a sample value."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: sample.get(m.group(1), "1"), route)
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: sample.get(m.group(1), "1"), route)
    return route.lstrip("^").rstrip("$")


def rule_for(key: str) -> Rule | None:
    return next((rule for pattern, rule in RULES if fnmatchcase(key, pattern)), None)


def may(user: User | AnonymousUser, rule: Rule) -> bool:
    if rule.who == PUBLIC:
        return True
    if rule.who == LOGGED_IN:
        return user.is_authenticated
    if rule.who == STAFF:
        return user.is_active and user.is_staff
    if rule.who in (NOBODY_STAFF, API_KEY):
        return False
    return user.has_perm(rule.who)


@pytest.fixture
def people(alice, bob, charlie, sam) -> dict[str, User | AnonymousUser]:
    return {"anonymous": AnonymousUser(), "auditor": bob, "reviewer": alice, "no group": charlie, "superuser": sam}


@pytest.fixture
def sample(alice) -> dict[str, str]:
    # A "not a duplicate" decision: a superuser's POST to revert is refused before any CRM call.
    decision = make_decision(kind=Decision.Kind.NOT_DUPLICATE, outcome=Decision.Outcome.NOT_DUPLICATE, reviewer=alice)
    return {
        "decision_id": str(decision.pk),
        "object_id": str(decision.pk),
        "pk": str(decision.pk),
        "app_label": "audit",
        "url": "no-such-page/",
        "customer_id": "1",
        "primary_id": "1",
        "secondary_id": "2",
    }


def test_every_url_has_a_rule(sample):
    missing = [e.key for e in endpoints(sample) if rule_for(e.key) is None]
    assert missing == [], f"URLs without an access rule in RULES: {missing}"


def test_every_sample_url_reaches_its_own_view(sample):
    for endpoint in endpoints(sample):
        match = resolve(endpoint.path)
        expected = endpoint.key.split(":", 1)[-1]
        assert match.url_name == expected or expected.startswith("<"), (endpoint, match.url_name)


def test_the_access_matrix(people, sample, settings):
    settings.MERGEASSIST_CRM_URL = "http://127.0.0.1:9"  # nothing listens: pages fall back at once
    settings.MERGEASSIST_CRM_BACKOFF = 0
    problems: list[str] = []
    walked = 0
    clients = {role: Client() for role in people}
    for endpoint in endpoints(sample):
        rule = rule_for(endpoint.key)
        assert rule is not None, endpoint
        for role, user in people.items():
            client = clients[role]
            for method in rule.methods:
                if user.is_authenticated and "_auth_user_id" not in client.session:
                    client.force_login(user)  # again after a logout URL ended the session
                response = client.generic(method, endpoint.path)
                walked += 1
                verdict = _check(response, user, rule)
                if verdict:
                    problems.append(f"{method} {endpoint.path} ({endpoint.key}) as {role}: {verdict}")
    assert problems == [], "\n".join(problems)
    assert walked > 300  # the admin alone has dozens of URLs; a broken walk would find few


def _check(response, user, rule: Rule) -> str | None:  # noqa: ANN001
    status, location = response.status_code, response.get("Location", "")
    sent_to_login = status == 302 and location.startswith(("/accounts/login/", "/admin/login/"))
    if rule.who == LOGOUT:
        return None if status != 403 and status < 500 else f"logout answered {status}"
    if rule.who == API_KEY:
        # Without its bearer key the CRM refuses (401), or refuses the method before looking (405).
        return None if status in (401, 405) else f"expected 401 without the API key, got {status}"
    if not user.is_authenticated:
        if rule.who == PUBLIC:
            return None if not sent_to_login and status < 500 else f"public page answered {status} {location}"
        return None if sent_to_login else f"expected a redirect to the login, got {status} {location}"
    if may(user, rule):
        if sent_to_login or status == 403 or status >= 500:
            return f"allowed but got {status} {location}"
        return None
    if rule.who == STAFF or (rule.who == NOBODY_STAFF and not user.is_staff):
        return None if sent_to_login and location.startswith("/admin/login/") else f"expected the admin login, got {status}"
    # 405: the view does not take this method at all, so it refused before doing anything.
    if status not in (403, 405):
        return f"expected 403, got {status} {location}"
    return None


def test_refusals_are_in_words_and_whom_to_ask_for_people_without_a_role(client, alice, bob, charlie, sam):
    client.force_login(charlie)
    page = client.get("/history/")
    assert page.status_code == 403
    html = page.content.decode()
    assert "You have no role in MergeAssist yet" in html
    assert "sam@example.org" in html  # the administrator to ask
    client.force_login(bob)
    page = client.post(f"/history/{make_decision(reviewer=alice).pk}/revert/")
    assert page.status_code == 403
    assert "Your role does not allow this" in page.content.decode()


def test_htmx_gets_a_small_refusal_fragment(client, bob, charlie):
    client.force_login(charlie)
    response = client.get("/customers/", headers={"HX-Request": "true"})
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="access-denied"' in html and "<html" not in html


def test_a_user_without_a_role_lands_on_whom_to_ask(client, charlie):
    client.force_login(charlie)
    response = client.get("/")
    assert response.status_code == 200
    assert "You have no role in MergeAssist yet" in response.content.decode()


@pytest.mark.parametrize(("user", "landing"), [("alice", "/customers/"), ("bob", "/customers/")])
def test_home_opens_the_first_page_of_the_role(client, request, user, landing):
    client.force_login(request.getfixturevalue(user))
    assert client.get("/")["Location"] == landing


def test_navigation_shows_only_what_the_role_may_open(client, alice, bob):
    client.force_login(bob)
    auditor_page = client.get("/history/").content.decode()
    assert 'href="/history/"' in auditor_page and 'href="/dashboard/"' in auditor_page
    client.force_login(alice)
    reviewer_page = client.get("/history/").content.decode()  # refused, but the page still has the nav
    assert 'href="/customers/"' in reviewer_page
    assert 'href="/history/"' not in reviewer_page and 'href="/dashboard/"' not in reviewer_page


class CountingCrm(BaseHTTPRequestHandler):
    """A stand-in CRM that answers nothing useful and counts every request that reaches it."""

    requests: list[str] = []

    def _any(self) -> None:
        CountingCrm.requests.append(f"{self.command} {self.path}")
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = do_PATCH = do_DELETE = _any

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def counting_crm(settings) -> Iterator[list[str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingCrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    CountingCrm.requests = []
    settings.MERGEASSIST_CRM_URL = f"http://127.0.0.1:{server.server_port}"
    settings.MERGEASSIST_CRM_RETRIES = 0
    yield CountingCrm.requests
    server.shutdown()
    server.server_close()


def crm_writing_urls(sample: dict[str, str]) -> list[Endpoint]:
    """Every action that can write to the CRM: the review branch's (review-*) and the revert."""
    return [e for e in endpoints(sample) if fnmatchcase(e.key, "review-*") or e.key == "history-revert"]


def test_an_auditor_cannot_merge_and_nothing_reaches_the_crm(client, bob, alice, counting_crm):
    # A merge that changed the primary: a revert by someone allowed would PATCH the CRM.
    decision = make_decision(reviewer=alice, choices={"email": {"kept": "secondary", "value": "b@x.org", "replaced": "a@x.org"}})
    sample = {"decision_id": str(decision.pk), "pk": str(decision.pk), "pair_id": "1"}
    targets = crm_writing_urls(sample)
    assert any(e.key == "history-revert" for e in targets)
    client.force_login(bob)
    calls_before = CrmCall.objects.count()
    for endpoint in targets:
        response = client.post(endpoint.path, {"primary_id": "1", "secondary_id": "2", "fingerprint": "x"})
        # The actions refuse the role (403); a page that takes no POST refuses the method (405).
        assert response.status_code in (403, 405), endpoint
        if endpoint.key in ("review-merge", "review-cluster-merge", "history-revert"):
            assert response.status_code == 403, endpoint
    assert counting_crm == []
    assert CrmCall.objects.count() == calls_before
    assert Decision.objects.count() == 1


def test_the_roles_are_the_migrations_groups_with_their_permissions(db):
    from django.contrib.auth.models import Group

    auditors = {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name="Auditors").permissions.all()}
    reviewers = {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name="Reviewers").permissions.all()}
    assert {"audit.view_history", "audit.export_history", "crm.view_customer"} <= auditors
    assert "review.review_pairs" not in auditors and "audit.revert_fields" not in auditors
    assert "review.review_pairs" in reviewers and "audit.view_history" not in reviewers
    # Reverting writes to the CRM outside the review flow: superusers only, grantable per person.
    assert "audit.revert_fields" not in reviewers


def test_logging_in_without_a_role_lands_on_whom_to_ask(client, charlie):
    response = client.post("/accounts/login/", {"username": "charlie", "password": "correct-horse-battery"}, follow=True)
    assert response.status_code == 200
    assert "You have no role in MergeAssist yet" in response.content.decode()
