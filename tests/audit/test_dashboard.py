"""/dashboard/: pending pairs, merges per day, decisions per reviewer, the CRM's error rate, acceptance per band."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mergeassist.audit.dashboard import ScoreBand, score_bands, suggested_threshold
from mergeassist.audit.models import CrmCall, Decision
from mergeassist.crm.models import Customer
from mergeassist.review.models import CandidatePair
from tests.audit.factories import make_call, make_decision


@pytest.fixture
def auditor(client, bob):
    client.force_login(bob)
    return client


def pending_pair(n: int) -> CandidatePair:
    a = Customer.objects.create(crm_id=str(2 * n), crm_id_number=2 * n)
    b = Customer.objects.create(crm_id=str(2 * n + 1), crm_id_number=2 * n + 1)
    return CandidatePair.objects.create(pair_key=f"{a.crm_id}|{b.crm_id}", customer_a=a, customer_b=b, score=90)


def test_it_shows_the_figures_and_draws_the_charts(auditor):
    for n in range(3):
        pending_pair(n)
    now = timezone.now()
    for n in range(4):
        d = make_decision(created_at=now - timedelta(days=n), reviewer_username="alice", score=96)
        make_call(d, started_at=now - timedelta(days=n))
    failed = make_decision(reviewer_username="dora", outcome=Decision.Outcome.FAILED, score=96)
    make_call(failed, outcome=CrmCall.Outcome.ERROR, started_at=now)
    make_decision(kind=Decision.Kind.NOT_DUPLICATE, outcome=Decision.Outcome.NOT_DUPLICATE, reviewer_username="dora", score=81)

    html = auditor.get("/dashboard/").content.decode()

    assert 'id="tile-pending"><span class="tile-value">3<' in html
    assert 'id="tile-merges"><span class="tile-value">4<' in html
    assert "20 %" in html and "of 5 CRM calls failed" in html
    for chart in ("chart-merges", "chart-reviewers", "chart-crm-calls", "chart-bands"):
        assert f'<figure class="chart" id="{chart}"><svg' in html, chart
    assert "<title>alice: 4 merges</title>" in html
    assert "<title>dora: 1 not a duplicate</title>" in html


def test_it_escapes_reviewer_names_in_the_svg(auditor):
    make_decision(reviewer_username="<b>x</b>")
    html = auditor.get("/dashboard/").content.decode()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_it_refuses_an_unknown_period(auditor):
    response = auditor.get("/dashboard/", {"days": "3"})
    assert response.status_code == 400
    assert "That period cannot be shown" in response.content.decode()


def test_old_decisions_fall_outside_the_period(auditor):
    make_decision(created_at=timezone.now() - timedelta(days=40))
    html = auditor.get("/dashboard/", {"days": 30}).content.decode()
    assert 'id="tile-merges"><span class="tile-value">0<' in html


def test_decisions_are_counted_per_score_band(db):
    for score, kind in [(71, "merge"), (74.9, "not_duplicate"), (75, "merge"), (100, "merge"), (97.5, "not_duplicate")]:
        make_decision(score=score, kind=kind)
    bands = {b.low: (b.accepted, b.rejected) for b in score_bands(Decision.objects.all())}
    assert bands == {70: (1, 1), 75: (1, 0), 95: (1, 1)}


@pytest.mark.parametrize(
    ("bands", "expected"),
    [
        # Every band from 80 up is >= 90 % accepted; 75 falls short.
        ([(75, 5, 5), (80, 18, 2), (85, 19, 1), (90, 20, 0), (95, 30, 0)], 80),
        # A thin band (under 10 decisions) neither breaks nor extends the run.
        ([(70, 1, 3), (75, 20, 0), (80, 2, 0), (90, 40, 1)], 75),
        # The top band itself falls short: no suggestion.
        ([(90, 10, 10), (95, 5, 5)], None),
        ([(90, 3, 0)], None),
    ],
)
def test_the_suggested_threshold(bands, expected):
    assert suggested_threshold([ScoreBand(low, a, r) for low, a, r in bands]) == expected
