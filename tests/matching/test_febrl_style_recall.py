"""Records without email or phone (FEBRL, old imports) whose name was replaced or misspelt *and*
whose address was mistyped: tables of pairs that must match, and look-alikes that must not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mergeassist.matching import Record, find_duplicates

DYLAN = Record(id="1", name_first="Dylan", name_last="Fondum", address1="51 Clancy Street", address2="Rosemount",
               city="Cowell", state="vic", zip="2066")
DAVID = Record(id="1", name_first="David", name_last="Aguilar", email="sales@harvey.com", phone="(583) 982-7371",
               company_name="Harvey Ltd", address1="1330 Villegas Streets", city="Sandovalbury", state="VT", zip="05493")
CYNTHIA = Record(id="1", name_first="Cynthia", name_last="Garcia", phone="882-664-7080", address1="159 Herrera Keys",
                 city="New Jessicaside", state="CO", zip="80289")


def explanation_of(a: Record, b: Record) -> dict[str, dict]:
    (pair,) = [pair for pair in find_duplicates([a, b]).pairs] or [None]
    assert pair is not None, "the pair was not even reported"
    return {row["field"]: row for row in pair.explanation}


def is_matched(a: Record, b: Record) -> bool:
    return any(pair.is_match for pair in find_duplicates([a, b]).pairs)


MOVED_NAME_DUPLICATES = [
    ("surname moved to the given name, surname replaced, street typo",
     DYLAN, replace(DYLAN, id="2", name_first="Fondum", name_last="Zali", address1="51 Clanc ystreet")),
    ("given name moved to the surname, given name replaced",
     DYLAN, replace(DYLAN, id="2", name_first="Jordan", name_last="Dylan", address1="51 Clancy Stret")),
    ("moved name with a slip, suburb typo",
     replace(DYLAN, name_first="Michaela", name_last="Moulton"),
     replace(DYLAN, id="2", name_first="Moulstn", name_last="Gabriel", city="Cowel")),
    ("moved name, personal email agrees",
     replace(CYNTHIA, email="cynthia.garcia@gmail.com"),
     replace(CYNTHIA, id="2", name_first="Garcia", name_last="Cyn", email="cynthia.garcia@gmail.com")),
]


@pytest.mark.parametrize(("kind", "a", "b"), MOVED_NAME_DUPLICATES, ids=[row[0] for row in MOVED_NAME_DUPLICATES])
def test_it_matches_a_name_moved_into_the_other_place(kind: str, a: Record, b: Record) -> None:
    assert is_matched(a, b), kind


MOVED_NAME_LOOK_ALIKES = [
    ("colleagues whose names are only alike (David / Davis)",
     DAVID, replace(DAVID, id="2", name_first="Bonnie", name_last="Davis")),
    ("family sharing a landline: the surname in the given-name slot, email on one side",
     CYNTHIA, replace(CYNTHIA, id="2", name_first="Garcia", name_last="Cheryl", email="cheryl76@gmail.com")),
    ("moved name but different personal emails",
     replace(CYNTHIA, phone=None, email="cynthia.g@gmail.com"),
     replace(CYNTHIA, id="2", phone=None, name_first="Garcia", name_last="Cheryl", email="cheryl76@gmail.com")),
    ("no contacts, names only alike (David / Davis) at one address",
     replace(DYLAN, name_first="David", name_last="Aguilar"), replace(DYLAN, id="2", name_first="Bonnie", name_last="Davis")),
]


@pytest.mark.parametrize(("kind", "a", "b"), MOVED_NAME_LOOK_ALIKES, ids=[row[0] for row in MOVED_NAME_LOOK_ALIKES])
def test_it_does_not_match_look_alikes_sharing_one_name_crosswise(kind: str, a: Record, b: Record) -> None:
    assert not is_matched(a, b), kind


def test_it_explains_a_moved_name() -> None:
    by_field = explanation_of(DYLAN, replace(DYLAN, id="2", name_first="Fondum", name_last="Zali"))
    assert by_field["last_name"]["value_a"] == "fondum" and by_field["last_name"]["value_b"] == "fondum"
    assert by_field["last_name"]["similarity"] == 1.0
    assert by_field["first_name"]["value_b"] == "zali" and by_field["first_name"]["points"] < 0
    assert "other's place" in by_field["first_name"]["note"] and "other's place" in by_field["last_name"]["note"]
    assert by_field["different_person"]["points"] == 0
