"""Real Chromium through Playwright's sync API, driving the app on pytest-django's live server.

Chromium comes from Debian (`apt-get install chromium`; .ci/run does it): `playwright install`
cannot download browsers on these machines, so we launch /usr/bin/chromium ourselves.

Fixtures: `browser` (one per session), `page` (a fresh context per test: no shared cookies),
`log_in` (log any user in through the real login form) and `logged_in_page` (alice, a reviewer,
logged in, with the CRM pointed at the live sandbox). Mark the tests `@pytest.mark.browser`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in a container, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Long enough for a loaded CI machine, short enough that a broken page fails in seconds, not minutes.
TIMEOUT_MS = 10_000


@dataclass
class BrowserProblems:
    """What the page complained about: JS errors and console errors (CSP violations land here)."""

    messages: list[str] = field(default_factory=list)

    def record_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(message.text)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def page(browser: Browser, browser_problems: BrowserProblems) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    page.on("console", browser_problems.record_console)
    page.on("pageerror", lambda error: browser_problems.messages.append(f"page error: {error}"))
    yield page
    context.close()


@pytest.fixture
def log_in(live_server) -> Callable[[Page, User], None]:
    """Log `user` in through the real login form, as a person would."""

    def log_in_as(page: Page, user: User) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.get_username())
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()

    return log_in_as


@pytest.fixture
def logged_in_page(crm_sandbox, settings, page: Page, log_in, alice: User) -> Page:
    """Alice, logged in, on the customer list; the CRM is the (empty) live sandbox."""
    # Someone is watching a browser: retry quickly rather than with the sync's patient backoff.
    settings.MERGEASSIST_CRM_BACKOFF = 0.01
    log_in(page, alice)
    return page
