"""A pair's key names its two customers by their canonical ids, so one customer is never a pair."""

from __future__ import annotations

import pytest

from mergeassist.crm.ids import InvalidCrmId
from mergeassist.review.scan import pair_key_of


@pytest.mark.parametrize(
    ("a", "b", "key"),
    [("2", "10", "2|10"), ("10", "2", "2|10"), ("041", "7", "7|41"), ("0010", "002", "2|10"), ("x9", "3", "3|x9")],
)
def test_it_keys_a_pair_by_canonical_ids_in_numeric_order(a, b, key):
    assert pair_key_of(a, b) == key


@pytest.mark.parametrize(("a", "b"), [("41", "41"), ("041", "41"), ("41", "0041")])
def test_it_refuses_to_pair_a_customer_with_itself_however_its_id_is_spelt(a, b):
    with pytest.raises(InvalidCrmId):
        pair_key_of(a, b)
