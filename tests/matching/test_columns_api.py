"""The column-wise entry point, the result's arrays, and the speed-ups that must not change results."""

from __future__ import annotations

import numpy as np
import pytest

from mergeassist.matching import CodedValues, MatchConfig, find_duplicates, find_duplicates_in_columns
from mergeassist.matching import columns as columns_module
from mergeassist.matching import blocking
from mergeassist.matching.clusters import build_clusters
from mergeassist.matching.columns import MATCHED_FIELDS, fields_of_records, normalise_columns
from mergeassist.matching.engine import _id_order, score_candidates
from mergeassist.sandbox.generator import generate_customers, true_pairs


@pytest.fixture(scope="module")
def customers() -> list:
    return generate_customers(3000, seed=7)


def test_columns_give_the_same_pairs_as_records(customers: list) -> None:
    by_records = find_duplicates(customers)
    fields = fields_of_records(customers)
    by_columns = find_duplicates_in_columns([customer.id for customer in customers], fields)
    assert [(p.pair_key, p.score, p.is_match) for p in by_columns.pairs] == [(p.pair_key, p.score, p.is_match) for p in by_records.pairs]
    assert [(c.ids, c.weakest_link) for c in by_columns.clusters] == [(c.ids, c.weakest_link) for c in by_records.clusters]
    # Sanity: the run finds most of the generator's true pairs, so the comparison above is not vacuous.
    found = {p.pair_key for p in by_columns.pairs if p.is_match}
    assert len(found & true_pairs(customers)) > 0.9 * len(true_pairs(customers))


