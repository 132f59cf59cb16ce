"""Records without email or phone (FEBRL, old imports) whose name was replaced or misspelt *and*
whose address was mistyped: tables of pairs that must match, and look-alikes that must not."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mergeassist.matching import Record, compact_explanation, engine, find_duplicates

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


def test_it_scores_a_pair_blocking_missed_when_both_sit_in_one_cluster(monkeypatch) -> None:
    a = DYLAN
    b = replace(DYLAN, id="2", address1="51 Clancy Stret")
    c = replace(DYLAN, id="3", city="Cowel", zip="2606")
    real = engine.candidate_pairs

    def without_a_and_c(*args, **kwargs):
        rows_a, rows_b, stats = real(*args, **kwargs)
        keep = ~((rows_a == 0) & (rows_b == 2))
        return rows_a[keep], rows_b[keep], stats

    monkeypatch.setattr(engine, "candidate_pairs", without_a_and_c)
    result = find_duplicates([a, b, c])
    assert result.stats["candidate_pairs_by_key"]["cluster"] == 1
    assert {pair.pair_key for pair in result.pairs if pair.is_match} == {("1", "2"), ("1", "3"), ("2", "3")}


def test_a_cluster_pair_is_scored_on_its_own_evidence() -> None:
    # 0~1 and 1~2 match; 0-2 was no candidate. It is scored, and a weak score stays no match.
    rows_a, rows_b = np.array([0, 1]), np.array([1, 2])
    more_a, more_b = engine.cluster_pairs(4, rows_a, rows_b, np.array([90.0, 80.0], dtype=np.float32), 60.0)
    assert (more_a.tolist(), more_b.tolist()) == ([0], [2])
    # A known candidate is not added twice, and a pair below the threshold joins nothing.
    more_a, _ = engine.cluster_pairs(4, np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([90.0, 10.0, 80.0], dtype=np.float32), 60.0)
    assert more_a.size == 0
    more_a, _ = engine.cluster_pairs(4, rows_a, rows_b, np.array([90.0, 59.0], dtype=np.float32), 60.0)
    assert more_a.size == 0


def test_a_big_cluster_is_not_completed() -> None:
    size = engine.MAX_COMPLETED_CLUSTER + 1
    chain_a, chain_b = np.arange(size - 1), np.arange(1, size)  # one chain of matches through everyone
    more_a, _ = engine.cluster_pairs(size, chain_a, chain_b, np.full(size - 1, 99.0, dtype=np.float32), 60.0)
    assert more_a.size == 0
    more_a, _ = engine.cluster_pairs(size - 1, chain_a[:-1], chain_b[:-1], np.full(size - 2, 99.0, dtype=np.float32), 60.0)
    assert more_a.size == (size - 1) * (size - 2) // 2 - (size - 2)


def test_a_line_with_only_a_house_number_is_no_street_to_compare() -> None:
    # "1" is a subset of "1 Lahey Place"; it must not count as the same address.
    a = Record(id="1", name_first="Jason", name_last="Ryan", address1="1", city="Broken Hill", zip="6026", state="qld")
    b = Record(id="2", name_first="Tony", name_last="Ryan", address1="1 Lahey Place", address2="Blues Hills", city="Vermont",
               zip="3996", state="nsw")
    assert not is_matched(a, b)
    by_field = explanation_of(a, replace(b, name_first="Jason", city="Broken Hill", zip="6026", state="qld"))
    assert by_field["address"]["similarity"] is None and by_field["address"]["points"] == 0


def test_it_brings_together_a_replaced_given_name_and_a_misspelt_surname() -> None:
    # No key but the phonetic surname and the ZIP is shared: the given name replaced, the surname
    # misspelt, no house number, the street written without a space.
    a = Record(id="1", name_first="Sylvie", name_last="Morrison", address1="Aurora Close", city="Annandale", zip="2203", state="sa")
    b = Record(id="2", name_first="Connor", name_last="Morrson", address1="Auroraclose", address2="Baybreeze", city="Anandale",
               zip="2203", state="sa")
    # Strangers between them in name order, so that the sorted-name window does not reach.
    fillers = [Record(id=str(10 + k), name_first="Zed", name_last=f"Morrisa{chr(97 + k)}", city="Perth", zip="6000") for k in range(8)]
    result = find_duplicates([a, b, *fillers])
    assert result.stats["candidate_pairs_by_key"]["phonetic-surname+zip"] >= 1
    assert ("1", "2") in {pair.pair_key for pair in result.pairs}


CAITLIN = Record(id="1", name_first="Caitlin", name_last="Goode", address1="72 Yuranigh Court", address2="Gummy Gully",
                 city="Maryborough", state="nsw", zip="5048")
# Two copies of CAITLIN: one with the given name and the street mistyped and another house number, one
# with the surname replaced and typos in the street and suburb. Each matches CAITLIN; alone they
# share too little.
FIRST_COPY = replace(CAITLIN, id="2", name_first="Caitli", address1="29 Yuranighcourt")
SECOND_COPY = replace(CAITLIN, id="3", name_last="Eyre", address1="72 Yuranig h Court", address2="Gummy G ully", city="Marybroough")


def test_the_cluster_vouches_for_two_copies_of_one_record() -> None:
    alone = find_duplicates([FIRST_COPY, SECOND_COPY])
    assert not any(pair.is_match for pair in alone.pairs)
    result = find_duplicates([CAITLIN, FIRST_COPY, SECOND_COPY])
    scores = {pair.pair_key: pair for pair in result.pairs}
    assert scores[("1", "2")].score >= engine.VOUCH_AT and scores[("1", "3")].score >= engine.VOUCH_AT
    pair = scores[("2", "3")]
    assert pair.is_match
    by_field = {row["field"]: row for row in pair.explanation}
    assert by_field["cluster"]["points"] == by_field["cluster"]["weight"] > 0
    assert by_field["cluster"]["note"] == engine.VOUCHED_NOTE
    assert pytest.approx(min(100.0, sum(row["points"] for row in pair.explanation)), abs=0.2) == pair.score
    # The pairs with the original get no points from the cluster: nobody else matches both.
    assert all(row["points"] == 0 for row in scores[("1", "2")].explanation if row["field"] == "cluster")
    # The bulk forms the scan and scan_csv write carry the cluster row as the one-pair form does.
    everything = np.arange(len(result.pairs))
    explanations = [p.explanation for p in result.pairs]
    assert result.explanations_as_json(everything).json == [json.dumps(e) for e in explanations]
    assert result.compact_explanations(everything) == [compact_explanation(e) for e in explanations]


CLUSTER_LOOK_ALIKES = [
    ("the two have phones", replace(FIRST_COPY, phone="0412 345 678"), replace(SECOND_COPY, phone="0498 765 432")),
    ("one has an email", FIRST_COPY, replace(SECOND_COPY, email="c.eyre@bigpond.com")),
]


@pytest.mark.parametrize(("kind", "a", "c"), CLUSTER_LOOK_ALIKES, ids=[row[0] for row in CLUSTER_LOOK_ALIKES])
def test_the_cluster_does_not_vouch_for_records_with_contact_details(kind: str, a: Record, c: Record) -> None:
    result = find_duplicates([CAITLIN, a, c])
    assert ("2", "3") not in {pair.pair_key for pair in result.pairs if pair.is_match}, kind


def test_a_weak_bridge_vouches_for_nobody() -> None:
    # The original matches the second copy, but below VOUCH_AT.
    weak_original = replace(CAITLIN, address2=None, city="Bundaberg")
    result = find_duplicates([weak_original, FIRST_COPY, SECOND_COPY])
    scores = {pair.pair_key: pair.score for pair in result.pairs}
    assert scores[("1", "2")] >= engine.VOUCH_AT and 60 <= scores[("1", "3")] < engine.VOUCH_AT
    assert ("2", "3") not in {pair.pair_key for pair in result.pairs if pair.is_match}
