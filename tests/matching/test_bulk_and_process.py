"""Explanations in bulk equal the one-pair ones; an incremental run equals a full one; the engine
leaves the process as it found it unless asked; ids are ordered by crm.ids."""

from __future__ import annotations

import gc
import json
import random
import subprocess
import sys

import numpy as np
import pytest

from mergeassist.crm.ids import id_sort_key
from mergeassist.matching import MatchConfig, compact_explanation, find_duplicates, find_duplicates_in_columns, run_full, run_incremental
from mergeassist.matching import columns as columns_module
from mergeassist.matching import engine as engine_module
from mergeassist.matching.columns import Columns, fields_of_records
from mergeassist.matching.scoring import FIELD_ORDER, compare_pairs, field_points
from typing import Any
from mergeassist.sandbox.generator import generate_customers


@pytest.fixture(scope="module")
def customers() -> list:
    return generate_customers(3000, seed=5)


def test_bulk_explanations_equal_one_pair_explanations(customers: list) -> None:
    result = find_duplicates(customers)
    assert len(result.pairs) > 500
    everything = result.explanations(np.arange(len(result.pairs)))
    reference = _OnePairReference(result._explainer)
    for k, pair in enumerate(result.pairs):
        assert everything[k] == reference.explain(*pair._rows), pair
        assert everything[k] == result._explainer.explain(*pair._rows), pair
    # Pairs with every kind of note are among them, so the comparison covers each branch.
    notes = {row["note"] for explanation in everything for row in explanation}
    assert {"missing", "nickname", "first and last name swapped", "nothing but the name agrees"} <= notes
    # explained_pairs hands out the same explanations, chunk by chunk.
    streamed = [pair.explanation for pair in result.explained_pairs(chunk=97)]
    assert streamed == everything
    # The compact form built from the same table equals the compact form of each explanation.
    assert result.compact_explanations(np.arange(len(result.pairs))) == [compact_explanation(e) for e in everything]
    # So does the JSON text the scan stores: json.dumps of each explanation, character for character.
    explained = result.explanations_as_json(np.arange(len(result.pairs)))
    assert explained.json == [json.dumps(e) for e in everything]
    assert explained.similarities("email") == [e[2]["similarity"] for e in everything]
    assert explained.notes("first_name") == [e[0]["note"] for e in everything]


def test_the_compact_explanation_keeps_every_row_that_counts() -> None:
    (pair,) = find_duplicates_in_columns(
        ["1", "2"], {"name_first": ["Ann", "Anne"], "name_last": ["Lee", "Lee"], "email": ["ann.lee@gmail.com", "Ann.Lee@gmail.com"]}
    ).pairs
    compact = compact_explanation(pair.explanation)
    counted = [row for row in pair.explanation if row["points"]]
    assert compact.count(";") == len(counted) - 1
    assert "email 1 +288" in compact


def test_an_incremental_run_equals_a_full_run(customers: list) -> None:
    config = MatchConfig()
    ids = [c.id for c in customers]
    fields = fields_of_records(customers)
    _, state = run_full(ids, fields, config)
    rng = random.Random(3)
    after = {name: list(values) for name, values in fields.items()}
    changed = sorted(rng.sample(range(len(ids)), 60))
    for row in changed:
        donor = rng.randrange(len(ids))
        after["email"][row] = fields["email"][donor]
        after["name_last"][row] = fields["name_last"][donor]
    gone = set(rng.sample([row for row in range(len(ids)) if row not in changed], 25))
    extra = generate_customers(200, seed=99)[:40]
    all_ids = ids + [str(10**7 + k) for k in range(len(extra))]
    for name in after:
        after[name] += [getattr(c, name) for c in extra]
    live = np.array([row not in gone for row in range(len(all_ids))])
    changed_rows = np.array(changed + list(range(len(ids), len(all_ids))))
    incremental, _ = run_incremental(
        state, all_ids, live, changed_rows, {name: [after[name][row] for row in changed_rows] for name in after}, config
    )
    kept = np.flatnonzero(live)
    full = find_duplicates_in_columns([all_ids[row] for row in kept], {name: [after[name][row] for row in kept] for name in after}, config)
    assert incremental.stats["rescored_pairs"] < incremental.stats["candidate_pairs"] / 2
    assert [(p.pair_key, p.score, p.is_match) for p in incremental.pairs] == [(p.pair_key, p.score, p.is_match) for p in full.pairs]
    assert [(c.ids, c.weakest_link) for c in incremental.clusters] == [(c.ids, c.weakest_link) for c in full.clusters]
    assert [p.explanation for p in incremental.pairs[:300]] == [p.explanation for p in full.pairs[:300]]


