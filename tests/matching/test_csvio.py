"""scan_csv's file handling: tolerant reading, one JSON explanation per written pair."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mergeassist.matching import CodedValues, find_duplicates, read_columns_csv, read_records_csv, write_pairs_csv
from mergeassist.matching import csvio
from mergeassist.matching.csvio import _read_columns_by_row


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


def test_a_small_file_is_read_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("id,email\n1,a@x.com\n", encoding="utf-8")
    assert read_columns_csv(path) == (["1"], {"email": ["a@x.com"]}, [])


def _decoded(fields: dict) -> dict:
    return {name: values.decoded() if isinstance(values, CodedValues) else list(values) for name, values in fields.items()}


def test_a_clean_file_is_read_column_wise_as_the_row_reader_reads_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvio, "ARROW_FROM_BYTES", 0)  # Arrow reads files this small too
    path = tmp_path / "customers.csv"
    path.write_text(
        "\ufeff id ,name_first,email,email,favourite_colour,name_last\n"
        "1,  Ann ,ann.lee@gmail.com,second@x.com,blue,Lee\n"
        "\n"
        '¹,"Bob\nby",,x,red," "\n'
        "12,Ann,ann.lee@gmail.com,,,\x1fNg\xa0\n"  # separators str.strip() removes and Unicode's trim does not
        "041x,Cy,\"c,y@x.com\",,,Lee\n",
        encoding="utf-8",
    )
    ids, fields, problems = read_columns_csv(path)
    # The column-wise reader took it (coded values), not the row-by-row one.
    assert all(isinstance(values, CodedValues) for values in fields.values())
    row_ids, row_fields, row_problems = _read_columns_by_row(path)
    assert (ids, _decoded(fields), problems) == (row_ids, row_fields, row_problems)
    assert ids == ["1", "¹", "12", "041x"]
    assert _decoded(fields) == {
        "name_first": ["Ann", "Bob\nby", "Ann", "Cy"],
        "name_last": ["Lee", None, "Ng", "Lee"],
        "email": ["ann.lee@gmail.com", None, "ann.lee@gmail.com", "c,y@x.com"],
    }


def test_a_file_with_a_row_to_skip_is_read_row_by_row_with_line_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvio, "ARROW_FROM_BYTES", 0)
    path = tmp_path / "customers.csv"
    path.write_text("id,email\n041,a@x.com\n41,b@x.com\n7\x01,c@x.com\n8,d@x.com\n", encoding="utf-8")
    ids, fields, problems = read_columns_csv(path)
    assert ids == ["41", "8"]
    assert _decoded(fields) == {"email": ["a@x.com", "d@x.com"]}
    assert problems == ["line 3: id '41' seen before, skipped", "line 4: '7\\x01' is not a customer id, skipped"]


def test_an_empty_file_with_a_header_has_no_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvio, "ARROW_FROM_BYTES", 0)
    path = tmp_path / "customers.csv"
    path.write_text("id,email\n", encoding="utf-8")
    ids, fields, problems = read_columns_csv(path)
    assert (ids, _decoded(fields), problems) == ([], {"email": []}, [])
