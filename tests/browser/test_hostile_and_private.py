"""In real Chromium: hostile text stays in its cell, nothing of the customers stays in the browser's
storage, and an expired session during an htmx request lands on the login page, whole."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from mergeassist.sandbox.models import SandboxCustomer

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/mergeassist-hostile-text.png"


def test_hostile_names_are_shown_visibly_and_a_huge_one_does_not_widen_the_page(crm_sandbox, logged_in_page: Page):
    page = logged_in_page
    SandboxCustomer.objects.create(name_first="evil\u202egpj.exe", email="rlo@example.com")
    # As long as the sandbox stores (PostgreSQL holds it to its column; the CRM may send more).
    huge = "W" * SandboxCustomer._meta.get_field("name_first").max_length
    SandboxCustomer.objects.create(name_first=huge, email="long@example.com")
    SandboxCustomer.objects.create(name_first="Zero\u200bWidth", email="zw@example.com")

    page.goto(page.url.split("/customers/")[0] + "/customers/?sort=id")

    expect(page.locator("#customer-table")).to_contain_text("evil\u27e8U+202E\u27e9gpj.exe")
    expect(page.locator("#customer-table")).to_contain_text("Zero\u27e8U+200B\u27e9Width")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"the page is {width}px wide"
    long_name = page.locator("bdi.crm-text", has_text="WWWW").first
    assert long_name.get_attribute("title") == huge, "the whole value on hover"
    assert long_name.bounding_box()["width"] < 500
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_no_customer_data_is_left_in_session_storage(crm_sandbox, logged_in_page: Page):
    page = logged_in_page
    crm_sandbox.seed(30)
    page.reload()
    email = SandboxCustomer.objects.exclude(email=None).exclude(email="").order_by("id").first().email

    page.get_by_label("Search").fill(email.split("@")[0])
    expect(page).to_have_url(re.compile(r"search="))
    page.get_by_role("link", name="Clear").click()  # a full navigation: htmx would save the page now
    page.go_back()
    expect(page.locator("#customer-results")).to_contain_text(email)

    stored = page.evaluate("Object.assign({}, sessionStorage)")
    assert "htmx-history-cache" not in stored
    assert not any(email in value for value in stored.values()), "no page content, only the current path"


def test_an_expired_session_during_an_htmx_request_goes_to_the_login_page(crm_sandbox, logged_in_page: Page):
    page = logged_in_page
    crm_sandbox.seed(5)
    page.reload()
    page.context.clear_cookies()  # the session expires while the page is open

    page.get_by_label("Search").fill("ann")

    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/customers/"))
    expect(page.get_by_role("heading", name="Log in to MergeAssist")).to_be_visible()
    expect(page.locator("#customer-results")).to_have_count(0)
    expect(page.locator("form")).to_have_count(1)  # one login form, not one inside the results
