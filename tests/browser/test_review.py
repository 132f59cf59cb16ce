"""The review screens in real Chromium against the live sandbox CRM: merge, reject, keyboard,
the CRM failing, a cluster, and the same merge with JavaScript off."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from mergeassist.crm.client import CrmClient
from mergeassist.crm.models import Customer
from mergeassist.crm.sync import run_sync
from mergeassist.review.models import CandidatePair, PairSkip
from mergeassist.review.scan import do_scan
from mergeassist.sandbox.models import SandboxCustomer, SandboxNote
from tests.browser.conftest import CHROMIUM_ARGS, TIMEOUT_MS  # noqa: F401
from tests.review.merge_fixtures import fast_client_settings, make_pair, make_sandbox_customer, world  # noqa: F401
from tests.review.test_merge_cluster import chain  # noqa: F401
from tests.review_views.conftest import restore_group_permissions

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/mergeassist-review-pair.png"


@pytest.fixture(autouse=True)
def groups_as_migrated(transactional_db) -> None:
    restore_group_permissions()


def pair_on_screen(page: Page, pair: CandidatePair, *, scripted: bool = True) -> None:
    """The pair's customers are shown and its URL is the page's (so a bookmark or reload keeps it)."""
    expect(page.locator("#pair-customers")).to_have_attribute("data-pair-id", str(pair.pk))
    expect(page).to_have_url(re.compile(rf"/review/{pair.pk}/(\?.*)?$"))
    # The keys are taken again only once the swap has settled; a key pressed before is refused.
    if scripted:
        expect(page.locator("html")).to_have_attribute("data-review-keys", "ready")


def open_first_pair_from_the_queue(page: Page, live_server, first: CandidatePair, *, scripted: bool = True) -> None:
    page.goto(f"{live_server.url}/review/")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    page.locator(f"#queue-pair-{first.pk}").get_by_role("link", name=re.compile("^Review")).click()
    pair_on_screen(page, first, scripted=scripted)


def test_a_reviewer_merges_a_pair_taking_one_value_from_the_secondary(
    world, page: Page, log_in, alice, live_server, browser_problems
):
    log_in(page, alice)
    open_first_pair_from_the_queue(page, live_server, world.pair)
    expect(page.locator("#primary-rule")).to_contain_text("Robert Smith")
    expect(page.locator("#primary-rule")).to_contain_text("has 1 active subscription")

    preview = page.locator(f"#merge-preview-{world.pair.pk}")
    expect(preview.locator("#merge-conflicts")).to_contain_text("bob.smith@example.com")
    expect(preview.locator("#merge-risks")).to_contain_text("Both customers have saved cards")
    merge = page.get_by_role("button", name="Merge", exact=True)
    expect(merge).to_be_disabled()  # until the risks are confirmed
    page.get_by_label("Take secondary's Email: bob.smith@example.com").check()
    page.keyboard.press("m")  # Merge waits: the key takes the reviewer to the confirmation instead
    expect(page.get_by_label("I have checked these and want to merge")).to_be_focused()
    assert CandidatePair.objects.get(pk=world.pair.pk).state == "pending"
    page.get_by_label("I have checked these and want to merge").check()
    expect(merge).to_be_enabled()
    page.screenshot(path=SCREENSHOT, full_page=True)
    merge.click()

    expect(page.locator("#review-flash")).to_contain_text("Merged")
    following = CandidatePair.objects.filter(state="pending").order_by("-score", "pk").first()
    pair_on_screen(page, following)
    expect(page).to_have_url(re.compile(rf"/review/{following.pk}/$"))
    assert not SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()
    assert SandboxCustomer.objects.get(id=int(world.primary_id)).email == "bob.smith@example.com"
    (note,) = SandboxNote.objects.filter(customer_id=int(world.primary_id)).values_list("notes", flat=True)
    assert note.startswith(f"Merged customer #{world.secondary_id} (Bob Smith, bob.smith@example.com)")
    assert "replaced email" in note
    assert browser_problems.messages == []


@pytest.fixture
def scanned(crm_sandbox, fast_client_settings):
    """The sandbox's realistic customers with known duplicates, synced and scanned."""
    crm_sandbox.seed(60, seed=7)
    with CrmClient.from_settings() as client:
        run_sync(full=True, client=client)
    do_scan()
    return list(CandidatePair.objects.filter(state="pending").order_by("-score", "pk"))


def test_not_a_duplicate_is_gone_for_good_also_after_a_rescan(scanned, page: Page, log_in, alice, live_server):
    assert len(scanned) >= 3
    first, second = scanned[0], scanned[1]
    log_in(page, alice)
    open_first_pair_from_the_queue(page, live_server, first)
    page.get_by_role("button", name="Not a duplicate").click()
    pair_on_screen(page, second)
    expect(page.locator("#review-flash")).to_contain_text("will not be suggested again")

    do_scan()
    page.goto(f"{live_server.url}/review/")
    expect(page.locator(f"#queue-pair-{second.pk}")).to_be_visible()
    expect(page.locator(f"#queue-pair-{first.pk}")).to_have_count(0)
    first.refresh_from_db()
    assert first.state == CandidatePair.State.REJECTED


