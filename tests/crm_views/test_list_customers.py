"""/customers/: the CRM browsed live, with the snapshot standing in when the CRM fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from mergeassist.crm.client import CrmClient
from mergeassist.crm.errors import CrmAuthError, CrmError
from mergeassist.crm.models import Customer, SyncRun
from mergeassist.crm.types import CrmCustomer, CustomerPage
from mergeassist.sandbox.models import SandboxCustomer

URL = "/customers/"
UPDATED = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)


def crm_customer(id: str = "1", **values: Any) -> CrmCustomer:
    fields: dict[str, Any] = {
        "name_first": "Ann",
        "name_last": "Lee",
        "email": f"ann{id}@example.com",
        "phone": "+1 555 0100",
        "company_name": "Acme",
        "address1": None,
        "address2": None,
        "city": "Boston",
        "state": "MA",
        "zip": "02110",
        "country": "US",
        "created_at": UPDATED,
        "updated_at": UPDATED,
    }
    fields.update(values)
    return CrmCustomer(id=id, **fields)


class FakeCrm:
    """Stands in for CrmClient: records every list call and answers with one page, or an error."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.customers: list[CrmCustomer] = [crm_customer("1"), crm_customer("2", name_first="Bo")]
        self.total: int | None = None
        self.last_page = 1
        self.error: Exception | None = None
        self.retries = 5
        self.max_retry_after = 60.0

    def __enter__(self) -> FakeCrm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def list_customers(self, **kwargs: Any) -> CustomerPage:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return CustomerPage(
            customers=self.customers,
            current_page=kwargs["page"],
            per_page=kwargs["per_page"],
            last_page=self.last_page,
            total=len(self.customers) if self.total is None else self.total,
        )


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch) -> FakeCrm:
    fake = FakeCrm()
    monkeypatch.setattr(CrmClient, "for_pages", lambda: fake)
    return fake


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def snapshot_customer(crm_id: str, **values: Any) -> Customer:
    values.setdefault("email", f"snap{crm_id}@example.com")
    return Customer.objects.create(crm_id=crm_id, crm_id_number=int(crm_id), **values)


def test_it_shows_the_full_page(logged_in, crm):
    response = logged_in.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert 'id="customer-filters"' in html
    assert 'id="customer-results"' in html
    assert 'id="customer-1"' in html
    assert "Bo Lee" in html
    assert "ann2@example.com" in html
    assert "Boston, US" in html
    assert "2025-03-04 05:06" in html
    assert "Showing 1–2 of 2 customers" in html


def test_it_has_a_filter_form_that_works_with_and_without_javascript(logged_in, crm):
    html = logged_in.get(URL).content.decode()
    form = html[
        html.index('<form id="customer-filters"') : html.index("</form>", html.index("customer-filters"))
    ]
    assert 'method="get" action="/customers/"' in form
    assert 'hx-get="/customers/" hx-target="#customer-results"' in form
    assert 'hx-push-url="true"' in form
    assert 'hx-indicator="#customer-results-loading"' in form
    assert '<label for="id_filter_value">Value</label>' in form


