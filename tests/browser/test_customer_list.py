"""The customer list in real Chromium: live CRM data, htmx filtering and paging, the snapshot fallback."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from mergeassist.crm.models import Customer, SyncRun
from mergeassist.sandbox.models import SandboxCustomer

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/mergeassist-customers.png"
SCREENSHOT_CRM_DOWN = "/tmp/mergeassist-customers-crm-down.png"


def results(page: Page):
    return page.locator("#customer-results")


def rows(page: Page):
    return page.locator("#customer-table tbody tr")


def mark_this_document(page: Page) -> None:
    """Leave a mark on the loaded document: a full reload would lose it, an htmx swap keeps it."""
    page.evaluate("window.loadedOnce = 'yes'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.loadedOnce") == "yes", "the page reloaded instead of swapping the results"


def test_it_shows_the_sandbox_customers_after_logging_in(crm_sandbox, browser_problems, page, log_in, alice):
    crm_sandbox.seed(40)
    log_in(page, alice)

    expect(page).to_have_url(re.compile(r"/customers/$"))
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    expect(rows(page)).to_have_count(25)
    expect(page.locator("#customer-results-summary")).to_have_text("Showing 1–25 of 40 customers")
    assert browser_problems.messages == []


def test_it_filters_by_email_through_htmx(crm_sandbox, logged_in_page: Page, browser_problems):
    page = logged_in_page
    crm_sandbox.seed(40)
    page.reload()
    wanted = SandboxCustomer.objects.exclude(email=None).exclude(email="").order_by("id").first()
    local_part = wanted.email.split("@")[0]
    matching = SandboxCustomer.objects.filter(email__icontains=local_part).count()
    mark_this_document(page)

    page.get_by_label("Filter on").select_option("email")
    page.get_by_label("Match").select_option("contains")
    page.get_by_label("Value").fill(local_part)
    page.get_by_role("button", name="Apply").click()

    expect(rows(page)).to_have_count(matching)
    expect(page.locator(f"#customer-{wanted.id}")).to_contain_text(wanted.email)
    expect(page).to_have_url(re.compile(rf"filter_value={re.escape(local_part)}"))
    assert_not_reloaded(page)
    assert browser_problems.messages == []


def test_it_pages_through_the_results_and_back(crm_sandbox, logged_in_page: Page):
    page = logged_in_page
    crm_sandbox.seed(60)
    page.get_by_label("Sort by").select_option("id")
    expect(page.locator("#customer-1")).to_be_visible()
    mark_this_document(page)

    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Next").click()
    expect(page.locator("#customer-results-summary")).to_have_text("Showing 26–50 of 60 customers")
    expect(page.locator("#customer-26")).to_be_visible()
    expect(page).to_have_url(re.compile(r"page=2"))

    page.get_by_role("link", name="Page 3").click()
    expect(page.locator("#customer-results-summary")).to_have_text("Showing 51–60 of 60 customers")
    assert_not_reloaded(page)

    page.go_back()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("#customer-26")).to_be_visible()


def test_it_shows_that_it_is_loading_while_the_crm_is_slow(crm_sandbox, logged_in_page: Page):
    page = logged_in_page
    crm_sandbox.seed(5)
    loading = page.locator("#customer-results-loading")
    expect(loading).to_be_hidden()

    crm_sandbox.set_faults("list.slow=1,delay=1.5")
    page.get_by_label("Per page").select_option("10")
    expect(loading).to_be_visible()
    expect(loading).to_be_hidden()
    expect(page).to_have_url(re.compile(r"per_page=10"))


def test_it_shows_the_snapshot_when_the_crm_is_down(crm_sandbox, logged_in_page: Page, settings):
    page = logged_in_page
    Customer.objects.create(
        crm_id="7", crm_id_number=7, name_first="Snap", name_last="Shot", email="snap@example.com"
    )
    SyncRun.objects.create(
        kind="full", status="succeeded", finished_at=timezone.now() - timedelta(minutes=30), customers_seen=1
    )
    working_url = settings.MERGEASSIST_CRM_URL
    settings.MERGEASSIST_CRM_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    page.reload()

    expect(page.get_by_role("alert")).to_contain_text("The CRM at 127.0.0.1:9 is not answering")
    expect(page.locator("#snapshot-notice")).to_contain_text("Showing the local snapshot from")
    expect(page.locator("#customer-7")).to_contain_text("snap@example.com")
    expect(page.locator("#sync-status")).to_contain_text("succeeded, 1 customer")
    page.screenshot(path=SCREENSHOT_CRM_DOWN, full_page=True)

    # Back up: "Try again" brings the live list without a reload.
    crm_sandbox.seed(5)
    settings.MERGEASSIST_CRM_URL = working_url
    mark_this_document(page)
    page.get_by_role("link", name="Try again").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(rows(page)).to_have_count(5)
    assert_not_reloaded(page)


def test_it_shows_customer_data_as_text(crm_sandbox, logged_in_page: Page, browser_problems):
    page = logged_in_page
    SandboxCustomer.objects.create(
        name_first="<img src=x onerror=alert(1)>", name_last="<script>", email="x@example.com"
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.reload()

    expect(rows(page).first).to_contain_text("<img src=x onerror=alert(1)> <script>")
    assert dialogs == []
    assert browser_problems.messages == []


def test_it_works_without_javascript(crm_sandbox, browser, live_server, log_in, alice):
    crm_sandbox.seed(30)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, alice)
        page.get_by_label("Per page").select_option("10")
        page.get_by_label("Sort by").select_option("id")
        page.get_by_role("button", name="Apply").click()
        expect(rows(page)).to_have_count(10)
        page.get_by_role("link", name="Next").click()
        expect(page.locator("#customer-11")).to_be_visible()
        expect(page).to_have_url(re.compile(r"per_page=10.*page=2|page=2.*per_page=10"))
    finally:
        context.close()


def test_it_looks_right(crm_sandbox, logged_in_page: Page, browser_problems):
    """Not an assertion about pixels: a screenshot for a person to look at, and no console errors."""
    page = logged_in_page
    crm_sandbox.seed(120)
    SyncRun.objects.create(
        kind="full",
        status="succeeded",
        started_at=timezone.now() - timedelta(minutes=5),
        finished_at=timezone.now() - timedelta(minutes=3),
        customers_seen=120,
    )
    page.reload()
    expect(rows(page)).to_have_count(25)
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert browser_problems.messages == []