@pytest.fixture
def three_plain_pairs(crm_sandbox, fast_client_settings):
    """Three pairs without cards or subscriptions (no risk to confirm), strongest first."""
    people = []
    for index, (first, last) in enumerate([("Ann", "Ames"), ("Ben", "Bates"), ("Cat", "Cole")]):
        for variant in ("", "2"):
            people.append(
                make_sandbox_customer(
                    name_first=first, name_last=last, email=f"{first.lower()}{variant}@example.com", city="Leeds",
                    created_at=datetime(2020 + len(variant), 1, 1 + index, tzinfo=UTC),
                )
            )  # fmt: skip
    with CrmClient.from_settings() as client:
        run_sync(full=True, client=client)
    snapshot = [Customer.objects.get(crm_id=str(p.id)) for p in people]
    return [make_pair(snapshot[i], snapshot[i + 1], score) for i, score in ((0, 95), (2, 85), (4, 75))]


def test_three_pairs_are_decided_with_the_keyboard_alone(three_plain_pairs, page: Page, log_in, alice, live_server, browser_problems):
    first, second, third = three_plain_pairs
    log_in(page, alice)
    page.goto(f"{live_server.url}/review/{first.pk}/")
    pair_on_screen(page, first)

    page.keyboard.press("?")
    expect(page.locator("#keyboard-help")).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#keyboard-help")).to_be_hidden()
    page.keyboard.press("j")
    pair_on_screen(page, second)
    page.keyboard.press("k")
    pair_on_screen(page, first)

    expect(page.get_by_role("button", name="Merge", exact=True)).to_be_enabled()  # the preview is in
    page.keyboard.press("m")
    pair_on_screen(page, second)
    page.keyboard.press("n")
    pair_on_screen(page, third)
    page.keyboard.press("s")
    # Nothing else is pending: back to the queue, where the skipped pair waits at the end.
    expect(page).to_have_url(re.compile(r"/review/$"))
    expect(page.locator(".messages")).to_contain_text("Skipped")
    expect(page.locator(f"#queue-pair-{third.pk}")).to_contain_text("skipped by you")

    first.refresh_from_db(), second.refresh_from_db(), third.refresh_from_db()
    assert (first.state, second.state, third.state) == ("merged", "rejected", "pending")
    assert PairSkip.objects.filter(pair=third, user=alice).exists()
    secondary = first.customer_b if first.customer_a.crm_id == first.decisions.get().primary_crm_id else first.customer_a
    assert not SandboxCustomer.objects.filter(id=int(secondary.crm_id)).exists()
    assert browser_problems.messages == []


def test_the_crm_failing_shows_the_error_and_retry_works(world, crm_sandbox, page: Page, log_in, alice, live_server):
    crm_sandbox.set_faults("preview.5xx=1")
    log_in(page, alice)
    page.goto(f"{live_server.url}/review/{world.pair.pk}/")
    pair_on_screen(page, world.pair)  # the snapshot shows at once, whatever the CRM does
    error = page.locator("#preview-error")
    expect(error).to_contain_text("The CRM's merge preview could not be loaded.")
    expect(error).to_contain_text("not answering")
    expect(page.get_by_role("button", name="Merge", exact=True)).to_have_count(0)

    crm_sandbox.clear_faults()
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("#merge-conflicts")).to_contain_text("bob.smith@example.com")
    expect(page.get_by_role("button", name="Merge", exact=True)).to_be_visible()


def test_a_cluster_of_three_is_merged_into_one(chain, page: Page, log_in, alice, live_server, browser_problems):
    client, cluster, robert, bob, rob = chain
    log_in(page, alice)
    page.goto(f"{live_server.url}/review/clusters/{cluster.pk}/")
    expect(page.locator("#cluster-weakest")).to_contain_text("score 70. A chain of likely pairs is not proof")
    expect(page.locator("input[name^='fingerprint:']")).to_have_count(2)  # both previews loaded
    page.get_by_label(re.compile("I have checked the warnings above")).check()
    page.get_by_role("button", name="Merge", exact=True).click()

    expect(page.locator("#cluster-outcomes")).to_contain_text("All merged into one customer.")
    expect(page.locator("#cluster-outcomes li.sync-ok")).to_have_count(2)
    assert list(SandboxCustomer.objects.values_list("id", flat=True)) == [int(robert.crm_id)]
    assert SandboxNote.objects.filter(customer_id=int(robert.crm_id)).count() == 2
    assert browser_problems.messages == []


def test_the_same_merge_works_with_javascript_off(world, browser: Browser, log_in, alice, live_server):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        log_in(page, alice)
        open_first_pair_from_the_queue(page, live_server, world.pair, scripted=False)
        page.get_by_role("link", name="Load the merge preview").click()
        page.get_by_label("Take secondary's Email: bob.smith@example.com").check()
        page.get_by_label("I have checked these and want to merge").check()
        page.get_by_role("button", name="Merge", exact=True).click()

        expect(page.locator(".messages")).to_contain_text("Merged")
        following = CandidatePair.objects.filter(state="pending").order_by("-score", "pk").first()
        pair_on_screen(page, following, scripted=False)
        assert not SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()
        assert SandboxCustomer.objects.get(id=int(world.primary_id)).email == "bob.smith@example.com"
        assert SandboxNote.objects.filter(customer_id=int(world.primary_id)).count() == 1
    finally:
        context.close()
