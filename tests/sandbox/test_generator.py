"""The synthetic customer generator: deterministic, realistic enough, truthful about its pairs."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from mergeassist.sandbox.generator import (
    CORE_FIELDS,
    DUPLICATE_KINDS,
    LOOKALIKE_KINDS,
    NICKNAMES,
    ORIGINAL,
    SyntheticCustomer,
    generate_customers,
    true_pairs,
)


@pytest.fixture(scope="module")
def customers() -> list[SyntheticCustomer]:
    return generate_customers(5000, seed=7)


def _kinds(customer: SyntheticCustomer) -> set[str]:
    return set(customer.variation.split("+"))


def _by_entity(customers: list[SyntheticCustomer]) -> dict[str, list[SyntheticCustomer]]:
    groups: dict[str, list[SyntheticCustomer]] = defaultdict(list)
    for customer in customers:
        groups[customer.entity].append(customer)
    return groups


def _first_record_by_entity(customers: list[SyntheticCustomer]) -> dict[str, SyntheticCustomer]:
    """The record each entity started from: the one that is not a duplicate of anything."""
    return {
        entity: next(c for c in group if not _kinds(c) <= set(DUPLICATE_KINDS))
        for entity, group in _by_entity(customers).items()
    }


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)[-9:]  # past any country code or trunk 0


def test_it_gives_the_same_customers_for_the_same_seed() -> None:
    assert generate_customers(500, seed=3) == generate_customers(500, seed=3)


def test_it_gives_other_customers_for_another_seed() -> None:
    assert generate_customers(500, seed=3) != generate_customers(500, seed=4)


def test_it_numbers_ids_from_one(customers: list[SyntheticCustomer]) -> None:
    assert [c.id for c in customers] == [str(n) for n in range(1, 5001)]


def test_it_fills_every_core_field_on_some_record(customers: list[SyntheticCustomer]) -> None:
    for field in CORE_FIELDS:
        assert any(getattr(c, field) for c in customers), field


def test_it_makes_about_the_requested_share_of_duplicates(
    customers: list[SyntheticCustomer],
) -> None:
    duplicates = len(customers) - len(_by_entity(customers))
    assert 0.20 < duplicates / len(customers) < 0.30


def test_it_makes_no_duplicates_at_rate_zero() -> None:
    assert true_pairs(generate_customers(1000, seed=1, duplicate_rate=0.0)) == set()


def test_it_makes_every_kind_of_duplicate_and_lookalike(customers: list[SyntheticCustomer]) -> None:
    seen = set().union(*(_kinds(c) for c in customers))
    assert set(DUPLICATE_KINDS) | set(LOOKALIKE_KINDS) | {ORIGINAL} <= seen


def test_it_makes_clusters_of_three_and_more(customers: list[SyntheticCustomer]) -> None:
    sizes = Counter(len(group) for group in _by_entity(customers).values())
    assert sizes[3] > 0 and sum(n for size, n in sizes.items() if size >= 4) > 0


def test_each_entity_has_exactly_one_record_not_marked_as_a_duplicate(
    customers: list[SyntheticCustomer],
) -> None:
    for group in _by_entity(customers).values():
        firsts = [c for c in group if not _kinds(c) <= set(DUPLICATE_KINDS)]
        assert len(firsts) == 1, group


def test_true_pairs_are_ordered_and_link_only_records_of_one_entity(
    customers: list[SyntheticCustomer],
) -> None:
    entity_of = {c.id: c.entity for c in customers}
    pairs = true_pairs(customers)
    assert pairs
    for id_a, id_b in pairs:
        assert int(id_a) < int(id_b)
        assert entity_of[id_a] == entity_of[id_b]
    expected = sum(len(g) * (len(g) - 1) // 2 for g in _by_entity(customers).values())
    assert len(pairs) == expected


def test_a_nickname_duplicate_uses_a_known_nickname(customers: list[SyntheticCustomer]) -> None:
    original_of = _first_record_by_entity(customers)
    for customer in customers:
        if customer.variation == "nickname":
            assert customer.name_first in NICKNAMES[original_of[customer.entity].name_first]


def test_a_phone_format_duplicate_keeps_the_digits(customers: list[SyntheticCustomer]) -> None:
    original_of = _first_record_by_entity(customers)
    checked = 0
    for customer in customers:
        original = original_of[customer.entity]
        if customer.variation == "phone_format":
            assert customer.phone != original.phone
            assert _digits(customer.phone) == _digits(original.phone)
            checked += 1
    assert checked


def test_family_members_share_an_address_but_are_different_people(
    customers: list[SyntheticCustomer],
) -> None:
    members = [c for c in customers if c.variation == "family_member"]
    assert members
    households = defaultdict(set)
    for customer in customers:
        households[(customer.name_last, customer.address1, customer.zip)].add(customer.entity)
    assert all(len(households[(m.name_last, m.address1, m.zip)]) >= 2 for m in members)


def test_a_shared_mailbox_is_used_by_different_people(customers: list[SyntheticCustomer]) -> None:
    colleagues = [c for c in customers if c.variation == "shared_mailbox"]
    assert colleagues
    entities_by_email = defaultdict(set)
    for customer in customers:
        entities_by_email[customer.email].add(customer.entity)
    assert all(len(entities_by_email[c.email]) >= 2 for c in colleagues)


def _mailbox(email: str) -> str:
    # gmail delivers "jo.ann+shop@" to "joann@": one mailbox, so one person.
    local, _, domain = email.lower().rpartition("@")
    if domain == "gmail.com":
        local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{domain}"


def test_personal_mailboxes_are_not_given_to_two_people(customers: list[SyntheticCustomer]) -> None:
    shared_on_purpose = {c.email for c in customers if c.variation in {"shared_mailbox", "placeholder_junk"}}
    entities_by_mailbox = defaultdict(set)
    for customer in customers:
        if customer.email and customer.email not in shared_on_purpose:
            entities_by_mailbox[_mailbox(customer.email)].add(customer.entity)
    assert all(len(entities) == 1 for entities in entities_by_mailbox.values())
    # Dotted and plain gmail spellings do occur, for one person's duplicates.
    gmail = [c for c in customers if c.email and c.email.lower().endswith("@gmail.com") and "." in c.email.split("@")[0]]
    assert gmail


def test_some_customers_have_accents() -> None:
    customers = generate_customers(2000, seed=1)
    assert any(c.name_first and not c.name_first.isascii() for c in customers)
