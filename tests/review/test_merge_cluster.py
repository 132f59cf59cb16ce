"""Clusters of three folded into one primary, one merge after another, against the live sandbox."""

from __future__ import annotations

import pytest

from mergeassist.audit.models import Decision
from mergeassist.crm.client import CrmClient
from mergeassist.crm.models import Customer
from mergeassist.crm.sync import run_sync
from mergeassist.review.actions import (
    MergeOutcome,
    PreviewChanged,
    RiskNotConfirmed,
    cluster_member_pairs,
    cluster_risks,
    do_merge_cluster,
    load_preview,
)
from mergeassist.review.models import CandidatePair, Cluster, ScanRun
from mergeassist.sandbox.models import SandboxCustomer
from tests.review import merge_fixtures
from tests.review.merge_fixtures import make_pair, make_sandbox_customer

# The shared fixtures of tests/review/merge_fixtures.py, used here by name.
fast_client_settings = merge_fixtures.fast_client_settings


@pytest.fixture
def chain(crm_sandbox, fast_client_settings):
    """Robert ~ Bob ~ Rob: the scan paired Robert with Bob and Bob with Rob, not Robert with Rob."""
    make_sandbox_customer(
        name_first="Robert", name_last="Smith", email="robert@example.com", cards=1, subscriptions=("active",)
    )
    make_sandbox_customer(name_first="Bob", name_last="Smith", email="bob@example.com", phone="+1 555 0100")
    make_sandbox_customer(name_first="Rob", name_last="Smith", email="rob@example.com", cards=1, city="Leeds")
    client = CrmClient.from_settings()
    run_sync(full=True, client=client)
    robert, bob, rob = (Customer.objects.get(name_first=n) for n in ("Robert", "Bob", "Rob"))
    cluster = Cluster.objects.create(
        scan=ScanRun.objects.create(threshold=60),
        size=3,
        weakest_score=70,
        weakest_pair_key=f"{bob.crm_id}|{rob.crm_id}",
    )
    for pair in (make_pair(robert, bob, 90), make_pair(bob, rob, 70)):
        pair.cluster = cluster
        pair.save()
    yield client, cluster, robert, bob, rob
    client.close()


def previews(client, alice, cluster, primary):
    pairs = cluster_member_pairs(cluster=cluster, primary_id=primary.crm_id)
    shown = {}
    for pair in pairs:
        secondary = pair.customer_b if pair.customer_a == primary else pair.customer_a
        shown[secondary.crm_id] = load_preview(
            pair=pair, primary_id=primary.crm_id, secondary_id=secondary.crm_id, reviewer=alice, client=client
        )
    return pairs, shown


def test_a_cluster_of_three_is_merged_into_one(chain, alice):
    client, cluster, robert, bob, rob = chain
    pairs, shown = previews(client, alice, cluster, robert)
    assert [p.pair_key for p in pairs] == [f"{robert.crm_id}|{bob.crm_id}", f"{robert.crm_id}|{rob.crm_id}"]
    made = pairs[1]  # Robert~Rob: the scan did not pair them; the group does
    assert made.cluster == cluster and made.state == CandidatePair.State.PENDING
    assert made.explanation[0]["note"].startswith(f"in one group with customer {robert.crm_id}")
    risks = cluster_risks(list(shown.values()))
    assert "2 customers of this group have saved cards" in risks

    results = do_merge_cluster(
        cluster=cluster, reviewer=alice, primary_id=robert.crm_id,
        members=[(bob.crm_id, shown[bob.crm_id].fingerprint), (rob.crm_id, shown[rob.crm_id].fingerprint)],
        take_secondary={rob.crm_id: ["email"]}, confirmed_risks=True, client=client,
    )  # fmt: skip

    assert [type(r) for r in results] == [MergeOutcome, MergeOutcome]
    assert all(r.merged for r in results), [r.message for r in results]
    assert list(SandboxCustomer.objects.values_list("id", flat=True)) == [int(robert.crm_id)]
    primary = SandboxCustomer.objects.get(id=int(robert.crm_id))
    assert primary.email == "rob@example.com" and primary.phone == "+1 555 0100" and primary.city == "Leeds"
    assert primary.notes.count() == 2
    assert Customer.objects.filter(is_gone=True).count() == 2
    assert set(CandidatePair.objects.values_list("state", flat=True)) == {
        "merged",
        "retired",
    }  # bob~rob retired
    assert Decision.objects.filter(outcome=Decision.Outcome.MERGED).count() == 2


def test_a_cluster_merge_stops_at_the_first_failure(chain, alice, crm_sandbox):
    client, cluster, robert, bob, rob = chain
    _, shown = previews(client, alice, cluster, robert)
    crm_sandbox.set_faults("merge.5xx=1")

    results = do_merge_cluster(
        cluster=cluster, reviewer=alice, primary_id=robert.crm_id,
        members=[(bob.crm_id, shown[bob.crm_id].fingerprint), (rob.crm_id, shown[rob.crm_id].fingerprint)],
        take_secondary={}, confirmed_risks=True, client=client,
    )  # fmt: skip

    assert len(results) == 1 and not results[0].merged
    assert SandboxCustomer.objects.count() == 3
    assert Decision.objects.count() == 1


def test_a_cluster_merge_stops_when_a_later_member_changed(chain, alice):
    client, cluster, robert, bob, rob = chain
    _, shown = previews(client, alice, cluster, robert)
    SandboxCustomer.objects.filter(id=int(rob.crm_id)).update(city="York")

    results = do_merge_cluster(
        cluster=cluster, reviewer=alice, primary_id=robert.crm_id,
        members=[(bob.crm_id, shown[bob.crm_id].fingerprint), (rob.crm_id, shown[rob.crm_id].fingerprint)],
        take_secondary={}, confirmed_risks=True, client=client,
    )  # fmt: skip

    assert results[0].merged
    assert isinstance(results[1], PreviewChanged)
    assert [(c.side, c.field, c.after) for c in results[1].changes] == [("secondary", "city", "York")]
    assert SandboxCustomer.objects.filter(id=int(rob.crm_id)).exists()


def test_every_member_must_have_been_previewed_and_risks_confirmed(chain, alice):
    client, cluster, robert, bob, rob = chain
    _, shown = previews(client, alice, cluster, robert)
    members = [(bob.crm_id, shown[bob.crm_id].fingerprint), (rob.crm_id, "")]

    with pytest.raises(PreviewChanged):
        do_merge_cluster(
            cluster=cluster, reviewer=alice, primary_id=robert.crm_id, members=members,
            take_secondary={}, confirmed_risks=True, client=client,
        )  # fmt: skip
    with pytest.raises(RiskNotConfirmed):
        do_merge_cluster(
            cluster=cluster, reviewer=alice, primary_id=robert.crm_id,
            members=[(bob.crm_id, shown[bob.crm_id].fingerprint), (rob.crm_id, shown[rob.crm_id].fingerprint)],
            take_secondary={}, confirmed_risks=False, client=client,
        )  # fmt: skip
    assert SandboxCustomer.objects.count() == 3 and not Decision.objects.exists()
