"""Cells a spreadsheet would run as formulas are made text, in the history export and in scan_csv's output."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mergeassist.core.csvsafe import neutralise_cell, neutralise_texts
from mergeassist.matching import find_duplicates, read_records_csv, write_pairs_csv


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-5", "'-5"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("ann@example.com", "ann@example.com"),
        ("O'Brien", "O'Brien"),
        ("", ""),
        (-5, -5),
        (91.5, 91.5),
        (None, None),
    ],
)
def test_it_neutralises_only_what_a_spreadsheet_would_run(value, expected):
    assert neutralise_cell(value) == expected
    if isinstance(value, str):  # the column form follows the same rule
        assert neutralise_texts([value, "plain"]) == [expected, "plain"]


def test_scan_csv_writes_formula_like_ids_as_text(tmp_path: Path):
    source = tmp_path / "in.csv"
    source.write_text(
        "id,name_first,name_last,email\n"
        "=HYPERLINK(\"http://x\"),Ann,Lee,ann.lee@gmail.com\n"
        "@2,Ann,Lee,ANN.LEE@gmail.com\n",
        encoding="utf-8",
    )
    records, _ = read_records_csv(source)
    result = find_duplicates(records)
    target = tmp_path / "out.csv"
    assert write_pairs_csv(target, result.pairs) == 1
    with open(target, newline="", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert {row["id_a"], row["id_b"]} == {"'=HYPERLINK(\"http://x\")", "'@2"}
