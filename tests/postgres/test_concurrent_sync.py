"""Two workers asked to sync at the same moment: exactly one runs. Real concurrency, real databases.

`make test` runs this file on SQLite and, when MERGEASSIST_TEST_POSTGRES_URL names a server, again
on PostgreSQL, where READ COMMITTED would let two check-then-insert transactions both succeed.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from mergeassist.crm.models import SyncRun
from mergeassist.crm.sync import SyncAlreadyRunning, start_or_resume_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

WORKERS = 4


def race(attempts: int) -> list[str]:
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            barrier.wait()
            start_or_resume_run(full=True)
            outcome = "started"
        except SyncAlreadyRunning:
            outcome = "refused"
        except Exception as exc:  # anything else is a bug the assertion below should show
            outcome = f"error: {exc!r}"
        finally:
            connection.close()  # each thread has its own connection; leave none open
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_only_one_of_several_simultaneous_syncs_starts():
    for _ in range(5):
        SyncRun.objects.all().delete()
        outcomes = race(WORKERS)
        assert sorted(outcomes) == ["refused"] * (WORKERS - 1) + ["started"]
        assert SyncRun.objects.filter(status=SyncRun.Status.RUNNING).count() == 1


def test_only_one_of_several_simultaneous_scans_starts():
    from mergeassist.review.models import ScanRun
    from mergeassist.review.scan import ScanAlreadyRunning, claim_scan

    for _ in range(5):
        ScanRun.objects.all().delete()
        barrier = threading.Barrier(WORKERS)
        outcomes: list[str] = []
        lock = threading.Lock()

        def attempt() -> None:
            try:
                barrier.wait()
                claim_scan()
                outcome = "started"
            except ScanAlreadyRunning:
                outcome = "refused"
            except Exception as exc:  # anything else is a bug the assertion below should show
                outcome = f"error: {exc!r}"
            finally:
                connection.close()
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=attempt) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["refused"] * (WORKERS - 1) + ["started"]
        assert ScanRun.objects.filter(status=ScanRun.Status.RUNNING).count() == 1
