"""/history/<id>/: both records before, the preview, the choices, each CRM call, the note; the JSON download."""

from __future__ import annotations

import json

import pytest

from mergeassist.audit.models import CrmCall, Decision
from tests.audit.factories import customer_record, make_call, make_decision


@pytest.fixture
def auditor(client, bob):
    client.force_login(bob)
    return client


def test_it_shows_everything_a_later_reader_needs(auditor, alice):
    decision = make_decision(
        reviewer=alice,
        primary=customer_record("11", email="keep@example.com", phone="+1 555 0001"),
        secondary=customer_record("12", name_first="Anne", email="gone@example.com", cards=[{"id": "c1", "brand": "visa", "last4": "4242"}]),
        preview={"conflicts": [{"field": "email", "primary_value": "keep@example.com", "secondary_value": "gone@example.com"}],
                 "transfers": {"orders": 3, "cards": 1}, "warnings": ["The secondary has a saved card"]},
        choices={"email": {"kept": "secondary", "value": "gone@example.com", "replaced": "keep@example.com"}},
        note_text="Merged customer 12 into 11 (MergeAssist, alice)",
        note_status=Decision.NoteStatus.PENDING, note_attempts=2,
    )  # fmt: skip
    make_call(decision, step=CrmCall.Step.PATCH, method="PATCH", path="/v2/customers/11", duration_ms=87)
    make_call(decision, step=CrmCall.Step.MERGE, duration_ms=412)
    make_call(decision, step=CrmCall.Step.NOTE, outcome=CrmCall.Outcome.ERROR, status_code=503, message="The CRM is not answering")

    html = auditor.get(f"/history/{decision.pk}/").content.decode()

    assert "alice" in html and "keep@example.com" in html and "gone@example.com" in html
    assert "4242" in html  # the secondary's full record, cards included
    assert 'id="preview-conflicts"' in html and "3 orders" in html and "The secondary has a saved card" in html
    assert 'id="choices"' in html
    for text in ("Write chosen values", "PATCH /v2/customers/11", "87 ms", "412 ms", "Post note", "503", "The CRM is not answering"):
        assert text in html, text
    assert "Merged customer 12 into 11 (MergeAssist, alice)" in html
    assert "Note pending" in html and "after 2 attempts" in html


def test_a_not_a_duplicate_decision_has_no_merge_sections(auditor):
    decision = make_decision(kind=Decision.Kind.NOT_DUPLICATE, outcome=Decision.Outcome.NOT_DUPLICATE)
    html = auditor.get(f"/history/{decision.pk}/").content.decode()
    assert "Not a duplicate" in html
    assert "No calls were made to the CRM for this decision." in html
    assert 'id="preview-conflicts"' not in html and 'A "Not a duplicate" decision changed nothing in the CRM.' in html


def test_it_answers_404_for_an_unknown_decision(auditor):
    assert auditor.get("/history/999999/").status_code == 404


def test_the_secondarys_record_downloads_as_json(auditor):
    record = customer_record("12", name_first="Zoë", cards=[{"id": "c1", "last4": "4242"}], fields=[{"key": "vip", "value": "yes"}])
    decision = make_decision(secondary=record)
    response = auditor.get(f"/history/{decision.pk}/secondary.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="customer-12-before-decision-{decision.pk}.json"'
    assert json.loads(response.content) == record


def test_an_odd_id_cannot_break_the_download_header(auditor):
    decision = make_decision(secondary=customer_record('a"b\r\nX-Evil: 1'))
    response = auditor.get(f"/history/{decision.pk}/secondary.json")
    assert '"' not in response["Content-Disposition"].split("filename=")[1].strip('"')
    assert "\n" not in response["Content-Disposition"]