def test_it_returns_only_the_fragment_to_htmx(logged_in, crm):
    response = logged_in.get(URL, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="customer-results"')
    assert "<html" not in html
    assert 'id="customer-filters"' not in html
    assert "Bo Lee" in html
    assert "HX-Request" in response["Vary"]


def test_it_returns_the_whole_page_for_an_htmx_history_restore(logged_in, crm):
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    response = logged_in.get(URL, headers=headers)
    assert "<html" in response.content.decode()


def test_it_asks_the_crm_with_sensible_defaults(logged_in, crm):
    logged_in.get(URL)
    assert crm.calls == [{"page": 1, "per_page": 25, "search": None, "filters": {}, "sort": "-updated_at"}]


def test_it_passes_search_filter_sort_and_page_to_the_crm(logged_in, crm):
    query = {
        "search": " ann ",
        "filter_field": "company_name",
        "filter_match": "exact",
        "filter_value": "Acme Inc",
        "sort": "-email",
        "page": "3",
        "per_page": "50",
    }
    crm.last_page = 5
    response = logged_in.get(URL, query)
    assert crm.calls == [
        {
            "page": 3,
            "per_page": 50,
            "search": "ann",
            "filters": {"company_name": "Acme Inc"},
            "sort": "-email",
        }
    ]
    # The form shows what was asked for.
    html = response.content.decode()
    assert 'value=" ann "' in html  # as typed
    assert 'value="Acme Inc"' in html
    assert '<option value="company_name" selected>' in html
    assert '<option value="exact" selected>' in html
    assert '<option value="-email" selected>' in html
    assert '<option value="50" selected>' in html


def test_it_sends_a_contains_filter_as_the_crm_spells_it(logged_in, crm):
    logged_in.get(URL, {"filter_field": "email", "filter_match": "contains", "filter_value": "gmail"})
    assert crm.calls[0]["filters"] == {"email.contains": "gmail"}


def test_it_ignores_a_filter_without_a_value(logged_in, crm):
    logged_in.get(URL, {"filter_field": "name_last", "filter_match": "exact", "filter_value": "  "})
    assert crm.calls[0]["filters"] == {}


def test_it_shows_a_per_page_typed_into_the_url(logged_in, crm):
    response = logged_in.get(URL, {"per_page": "30"})
    assert crm.calls[0]["per_page"] == 30
    assert '<option value="30" selected>' in response.content.decode()


@pytest.mark.parametrize(
    "query, reason",
    [
        ({"per_page": "500"}, "Per page: Ensure this value is less than or equal to 100."),
        ({"page": "0"}, "Page: Ensure this value is greater than or equal to 1."),
        ({"page": "two"}, "Page: Enter a whole number."),
        ({"sort": "password"}, "Sort by: Select a valid choice."),
        ({"filter_field": "phone", "filter_value": "555"}, "Filter on: Select a valid choice."),
        ({"filter_match": "startswith"}, "Match: Select a valid choice."),
        ({"search": "x" * 101}, "Search: Ensure this value has at most 100 characters"),
    ],
)
def test_it_refuses_bad_input_with_a_reason(logged_in, crm, query, reason):
    response = logged_in.get(URL, query)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert crm.calls == []


def test_it_marks_the_field_at_fault(logged_in, crm):
    html = logged_in.get(URL, {"per_page": "500"}).content.decode()
    assert 'aria-invalid="true" aria-describedby="id_per_page_error"' in html
    assert '<ul class="errorlist" id="id_per_page_error">' in html


def test_it_refuses_bad_input_in_the_fragment_too(logged_in, crm):
    response = logged_in.get(URL, {"per_page": "500"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "<html" not in html
    assert "Per page: Ensure this value is less than or equal to 100." in html


def test_it_links_pages_keeping_the_filters(logged_in, crm):
    crm.total, crm.last_page = 1234, 50
    response = logged_in.get(URL, {"search": "ann", "page": "7"})
    html = response.content.decode()
    assert 'href="?search=ann&amp;page=8" hx-get="?search=ann&amp;page=8" rel="next"' in html
    assert 'href="?search=ann&amp;page=6" hx-get="?search=ann&amp;page=6" rel="prev"' in html
    assert 'aria-label="Page 50"' in html
    assert 'aria-current="page" class="current">7<' in html
    assert "Showing 151–152 of 1,234 customers" in html


def test_it_shows_the_empty_state(logged_in, crm):
    crm.customers = []
    response = logged_in.get(URL, {"filter_value": "nobody"})
    assert "No customers match these filters." in response.content.decode()


def test_it_says_when_a_page_is_past_the_end(logged_in, crm):
    crm.customers, crm.total, crm.last_page = [], 40, 2
    response = logged_in.get(URL, {"page": "9"})
    html = response.content.decode()
    assert "Page 9 is past the end: there are 2 pages." in html
    assert "Go to the first page" in html


def test_it_escapes_customer_data(logged_in, crm):
    crm.customers = [
        crm_customer("7", name_first="<script>alert(1)</script>", company_name="<b>Bold</b> & Co")
    ]
    html = logged_in.get(URL).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in html


def test_it_says_plainly_when_the_key_is_wrong(logged_in, crm):
    crm.error = CrmAuthError()
    response = logged_in.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("The CRM refused the API key. Check MERGEASSIST_CRM_API_KEY.") == 1
    assert "Traceback" not in html
    assert "Try again" in html


def test_it_falls_back_to_the_snapshot_when_the_crm_is_down(logged_in, settings):
    settings.MERGEASSIST_CRM_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.MERGEASSIST_CRM_RETRIES = 0
    snapshot_customer("1", name_first="Ann", email="ann@example.com")
    snapshot_customer("2", name_first="Zed", email="zed@example.com")
    finished = timezone.now() - timedelta(hours=2)
    SyncRun.objects.create(kind="full", status="succeeded", finished_at=finished, customers_seen=2)

    response = logged_in.get(URL, {"filter_value": "ann@"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "The CRM at 127.0.0.1:9 is not answering" in html
    assert f'href="{URL}?filter_value=ann%40"' in html  # "Try again" repeats the same query
    assert "Showing the local snapshot from" in html
    assert f"{finished:%Y-%m-%d %H:%M}" in html
    assert "ann@example.com" in html
    assert "zed@example.com" not in html


@pytest.mark.parametrize("error", [RuntimeError("boom"), UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates"), RecursionError()])
def test_it_falls_back_to_the_snapshot_whatever_breaks_on_the_crm_path(logged_in, crm, error, caplog):
    crm.error = error
    snapshot_customer("1", name_first="Ann", email="ann@example.com")

    response = logged_in.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Something went wrong while reading the CRM" in html
    assert "ann@example.com" in html and "Showing the local snapshot" in html
    assert "Traceback" not in html
    assert "Customer list fell back to the snapshot after an unexpected error" in caplog.text


def test_it_applies_search_filter_sort_and_page_to_the_snapshot(logged_in, crm):
    crm.error = CrmError("The CRM is down.")
    snapshot_customer("1", name_last="Adams", company_name="Acme")
    snapshot_customer("2", name_last="Baker", company_name="Acme Labs")
    snapshot_customer("3", name_last="Clark", company_name="Acme")
    snapshot_customer("4", name_last="Dunn", company_name="Other")
    snapshot_customer("5", name_last="Evans", company_name="Acme", is_gone=True)

    query = {
        "filter_field": "company_name",
        "filter_match": "exact",
        "filter_value": "Acme",
        "sort": "-name_last",
    }
    html = logged_in.get(URL, {**query, "per_page": "1", "page": "2"}).content.decode()
    assert "Showing 2–2 of 2 customers in the snapshot" in html
    assert "snap1@example.com" in html  # Clark is first, Adams second
    assert "snap3@example.com" not in html

    html = logged_in.get(URL, {"search": "BAK"}).content.decode()
    assert "snap2@example.com" in html
    assert "snap1@example.com" not in html


def test_it_says_when_there_is_no_snapshot_either(logged_in, crm):
    crm.error = CrmError("The CRM is down.")
    html = logged_in.get(URL).content.decode()
    assert "Showing the local snapshot, which is empty: no sync has run yet." in html


def test_it_shows_the_last_sync(logged_in, crm):
    SyncRun.objects.create(
        kind="full",
        status="succeeded",
        started_at=timezone.now() - timedelta(minutes=5),
        finished_at=timezone.now() - timedelta(minutes=3),
        customers_seen=2000,
    )
    html = logged_in.get(URL).content.decode()
    assert "Last sync: full," in html
    assert "3\xa0minutes ago</time>" in html
    assert '<span class="sync-ok">succeeded</span>, 2,000 customers' in html


def test_it_says_how_many_customers_the_last_sync_could_not_read(logged_in, crm):
    SyncRun.objects.create(
        kind="full", status="succeeded", finished_at=timezone.now(), customers_seen=98, customers_skipped=2,
        skipped_detail="3 (name_first is an object, not text); 9 (phone is true or false, not text)",
    )
    html = " ".join(logged_in.get(URL).content.decode().split())
    assert "98 customers, <span class=\"sync-failed\" title=\"3 (name_first is an object" in html
    assert "2 skipped (unreadable in the CRM)</span>" in html


def test_it_shows_why_the_last_sync_failed(logged_in, crm):
    SyncRun.objects.create(
        kind="incremental",
        status="failed",
        finished_at=timezone.now(),
        error_message="The CRM refused the API key.",
    )
    html = logged_in.get(URL).content.decode()
    assert "Last sync: incremental," in html
    assert (
        '<span class="sync-failed">failed</span>: <bdi class="crm-text crm-text-wrap">The CRM refused the API key.</bdi>'
        in html
    )


def test_it_shows_a_sync_in_progress(logged_in, crm):
    SyncRun.objects.create(kind="full", customers_seen=1200, total_expected=2000)
    html = " ".join(logged_in.get(URL).content.decode().split())
    assert '<span class="sync-running">running</span>, 1,200 of 2,000 customers so far' in html
    assert "it may have stopped" not in html


def test_the_status_line_polls_itself_while_a_sync_runs(logged_in, crm):
    run = SyncRun.objects.create(kind="full", customers_seen=300, total_expected=2000)
    page = logged_in.get(URL).content.decode()
    assert 'hx-get="/customers/sync-status" hx-swap="outerHTML" hx-trigger="every 2s, jobs-updated from:body"' in " ".join(page.split())

    run.customers_seen = 1700
    run.save()
    fragment = " ".join(logged_in.get("/customers/sync-status", headers={"HX-Request": "true"}).content.decode().split())
    assert fragment.startswith('<p class="status-line" id="sync-status"')
    assert "1,700 of 2,000 customers so far" in fragment
    assert "<table" not in fragment

    run.status, run.finished_at = SyncRun.Status.SUCCEEDED, timezone.now()
    run.save()
    fragment = logged_in.get("/customers/sync-status").content.decode()
    assert '<span class="sync-ok">succeeded</span>' in fragment
    # Finished: the polling stops; the line refreshes only when the jobs panel says something changed.
    assert 'hx-trigger="jobs-updated from:body"' in " ".join(fragment.split())
    assert "every 2s" not in fragment


def test_the_status_line_needs_a_login(client, db):
    response = client.get("/customers/sync-status")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_says_when_a_running_sync_looks_stalled(logged_in, crm):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    SyncRun.objects.create(kind="incremental", started_at=an_hour_ago, heartbeat_at=an_hour_ago)
    html = " ".join(logged_in.get(URL).content.decode().split())
    assert "no sign of life for 1 hour, it may have stopped" in html


def test_it_counts_the_snapshot(logged_in, crm):
    for n in range(3):
        snapshot_customer(str(n + 1))
    snapshot_customer("9", is_gone=True)
    html = logged_in.get(URL).content.decode()
    assert "Snapshot: 3 customers" in html
    assert "No sync has run yet." in html


def test_it_refuses_post(logged_in, crm):
    assert logged_in.post(URL).status_code == 405


def test_it_sends_anonymous_users_to_the_login_page(client, crm):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/customers/"
    assert crm.calls == []


# -- against the sandbox CRM over real HTTP ---------------------------------------------------------


def test_it_says_plainly_when_the_crm_refuses_the_key(crm_sandbox, logged_in, monkeypatch):
    crm_sandbox.seed(3)
    monkeypatch.setattr(CrmClient, "for_pages", lambda: CrmClient(crm_sandbox.base_url, "wrong", retries=0))
    response = logged_in.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("The CRM refused the API key. Check MERGEASSIST_CRM_API_KEY.") == 1
    assert "wrong" not in html
    assert "Showing the local snapshot, which is empty" in html


def test_it_rides_out_one_crm_hiccup(crm_sandbox, logged_in, settings):
    settings.MERGEASSIST_CRM_BACKOFF = 0.001
    crm_sandbox.seed(5)
    crm_sandbox.set_faults("list.5xx=1,list.5xx.times=1")
    html = logged_in.get(URL).content.decode()
    assert "of 5 customers" in html
    assert 'id="crm-error"' not in html


def test_it_falls_back_when_the_crm_keeps_failing(crm_sandbox, logged_in, settings):
    settings.MERGEASSIST_CRM_BACKOFF = 0.001
    crm_sandbox.seed(5)
    crm_sandbox.set_faults("list.5xx=1")
    html = logged_in.get(URL).content.decode()
    assert "is not answering (HTTP 5" in html
    assert "Showing the local snapshot" in html


# Last on purpose: a test that ends on a CRM error leaves a keep-alive request thread in the live
# server, which warns if the session stops the server under it (see the report on the client).
def test_it_lists_the_sandbox_customers_over_http(crm_sandbox, logged_in):
    crm_sandbox.seed(30)
    wanted = SandboxCustomer.objects.exclude(email=None).exclude(email="").order_by("id").first()

    html = logged_in.get(URL, {"sort": "id", "per_page": "10"}).content.decode()
    assert "of 30 customers" in html
    assert 'id="customer-1"' in html and 'id="customer-11"' not in html

    html = logged_in.get(URL, {"sort": "id", "per_page": "10", "page": "2"}).content.decode()
    assert 'id="customer-11"' in html and 'id="customer-1"' not in html

    html = logged_in.get(URL, {"filter_field": "email", "filter_value": wanted.email}).content.decode()
    assert f'id="customer-{wanted.id}"' in html
    assert "Showing the local snapshot" not in html
