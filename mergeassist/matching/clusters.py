"""Group matched pairs into clusters and find the weakest link that holds each together."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cluster:
    """Records that are duplicates of each other, directly or through a chain of matches.

    `weakest_link` is the lowest-scoring edge of the maximum spanning tree: the one match the
    cluster cannot do without. A low one flags a chain A~B~C where A and C may differ.
    """

    ids: list[str]
    weakest_link: tuple[str, str, float]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        parent = self.parent.setdefault(item, item)
        if parent == item:
            return item
        root = self.find(parent)
        self.parent[item] = root
        return root

    def union(self, a: str, b: str) -> bool:
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return False
        self.parent[root_b] = root_a
        return True


def build_clusters(edges: list[tuple[str, str, float]], id_order: dict[str, int] | None = None) -> list[Cluster]:
    """Connected components of `edges` (id_a, id_b, score), each with its weakest link.

    Kruskal's algorithm on edges sorted by descending score keeps exactly the maximum spanning
    forest; the last edge it keeps inside a component is that component's weakest link.
    """
    forest = _UnionFind()
    tree_edges: list[tuple[str, str, float]] = []
    for edge in sorted(edges, key=lambda edge: -edge[2]):
        if forest.union(edge[0], edge[1]):
            tree_edges.append(edge)
    members: dict[str, list[str]] = {}
    weakest: dict[str, tuple[str, str, float]] = {}
    for id_a, id_b, score in tree_edges:
        root = forest.find(id_a)
        if root not in weakest or score < weakest[root][2]:
            weakest[root] = (id_a, id_b, score)
    for item in forest.parent:
        members.setdefault(forest.find(item), []).append(item)

    def sort_key(item: str) -> tuple[int, str]:
        return (id_order[item], item) if id_order is not None else (0, item)

    clusters = [Cluster(sorted(ids, key=sort_key), weakest[root]) for root, ids in members.items()]
    clusters.sort(key=lambda cluster: sort_key(cluster.ids[0]))
    return clusters
