"""/review/: pending pairs strongest first, filters, search, keyset pages, skips last, permissions."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mergeassist.review import queue
from mergeassist.review.models import CandidatePair, Cluster, PairSkip, ScanRun
from tests.review_views.conftest import customer, pair

URL = "/review/"


def pair_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'id="queue-pair-(\d+)"', html)]


def test_it_shows_the_full_page_strongest_first(reviewer, three_pairs):
    response = reviewer.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="queue-filters"' in html
    assert pair_ids(html) == [p.pk for p in three_pairs]
    assert "Ann Lee" in html and "anne.2@example.com" in html
    assert "3 pending pairs" in html
    # The top reasons come from the stored explanation.
    assert "email 100%" in html and "phone 100%" in html


def test_it_returns_only_the_results_to_htmx(reviewer, three_pairs):
    response = reviewer.get(URL, {"reason": "nickname"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="queue-results"')
    assert pair_ids(html) == [three_pairs[1].pk]


def test_a_history_restore_gets_the_whole_page(reviewer, three_pairs):
    response = reviewer.get(URL, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"band": "90"}, [0]),
        ({"band": "75"}, [1]),
        ({"band": "0"}, [2]),
        ({"reason": "same_phone"}, [0]),
        ({"reason": "same_email"}, [0]),
        ({"reason": "nickname"}, [1]),
        ({"q": "cyrus"}, [2]),
        ({"q": "Lee Cyrus"}, [2]),  # words in either order
        ({"q": "CY"}, [2]),  # the start of a name
        ({"q": "BO.3@example"}, [1]),
        ({"q": "0004"}, [1]),  # a CRM id, however it is spelt
    ],
)
def test_it_filters_and_searches(reviewer, three_pairs, params, expected):
    response = reviewer.get(URL, params)
    assert response.status_code == 200
    assert pair_ids(response.content.decode()) == [three_pairs[i].pk for i in expected]


def test_it_filters_on_active_subscriptions(reviewer, three_pairs):
    three_pairs[2].customer_b.active_subscriptions = 1
    three_pairs[2].customer_b.save()
    assert pair_ids(reviewer.get(URL, {"subscription": "yes"}).content.decode()) == [three_pairs[2].pk]
    assert pair_ids(reviewer.get(URL, {"subscription": "no"}).content.decode()) == [p.pk for p in three_pairs[:2]]


def test_a_filtered_count_stops_at_the_cap(reviewer, three_pairs, monkeypatch):
    from mergeassist.review import queue

    monkeypatch.setattr(queue, "COUNT_CAP", 2)
    html = reviewer.get(URL, {"subscription": "no"}).content.decode()  # all three match
    assert "More than 2 pending pairs match these filters" in html
    assert len(pair_ids(html)) == 3
    html = reviewer.get(URL, {"reason": "same_email"}).content.decode()
    assert "1 pending pair match these filters" in html and "More than" not in html
    assert "3 pending pairs" in reviewer.get(URL).content.decode()  # unfiltered: counted exactly


def test_it_leaves_out_decided_pairs(reviewer, three_pairs):
    CandidatePair.objects.filter(pk=three_pairs[0].pk).update(state=CandidatePair.State.REJECTED)
    CandidatePair.objects.filter(pk=three_pairs[1].pk).update(state=CandidatePair.State.MERGED)
    assert pair_ids(reviewer.get(URL).content.decode()) == [three_pairs[2].pk]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"band": "99"}, "Score: Select a valid choice"),
        ({"reason": "same_shoes"}, "Reason: Select a valid choice"),
        ({"after": "p:nan:3"}, "not a position in the queue"),
        ({"after": "garbage"}, "not a position in the queue"),
        ({"per_page": "1000"}, "Per page: Select a valid choice"),
        ({"q": "x" * 101}, "Search: Ensure this value has at most 100 characters"),
    ],
)
def test_it_refuses_bad_filters_with_a_reason(reviewer, three_pairs, params, problem):
    response = reviewer.get(URL, params)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="queue-filter-errors"' in html
    assert problem in html
    assert pair_ids(html) == []


def test_it_pages_by_keyset_and_the_next_link_carries_the_filters(reviewer, db):
    people = [customer(str(n)) for n in range(1, 62)]
    pairs = [pair(people[0], people[n], score=100 - n) for n in range(1, 61)]
    first = reviewer.get(URL, {"reason": "same_email"}).content.decode()
    assert pair_ids(first) == [p.pk for p in pairs[:25]]
    next_link = re.search(r'href="(\?[^"]*after=[^"]+)" hx-get', first).group(1).replace("&amp;", "&")
    assert "reason=same_email" in next_link
    second = reviewer.get(URL + next_link).content.decode()
    assert pair_ids(second) == [p.pk for p in pairs[25:50]]
    third = reviewer.get(URL + re.search(r'href="(\?[^"]*after=[^"]+)" hx-get', second).group(1).replace("&amp;", "&"))
    assert pair_ids(third.content.decode()) == [p.pk for p in pairs[50:]]
    assert "End of the queue" in third.content.decode()


def test_equal_scores_are_neither_skipped_nor_repeated_across_pages(reviewer, db):
    people = [customer(str(n)) for n in range(1, 32)]
    pairs = [pair(people[0], people[n], score=88.0) for n in range(1, 31)]
    first = reviewer.get(URL).content.decode()
    cursor = re.search(r'after=([^"&]+)', first).group(1)
    second = reviewer.get(URL, {"after": cursor.replace("%3A", ":")}).content.decode()
    assert pair_ids(first) + pair_ids(second) == [p.pk for p in pairs]


def test_the_query_count_does_not_grow_with_the_page_size(reviewer, db):
    people = [customer(str(n)) for n in range(1, 202)]
    for n in range(1, 201):
        pair(people[n - 1], people[n], score=50 + n / 10)
    counts = {}
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            response = reviewer.get(URL, {"per_page": size, "reason": "same_email"})
        assert len(pair_ids(response.content.decode())) == size
        counts[size] = len(queries)
    assert counts[25] == counts[100]


def test_a_reviewers_skipped_pairs_come_last_for_that_reviewer_only(client, alice, three_pairs, django_user_model):
    from django.contrib.auth.models import Group

    PairSkip.objects.create(pair=three_pairs[0], user=alice)
    client.force_login(alice)
    html = client.get(URL).content.decode()
    assert pair_ids(html) == [three_pairs[1].pk, three_pairs[2].pk, three_pairs[0].pk]
    assert "skipped by you" in html
    other = django_user_model.objects.create_user("dora", password="x")
    other.groups.add(Group.objects.get(name="Reviewers"))
    client.force_login(other)
    assert pair_ids(client.get(URL).content.decode()) == [p.pk for p in three_pairs]


def test_paging_crosses_from_fresh_to_skipped_pairs(reviewer, alice, db):
    people = [customer(str(n)) for n in range(1, 32)]
    pairs = [pair(people[0], people[n], score=100 - n) for n in range(1, 31)]
    for skipped in pairs[:3]:
        PairSkip.objects.create(pair=skipped, user=alice)
    first = reviewer.get(URL).content.decode()
    cursor = re.search(r'after=([^"&]+)', first).group(1).replace("%3A", ":")
    second = reviewer.get(URL, {"after": cursor}).content.decode()
    assert pair_ids(first) + pair_ids(second) == [p.pk for p in pairs[3:]] + [p.pk for p in pairs[:3]]


def test_people_without_the_review_permission_are_refused(client, bob, charlie, three_pairs):
    for person in (bob, charlie):
        client.force_login(person)
        assert client.get(URL).status_code == 403
        assert client.get(URL, headers={"HX-Request": "true"}).status_code == 403


def test_it_sends_anonymous_visitors_to_the_login(client, three_pairs):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_superuser_may_review(client, django_user_model, three_pairs):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    client.force_login(admin)
    assert client.get(URL).status_code == 200


def _group(first_id: int, size: int, scores: list[float], scan) -> list[CandidatePair]:
    """A cluster of `size` customers and a chain of pending pairs with these scores."""
    cluster = Cluster.objects.create(scan=scan, size=size, weakest_score=min(scores), weakest_pair_key="x")
    people = [customer(str(first_id + n), f"P{first_id + n}") for n in range(len(scores) + 1)]
    return [
        pair(people[n], people[n + 1], score, cluster=cluster, group_size=size) for n, score in enumerate(scores)
    ]


@pytest.mark.parametrize("walk_step", [200, 1])
def test_the_first_page_lists_groups_of_three_strongest_first(reviewer, db, monkeypatch, walk_step):
    monkeypatch.setattr(queue, "CLUSTER_WALK_STEP", walk_step)  # 1: the walk crosses many steps
    scan = ScanRun.objects.create(threshold=60, status="succeeded")
    weaker = _group(10, 3, [71, 65], scan)
    stronger = _group(20, 4, [88, 62, 61], scan)
    _group(30, 2, [99], scan)  # a pair alone: not a group
    decided = _group(40, 3, [97, 96], scan)
    CandidatePair.objects.filter(pk__in=[p.pk for p in decided]).update(state=CandidatePair.State.REJECTED)
    html = reviewer.get(URL).content.decode()
    panel = html[html.index('id="queue-clusters"') : html.index("</section>", html.index('id="queue-clusters"'))]
    listed = [int(n) for n in re.findall(r'id="cluster-(\d+)"', panel)]
    assert listed == [stronger[0].cluster_id, weaker[0].cluster_id]
    assert "4 customers" in panel and "strongest pair 88" in panel and "3 pending pairs" in panel
    assert "2 pending pairs" in panel
    # Each of their rows in the queue links the group.
    assert f'/review/clusters/{stronger[0].cluster_id}/">group of 4</a>' in html


def test_the_clusters_panel_shows_at_most_ten_groups(reviewer, db):
    scan = ScanRun.objects.create(threshold=60, status="succeeded")
    groups = [_group(100 + 10 * n, 3, [90 - n, 60], scan) for n in range(12)]
    html = reviewer.get(URL).content.decode()
    listed = [int(n) for n in re.findall(r'id="cluster-(\d+)"', html)]
    assert listed == [group[0].cluster_id for group in groups[:10]]


def test_customer_text_in_a_row_is_escaped_and_its_hidden_characters_shown(reviewer, db):
    shady = customer("7", "<b>Eve</b>", "Lee\u202egpj")
    pair(customer("8", "Eve", "Lee"), shady, 90)
    html = reviewer.get(URL).content.decode()
    assert "<b>Eve</b>" not in html and "&lt;b&gt;Eve&lt;/b&gt;" in html
    assert "\u202e" not in html and "U+202E" in html
