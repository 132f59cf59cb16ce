"""Group matched pairs into clusters and find the weakest link that holds each together."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Cluster:
    """Records that are duplicates of each other, directly or through a chain of matches.

    `weakest_link` is the lowest-scoring edge of the maximum spanning tree: the one match the
    cluster cannot do without. A low one flags a chain A~B~C where A and C may differ.
    """

    ids: list[str]
    weakest_link: tuple[str, str, float]


def build_clusters(rows_a: np.ndarray, rows_b: np.ndarray, scores: np.ndarray, ids: list[str], ranks: np.ndarray) -> list[Cluster]:
    """Connected components of the matched pairs (row numbers), each with its weakest link.

    Kruskal's algorithm over the pairs by descending score keeps exactly the maximum spanning
    forest; the last pair it keeps inside a component is that component's weakest link. The
    union-find runs on row numbers in plain lists, so a million records cluster in about a
    second. Clusters and their ids come out in id order (`ranks`).
    """
    if rows_a.size == 0:
        return []
    order = np.argsort(-scores, kind="stable")
    parent: dict[int, int] = {}

    def find(row: int) -> int:
        root = parent.setdefault(row, row)
        while root != parent[root]:
            root = parent[root]
        while row != root:  # path compression
            parent[row], row = root, parent[row]
        return root

    kept_a: list[int] = []
    kept_b: list[int] = []
    kept_score: list[float] = []
    for row_a, row_b, score in zip(rows_a[order].tolist(), rows_b[order].tolist(), scores[order].tolist()):
        root_a, root_b = find(row_a), find(row_b)
        if root_a != root_b:
            parent[root_b] = root_a
            kept_a.append(row_a)
            kept_b.append(row_b)
            kept_score.append(score)

    weakest: dict[int, tuple[int, int, float]] = {}
    # Kept edges come in descending score order, so the last one seen per root is the weakest.
    for row_a, row_b, score in zip(kept_a, kept_b, kept_score):
        weakest[find(row_a)] = (row_a, row_b, score)
    members: dict[int, list[int]] = {}
    rank_of = ranks.tolist()  # list lookups: indexing numpy one element at a time is slow
    for row in sorted(parent, key=rank_of.__getitem__):
        members.setdefault(find(row), []).append(row)

    clusters = []
    for root, rows in members.items():
        row_a, row_b, score = weakest[root]
        if rank_of[row_a] > rank_of[row_b]:
            row_a, row_b = row_b, row_a
        clusters.append(Cluster([ids[row] for row in rows], (ids[row_a], ids[row_b], score)))
    # members was filled in id order, so clusters already are in order of their first id.
    return clusters