@pytest.mark.parametrize("collector_on", [True, False])
def test_the_engine_leaves_the_process_as_it_found_it(customers: list, monkeypatch, collector_on: bool) -> None:
    monkeypatch.setattr(columns_module, "PARALLEL_FROM", 100)  # a helper would be forked at this size
    forks: list[int] = []
    monkeypatch.setattr(columns_module, "_start_helper", lambda packed: forks.append(1))
    trims: list[str] = []
    monkeypatch.setattr(engine_module.ctypes, "CDLL", lambda name: trims.append(name))
    (gc.enable if collector_on else gc.disable)()
    frozen = gc.get_freeze_count()
    try:
        find_duplicates(customers)
        assert gc.isenabled() is collector_on
        assert gc.get_freeze_count() == frozen
        assert forks == [] and trims == []
        # Asked for (a command that exists to run the engine), it may do all three, and still
        # puts the collector back as it was.
        find_duplicates(customers, big_run=True)
        assert gc.isenabled() is collector_on
        assert forks and trims
    finally:
        gc.enable()


def test_the_engine_imports_no_django_and_no_sandbox() -> None:
    code = "import sys, mergeassist.matching; print(sorted(m for m in sys.modules if m.startswith(('django', 'mergeassist.sandbox', 'recordlinkage'))))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_pairs_and_clusters_follow_the_crm_id_order() -> None:
    ids = ["10", "9", "¹", "b", "a", "0"]
    values = {"email": ["kim.park@gmail.com"] * len(ids), "name_first": ["Kim"] * len(ids), "name_last": ["Park"] * len(ids)}
    result = find_duplicates_in_columns(ids, values)
    for pair in result.pairs:
        assert id_sort_key(pair.id_a) < id_sort_key(pair.id_b)
    (cluster,) = result.clusters
    assert cluster.ids == sorted(ids, key=id_sort_key) == ["0", "9", "10", "a", "b", "¹"]


# -- the one-pair explanation as it was before bulk explanations (commit b2444eb), kept verbatim
# as the reference that bulk explanations must equal.


class _OnePairReference:
    def __init__(self, explainer) -> None:
        self.columns = explainer.columns
        self.rules = explainer.rules
        self.vouched_of = explainer._vouched  # which pairs the run's clusters vouch for

    def _row(self, name: str, value_a: str, value_b: str, similarity: float | None, points: dict[str, np.ndarray], note: str) -> dict[str, Any]:
        return {
            "field": name,
            "value_a": value_a,
            "value_b": value_b,
            "similarity": similarity,
            "weight": self.rules[name].weight,
            "points": round(float(points[name][0]), 2),
            "note": note,
        }

    def explain(self, row_a: int, row_b: int) -> list[dict[str, Any]]:
        rows_a, rows_b = np.array([row_a]), np.array([row_b])
        similarity = compare_pairs(self.columns, rows_a, rows_b, self.rules, self.vouched_of(rows_a, rows_b))
        points = field_points(similarity, self.rules)
        swapped = bool(similarity.names_swapped[0])
        moved = bool(similarity.name_moved[0])
        values = _reference_field_values(self.columns, row_a, row_b, swapped)
        explanation: list[dict[str, Any]] = []
        for name in FIELD_ORDER:
            value_a, value_b = values[name]
            raw = float(similarity.by_field[name][0])
            notes: list[str] = []
            if name in ("first_name", "last_name") and swapped:
                notes.append(engine_module.MOVED_NOTE if moved else "first and last name swapped")
            if name == "first_name" and similarity.nickname[0]:
                notes.append("nickname")
            if name == "email" and similarity.shared_mailbox[0]:
                notes.append("shared mailbox: weak evidence")
            if raw != raw:  # NaN: missing on one side or both
                notes.append("missing")
            explanation.append(self._row(name, value_a, value_b, None if raw != raw else round(raw, 3), points, "; ".join(notes)))
        # Rows that are not fields: evidence that only shows in a combination of fields.
        if similarity.different_person[0]:
            note = "first name and a personal email or the last name both differ: a different person"
        else:
            note = ""
        explanation.append(self._row("different_person", "", "", None, points, note))
        note = "email, phone and address: two or more differ, none agrees" if similarity.contact_conflict[0] else ""
        explanation.append(self._row("contact_conflict", "", "", None, points, note))
        note = "nothing but the name agrees" if points["name_only"][0] < 0 else ""
        explanation.append(self._row("name_only", "", "", None, points, note))
        note = engine_module.VOUCHED_NOTE if similarity.vouched[0] else ""
        explanation.append(self._row("cluster", "", "", None, points, note))
        return explanation



def _reference_field_values(columns: Columns, row_a: int, row_b: int, swapped: bool) -> dict[str, tuple[str, str]]:
    first_b = columns.last.value(row_b) if swapped else columns.first.value(row_b)
    last_b = columns.first.value(row_b) if swapped else columns.last.value(row_b)

    def address(row: int) -> str:
        unit = columns.unit.value(row)
        return columns.street.value(row) + (f" #{unit}" if unit else "")

    return {
        "first_name": (columns.first.value(row_a), first_b),
        "last_name": (columns.last.value(row_a), last_b),
        "email": (columns.email.value(row_a), columns.email.value(row_b)),
        "phone": (columns.phone.value(row_a), columns.phone.value(row_b)),
        "company": (columns.company.value(row_a), columns.company.value(row_b)),
        "address": (address(row_a), address(row_b)),
        "city": (columns.city.value(row_a), columns.city.value(row_b)),
        "zip": (columns.zip.value(row_a), columns.zip.value(row_b)),
        "state": (columns.state.value(row_a), columns.state.value(row_b)),
    }


