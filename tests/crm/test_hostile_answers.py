"""Hostile but legal answers from a CRM: the sync stores what it can, skips what it cannot read (with
its id), and never wedges; the client reports only its own errors; /customers/ always has a page.

Runs on SQLite and again on PostgreSQL (the Makefile's PostgreSQL subset), where a NUL in a text
column or a \\u0000 in jsonb is refused outright.
"""

from __future__ import annotations

import pytest

from mergeassist.crm.client import CrmClient, CrmUnexpectedResponse, CrmValidationError
from mergeassist.crm.models import Customer, SyncRun
from mergeassist.crm.sync import run_sync
from mergeassist.crm.types import MalformedBody, parse_customer_page, parse_json
from tests.crm.stub_crm import customer

META = {"current_page": 1, "per_page": 25, "last_page": 1, "total": 1}
pytestmark = pytest.mark.django_db


def stub_client(stub_crm, **options) -> CrmClient:
    return CrmClient(stub_crm.url, "sk_stub", backoff=0.001, **options)


# -- finding 2: storable text, one place ----------------------------------------------------------


def test_it_stores_a_customer_with_a_lone_surrogate_nul_and_control_characters(stub_crm):
    stub_crm.customers = [
        customer(1, name_first="\ud800", company_name="Acme\x00 Ltd"),
        customer(2, name_last="Bell\x07\x1b[31m", city="Line\nbreak", fields=[{"key": "k\x00", "value": "\udfff"}]),
        customer(3),
    ]

    run = run_sync(full=True, client=stub_client(stub_crm))

    assert (run.status, run.customers_seen, run.customers_skipped) == ("succeeded", 3, 0)
    first, second = Customer.objects.get(crm_id="1"), Customer.objects.get(crm_id="2")
    assert first.name_first == "\ufffd"
    assert first.company_name == "Acme Ltd"
    assert first.raw["company_name"] == "Acme Ltd", "raw is made storable too (jsonb refuses \\u0000)"
    assert second.name_last == "Bell[31m"
    assert second.city == "Line\nbreak", "line breaks are text, not controls"
    assert second.raw["fields"] == [{"key": "k", "value": "\ufffd"}]


def test_a_resync_of_the_same_hostile_page_succeeds_again(stub_crm):
    stub_crm.customers = [customer(1, name_first="\ud800\x00")]
    client = stub_client(stub_crm)
    assert run_sync(full=True, client=client).status == "succeeded"
    assert run_sync(full=True, client=client).status == "succeeded"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("name_first", {"a": 1}, "name_first is an object, not text"),
        ("phone", True, "phone is true or false, not text"),
        ("email", ["a@example.com"], "email is a list, not text"),
        ("city", 12, "city is a number, not text"),
        ("updated_at", "yesterday", "a date that is not ISO 8601"),
        ("cards", [1, 2], "cards holds a number, not an object"),
        ("stats", "none", "stats is text, not an object"),
    ],
)
def test_it_skips_one_unreadable_customer_with_its_id_and_keeps_the_page(stub_crm, field, value, reason):
    stub_crm.customers = [customer(1), customer(2, **{field: value}), customer(3)]

    run = run_sync(full=True, client=stub_client(stub_crm))

    assert run.status == "succeeded"
    assert sorted(Customer.objects.values_list("crm_id", flat=True)) == ["1", "3"]
    assert run.customers_skipped == 1
    assert run.skipped_detail.startswith("2 (") and reason in run.skipped_detail


def test_it_pages_past_a_page_of_customers_it_cannot_read(stub_crm, monkeypatch):
    monkeypatch.setattr("mergeassist.crm.sync.PAGE_SIZE", 2)
    stub_crm.customers = [customer(1, phone=True), customer(2, phone=False), customer(3), customer(4)]

    run = run_sync(full=True, client=stub_client(stub_crm))

    assert run.status == "succeeded" and run.cursor == "4"
    assert sorted(Customer.objects.values_list("crm_id", flat=True)) == ["3", "4"]
    assert run.customers_skipped == 2


def test_it_keeps_a_known_customer_it_can_no_longer_read_and_does_not_call_it_gone(stub_crm):
    stub_crm.customers = [customer(1), customer(2)]
    client = stub_client(stub_crm)
    run_sync(full=True, client=client)
    stub_crm.customers = [customer(1), customer(2, name_first={"oops": True})]

    run = run_sync(full=True, client=client)

    assert run.customers_gone == 0 and run.customers_skipped == 1
    assert not Customer.objects.get(crm_id="2").is_gone


