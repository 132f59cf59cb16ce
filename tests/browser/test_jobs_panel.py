"""The jobs panel in real Chromium: "Sync now" pressed, a real worker runs it, the page follows along."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from mergeassist.jobs.models import Job

pytestmark = pytest.mark.browser

SCREENSHOT_RUNNING = "/tmp/mergeassist-jobs-running.png"
SCREENSHOT_DONE = "/tmp/mergeassist-jobs-done.png"


def test_a_reviewer_presses_sync_now_and_watches_the_sync_and_the_scan_finish(
    crm_sandbox, workers, role_permissions, browser_problems, logged_in_page: Page
):
    page = logged_in_page
    crm_sandbox.seed(600, seed=6)
    crm_sandbox.set_faults("list.slow=1,delay=0.3")
    workers.start("worker-1")
    page.reload()
    panel = page.locator("#jobs-panel")
    expect(panel.get_by_text("No sync has run yet.")).to_be_visible()
    page.evaluate("window.loadedOnce = 'yes'")

    page.get_by_role("button", name="Sync now").click()

    expect(page.get_by_role("status").filter(has_text="The sync has been queued")).to_be_visible()
    # The bar moves while the worker reads the pages: polling swaps the panel, not the page.
    expect(page.locator("#job-sync-counts")).to_contain_text(re.compile(r"\d+ of 600 customers \(\d+%\)"), timeout=30_000)
    page.screenshot(path=SCREENSHOT_RUNNING, full_page=True)
    expect(page.locator("#job-sync")).to_contain_text("Full sync done", timeout=60_000)
    expect(page.locator("#job-scan")).to_contain_text("Scan done", timeout=60_000)
    expect(page.locator("#job-sync-changes")).to_contain_text("600 new customers")
    # The status line above the panel follows it.
    expect(page.locator("#sync-status")).to_contain_text("succeeded, 600 customers")
    expect(page.get_by_role("link", name="Open the review queue")).to_have_attribute("href", "/review/")
    page.screenshot(path=SCREENSHOT_DONE, full_page=True)

    assert page.evaluate("window.loadedOnce") == "yes", "the page reloaded instead of swapping the panel"
    assert Job.objects.filter(status=Job.Status.SUCCEEDED).count() == 2
    assert browser_problems.messages == []  # no CSP violation, no script error
