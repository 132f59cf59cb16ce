"""Explanations in bulk equal the one-pair ones; an incremental run equals a full one; the engine
leaves the process as it found it unless asked; ids are ordered by crm.ids."""

from __future__ import annotations

import gc
import random
import subprocess
import sys

import numpy as np
import pytest

from mergeassist.crm.ids import id_sort_key
from mergeassist.matching import MatchConfig, compact_explanation, find_duplicates, find_duplicates_in_columns, run_full, run_incremental
from mergeassist.matching import columns as columns_module
from mergeassist.matching import engine as engine_module
from mergeassist.matching.columns import fields_of_records
from mergeassist.sandbox.generator import generate_customers


@pytest.fixture(scope="module")
def customers() -> list:
    return generate_customers(3000, seed=5)


def test_bulk_explanations_equal_one_pair_explanations(customers: list) -> None:
    result = find_duplicates(customers)
    assert len(result.pairs) > 500
    everything = result.explanations(np.arange(len(result.pairs)))
    for k, pair in enumerate(result.pairs):
        assert everything[k] == result._explainer.explain(*pair._rows), pair
    # Pairs with every kind of note are among them, so the comparison covers each branch.
    notes = {row["note"] for explanation in everything for row in explanation}
    assert {"missing", "nickname", "first and last name swapped", "nothing but the name agrees"} <= notes
    # explained_pairs hands out the same explanations, chunk by chunk.
    streamed = [pair.explanation for pair in result.explained_pairs(chunk=97)]
    assert streamed == everything


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
