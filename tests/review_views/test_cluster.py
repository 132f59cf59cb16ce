"""/review/clusters/<id>/: a group of three reviewed together and folded into one primary."""

from __future__ import annotations

import re

from mergeassist.review.models import CandidatePair, PreviewShown
from mergeassist.sandbox.models import SandboxCustomer
from tests.review.test_merge_cluster import chain  # noqa: F401
from tests.review.merge_fixtures import fast_client_settings  # noqa: F401


def test_it_shows_the_group_with_the_suggested_primary_and_the_weakest_link(reviewer, chain):
    _, cluster, robert, bob, rob = chain
    response = reviewer.get(f"/review/clusters/{cluster.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(rf'name="primary" value="{robert.crm_id}" checked', html)  # the active subscription
    assert f'name="members" value="{bob.crm_id}" checked' in html
    assert f'name="members" value="{rob.crm_id}" checked' in html
    assert 'id="cluster-weakest"' in html and "score 70. A chain of likely pairs is not proof" in html
    assert html.count('hx-trigger="load"') == 2  # one preview per member, loaded by htmx
    assert "2 customers of this group have saved cards" in html


def test_a_member_preview_is_a_fragment_with_its_fingerprint(reviewer, chain):
    _, cluster, robert, bob, rob = chain
    page = reviewer.get(f"/review/clusters/{cluster.pk}/").content.decode()
    target = re.findall(r'id="(member-preview-\d+)"', page)[0]
    response = reviewer.get(f"/review/clusters/{cluster.pk}/?primary={robert.crm_id}", headers={"HX-Request": "true", "HX-Target": target})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<div id="{target}"')
    shown = PreviewShown.objects.get()
    assert f'name="fingerprint:{shown.secondary_crm_id}" value="{shown.fingerprint}"' in html


def test_the_group_merges_into_one_and_shows_each_outcome(reviewer, chain):
    _, cluster, robert, bob, rob = chain
    html = reviewer.get(f"/review/clusters/{cluster.pk}/?primary={robert.crm_id}&preview=1").content.decode()
    fingerprints = dict(re.findall(r'name="fingerprint:(\d+)" value="([^"]+)"', html))
    assert set(fingerprints) == {bob.crm_id, rob.crm_id}
    data = {
        "primary": robert.crm_id,
        "members": [bob.crm_id, rob.crm_id],
        f"fingerprint:{bob.crm_id}": fingerprints[bob.crm_id],
        f"fingerprint:{rob.crm_id}": fingerprints[rob.crm_id],
        f"choice:{rob.crm_id}:email": "secondary",
        "confirm_risks": "on",
    }
    response = reviewer.post(f"/review/clusters/{cluster.pk}/merge", data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    out = response.content.decode()
    assert "All merged into one customer." in out
    assert out.count('class="sync-ok"') == 2
    assert list(SandboxCustomer.objects.values_list("id", flat=True)) == [int(robert.crm_id)]
    assert SandboxCustomer.objects.get().email == "rob@example.com"


def test_without_javascript_the_merge_redirects_with_the_outcomes_as_messages(reviewer, chain):
    _, cluster, robert, bob, rob = chain
    html = reviewer.get(f"/review/clusters/{cluster.pk}/?primary={robert.crm_id}&preview=1").content.decode()
    fingerprints = dict(re.findall(r'name="fingerprint:(\d+)" value="([^"]+)"', html))
    data = {"primary": robert.crm_id, "members": [bob.crm_id], f"fingerprint:{bob.crm_id}": fingerprints[bob.crm_id], "confirm_risks": "on"}
    response = reviewer.post(f"/review/clusters/{cluster.pk}/merge", data)
    assert response.status_code == 302 and response["Location"] == f"/review/clusters/{cluster.pk}/"
    assert "merged" in reviewer.get(response["Location"]).content.decode().lower()
    assert not SandboxCustomer.objects.filter(id=int(bob.crm_id)).exists()
    assert SandboxCustomer.objects.filter(id=int(rob.crm_id)).exists()  # not ticked, not merged


def test_bad_cluster_input_is_refused_with_a_reason(reviewer, chain):
    _, cluster, robert, bob, rob = chain
    cases = [
        ({"primary": "999", "members": [bob.crm_id]}, "The primary must be one of the cluster"),
        ({"primary": robert.crm_id, "members": [robert.crm_id]}, "cannot also be folded into itself"),
        ({"primary": robert.crm_id, "members": [bob.crm_id]}, "has not been seen; load it before merging"),
        ({"primary": robert.crm_id}, "This field is required."),
    ]
    for data, reason in cases:
        response = reviewer.post(f"/review/clusters/{cluster.pk}/merge", data, headers={"HX-Request": "true"})
        assert response.status_code == 400, data
        assert reason in response.content.decode().replace("&#x27;", "'"), data
    assert SandboxCustomer.objects.count() == 3
    assert set(CandidatePair.objects.values_list("state", flat=True)) == {"pending"}
    assert reviewer.get(f"/review/clusters/{cluster.pk}/?primary=%01").status_code == 400


def test_clusters_need_the_review_permission(client, bob, charlie, chain):
    _, cluster, robert, *_ = chain
    for person in (bob, charlie):
        client.force_login(person)
        assert client.get(f"/review/clusters/{cluster.pk}/").status_code == 403
        assert client.post(f"/review/clusters/{cluster.pk}/merge", {"primary": robert.crm_id}).status_code == 403
