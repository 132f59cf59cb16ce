"""/review/<id>/: both customers from the snapshot at once, then the live preview as a fragment."""

from __future__ import annotations

import re

from mergeassist.review.models import CandidatePair, PreviewShown
from tests.review.merge_fixtures import fast_client_settings, world  # noqa: F401
from tests.review_views.conftest import customer, pair


def url(pair: CandidatePair, query: str = "") -> str:
    return f"/review/{pair.pk}/{query}"


def test_it_shows_both_customers_from_the_snapshot_without_asking_the_crm(reviewer, world, crm_sandbox):
    crm_sandbox.set_faults("*.5xx=1")  # the CRM is down: the page must not need it
    response = reviewer.get(url(world.pair))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    table = html[html.index('id="pair-customers"') : html.index("</table>", html.index('id="pair-customers"'))]
    assert "robert@example.com" in table and "bob.smith@example.com" in table
    assert 'class="differs" id="compare-email"' in table  # differences highlighted
    assert 'id="compare-phone"' in table
    assert "Coffee Club" in table and "active" in table  # subscriptions from the raw record
    assert "Visa •••• 4242 · exp 01/2030" in table  # cards: brand, last 4, expiry
    assert "Gold" not in table or "gold" in table  # custom field values shown as stored
    assert "gold" in table and "silver" in table
    assert 'id="pair-explanation"' in html and "30.0" in html  # the stored explanation, field by field
    # The suggested primary and its rule: Robert has the active subscription.
    assert re.search(r"Keep <strong>Robert Smith</strong> \(#\d+\) as the primary:\s+suggested because it has 1 active subscription", html)
    # The preview is not fetched here: a placeholder asks for it through htmx (and a link without JS).
    assert f'id="merge-preview-{world.pair.pk}"' in html
    assert 'hx-trigger="load"' in html
    assert "Load the merge preview" in html
    assert "Not a duplicate" in html and "Skip" in html
    assert PreviewShown.objects.count() == 0


