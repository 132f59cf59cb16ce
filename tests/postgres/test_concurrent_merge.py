"""Twenty simultaneous "Merge" presses for one pair: exactly one merge call reaches the CRM.

Once as twenty threads calling do_merge at the same instant (each with its own database
connection and CRM client), once as twenty POSTs of the merge form to the live server.
`make test` runs this file on SQLite and, when MERGEASSIST_TEST_POSTGRES_URL names a server, again
on PostgreSQL (READ COMMITTED, where a check-then-update claim would let several through).
"""

from __future__ import annotations

import threading

import pytest
import requests
from django.db import connection

from mergeassist.audit.models import CrmCall, Decision
from mergeassist.crm.client import CrmClient
from mergeassist.review.actions import PairNotPending, do_merge, load_preview
from mergeassist.review.models import CandidatePair
from mergeassist.sandbox.models import FaultCounter, SandboxCustomer
from tests.review import merge_fixtures

# The shared fixtures of tests/review/merge_fixtures.py, used here by name.
fast_client_settings = merge_fixtures.fast_client_settings
world = merge_fixtures.world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

PRESSES = 20


def test_twenty_simultaneous_merges_of_one_pair_make_exactly_one_merge_call(world, alice, crm_sandbox):
    preview = load_preview(
        pair=world.pair, primary_id=world.primary_id, secondary_id=world.secondary_id, reviewer=alice,
        client=world.client,
    )  # fmt: skip
    # A profile that never fires but makes the sandbox count every merge request it receives.
    crm_sandbox.set_faults("merge.slow=0")
    client_merges = 0
    count_lock = threading.Lock()

    class CountingClient(CrmClient):
        def merge(self, primary_id: str, secondary_id: str):
            nonlocal client_merges
            with count_lock:
                client_merges += 1
            return super().merge(primary_id, secondary_id)

    barrier = threading.Barrier(PRESSES)
    outcomes: list[str] = []

    def press() -> None:
        client = CountingClient(crm_sandbox.base_url, crm_sandbox.api_key, retries=2, backoff=0.001)
        try:
            pair = CandidatePair.objects.get(pk=world.pair.pk)
            barrier.wait()
            outcome = do_merge(
                pair=pair, reviewer=alice, primary_id=world.primary_id, secondary_id=world.secondary_id,
                fingerprint=preview.fingerprint, take_secondary=["email"], confirmed_risks=True,
                client=client,
            )  # fmt: skip
            result = "merged" if outcome.merged else f"outcome: {outcome.message}"
        except PairNotPending:
            result = "refused"
        except Exception as exc:  # anything else is a bug the assertion below should show
            result = f"error: {exc!r}"
        finally:
            client.close()
            connection.close()
        with count_lock:
            outcomes.append(result)

    threads = [threading.Thread(target=press) for _ in range(PRESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(outcomes) == ["merged"] + ["refused"] * (PRESSES - 1)
    assert client_merges == 1
    assert FaultCounter.objects.get(key="calls:merge").count == 1  # what reached the CRM
    assert CrmCall.objects.filter(step=CrmCall.Step.MERGE).count() == 1
    assert Decision.objects.filter(outcome=Decision.Outcome.MERGED).count() == 1
    assert Decision.objects.count() == 1
    assert not SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()
    assert len(world.notes_on(world.primary_id)) == 1
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.MERGED


def test_twenty_simultaneous_merge_posts_to_the_live_server_make_exactly_one_merge_call(
    world, alice, crm_sandbox, live_server, settings
):
    from django.test import Client

    from tests.review_views.conftest import restore_group_permissions

    restore_group_permissions()  # the flush of the previous test took what the migration granted
    preview = load_preview(
        pair=world.pair, primary_id=world.primary_id, secondary_id=world.secondary_id, reviewer=alice,
        client=world.client,
    )  # fmt: skip
    browser = Client()
    browser.force_login(alice)
    session_id = browser.cookies[settings.SESSION_COOKIE_NAME].value
    csrf_token = "t" * 32  # Django accepts any well-formed token whose cookie and form value agree
    crm_sandbox.set_faults("merge.slow=0")
    barrier = threading.Barrier(PRESSES)
    statuses: list[int] = []
    lock = threading.Lock()

    def press() -> None:
        with requests.Session() as http:
            http.cookies.set(settings.SESSION_COOKIE_NAME, session_id)
            http.cookies.set(settings.CSRF_COOKIE_NAME, csrf_token)
            barrier.wait()
            response = http.post(
                f"{live_server.url}/review/{world.pair.pk}/merge",
                data={
                    "csrfmiddlewaretoken": csrf_token, "primary": world.primary_id,
                    "secondary": world.secondary_id, "fingerprint": preview.fingerprint,
                    "choice:email": "secondary", "confirm_risks": "on",
                },
                allow_redirects=False,
                timeout=60,
            )  # fmt: skip
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=press) for _ in range(PRESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(statuses) == PRESSES
    assert sum(1 for status in statuses if 300 <= status < 400) == 1, statuses  # merged: on to the next pair
    assert all(status == 409 for status in statuses if not 300 <= status < 400), statuses  # "already merged"
    assert FaultCounter.objects.get(key="calls:merge").count == 1
    assert Decision.objects.filter(outcome=Decision.Outcome.MERGED).count() == 1
    assert Decision.objects.count() == 1  # the others were told "already merged", not "changed"
    assert not SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()
    assert world.sandbox_customer(world.primary_id).email == "bob.smith@example.com"
