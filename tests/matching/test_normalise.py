"""Normaliser tables: what people type → what the engine compares."""

from __future__ import annotations

import pytest

from mergeassist.matching import Record, normalise_record
from mergeassist.matching.normalise import (
    are_nicknames,
    fold,
    is_shared_mailbox,
    normalise_address,
    normalise_company,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_postcode,
    normalise_state,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Zoë   O'Brien ", "zoe obrien"),
        ("José-María", "jose maria"),
        ("Müller", "muller"),
        ("ЛЕВ", "lev"),
        (None, ""),
    ],
)
def test_it_folds_text_to_plain_words(raw: str | None, expected: str) -> None:
    assert fold(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Dr. Robert Smith Jr.", "robert smith"),
        ("García-López", "garcia lopez"),
        ("n/a", ""),
        ("TEST", ""),
        ("asdf", ""),
        ("none", ""),
    ],
)
def test_it_normalises_names_and_drops_placeholders(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


@pytest.mark.parametrize(
    ("a", "b", "related"),
    [("bob", "robert", True), ("bill", "william", True), ("liz", "elizabeth", True), ("bob", "rob", True), ("bob", "william", False)],
)
def test_it_knows_nicknames(a: str, b: str, related: bool) -> None:
    assert are_nicknames(a, b) is related


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John.Smith@Gmail.com", "johnsmith@gmail.com"),
        ("john.smith+shop@gmail.com", "johnsmith@gmail.com"),
        ("j.smith@gmial.com", "jsmith@gmail.com"),
        ("jane@hotmial.com", "jane@hotmail.com"),
        ("jane+news@outlook.com", "jane@outlook.com"),
        ("jane.doe@acme.com", "jane.doe@acme.com"),  # dots matter outside gmail
        ("jane+news@acme.com", "jane+news@acme.com"),  # and so do +tags at unknown providers
        ("noemail@gmail.com", ""),
        ("test@test.com", ""),
        ("none@example.com", ""),
        ("not an email", ""),
        ("", ""),
    ],
)
def test_it_normalises_emails(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    ("email", "shared"),
    [("info@acme.com", True), ("sales@acme.com", True), ("hello@acme.com", True), ("office@acme.com", True), ("jane@acme.com", False)],
)
def test_it_recognises_shared_mailboxes(email: str, shared: bool) -> None:
    assert is_shared_mailbox(email) is shared


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-0134", "US", "+14155550134"),
        ("415.555.0134", "US", "+14155550134"),
        ("4155550134", "US", "+14155550134"),
        ("1-415-555-0134", "US", "+14155550134"),
        ("+1 415 555 0134", "US", "+14155550134"),
        ("415-555-0134 ext. 12", "US", "+14155550134"),
        ("+44 20 7946 0018", "US", "+442079460018"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("0033 1 23 45 67 89", "FR", "+33123456789"),
        ("000-000-0000", "US", ""),
        ("(000) 000-0000", "US", ""),
        ("123-456-7890", "US", ""),
        ("n/a", "US", ""),
        ("", "US", ""),
    ],
)
def test_it_normalises_phones_to_e164(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme, Inc.", "acme"),
        ("ACME Incorporated", "acme"),
        ("Acme L.L.C.", "acme"),
        ("The Smith & Sons Co., Ltd.", "smith and sons"),
        ("Müller GmbH", "muller"),
        ("Self-employed", ""),
        ("n/a", ""),
    ],
)
def test_it_normalises_companies(raw: str, expected: str) -> None:
    assert normalise_company(raw) == expected


@pytest.mark.parametrize(
    ("line1", "line2", "expected"),
    [
        ("123 North Main Street", None, ("123", "123 n main st", "")),
        ("123 N. Main St., Apt #4B", None, ("123", "123 n main st", "4b")),
        ("123 N Main St", "Suite 4b", ("123", "123 n main st", "4b")),
        ("12 Oak Avenue", "Unit 5", ("12", "12 oak ave", "5")),
        ("2/98 Smith Road", None, ("98", "98 smith rd", "2")),
        ("n/a", None, ("", "", "")),
    ],
)
def test_it_normalises_addresses(line1: str, line2: str | None, expected: tuple[str, str, str]) -> None:
    assert normalise_address(line1, line2) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("62704-1234", "62704"), ("627041234", "62704"), ("sw1a 1aa", "SW1A1AA"), ("00000", ""), ("n/a", "")],
)
def test_it_normalises_postcodes(raw: str, expected: str) -> None:
    assert normalise_postcode(raw) == expected


def test_it_abbreviates_us_states() -> None:
    assert normalise_state("Illinois") == normalise_state("IL") == "il"


def test_it_gives_the_sync_its_search_values() -> None:
    record = Record(
        id="7", name_first="Zoë", name_last="O'Brien", email="Zoe.OBrien+x@GMAIL.com", phone="(415) 555-0134",
        company_name="Acme, Inc.", address1="12 Oak Street", address2="Apt 4", city="Springfield", state="IL", zip="62704-1234",
    )
    assert normalise_record(record) == {
        "name": "zoe obrien",
        "email": "zoeobrien@gmail.com",
        "phone": "+14155550134",
        "company": "acme",
        "address": "12 oak st #4 springfield il 62704",
    }
