"""`manage.py scan_csv`: the engine on a file, with bad rows reported by line and skipped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

HEADER = "id,name_first,name_last,email,phone,company_name,address1,address2,city,state,zip,country,extra\n"
ROWS = [
    "1,Robert,Smith,robert.smith@gmail.com,(555) 201-3344,Acme Inc.,12 Oak Street,,Austin,TX,73301,US,x\n",
    "2,Bob,Smith,Robert.Smith+shop@gmail.com,555.201.3344,ACME,12 Oak St,,Austin,TX,73301-1234,US,y\n",
    '3,"unterminated,Nguyen,alice@example.com\n',
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "in.csv"
    path.write_text(text)
    return path


def test_it_writes_the_pairs_with_their_full_explanation_on_request(tmp_path, capsys):
    source = write(tmp_path, HEADER + "".join(ROWS[:2]) + "4,Alice,Nguyen,alice@example.com,,,,,,,,,\n")
    out = tmp_path / "pairs.csv"
    call_command("scan_csv", str(source), "--out", str(out), "--explain", "full")
    rows = list(csv.DictReader(out.open()))
    assert [(row["id_a"], row["id_b"], row["is_match"]) for row in rows] == [("1", "2", "true")]
    explanation = json.loads(rows[0]["explanation"])
    assert {item["field"] for item in explanation} >= {"email", "phone"}
    assert float(rows[0]["score"]) > 0
    assert "Read 3 records (0 rows skipped)" in capsys.readouterr().out


def test_it_reports_a_malformed_row_by_line_number_and_goes_on(tmp_path, capsys):
    source = write(tmp_path, HEADER + ROWS[0] + "5,too,few\n" + ROWS[1])
    out = tmp_path / "pairs.csv"
    call_command("scan_csv", str(source), "--out", str(out))
    captured = capsys.readouterr()
    assert "line 3" in captured.err
    assert len(list(csv.DictReader(out.open()))) == 1


def test_it_accepts_missing_columns(tmp_path):
    source = write(tmp_path, "id,email\n1,kate@x.com\n2,KATE@x.com\n")
    out = tmp_path / "pairs.csv"
    call_command("scan_csv", str(source), "--out", str(out))
    assert out.read_text().startswith("id_a,id_b,score,is_match,explanation")


def test_it_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("scan_csv", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.csv"))


def test_it_refuses_a_file_without_an_id_column(tmp_path):
    source = write(tmp_path, "name,email\nA,a@x.com\n")
    with pytest.raises(CommandError, match="no usable rows"):
        call_command("scan_csv", str(source), "--out", str(tmp_path / "o.csv"))


def test_its_explanation_is_compact_by_default(tmp_path):
    source = write(tmp_path, HEADER + "".join(ROWS[:2]))
    out = tmp_path / "pairs.csv"
    call_command("scan_csv", str(source), "--out", str(out))
    (row,) = list(csv.DictReader(out.open()))
    parts = dict(part.split(" ", 1) for part in row["explanation"].split("; "))
    # Every field that adds points is there with its similarity and points; the phone agrees.
    assert parts["phone"] == "1 +96"
    assert parts["email"].startswith("1 +")
    total = sum(float(part.split(" ")[-1]) for part in parts.values() if not part.endswith(")"))
    assert min(total, 100) == pytest.approx(float(row["score"]), abs=0.1)


def test_it_reports_ids_no_customer_can_have_and_goes_on(tmp_path, capsys):
    # "¹" is a digit to str.isdigit but not to int(): it is a text id, ordered after numbers.
    # An id with a control character cannot be a CRM id: reported by line and skipped.
    source = write(
        tmp_path,
        HEADER + ROWS[0] + ROWS[1].replace("2,", "¹,", 1) + ROWS[1].replace("2,", "7\x01,", 1)
        + ROWS[1].replace("2,", "01,", 1),
    )
    out = tmp_path / "pairs.csv"
    call_command("scan_csv", str(source), "--out", str(out))
    captured = capsys.readouterr()
    assert "line 4: '7\\x01' is not a customer id, skipped" in captured.err
    assert "line 5: id '1' seen before, skipped" in captured.err
    rows = list(csv.DictReader(out.open()))
    assert [(row["id_a"], row["id_b"], row["is_match"]) for row in rows] == [("1", "¹", "true")]


def test_it_writes_text_ids_a_spreadsheet_would_run_as_inert_text(tmp_path):
    # "-5" and "=5" are ids a CRM can have (text ids); a spreadsheet would read them as formulas.
    source = write(tmp_path, HEADER + ROWS[0].replace("1,", "=5,", 1) + ROWS[1].replace("2,", "-5,", 1))
    out = tmp_path / "pairs.csv"
    call_command("scan_csv", str(source), "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    assert [(row["id_a"], row["id_b"]) for row in rows] == [("'-5", "'=5")]


@pytest.mark.parametrize("form", ["compact", "full"])
def test_the_bulk_writer_writes_what_the_csv_module_writes(tmp_path, form):
    """scan_csv writes its rows in one join; the file must be the csv module's, quoting included."""
    from mergeassist.matching import find_duplicates
    from mergeassist.matching.csvio import write_pairs_csv, write_result_csv
    from mergeassist.matching.records import Record

    def person(crm_id: str, **values: str) -> Record:
        base = {"name_first": "Ann", "name_last": "Lee", "email": "ann.lee@example.com", "phone": "555-201-3344"}
        return Record(crm_id, **{**base, **values})

    result = find_duplicates([
        person("a,1"), person('b"2', name_first="Anne"), person("c\n3", email="ann.lee+x@example.com"),
        person("=4"), person("5", company_name='Lee, "Ann" & Co'), person("6", company_name='Lee, "Ann" & Co'),
    ])  # fmt: skip
    assert len(result.pairs) >= 5
    bulk, one_by_one = tmp_path / "bulk.csv", tmp_path / "rows.csv"
    write_result_csv(bulk, result, explanation=form)
    write_pairs_csv(one_by_one, result.explained_pairs(), explanation=form)
    assert bulk.read_bytes() == one_by_one.read_bytes()


def test_called_from_another_process_it_leaves_that_process_as_it_found_it(tmp_path):
    """Only `manage.py scan_csv` on the command line owns its process (collector paused, heap
    frozen for the exit); call_command from a worker or a test must not change the caller."""
    import gc

    frozen_before = gc.get_freeze_count()
    call_command("scan_csv", str(write(tmp_path, HEADER + "".join(ROWS))), "--out", str(tmp_path / "pairs.csv"))
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen_before


def test_the_arrow_reader_trims_what_str_strip_trims():
    import sys

    from mergeassist.matching.csvio import PYTHON_WHITESPACE

    assert PYTHON_WHITESPACE == "".join(ch for ch in map(chr, range(sys.maxunicode + 1)) if ch.isspace())
