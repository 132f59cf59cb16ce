"""find_duplicates: tables of record pairs with the outcome a reviewer expects."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mergeassist.matching import MatchConfig, Record, find_duplicates

ROBERT = Record(
    id="1", name_first="Robert", name_last="Smith", email="robert.smith@gmail.com", phone="(415) 555-0134",
    company_name=None, address1="12 Oak Street", address2=None, city="Springfield", state="IL", zip="62704",
)
JANE = Record(
    id="2", name_first="Jane", name_last="Okafor", email="jane.okafor@yahoo.com", phone="312-555-0199",
    company_name="Acme, Inc.", address1="400 Lake Shore Drive", address2="Apt 12", city="Chicago", state="IL", zip="60611",
)


def is_matched(a: Record, b: Record, config: MatchConfig | None = None) -> bool:
    result = find_duplicates([a, b], config)
    return any(pair.is_match for pair in result.pairs)


TRUE_DUPLICATES = [
    ("exact copy", ROBERT, replace(ROBERT, id="9")),
    ("typo in last name", ROBERT, replace(ROBERT, id="9", name_last="Smiht")),
    ("typo in first name and no phone", ROBERT, replace(ROBERT, id="9", name_first="Robret", phone=None)),
    ("nickname Bob", ROBERT, replace(ROBERT, id="9", name_first="Bob")),
    ("nickname Bob, moved house", ROBERT, replace(ROBERT, id="9", name_first="Bob", address1="9 Elm Road", zip="62701")),
    ("swapped first and last", ROBERT, replace(ROBERT, id="9", name_first="Smith", name_last="Robert")),
    ("email in capitals", ROBERT, replace(ROBERT, id="9", email="ROBERT.SMITH@GMAIL.COM", phone=None)),
    ("gmail dots and +tag", ROBERT, replace(ROBERT, id="9", email="robertsmith+shop@gmail.com", phone=None)),
    ("same mailbox at another domain", ROBERT, replace(ROBERT, id="9", email="robert.smith@yahoo.com", phone=None)),
    ("domain typo", ROBERT, replace(ROBERT, id="9", email="robert.smith@gmial.com", address1=None)),
    ("phone in another format", ROBERT, replace(ROBERT, id="9", phone="+1 415.555.0134", email=None)),
    ("company suffix", JANE, replace(JANE, id="9", company_name="ACME Incorporated", email=None)),
    ("moved address, same email", JANE, replace(JANE, id="9", address1="1 Main St", address2=None, zip="60601")),
    ("unit written differently", JANE, replace(JANE, id="9", address1="400 Lake Shore Dr #12", address2=None, phone=None)),
    ("accents stripped", replace(JANE, name_first="Zoë", name_last="Müller"), replace(JANE, id="9", name_first="Zoe", name_last="Muller")),
    ("missing email, phone and company", JANE, replace(JANE, id="9", email=None, phone=None, company_name=None)),
    ("zip+4", ROBERT, replace(ROBERT, id="9", zip="62704-1234", email=None)),
    ("no email or phone, street typo", replace(ROBERT, email=None, phone=None), replace(ROBERT, id="9", email=None, phone=None, address1="12 Oak Stret")),
    ("compound surname shortened", replace(JANE, name_last="Garcia Lopez"), replace(JANE, id="9", name_last="Garcia", phone=None)),
]


@pytest.mark.parametrize(("kind", "a", "b"), TRUE_DUPLICATES, ids=[row[0] for row in TRUE_DUPLICATES])
def test_it_finds_true_duplicates(kind: str, a: Record, b: Record) -> None:
    assert is_matched(a, b), kind


LOOK_ALIKES = [
    (
        "same common name, different email, phone and address",
        ROBERT,
        Record(id="9", name_first="Robert", name_last="Smith", email="bobsmith77@aol.com", phone="(212) 555-0101",
               address1="77 Pine Avenue", city="New York", state="NY", zip="10001"),
    ),
    (
        "family member at the same address",
        ROBERT,
        replace(ROBERT, id="9", name_first="Linda", email="linda.smith@gmail.com", phone="(415) 555-0177"),
    ),
    (
        "family member sharing the household landline",
        ROBERT,
        replace(ROBERT, id="9", name_first="Emily", email="emily.s@hotmail.com"),
    ),
    (
        "colleagues sharing a company mailbox and phone",
        replace(JANE, email="info@acme.com"),
        replace(JANE, id="9", name_first="Marcus", name_last="Lee", email="info@acme.com"),
    ),
    (
        "colleagues sharing a sales@ mailbox, no phones",
        replace(JANE, email="sales@acme.com", phone=None),
        replace(JANE, id="9", name_first="Tom", name_last="Brown", email="sales@acme.com", phone=None),
    ),
    (
        "same name and town, every contact detail different",
        ROBERT,
        replace(ROBERT, id="9", email="rsmith1961@yahoo.com", phone="(217) 555-0188", address1="804 Walnut Avenue"),
    ),
    (
        "same first name in the same town, contacts on different sides",
        replace(JANE, email=None, address1=None, address2=None),
        replace(JANE, id="9", name_last="Okonkwo", phone=None, address1=None, address2=None, company_name=None),
    ),
    (
        "neighbours in the same building",
        JANE,
        Record(id="9", name_first="Paul", name_last="Novak", email="pnovak@gmail.com", address1="400 Lake Shore Drive",
               address2="Apt 31", city="Chicago", state="IL", zip="60611"),
    ),
]


@pytest.mark.parametrize(("kind", "a", "b"), LOOK_ALIKES, ids=[row[0] for row in LOOK_ALIKES])
def test_it_does_not_match_look_alikes(kind: str, a: Record, b: Record) -> None:
    assert not is_matched(a, b), kind


PLACEHOLDER_PAIRS = [
    ("test@test.com", "000-000-0000"),
    ("noemail@noemail.com", "n/a"),
    ("none@none.com", "(000) 000-0000"),
    ("na@na.com", "1234567890"),
]


@pytest.mark.parametrize(("email", "phone"), PLACEHOLDER_PAIRS)
def test_it_does_not_let_placeholders_make_a_match(email: str, phone: str) -> None:
    a = Record(id="1", name_first="Test", name_last="Customer", email=email, phone=phone, address1="n/a", zip="00000")
    b = Record(id="2", name_first="Maria", name_last="Customer", email=email, phone=phone, address1="n/a", zip="00000")
    assert not is_matched(a, b)
    result = find_duplicates([a, b])
    for pair in result.pairs:
        by_field = {row["field"]: row for row in pair.explanation}
        assert by_field["email"]["points"] == 0 and by_field["phone"]["points"] == 0


def test_it_clusters_three_records_and_names_the_weakest_link() -> None:
    a = replace(ROBERT, id="10")
    b = replace(ROBERT, id="2", name_first="Bob", phone=None)
    c = replace(ROBERT, id="33", name_first="Bob", email="bob.smith@outlook.com")
    stranger = replace(JANE, id="4")
    result = find_duplicates([a, b, c, stranger])
    assert [cluster.ids for cluster in result.clusters] == [["2", "10", "33"]]
    weakest = result.clusters[0].weakest_link
    pair_scores = {pair.pair_key: pair.score for pair in result.pairs if pair.is_match}
    assert (weakest[0], weakest[1]) in pair_scores
    # The weakest link holds the cluster together: the other edges of the spanning tree are stronger.
    assert weakest[2] == sorted(pair_scores.values(), reverse=True)[1]


def test_it_orders_numeric_ids_numerically() -> None:
    result = find_duplicates([replace(ROBERT, id="10"), replace(ROBERT, id="9")])
    assert result.pairs[0].pair_key == ("9", "10")


def test_it_explains_every_field_in_json() -> None:
    result = find_duplicates([ROBERT, replace(ROBERT, id="9", name_first="Bob", email=None)])
    (pair,) = result.pairs
    explanation = json.loads(json.dumps(pair.explanation))
    by_field = {row["field"]: row for row in explanation}
    assert set(by_field) >= {"first_name", "last_name", "email", "phone", "address", "zip"}
    assert by_field["first_name"]["value_a"] == "robert" and by_field["first_name"]["value_b"] == "bob"
    assert "nickname" in by_field["first_name"]["note"]
    assert by_field["email"]["similarity"] is None and by_field["email"]["points"] == 0
    assert by_field["phone"]["similarity"] == 1.0 and by_field["phone"]["points"] == by_field["phone"]["weight"]
    assert pytest.approx(min(100.0, sum(row["points"] for row in explanation)), abs=0.2) == pair.score


def test_it_takes_weights_and_threshold_from_the_config() -> None:
    a, b = ROBERT, replace(ROBERT, id="9", email=None, address1=None, city=None, state=None, zip=None)
    assert is_matched(a, b)
    assert not is_matched(a, b, MatchConfig(weights={"phone": 0.0}))
    light = {"first_name": 10.0, "last_name": 10.0, "phone": 20.0}  # 40 points in all
    assert is_matched(a, b, MatchConfig(threshold=35.0, weights=light, report_floor=0.0))
    assert not is_matched(a, b, MatchConfig(threshold=45.0, weights=light, report_floor=0.0))


def test_it_refuses_unknown_weight_names() -> None:
    with pytest.raises(ValueError, match="emial"):
        MatchConfig(weights={"emial": 10.0})


def test_a_common_name_does_not_go_quadratic() -> None:
    many = [
        Record(id=str(n), name_first="John", name_last="Smith", email=f"john{n}@example.org", phone=f"(415) 555-{n:04d}",
               address1=f"{n} Main Street", zip=f"{10000 + n}")
        for n in range(1, 601)
    ]
    result = find_duplicates(many)
    assert result.stats["candidate_pairs"] < 600 * 20  # 179,700 if every pair were compared
    assert not any(pair.is_match for pair in result.pairs)


def test_it_accepts_any_object_with_the_record_fields() -> None:
    class Customer:
        def __init__(self, id: str, email: str) -> None:
            self.id, self.email, self.name_first, self.name_last = id, email, "Ann", "Lee"

    result = find_duplicates([Customer("1", "ann.lee@gmail.com"), Customer("2", "Ann.Lee@gmail.com")])
    assert [pair.pair_key for pair in result.pairs if pair.is_match] == [("1", "2")]