def test_result_arrays_are_the_pairs(customers: list) -> None:
    ids = [customer.id for customer in customers]
    result = find_duplicates_in_columns(ids, fields_of_records(customers))
    assert result.rows_a.size == len(result.pairs) == result.stats["reported_pairs"] > 0
    for k in (0, len(result.pairs) // 2, len(result.pairs) - 1):
        pair = result.pairs[k]
        assert (ids[result.rows_a[k]], ids[result.rows_b[k]]) == pair.pair_key
        assert result.scores[k] == pair.score and bool(result.is_match[k]) == pair.is_match
    assert int(result.is_match.sum()) == result.stats["matches"]


def test_a_field_left_out_counts_as_missing() -> None:
    result = find_duplicates_in_columns(["1", "2"], {"name_first": ["Ann", "Ann"], "email": ["ann.lee@gmail.com", "Ann.Lee@gmail.com"]})
    assert [pair.pair_key for pair in result.pairs if pair.is_match] == [("1", "2")]
    by_field = {row["field"]: row for row in result.pairs[0].explanation}
    assert by_field["phone"]["similarity"] is None


def test_columns_of_the_wrong_length_or_name_are_refused() -> None:
    with pytest.raises(ValueError, match="'email' has 1 values for 2 records"):
        find_duplicates_in_columns(["1", "2"], {"email": ["a@b.com"]})
    with pytest.raises(ValueError, match="emial"):
        find_duplicates_in_columns(["1", "2"], {"emial": ["a@b.com", "a@b.com"]})


def test_scores_do_not_depend_on_chunks_or_threads(customers: list) -> None:
    config = MatchConfig()
    columns = normalise_columns(fields_of_records(customers), len(customers), config.phone_region)
    rows_a, rows_b, _ = blocking.candidate_pairs(columns, config.max_block_size, config.window)
    whole = score_candidates(columns, rows_a, rows_b, config.rules, chunk=rows_a.size)
    threaded = score_candidates(columns, rows_a, rows_b, config.rules, chunk=997)  # many chunks, several threads
    assert rows_a.size > 997 * 4
    np.testing.assert_array_equal(whole, threaded)


def test_past_the_large_size_the_name_windows_are_left_out(customers: list, monkeypatch: pytest.MonkeyPatch) -> None:
    config = MatchConfig()
    columns = normalise_columns(fields_of_records(customers), len(customers), config.phone_region)
    small_a, small_b, small_stats = blocking.candidate_pairs(columns, config.max_block_size, config.window)
    monkeypatch.setattr(blocking, "FULL_NAME_WINDOW_UP_TO", len(customers) - 1)
    large_a, large_b, large_stats = blocking.candidate_pairs(columns, config.max_block_size, config.window)
    assert "sorted-name" in small_stats.pairs_by_key and "sorted-name" not in large_stats.pairs_by_key
    assert "house+zip" not in large_stats.pairs_by_key
    small = set(zip(small_a.tolist(), small_b.tolist()))
    large = set(zip(large_a.tolist(), large_b.tolist()))
    assert large < small  # only safety nets are dropped: every large-size candidate is a small-size one
    assert large_stats.pairs_by_key["email"] == small_stats.pairs_by_key["email"]


def _clusters_by_brute_force(rows_a: list[int], rows_b: list[int], scores: list[float]) -> list[tuple[list[int], float]]:
    """Components by repeated merging, and each one's weakest link as the bottleneck: the highest
    score s such that the pairs scoring at least s still connect the whole component."""
    def components(edges: list[tuple[int, int]]) -> list[set[int]]:
        groups: list[set[int]] = []
        for a, b in edges:
            touching = [group for group in groups if a in group or b in group]
            merged = {a, b}.union(*touching)
            groups = [group for group in groups if group not in touching] + [merged]
        return groups

    edges = list(zip(rows_a, rows_b))
    result = []
    for group in components(edges):
        bottleneck = max(
            s for s in set(scores)
            if any(group <= part for part in components([e for e, score in zip(edges, scores) if score >= s]))
        )
        result.append((sorted(group), bottleneck))
    return sorted(result)


@pytest.mark.parametrize("seed", range(20))
def test_clusters_match_a_brute_force_answer(seed: int) -> None:
    rng = np.random.default_rng(seed)
    nodes = int(rng.integers(2, 25))
    codes = np.unique(rng.integers(0, nodes, size=(40, 2)) @ np.array([nodes, 1]))
    rows_a, rows_b = codes // nodes, codes % nodes
    keep = rows_a < rows_b
    rows_a, rows_b = rows_a[keep], rows_b[keep]
    scores = rng.choice([60.0, 71.5, 88.0, 99.0], size=rows_a.size)
    ids = [str(n) for n in range(nodes)]
    clusters = build_clusters(rows_a, rows_b, scores, ids, _id_order(ids))
    got = sorted(([int(i) for i in c.ids], c.weakest_link[2]) for c in clusters)
    assert got == _clusters_by_brute_force(rows_a.tolist(), rows_b.tolist(), scores.tolist())
    for cluster in clusters:
        link_a, link_b, _ = cluster.weakest_link
        assert int(link_a) < int(link_b) and link_a in cluster.ids and link_b in cluster.ids


def test_matched_fields_are_the_record_fields_but_country() -> None:
    assert "country" not in MATCHED_FIELDS and {"name_first", "email", "address2", "zip"} <= set(MATCHED_FIELDS)


def _coded(values: list) -> CodedValues:
    """A column as Arrow's dictionary_encode gives it: distinct values in first-seen order."""
    index: dict = {}
    codes = [-1 if value is None else index.setdefault(value, len(index)) for value in values]
    return CodedValues(np.array(codes, dtype=np.int32), list(index))


# Earlier tests leave live-server threads in this process, so the forked helper draws Python's
# fork-with-threads warning; why the helper's child is safe is in columns._start_helper.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize("forked", [False, True], ids=["one process", "forked helper"])
def test_coded_columns_give_the_same_result_as_plain_ones(customers: list, forked: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if forked:
        monkeypatch.setattr(columns_module, "PARALLEL_FROM", 100)
    ids = [customer.id for customer in customers]
    plain = fields_of_records(customers)
    # Mixed on purpose: address1 coded and address2 plain takes the decoding path.
    coded = {name: (values if name == "address2" else _coded(values)) for name, values in plain.items()}
    by_plain = find_duplicates_in_columns(ids, plain)
    by_coded = find_duplicates_in_columns(ids, coded)
    for attribute in ("rows_a", "rows_b", "scores", "is_match"):
        np.testing.assert_array_equal(getattr(by_plain, attribute), getattr(by_coded, attribute))
    assert by_plain.is_match.sum() > 100
    assert [(c.ids, c.weakest_link) for c in by_plain.clusters] == [(c.ids, c.weakest_link) for c in by_coded.clusters]
    assert by_plain.pairs[5].explanation == by_coded.pairs[5].explanation
    all_coded = {name: _coded(values) for name, values in plain.items()}
    np.testing.assert_array_equal(find_duplicates_in_columns(ids, all_coded).scores, by_plain.scores)


def test_coded_values_decode_to_one_value_per_record() -> None:
    column = CodedValues(np.array([1, -1, 0, 1]), ["a", "b"])
    assert len(column) == 4 and column.decoded() == ["b", None, "a", "b"]
    with pytest.raises(ValueError, match="'zip' has 4 values for 3 records"):
        find_duplicates_in_columns(["1", "2", "3"], {"zip": column})
    with pytest.raises(ValueError, match="'zip' has codes from -1 to 2"):
        find_duplicates_in_columns(["1", "2"], {"zip": CodedValues(np.array([2, -1]), ["a", "b"])})
    with pytest.raises(ValueError, match="'zip' has codes from -3 to 0"):
        find_duplicates_in_columns(["1", "2"], {"zip": CodedValues(np.array([0, -3]), ["a"])})
