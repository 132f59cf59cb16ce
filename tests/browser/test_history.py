"""The merge history in real Chromium: filters through htmx, a search by a deleted secondary's email,
the detail page, putting fields back on the live sandbox, the JSON download, and the dashboard's charts."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from mergeassist.audit.models import Decision
from mergeassist.sandbox.models import SandboxCustomer
from tests.audit.factories import customer_record, make_call, make_decision, merge_in_the_sandbox

pytestmark = pytest.mark.browser

SCREENSHOT_HISTORY = "/tmp/mergeassist-history.png"
SCREENSHOT_DETAIL = "/tmp/mergeassist-decision.png"
SCREENSHOT_DASHBOARD = "/tmp/mergeassist-dashboard.png"


def rows(page: Page):
    return page.locator("#history-table tbody tr")


def mark_this_document(page: Page) -> None:
    page.evaluate("window.loadedOnce = 'yes'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.loadedOnce") == "yes", "the page reloaded instead of swapping the results"


@pytest.fixture
def history(crm_sandbox, settings, alice):
    """One real merge on the sandbox by alice, and a few older decisions by dora."""
    settings.MERGEASSIST_CRM_BACKOFF = 0.01
    earlier = timezone.now() - timedelta(days=2)
    for n in range(3):
        make_decision(reviewer_username="dora", created_at=earlier + timedelta(minutes=n), outcome=Decision.Outcome.FAILED)
    make_decision(
        reviewer_username="dora", created_at=earlier, kind=Decision.Kind.NOT_DUPLICATE,
        outcome=Decision.Outcome.NOT_DUPLICATE, secondary=customer_record("31", email="other@example.com"),
    )  # fmt: skip
    merge = merge_in_the_sandbox(alice)
    make_call(merge, step="merge", duration_ms=321)
    return merge


def test_an_admin_audits_a_merge_and_puts_its_fields_back(history, page: Page, log_in, sam, browser_problems, tmp_path):
    merge = history
    log_in(page, sam)
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="Merge history")).to_be_visible()
    expect(rows(page)).to_have_count(5)
    mark_this_document(page)

    # Filters swap the results in place and keep the URL shareable.
    page.get_by_label("Outcome").select_option("failed")
    expect(rows(page)).to_have_count(3)
    expect(page).to_have_url(re.compile(r"outcome=failed"))
    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Reviewer").select_option("alice")
    expect(rows(page)).to_have_count(1)
    page.get_by_label("Reviewer").select_option("")
    expect(rows(page)).to_have_count(5)
    assert_not_reloaded(page)

    # The secondary no longer exists in the CRM; its email still finds the merge.
    page.get_by_label("Customer").fill("ann@new.example")
    expect(rows(page)).to_have_count(1)
    expect(page.locator(f"#decision-{merge.pk}")).to_contain_text("ann@new.example")
    expect(page).to_have_url(re.compile(r"q=ann%40new.example"))
    assert not SandboxCustomer.objects.filter(id=int(merge.secondary_crm_id)).exists()
    page.screenshot(path=SCREENSHOT_HISTORY, full_page=True)

    # The detail page: both records before, the calls with status and timing, the note.
    page.locator(f"#decision-{merge.pk} a").first.click()
    expect(page).to_have_url(re.compile(rf"/history/{merge.pk}/$"))
    expect(page.locator("#records-before")).to_contain_text("ann@old.example")
    expect(page.locator("#records-before")).to_contain_text("ann@new.example")
    expect(page.locator("#crm-calls")).to_contain_text("321 ms")
    expect(page.locator("#revert-fields")).to_contain_text("email")
    expect(page.locator("#revert-fields")).to_contain_text("phone")

    # The JSON download is the secondary's whole record, as it was before the merge.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the secondary's record (JSON)").click()
    download = download_info.value
    assert download.suggested_filename == f"customer-{merge.secondary_crm_id}-before-decision-{merge.pk}.json"
    saved = tmp_path / "secondary.json"
    download.save_as(saved)
    assert json.loads(saved.read_text()) == merge.secondary_before

    # Put the primary's values back: the section swaps in place and the CRM has the old values.
    mark_this_document(page)
    page.get_by_role("button", name="Put back the pre-merge values").click()
    expect(page.locator("#revert-message")).to_have_text("Put back email, phone.")
    expect(page.locator("#last-revert")).to_contain_text("Last put back by sam")
    assert_not_reloaded(page)
    primary = SandboxCustomer.objects.get(id=int(merge.primary_crm_id))
    assert (primary.email, primary.phone) == ("ann@old.example", None)
    page.reload()
    expect(page.locator("#crm-calls")).to_contain_text("Put back pre-merge values")
    page.screenshot(path=SCREENSHOT_DETAIL, full_page=True)
    assert browser_problems.messages == []


def test_the_dashboard_draws_its_charts(history, page: Page, log_in, bob, browser_problems):
    for n in range(12):
        make_decision(reviewer_username="dora", score=96, created_at=timezone.now() - timedelta(days=n % 5))
    log_in(page, bob)  # an Auditor
    page.goto(page.url.split("/customers/")[0] + "/dashboard/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    for chart in ("chart-merges", "chart-reviewers", "chart-crm-calls", "chart-bands"):
        svg = page.locator(f"#{chart} svg")
        expect(svg).to_be_visible()
        box = svg.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 50, chart
        assert page.locator(f"#{chart} rect.bar").count() > 0, chart
    # The bars are drawn with the stylesheet's colours (the CSP allows no inline styles).
    fill = page.locator("#chart-merges rect.bar").first.evaluate("el => getComputedStyle(el).fill")
    assert fill not in ("", "none", "rgb(0, 0, 0)")
    expect(page.locator("#tile-pending")).to_be_visible()
    page.screenshot(path=SCREENSHOT_DASHBOARD, full_page=True)
    assert browser_problems.messages == []
