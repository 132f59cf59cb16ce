"""Group matched pairs into clusters and find the weakest link that holds each together."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import sorted_unique


@dataclass(frozen=True, slots=True)
class Cluster:
    """Records that are duplicates of each other, directly or through a chain of matches.

    `weakest_link` is the lowest-scoring edge of the maximum spanning tree: the one match the
    cluster cannot do without. A low one flags a chain A~B~C where A and C may differ.
    """

    ids: list[str]
    weakest_link: tuple[str, str, float]


def _spanning_forest(nodes_a: list[int], nodes_b: list[int], node_count: int) -> tuple[list[int], list[int]]:
    """Kruskal over edges already in descending score order: (indexes of the kept edges, parent
    of each node). Union by size keeps the trees shallow without recursion or path compression."""
    parent = list(range(node_count))
    size = [1] * node_count
    kept: list[int] = []
    for edge, (node_a, node_b) in enumerate(zip(nodes_a, nodes_b)):
        root_a = node_a
        while parent[root_a] != root_a:
            root_a = parent[root_a]
        root_b = node_b
        while parent[root_b] != root_b:
            root_b = parent[root_b]
        if root_a == root_b:
            continue
        if size[root_a] < size[root_b]:
            root_a, root_b = root_b, root_a
        parent[root_b] = root_a
        size[root_a] += size[root_b]
        kept.append(edge)
    return kept, parent


def _roots(parent: list[int]) -> np.ndarray:
    """Each node's root, by pointer jumping (trees are at most log2(n) deep)."""
    roots = np.asarray(parent, dtype=np.int64)
    while True:
        jumped = roots[roots]
        if np.array_equal(jumped, roots):
            return roots
        roots = jumped


def build_clusters(rows_a: np.ndarray, rows_b: np.ndarray, scores: np.ndarray, ids: list[str], ranks: np.ndarray) -> list[Cluster]:
    """Connected components of the matched pairs (row numbers), each with its weakest link.

    Kruskal's algorithm over the pairs by descending score keeps exactly the maximum spanning
    forest; the last pair it keeps inside a component is that component's weakest link. Only
    the union-find loop is Python, on plain lists of dense node numbers; grouping is numpy.
    Clusters and their ids come out in id order (`ranks`).
    """
    if rows_a.size == 0:
        return []
    order = np.argsort(-scores, kind="stable")
    rows_a, rows_b, scores = rows_a[order], rows_b[order], scores[order]
    # Dense node numbers 0..m-1 for the rows that appear in a pair, numbered in id order.
    rows = sorted_unique(np.concatenate([rows_a, rows_b]))
    rows = rows[np.argsort(ranks[rows], kind="stable")]
    node_of_row = np.empty(ranks.size, dtype=np.int64)
    node_of_row[rows] = np.arange(rows.size)
    nodes_a, nodes_b = node_of_row[rows_a], node_of_row[rows_b]
    kept, parent = _spanning_forest(nodes_a.tolist(), nodes_b.tolist(), rows.size)

    roots = _roots(parent)
    # Kept edges come in descending score order, so the last one per root is the weakest.
    kept_edges = np.asarray(kept, dtype=np.int64)
    kept_roots = roots[nodes_a[kept_edges]]
    by_root = np.argsort(kept_roots, kind="stable")
    last_of_root = np.r_[kept_roots[by_root][1:] != kept_roots[by_root][:-1], True]
    weakest_edge = np.empty(rows.size, dtype=np.int64)
    weakest_edge[kept_roots[by_root][last_of_root]] = kept_edges[by_root][last_of_root]

    # Nodes are numbered in id order, so a stable sort by root lists each cluster's members in
    # id order, and a cluster's first member is its smallest node number.
    members = np.argsort(roots, kind="stable")
    starts = np.flatnonzero(np.r_[True, roots[members][1:] != roots[members][:-1]])
    stops = np.r_[starts[1:], members.size]
    cluster_order = np.argsort(members[starts], kind="stable")
    id_array = np.asarray(ids, dtype=object)
    member_ids = id_array[rows[members]].tolist()
    weakest = weakest_edge[roots[members[starts]]]
    link_a, link_b = nodes_a[weakest], nodes_b[weakest]
    swap = link_a > link_b  # the link's smaller id comes first
    link_a, link_b = np.where(swap, link_b, link_a), np.where(swap, link_a, link_b)
    link_ids_a = id_array[rows[link_a]].tolist()
    link_ids_b = id_array[rows[link_b]].tolist()
    link_scores = scores[weakest].tolist()
    starts_list, stops_list = starts.tolist(), stops.tolist()
    return [
        Cluster(member_ids[starts_list[k] : stops_list[k]], (link_ids_a[k], link_ids_b[k], link_scores[k]))
        for k in cluster_order.tolist()
    ]
