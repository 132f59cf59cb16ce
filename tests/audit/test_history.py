"""/history/: every decision, filtered, searched (the deleted secondary too), paged by keyset; the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.http import StreamingHttpResponse

from mergeassist.audit.forms import HistoryQuery
from mergeassist.audit.history import history_page
from mergeassist.audit.models import Decision
from tests.audit.factories import customer_record, make_decision

URL = "/history/"
EXPORT = "/history/export.csv"
DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def auditor(client, bob):
    client.force_login(bob)
    return client


def ids_on_page(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="decision-(\d+)"', html)]


def test_it_lists_merges_and_not_duplicates_with_who_when_both_customers_score_and_outcome(auditor, alice):
    merge = make_decision(
        reviewer=alice, score=93.4,
        primary=customer_record("101", name_first="Ann", email="ann@example.com"),
        secondary=customer_record("202", name_first="Anne", email="anne.old@example.com"),
        note_status=Decision.NoteStatus.PENDING,
    )  # fmt: skip
    rejected = make_decision(kind=Decision.Kind.NOT_DUPLICATE, outcome=Decision.Outcome.NOT_DUPLICATE, reviewer_username="dora")
    html = auditor.get(URL).content.decode()
    assert ids_on_page(html) == [rejected.id, merge.id]
    row = html[html.index(f'id="decision-{merge.id}"') :]
    row = row[: row.index("</tr>")]
    for text in ("alice", "Merge", "Ann Lee", "ann@example.com", "ID 101", "Anne Lee", "anne.old@example.com", "ID 202", "93", "Merged", "Note pending"):
        assert text in row, text
    assert "Not a duplicate" in html and "dora" in html
    assert "2 decisions in all" in " ".join(html.split())


def test_it_returns_only_the_fragment_to_htmx(auditor):
    make_decision()
    response = auditor.get(URL, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="history-results"') and "<html" not in html


def test_the_filter_form_works_without_javascript(auditor):
    html = auditor.get(URL).content.decode()
    assert re.search(r'<form id="history-filters"[^>]*method="get" action="/history/"', html)
    assert 'hx-get="/history/"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"outcome": "merged"}, ["m1", "m2", "m3"]),
        ({"outcome": "failed"}, ["f1"]),
        ({"outcome": "note_pending"}, ["m2"]),
        ({"outcome": "note_undeliverable"}, ["m3"]),
        ({"outcome": "not_duplicate"}, ["n1"]),
        ({"reviewer": "dora"}, ["f1", "n1"]),
        ({"date_from": "2026-03-11"}, ["n1", "f1", "m3", "m2"]),
        ({"date_to": "2026-03-10"}, ["m1"]),
        ({"date_from": "2026-03-11", "date_to": "2026-03-11"}, ["m2", "m3"]),
        ({"reviewer": "dora", "outcome": "failed"}, ["f1"]),
    ],
)
def test_it_filters_by_date_reviewer_and_outcome(auditor, query, expected):
    made = {
        "m1": make_decision(created_at=DAY, reviewer_username="alice"),
        "m2": make_decision(created_at=DAY + timedelta(days=1), reviewer_username="alice", note_status=Decision.NoteStatus.PENDING),
        "m3": make_decision(created_at=DAY + timedelta(days=1, hours=1), reviewer_username="alice", note_status=Decision.NoteStatus.UNDELIVERABLE),
        "f1": make_decision(created_at=DAY + timedelta(days=2), reviewer_username="dora", outcome=Decision.Outcome.FAILED),
        "n1": make_decision(
            created_at=DAY + timedelta(days=3), reviewer_username="dora",
            kind=Decision.Kind.NOT_DUPLICATE, outcome=Decision.Outcome.NOT_DUPLICATE,
        ),  # fmt: skip
    }
    names = {d.id: name for name, d in made.items()}
    html = auditor.get(URL, query).content.decode()
    assert [names[i] for i in ids_on_page(html)] == sorted(expected, key=lambda n: -made[n].created_at.timestamp())


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("gone.customer@example.com", True),  # the deleted secondary's email
        ("GONE.customer@EXAMPLE.com", True),
        ("777", True),  # the secondary's id
        ("0777", True),  # the same id, spelt with a leading zero
        ("Zebedee", True),  # the secondary's name
        ("keeper@example.com", True),  # the primary's email
        ("555", False),
        ("nobody@example.com", False),
    ],
)
def test_it_finds_a_decision_by_either_customers_id_email_or_name(auditor, term, found):
    decision = make_decision(
        primary=customer_record("555000", email="keeper@example.com"),
        secondary=customer_record("777", name_first="Zebedee", email="gone.customer@example.com"),
    )
    make_decision()  # another one, which must not match
    assert (decision.id in ids_on_page(auditor.get(URL, {"q": term}).content.decode())) is found


def test_it_pages_by_keyset_newest_first_forwards_and_back(auditor):
    decisions = [make_decision(created_at=DAY + timedelta(minutes=n)) for n in range(7)]
    # Two with the same second, so the id breaks the tie.
    decisions += [make_decision(created_at=DAY + timedelta(minutes=7)) for _ in range(2)]
    newest_first = sorted(decisions, key=lambda d: (d.created_at, d.id), reverse=True)
    expected = [d.id for d in newest_first]

    html = auditor.get(URL, {"per_page": 25}).content.decode()
    assert ids_on_page(html) == expected  # all on one page

    # Three per page (the form offers 25/50/100, so the query is built directly).
    page = history_page(HistoryQuery(per_page=3))
    assert page.newer_cursor is None
    pages = [[d.id for d in page.decisions]]
    while page.older_cursor:
        page = history_page(HistoryQuery(per_page=3, before=page.older_cursor))
        pages.append([d.id for d in page.decisions])
    assert [i for p in pages for i in p] == expected
    assert len(pages) == 3 and page.older_cursor is None
    # And back: "Newer" from the last page gives the middle page again.
    back = history_page(HistoryQuery(per_page=3, after=page.newer_cursor))
    assert [d.id for d in back.decisions] == pages[1]
    assert back.newer_cursor == pages[1][0] and back.older_cursor == pages[1][-1]


def test_the_older_link_keeps_the_filters(auditor):
    for n in range(30):
        make_decision(created_at=DAY + timedelta(minutes=n), reviewer_username="alice")
    html = auditor.get(URL, {"reviewer": "alice", "per_page": 25}).content.decode()
    older = re.search(r'href="(\?[^"]*before=\d+[^"]*)" hx-get', html).group(1).replace("&amp;", "&")
    assert "reviewer=alice" in older
    second = auditor.get(URL + older).content.decode()
    assert len(ids_on_page(second)) == 5
    assert "Newer" in second


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"date_from": "yesterday"}, "From: Enter a valid date."),
        ({"date_from": "2026-03-12", "date_to": "2026-03-10"}, "To: The end date is before the start date."),
        ({"outcome": "vanished"}, "Outcome: Select a valid choice."),
        ({"reviewer": "nobody"}, "Reviewer: Select a valid choice."),
        ({"per_page": "1000"}, "Per page: Select a valid choice."),
        ({"before": "999999"}, "There is no decision 999999 to page from."),
    ],
)
def test_it_refuses_bad_filters_with_a_reason(auditor, query, reason):
    make_decision()
    response = auditor.get(URL, query)
    assert response.status_code == 400
    assert reason in response.content.decode()


def test_it_escapes_what_customers_typed(auditor):
    make_decision(secondary=customer_record("9", name_first="<script>alert(1)</script>"))
    html = auditor.get(URL).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_it_says_when_nothing_matches(auditor):
    make_decision()
    assert "No decisions match these filters." in auditor.get(URL, {"q": "nobody@nowhere"}).content.decode()


# -- the CSV export ------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.parametrize(
    "query",
    [{}, {"reviewer": "dora"}, {"outcome": "merged"}, {"q": "example.com"}, {"date_from": "2026-03-10", "date_to": "2026-03-10"}],
)
def test_the_export_equals_the_filtered_list(auditor, query):
    for n in range(60):
        make_decision(
            created_at=DAY + timedelta(hours=n * 3), reviewer_username="dora" if n % 3 else "alice",
            outcome=Decision.Outcome.MERGED if n % 4 else Decision.Outcome.FAILED,
        )  # fmt: skip
    listed: list[int] = []
    page_query = {**query, "per_page": 25}
    while True:
        html = auditor.get(URL, page_query).content.decode()
        listed += ids_on_page(html)
        older = re.search(r'href="\?[^"]*before=(\d+)', html)
        if not older:
            break
        page_query = {**query, "per_page": 25, "before": older.group(1)}
    rows = read_csv(auditor.get(EXPORT, query))
    assert [int(r["decision_id"]) for r in rows] == listed
    assert listed  # every filter above matches something


def test_the_export_has_the_columns_an_auditor_needs(auditor, alice):
    decision = make_decision(reviewer=alice, score=88.26, primary=customer_record("1", email="a@x.org"), secondary=customer_record("2", email="b@x.org"))
    response = auditor.get(EXPORT)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="merge-history-')
    (row,) = read_csv(response)
    assert row["decision_id"] == str(decision.id)
    assert row["reviewer"] == "alice" and row["outcome"] == "merged" and row["score"] == "88.3"
    assert (row["primary_id"], row["primary_email"], row["secondary_id"], row["secondary_email"]) == ("1", "a@x.org", "2", "b@x.org")
    assert datetime.fromisoformat(row["decided_at"]) == decision.created_at


@pytest.mark.parametrize("typed", ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_the_export_neutralises_formulas(auditor, typed):
    make_decision(secondary=customer_record("2", name_first=typed, name_last="", email=typed))
    (row,) = read_csv(auditor.get(EXPORT))
    assert row["secondary_name"] == "'" + typed.strip()  # the factory trims names, as the review does
    assert row["secondary_email"] == "'" + typed


def test_the_export_refuses_bad_filters(auditor):
    response = auditor.get(EXPORT, {"date_from": "soon"})
    assert response.status_code == 400
    assert "From: Enter a valid date." in response.content.decode()


def test_a_reviewer_cannot_export(client, alice):
    client.force_login(alice)
    assert client.get(EXPORT).status_code == 403