def test_the_preview_fragment_has_the_conflicts_the_risks_and_the_fingerprint(reviewer, world):
    response = reviewer.get(
        url(world.pair, f"?primary={world.primary_id}&preview=1"),
        headers={"HX-Request": "true", "HX-Target": f"merge-preview-{world.pair.pk}"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<section id="merge-preview-{world.pair.pk}"')
    assert "<html" not in html
    for field in ("name_first", "email", "loyalty_tier"):
        assert f'name="choice:{field}" value="primary" checked' in html
        assert f'name="choice:{field}" value="secondary"' in html
    assert 'id="merge-risks"' in html and "Both customers have saved cards" in html
    assert 'name="confirm_risks"' in html
    shown = PreviewShown.objects.get()
    assert f'name="fingerprint" value="{shown.fingerprint}"' in html
    assert ">Merge</button>" in html


def test_swap_primary_fetches_the_preview_the_other_way_round(reviewer, world):
    page = reviewer.get(url(world.pair, f"?primary={world.secondary_id}")).content.decode()
    assert re.search(r"Keep <strong>Bob Smith</strong>.*you chose it \(Swap primary\)", page, re.S)
    fragment = reviewer.get(
        url(world.pair, f"?primary={world.secondary_id}&preview=1"),
        headers={"HX-Request": "true", "HX-Target": f"merge-preview-{world.pair.pk}"},
    ).content.decode()
    assert f'name="primary" value="{world.secondary_id}"' in fragment
    assert f'name="secondary" value="{world.primary_id}"' in fragment
    shown = PreviewShown.objects.get()
    assert (shown.primary_crm_id, shown.secondary_crm_id) == (world.secondary_id, world.primary_id)


def test_without_javascript_the_preview_loads_into_the_whole_page(reviewer, world):
    html = reviewer.get(url(world.pair, f"?primary={world.primary_id}&preview=1")).content.decode()
    assert "<html" in html
    assert 'id="merge-form"' in html and 'name="choice:email"' in html


def test_a_crm_failure_shows_the_error_in_words_with_a_retry_button(reviewer, world, crm_sandbox):
    crm_sandbox.set_faults("preview.5xx=1")
    response = reviewer.get(
        url(world.pair, f"?primary={world.primary_id}&preview=1"),
        headers={"HX-Request": "true", "HX-Target": f"merge-preview-{world.pair.pk}"},
    )
    assert response.status_code == 502
    html = response.content.decode()
    assert "The CRM's merge preview could not be loaded." in html
    # The sandbox answers 500, 502 or 503 at random; the words are the same.
    assert re.search(r"is not answering \(HTTP 50[023]\)\. Try again in a few minutes\.", html)
    assert "<button type=\"submit\">Retry</button>" in html
    assert 'id="merge-form"' not in html
    crm_sandbox.clear_faults()
    retry = reviewer.get(
        url(world.pair, f"?primary={world.primary_id}&preview=1"),
        headers={"HX-Request": "true", "HX-Target": f"merge-preview-{world.pair.pk}"},
    )
    assert retry.status_code == 200 and 'id="merge-form"' in retry.content.decode()


def test_j_and_k_swap_the_whole_pair_and_keep_the_queue_filters(reviewer, three_pairs):
    response = reviewer.get(url(three_pairs[1], "?reason=same_email"), headers={"HX-Request": "true", "HX-Target": "review-pair"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="review-pair"')
    # Within the filter "same email" only pair 0 is left: previous, and next (from the top again).
    assert f'id="previous-pair" href="/review/{three_pairs[0].pk}/?reason=same_email"' in html
    assert f'id="next-pair" href="/review/{three_pairs[0].pk}/?reason=same_email"' in html
    assert f"/review/{three_pairs[2].pk}/" not in html
    plain = reviewer.get(url(three_pairs[1])).content.decode()
    assert f'id="next-pair" href="/review/{three_pairs[2].pk}/"' in plain
    assert f'id="previous-pair" href="/review/{three_pairs[0].pk}/"' in plain


def test_a_decided_pair_says_so_and_offers_no_decision(reviewer, three_pairs, alice):
    CandidatePair.objects.filter(pk=three_pairs[0].pk).update(state=CandidatePair.State.REJECTED, decided_by=alice)
    html = reviewer.get(url(three_pairs[0])).content.decode()
    assert "Not a duplicate</strong>, decided by alice" in html
    assert 'id="reject-button"' not in html and "merge-preview-" not in html


def test_bad_input_is_refused_with_a_reason(reviewer, three_pairs):
    response = reviewer.get(url(three_pairs[0], "?primary=%01"))
    assert response.status_code == 400
    assert "This is not a customer id." in response.content.decode()
    response = reviewer.get(url(three_pairs[0], "?primary=999"))
    assert response.status_code == 400
    assert "Customer 999 is not one of this pair&#x27;s customers." in response.content.decode()
    assert reviewer.get("/review/999999/").status_code == 404


def test_people_without_the_review_permission_are_refused(client, bob, charlie, three_pairs):
    for person in (bob, charlie):
        client.force_login(person)
        assert client.get(url(three_pairs[0])).status_code == 403
        assert client.get(
            url(three_pairs[0], "?preview=1"), headers={"HX-Request": "true", "HX-Target": f"merge-preview-{three_pairs[0].pk}"}
        ).status_code == 403


def test_hidden_characters_in_customer_text_are_shown_not_interpreted(reviewer, db):
    """Two values that look alike but differ (a zero-width space, a right-to-left override) must
    look different to the reviewer before a merge."""
    plain = customer("21", "Eve", "Lee", email="eve@example.com")
    lookalike = customer("22", "Eve", "Lee\u200b", email="eve@example.com\u202egpj", address1="<b>1 High St</b>")
    made = pair(plain, lookalike, 90)
    html = reviewer.get(f"/review/{made.pk}/").content.decode()
    table = html[html.index('id="pair-customers"') :]
    assert "\u200b" not in table and "\u202e" not in table
    assert "U+200B" in table and "U+202E" in table
    assert "<b>1 High St</b>" not in table and "&lt;b&gt;1 High St&lt;/b&gt;" in table
