"""Re-scans over a snapshot of a thousand synthetic customers: incremental scans give a full scan's
pairs and clusters, decisions and the clusters decided pairs point to survive, retired pairs come
back when they score again, and one scan runs at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from mergeassist.crm.models import Customer
from mergeassist.crm.types import CORE_FIELDS
from mergeassist.review.models import CandidatePair, Cluster, ScanRun
from mergeassist.matching import find_duplicates_in_columns
from mergeassist.review.reasons import REASON_LABELS, reason_flags
from mergeassist.review.scan import ScanAlreadyRunning, do_scan, match_config
from mergeassist.sandbox.generator import generate_customers

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - timedelta(days=1)


def load_snapshot(count: int = 1200, seed: int = 11) -> list[Customer]:
    customers = generate_customers(count, seed=seed)
    rows = [
        Customer(
            crm_id=c.id, crm_id_number=int(c.id), synced_at=LONG_AGO,
            **{name: (getattr(c, name) or "")[:64 if name == "country" else 255] for name in CORE_FIELDS},
        )
        for c in customers
    ]
    return Customer.objects.bulk_create(rows)


def sync_changes(rows: list[Customer], *, edit: int = 25, gone: int = 6, new: int = 12) -> None:
    """What an incremental sync does: some customers change (one becomes a copy of another's
    contact details, so pairs appear and vanish), some are gone, some are new."""
    now = timezone.now()
    for k, row in enumerate(rows[5 : 5 + edit]):
        donor = rows[(k * 37 + 400) % len(rows)]
        row.email, row.phone, row.name_last = donor.email, donor.phone, donor.name_last
        row.address1 = row.address1 + " " if k % 3 else row.address1.upper()
        row.synced_at = now
        row.save()
    Customer.objects.filter(pk__in=[row.pk for row in rows[-gone:]]).update(is_gone=True, gone_at=now)
    base = max(int(row.crm_id) for row in rows)
    for k, donor in enumerate(rows[100 : 100 + new]):
        Customer.objects.create(
            crm_id=str(base + 1 + k), crm_id_number=base + 1 + k, synced_at=now,
            **{name: getattr(donor, name) for name in CORE_FIELDS if name != "email"},
            email=f"new{k}.{donor.email}",
        )


def pairs_state() -> dict[str, tuple]:
    return {
        p.pair_key: (p.state, p.score, p.explanation, p.same_email, p.same_phone, p.same_address, p.nickname, p.names_swapped)
        for p in CandidatePair.objects.all()
    }


def clusters_state() -> set[frozenset[str]]:
    """The live clusters as the sets of pending pair keys in them."""
    grouped: dict[int, set[str]] = {}
    for key, cluster in CandidatePair.objects.filter(state=CandidatePair.State.PENDING).values_list("pair_key", "cluster"):
        grouped.setdefault(cluster, set()).add(key)
    return {frozenset(keys) for keys in grouped.values()}


def test_an_incremental_scan_equals_a_full_scan_of_the_same_snapshot():
    rows = load_snapshot()
    first = do_scan()
    assert first.kind == ScanRun.Kind.FULL and first.pairs_created > 100
    sync_changes(rows)

    incremental = do_scan()
    assert incremental.kind == ScanRun.Kind.INCREMENTAL
    assert incremental.pairs_created > 0 and incremental.pairs_retired > 0, "the changes must make and break pairs"
    after_incremental, clusters_incremental = pairs_state(), clusters_state()

    full = do_scan(full=True)
    assert full.kind == ScanRun.Kind.FULL
    assert pairs_state() == after_incremental
    assert clusters_state() == clusters_incremental
    assert (incremental.customers_scanned, incremental.candidate_pairs) == (full.customers_scanned, full.candidate_pairs)


def test_a_rescan_keeps_every_decision_and_the_clusters_decided_pairs_point_to():
    rows = load_snapshot()
    do_scan()
    pending = list(CandidatePair.objects.filter(state=CandidatePair.State.PENDING).order_by("pk")[:40])
    decided = {}
    for pair, state in zip(pending, [CandidatePair.State.REJECTED, CandidatePair.State.MERGED, CandidatePair.State.UNKNOWN] * 13):
        CandidatePair.objects.filter(pk=pair.pk).update(state=state, decided_at=timezone.now())
        decided[pair.pk] = (state, pair.cluster_id, pair.score)
    sync_changes(rows)

    for full in (False, True):
        do_scan(full=full)
        for pk, (state, cluster_id, score) in decided.items():
            pair = CandidatePair.objects.get(pk=pk)
            assert (pair.state, pair.cluster_id, pair.score) == (state, cluster_id, score)
            assert Cluster.objects.filter(pk=cluster_id).exists()
    # Earlier scans' clusters that nobody points to are gone (this scan's may hold only decided pairs).
    latest = ScanRun.objects.latest()
    assert not Cluster.objects.filter(pairs__isnull=True).exclude(scan=latest).exists()
    assert not CandidatePair.objects.filter(state=CandidatePair.State.PENDING, cluster__isnull=True).exists()


def test_a_retired_pair_whose_customers_score_again_comes_back_pending():
    rows = load_snapshot()
    do_scan()
    pair, rejected = CandidatePair.objects.filter(state=CandidatePair.State.PENDING).order_by("-score")[:2]
    CandidatePair.objects.filter(pk=rejected.pk).update(state=CandidatePair.State.REJECTED)
    gone = [pair.customer_b_id, rejected.customer_b_id]
    Customer.objects.filter(pk__in=gone).update(is_gone=True, gone_at=timezone.now())
    do_scan()
    assert CandidatePair.objects.get(pk=pair.pk).state == CandidatePair.State.RETIRED

    Customer.objects.filter(pk__in=gone).update(is_gone=False, gone_at=None, synced_at=timezone.now())
    scan = do_scan()
    assert scan.kind == ScanRun.Kind.INCREMENTAL
    revived = CandidatePair.objects.get(pk=pair.pk)
    assert revived.state == CandidatePair.State.PENDING and revived.decided_at is None and revived.cluster_id
    assert revived.explanation == pair.explanation and isinstance(revived.explanation, list)
    assert CandidatePair.objects.get(pk=rejected.pk).state == CandidatePair.State.REJECTED
    assert scan.pairs_revived >= 1
    assert len(rows) > 0


def test_a_second_scan_is_refused_while_one_runs():
    load_snapshot(200)
    running = ScanRun.objects.create(threshold=60)
    with pytest.raises(ScanAlreadyRunning):
        do_scan()
    with pytest.raises(CommandError, match="already running"):
        call_command("scan")
    assert ScanRun.objects.count() == 1 and not CandidatePair.objects.exists()
    # A scan that stopped without finishing (no heartbeat for long) no longer blocks.
    ScanRun.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    assert do_scan().status == ScanRun.Status.SUCCEEDED
    assert ScanRun.objects.get(pk=running.pk).status == ScanRun.Status.FAILED


def test_a_failed_scan_leaves_no_running_row(monkeypatch):
    load_snapshot(200)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("mergeassist.review.scan.run_full", broken)
    with pytest.raises(RuntimeError):
        do_scan()
    run = ScanRun.objects.get()
    assert run.status == ScanRun.Status.FAILED and "disk full" in run.error_message
    monkeypatch.undo()
    assert do_scan().status == ScanRun.Status.SUCCEEDED


def test_a_changed_engine_setting_rebuilds_the_state(settings):
    load_snapshot(300)
    do_scan()
    assert do_scan().kind == ScanRun.Kind.INCREMENTAL
    settings.MERGEASSIST_MATCH_WEIGHTS = {"phone": 80.0}
    assert do_scan().kind == ScanRun.Kind.FULL


def test_the_stored_explanations_and_reasons_are_the_engines_one_pair_ones():
    rows = load_snapshot(count=800, seed=4)
    do_scan()
    fields = {name: [getattr(row, name) for row in rows] for name in CORE_FIELDS if name != "country"}
    result = find_duplicates_in_columns([row.crm_id for row in rows], fields, match_config())
    # pair.explanation is built for that one pair on its own (not in bulk).
    expected = {f"{pair.id_a}|{pair.id_b}": pair.explanation for pair in result.pairs if pair.is_match}
    stored = list(CandidatePair.objects.values_list("pair_key", "explanation", *REASON_LABELS))
    assert len(stored) == len(expected) > 100
    for key, explanation, *flags in stored:
        assert explanation == expected[key], key
        assert dict(zip(REASON_LABELS, flags)) == reason_flags(explanation), key
    # Every kind of flag is among them, so each column was compared both ways.
    assert all(any(flags[k] for _, _, *flags in stored) for k in range(len(REASON_LABELS)))
