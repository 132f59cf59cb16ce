"""The scan over the snapshot: pairs found, decisions kept across re-scans, gone customers retired."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from mergeassist.crm.models import Customer
from mergeassist.review.models import CandidatePair, Cluster, ScanRun
from mergeassist.review.scan import do_scan

pytestmark = pytest.mark.django_db


def customer(crm_id: str, first: str, last: str, email: str, phone: str = "", **extra: str) -> Customer:
    return Customer.objects.create(
        crm_id=crm_id,
        crm_id_number=int(crm_id),
        name_first=first,
        name_last=last,
        email=email,
        phone=phone,
        **extra,
    )


@pytest.fixture
def robert_twice() -> tuple[Customer, Customer]:
    a = customer("1", "Robert", "Smith", "robert.smith@gmail.com", "(555) 201-3344", city="Austin", zip="73301")
    b = customer("2", "Bob", "Smith", "Robert.Smith+shop@gmail.com", "555.201.3344", city="Austin", zip="73301")
    customer("3", "Alice", "Nguyen", "alice.nguyen@example.com", "555-777-0000", city="Boston", zip="02110")
    return a, b


def only_pair() -> CandidatePair:
    return CandidatePair.objects.get()


def test_it_suggests_a_true_duplicate_with_an_explanation(robert_twice):
    scan = do_scan()
    pair = only_pair()
    assert pair.pair_key == "1|2"
    assert pair.state == CandidatePair.State.PENDING
    assert pair.score >= scan.threshold
    assert pair.explanation, "every pair says why, field by field"
    assert scan.status == ScanRun.Status.SUCCEEDED
    assert scan.customers_scanned == 3
    assert pair.cluster is not None and pair.cluster.size == 2


def test_it_never_brings_back_a_rejected_pair(robert_twice):
    do_scan()
    CandidatePair.objects.update(state=CandidatePair.State.REJECTED)
    scan = do_scan()
    assert only_pair().state == CandidatePair.State.REJECTED
    assert scan.pairs_created == 0 and scan.pairs_kept_decided == 1


def test_it_keeps_a_merged_pair_in_history(robert_twice):
    do_scan()
    CandidatePair.objects.update(state=CandidatePair.State.MERGED)
    Customer.objects.filter(crm_id="2").update(is_gone=True)
    do_scan()
    assert only_pair().state == CandidatePair.State.MERGED


def test_it_rescores_pending_pairs(robert_twice):
    do_scan()
    CandidatePair.objects.update(score=1.0, explanation=[])
    scan = do_scan()
    pair = only_pair()
    assert pair.score > 1.0 and pair.explanation
    assert scan.pairs_rescored == 1


def test_it_retires_pending_pairs_whose_customer_is_gone(robert_twice):
    do_scan()
    Customer.objects.filter(crm_id="2").update(is_gone=True)
    scan = do_scan()
    assert only_pair().state == CandidatePair.State.RETIRED
    assert scan.pairs_retired == 1


def test_it_does_not_pair_different_people():
    customer("1", "John", "Smith", "john.smith@example.com", "555-100-2000", address1="1 Oak St", zip="10001")
    customer("2", "John", "Smith", "jsmith77@yahoo.com", "555-900-8000", address1="99 Elm Ave", zip="94110")
    do_scan()
    assert not CandidatePair.objects.exists()


def test_it_groups_a_chain_into_one_cluster_with_its_weakest_link():
    customer("1", "Katherine", "Jones", "kate.jones@gmail.com", "555-300-4000", zip="60601")
    customer("2", "Kate", "Jones", "kate.jones@gmail.com", "555-300-4000", zip="60601")
    customer("3", "Kate", "Jones", "katejones@gmail.com", "(555) 300-4000", zip="60601")
    do_scan()
    cluster = Cluster.objects.get()
    assert cluster.size == 3
    weakest = min(CandidatePair.objects.all(), key=lambda pair: pair.score)
    assert cluster.weakest_score == pytest.approx(weakest.score)
    # Each pair knows its group's size: the queue's clusters panel finds them by it.
    assert sorted(CandidatePair.objects.values_list("group_size", flat=True)) == [3] * CandidatePair.objects.count()


def test_the_command_reports_what_it_did(robert_twice, capsys):
    call_command("scan")
    out = capsys.readouterr().out
    assert "Scanned 3 customers" in out
    assert "1 new pairs" in out


def test_a_scan_leaves_the_planner_statistics_of_the_pair_table(robert_twice):
    """The queue's search relies on them (without, SQLite walks the whole queue index)."""
    from django.db import connection

    do_scan()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT stat FROM sqlite_stat1 WHERE idx = 'review_pair_queue'")
        else:
            cursor.execute("SELECT 1 FROM pg_stats WHERE tablename = 'review_candidatepair'")
        assert cursor.fetchall(), "no statistics for the pair table after a scan"
