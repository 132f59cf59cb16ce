"""scan_csv's file handling: tolerant reading, one JSON explanation per written pair."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from mergeassist.matching import find_duplicates, read_records_csv, write_pairs_csv


def test_it_reads_records_and_reports_bad_rows_by_line(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "id,name_first,name_last,email,favourite_colour\n"
        "1,Ann,Lee,ann.lee@gmail.com,blue\n"
        ",No,Id,x@y.com,red\n"
        "3,Too,Many,cells,here,extra\n"
        "1,Ann,Again,dup@gmail.com,green\n"
        "4,Ann,Lee,Ann.Lee@gmail.com,\n",
        encoding="utf-8",
    )
    records, problems = read_records_csv(path)
    assert [record.id for record in records] == ["1", "4"]
    assert records[0].email == "ann.lee@gmail.com" and records[0].phone is None
    assert [problem.split(":")[0] for problem in problems] == ["line 3", "line 4", "line 5"]


def test_it_refuses_a_file_without_ids(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("name_first,name_last\nAnn,Lee\n", encoding="utf-8")
    records, problems = read_records_csv(path)
    assert records == [] and "no 'id' column" in problems[0]


def test_it_writes_pairs_with_json_explanations(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,name_first,name_last,email\n2,Ann,Lee,ann.lee@gmail.com\n1,Ann,Lee,ANN.LEE@gmail.com\n", encoding="utf-8")
    records, _ = read_records_csv(source)
    target = tmp_path / "out.csv"
    assert write_pairs_csv(target, find_duplicates(records).pairs) == 1
    with open(target, newline="", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["id_a"], row["id_b"], row["is_match"]) == ("1", "2", "true")
    assert float(row["score"]) >= 60
    assert {entry["field"] for entry in json.loads(row["explanation"])} >= {"email", "first_name"}
