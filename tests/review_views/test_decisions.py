"""POST Merge / Not a duplicate / Skip: htmx swaps in the next pair, without JS a redirect to it."""

from __future__ import annotations

import re

from mergeassist.audit.models import Decision
from mergeassist.review.actions import load_preview
from mergeassist.review.models import CandidatePair, PairSkip
from mergeassist.sandbox.models import SandboxCustomer, SandboxNote
from tests.review.merge_fixtures import fast_client_settings, world  # noqa: F401

HX = {"HX-Request": "true", "HX-Target": "review-pair"}


def merge_form(world, alice, **overrides) -> dict[str, str]:
    shown = load_preview(pair=world.pair, primary_id=world.primary_id, secondary_id=world.secondary_id, reviewer=alice)
    data = {
        "primary": world.primary_id,
        "secondary": world.secondary_id,
        "fingerprint": shown.fingerprint,
        "choice:email": "secondary",
        "choice:name_first": "primary",
        "choice:loyalty_tier": "primary",
        "confirm_risks": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_an_htmx_merge_swaps_in_the_next_pair_and_records_its_url(reviewer, alice, world):
    response = reviewer.post(f"/review/{world.pair.pk}/merge", merge_form(world, alice), headers=HX)
    assert response.status_code == 200, response.content.decode()[:2000]
    html = response.content.decode()
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.MERGED
    assert not SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()
    assert SandboxCustomer.objects.get(id=int(world.primary_id)).email == "bob.smith@example.com"
    assert SandboxNote.objects.filter(customer_id=int(world.primary_id)).count() == 1
    # The next pending pair (robert~carol after re-pointing, or robert~dave) is swapped in.
    next_pair = CandidatePair.objects.filter(state="pending").order_by("-score", "pk").first()
    assert html.lstrip().startswith('<section id="review-pair"')
    assert f'data-pair-id="{next_pair.pk}"' in html
    assert response["HX-Push-Url"] == f"/review/{next_pair.pk}/"
    assert 'id="review-flash"' in html and "Merged" in html


def test_a_merge_without_javascript_redirects_to_the_next_pair(reviewer, alice, world):
    response = reviewer.post(f"/review/{world.pair.pk}/merge?reason=same_email", merge_form(world, alice))
    assert response.status_code == 302
    next_pair = CandidatePair.objects.filter(state="pending", same_email=True).order_by("-score", "pk").first()
    expected = f"/review/{next_pair.pk}/?reason=same_email" if next_pair else "/review/?reason=same_email"
    assert response["Location"] == expected
    followed = reviewer.get(response["Location"]).content.decode()
    assert "Merged" in followed  # the outcome in words, as a message


def test_a_risky_merge_without_the_confirmation_is_refused_and_nothing_happens(reviewer, alice, world):
    response = reviewer.post(f"/review/{world.pair.pk}/merge", merge_form(world, alice, confirm_risks=None), headers=HX)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="review-errors"' in html
    assert "saved cards" in html
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.PENDING
    assert SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()


def test_a_customer_changed_since_the_preview_stops_the_merge_and_says_what_changed(reviewer, alice, world):
    form = merge_form(world, alice)
    SandboxCustomer.objects.filter(id=int(world.secondary_id)).update(city="York")
    response = reviewer.post(f"/review/{world.pair.pk}/merge", form, headers=HX)
    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="preview-changes"' in html
    assert "city" in html and "York" in html
    assert SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.PENDING


def test_a_second_merge_post_is_refused_as_already_merged(reviewer, alice, world):
    form = merge_form(world, alice)
    assert reviewer.post(f"/review/{world.pair.pk}/merge", form).status_code == 302
    again = reviewer.post(f"/review/{world.pair.pk}/merge", form, headers=HX)
    assert again.status_code == 409
    assert "already merged" in again.content.decode() or "merged" in again.content.decode().lower()
    assert Decision.objects.filter(kind="merge", outcome="merged").count() == 1


def test_a_failed_merge_stays_on_the_pair_with_a_retry_that_works(reviewer, alice, world, crm_sandbox):
    form = merge_form(world, alice)
    # The CRM refuses the merge (settling finds both customers still there): nothing merged.
    crm_sandbox.set_faults("merge.5xx=1,merge.5xx.times=1")
    failed = reviewer.post(f"/review/{world.pair.pk}/merge", form, headers=HX)
    html = failed.content.decode()
    world.pair.refresh_from_db()
    assert failed.status_code == 502
    assert 'data-outcome="failed"' in html and ">Retry</button>" in html
    assert world.pair.state == CandidatePair.State.FAILED
    assert SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()
    # Retry: the pair again with a fresh preview, then Merge with what it shows.
    retry = reviewer.get(f"/review/{world.pair.pk}/?primary={world.primary_id}&preview=1", headers=HX)
    assert retry.status_code == 200
    fresh = re.search(r'name="fingerprint" value="([^"]+)"', retry.content.decode()).group(1)
    merged = reviewer.post(
        f"/review/{world.pair.pk}/merge", {key: value for key, value in {**form, "fingerprint": fresh}.items() if key != "choice:email"}, headers=HX
    )
    assert merged.status_code == 200, merged.content.decode()[:3000]
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.MERGED
    assert not SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()


def test_bad_merge_input_is_refused_with_a_reason(reviewer, alice, world):
    response = reviewer.post(f"/review/{world.pair.pk}/merge", {"primary": world.primary_id}, headers=HX)
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html
    response = reviewer.post(
        f"/review/{world.pair.pk}/merge", merge_form(world, alice, **{"choice:email": "both"}), headers=HX
    )
    assert response.status_code == 400
    assert "Keep the primary&#x27;s or take the secondary&#x27;s value for email." in response.content.decode()
    response = reviewer.post(
        f"/review/{world.pair.pk}/merge", merge_form(world, alice, primary=world.carol.crm_id), headers=HX
    )
    assert response.status_code == 400
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.PENDING


def test_not_a_duplicate_rejects_for_good_and_opens_the_next_pair(reviewer, three_pairs):
    response = reviewer.post(f"/review/{three_pairs[0].pk}/reject", headers=HX)
    assert response.status_code == 200
    assert f'data-pair-id="{three_pairs[1].pk}"' in response.content.decode()
    assert response["HX-Push-Url"] == f"/review/{three_pairs[1].pk}/"
    three_pairs[0].refresh_from_db()
    assert three_pairs[0].state == CandidatePair.State.REJECTED
    plain = reviewer.post(f"/review/{three_pairs[1].pk}/reject")
    assert plain.status_code == 302 and plain["Location"] == f"/review/{three_pairs[2].pk}/"
    again = reviewer.post(f"/review/{three_pairs[1].pk}/reject", headers=HX)
    assert again.status_code == 409


def test_skip_moves_the_pair_to_the_end_of_this_reviewers_queue(reviewer, alice, three_pairs):
    response = reviewer.post(f"/review/{three_pairs[0].pk}/skip")
    assert response.status_code == 302 and response["Location"] == f"/review/{three_pairs[1].pk}/"
    assert PairSkip.objects.filter(pair=three_pairs[0], user=alice).exists()
    three_pairs[0].refresh_from_db()
    assert three_pairs[0].state == CandidatePair.State.PENDING
    # From the last pair, "next" is now the skipped one.
    html = reviewer.get(f"/review/{three_pairs[2].pk}/").content.decode()
    assert f'id="next-pair" href="/review/{three_pairs[0].pk}/"' in html


def test_the_last_decision_sends_htmx_to_the_queue(reviewer, db):
    from tests.review_views.conftest import customer, pair

    only = pair(customer("1"), customer("2"))
    response = reviewer.post(f"/review/{only.pk}/reject", headers=HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/review/"


def test_decisions_need_the_review_permission_and_a_post(client, bob, charlie, alice, three_pairs):
    for person in (bob, charlie):
        client.force_login(person)
        for action in ("merge", "reject", "skip"):
            assert client.post(f"/review/{three_pairs[0].pk}/{action}", headers=HX).status_code == 403
    client.force_login(alice)
    assert client.get(f"/review/{three_pairs[0].pk}/reject").status_code == 405
    three_pairs[0].refresh_from_db()
    assert three_pairs[0].state == CandidatePair.State.PENDING and not PairSkip.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(alice, three_pairs):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(f"/review/{three_pairs[0].pk}/reject").status_code == 403
    three_pairs[0].refresh_from_db()
    assert three_pairs[0].state == CandidatePair.State.PENDING


def test_an_unknown_outcome_is_settled_by_asking_the_crm_never_by_merging_again(reviewer, alice, world, crm_sandbox):
    form = merge_form(world, alice)
    crm_sandbox.set_faults("merge.drop_after=1,list.5xx=1")  # the merge happens, its answer is lost, asking fails
    response = reviewer.post(f"/review/{world.pair.pk}/merge", form, headers=HX)
    html = response.content.decode()
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.UNKNOWN, html[:2000]
    assert 'data-outcome="unknown"' in html
    assert "Check the CRM again" in html and 'id="merge-form"' not in html
    crm_sandbox.clear_faults()
    settled = reviewer.post(f"/review/{world.pair.pk}/settle")
    assert settled.status_code == 302
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.MERGED
    assert SandboxCustomer.objects.filter(id=int(world.primary_id)).exists()
    assert not SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()
    # Exactly one merge reached the CRM: the note says so once (posted after settling).
    assert Decision.objects.filter(kind="merge", outcome="merged").count() == 1
    assert reviewer.post(f"/review/{world.pair.pk}/settle", headers=HX).status_code == 409