def test_it_stores_each_id_in_its_one_canonical_spelling(stub_crm):
    stub_crm.customers = [{**customer(7), "id": "007"}, {**customer(8), "id": 8}]
    run_sync(full=True, client=stub_client(stub_crm))
    assert sorted(Customer.objects.values_list("crm_id", "crm_id_number")) == [("7", 7), ("8", 8)]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"data": ' + b"[" * 5_000 + b"]" * 5_000 + b', "meta": {}}',
        b'{"data": [], "meta": {"current_page": NaN, "per_page": 1, "last_page": 1, "total": 0}}',
        b'{"data": [], "meta": {"current_page": 1e999, "per_page": 1, "last_page": 1, "total": 0}}',
        b'{"data": [], "meta": {"current_page": 1' + b"0" * 5000 + b', "per_page": 1, "last_page": 1, "total": 0}}',
    ],
)
def test_it_reports_a_hostile_body_as_an_unreadable_answer(stub_crm, body):
    stub_crm.raw_body = body
    with pytest.raises(CrmUnexpectedResponse) as caught:
        stub_client(stub_crm, retries=1).list_customers()
    assert "cannot read" in caught.value.message
    assert stub_crm.requests == 2, "retried like any unreadable GET"


def test_the_sync_fails_cleanly_on_a_hostile_body_and_resumes_when_it_is_gone(stub_crm):
    stub_crm.customers = [customer(1)]
    stub_crm.raw_body = b"[" * 100_000
    with pytest.raises(CrmUnexpectedResponse):
        run_sync(full=True, client=stub_client(stub_crm, retries=0))
    assert SyncRun.objects.get().status == "failed"

    stub_crm.raw_body = None
    assert run_sync(full=True, client=stub_client(stub_crm)).status == "succeeded"


# -- finding 7: messages without parser internals ---------------------------------------------------


def test_the_unreadable_answer_message_shows_no_parser_internals(stub_crm):
    stub_crm.raw_body = b'{"data": [' + b'{"id": "1"},' * 4000 + b"}"
    with pytest.raises(CrmUnexpectedResponse) as caught:
        stub_client(stub_crm, retries=0).list_customers()
    assert "line 1" not in caught.value.message and "column" not in caught.value.message
    assert caught.value.message.endswith("sent an answer MergeAssist cannot read (the body is not valid JSON).")


# -- the adapter on its own ------------------------------------------------------------------------


def test_it_refuses_wrong_types_in_meta_and_items_as_malformed():
    for body in (
        {"data": [{"id": True}], "meta": META},
        {"data": [None], "meta": META},
        {"data": [], "meta": {**META, "total": "many"}},
        {"data": [], "meta": {**META, "per_page": 2.5}},
        {"data": [], "meta": {**META, "total": 2**70}},
    ):
        with pytest.raises(MalformedBody):
            parse_customer_page(parse_json(__import__("json").dumps(body).encode()))


def test_the_client_never_asks_to_merge_a_customer_into_itself(stub_crm):
    client = stub_client(stub_crm)
    for primary, secondary in (("041", "41"), ("41", "41"), (41, "0041")):
        with pytest.raises(CrmValidationError) as caught:
            client.merge(primary, secondary)
        assert "cannot be merged into itself" in caught.value.message
        with pytest.raises(CrmValidationError):
            client.preview_merge(primary, secondary)
    assert stub_crm.requests == 0


def test_the_command_reports_an_unexpected_failure_in_one_line(stub_crm, monkeypatch):
    from django.core.management import CommandError, call_command

    stub_crm.customers = [customer(1)]
    monkeypatch.setattr(CrmClient, "for_jobs", classmethod(lambda cls: stub_client(stub_crm)))
    monkeypatch.setattr("mergeassist.crm.sync.upsert_customers", lambda *args: 1 / 0)

    with pytest.raises(CommandError) as caught:
        call_command("sync_customers", stdout=__import__("io").StringIO())

    assert str(caught.value).startswith("The sync stopped on an unexpected error (ZeroDivisionError: division by zero)")
    assert SyncRun.objects.get().status == "failed"
