"""`manage.py sync_customers` and the sync task: progress lines, and one clear line when it cannot run."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from mergeassist.crm.client import CrmClient
from mergeassist.crm.models import Customer, SyncRun
from mergeassist.crm.sync import SyncProgress, run_sync
from mergeassist.crm.tasks import sync_customers_task

REPO = Path(__file__).resolve().parents[2]


def test_it_prints_progress_and_a_summary(crm_sandbox, fast_retries):
    crm_sandbox.seed(150)
    out = io.StringIO()

    call_command("sync_customers", "--full", stdout=out)

    lines = out.getvalue().splitlines()
    # The same words as the jobs panel (mergeassist.jobs.progress.sync_progress), then the page's counts.
    assert lines[0].startswith("page 1: Full sync: 100 of 150 customers (66%), ")
    assert " customers/s, about " in lines[0]
    assert lines[0].endswith(" left; 100 new, 0 updated, 2 requests")
    assert lines[1].startswith("page 2: Full sync: 150 of 150 customers (100%), ")
    assert lines[1].endswith("; 150 new, 0 updated, 3 requests")
    assert lines[-1].startswith("Full sync done in ")
    assert lines[-1].endswith("150 customers (150 new, 0 updated, 0 gone), 2 pages, 3 requests.")
    assert Customer.objects.count() == 150


def test_it_says_when_it_resumes_an_unfinished_run(crm_sandbox, fast_retries):
    crm_sandbox.seed(150)
    with pytest.raises(Stop):
        run_sync(full=True, on_progress=stop_after_first_page)
    out = io.StringIO()

    call_command("sync_customers", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "Resuming the unfinished full sync after customer id 100."
    assert lines[1] == "re-checked ids up to 100 of 100 (read before the stop): 0 changed and read again, 0 gone"
    assert lines[2].startswith("page 2: Full sync: 150 of 150 customers (100%)") and "; 150 new, 0 updated," in lines[2]
    assert Customer.objects.count() == 150


class Stop(Exception):
    pass


def stop_after_first_page(progress: SyncProgress) -> None:
    if progress.run.pages_fetched == 1:
        raise Stop


def test_it_syncs_incrementally_by_default_once_a_sync_succeeded(crm_sandbox, fast_retries):
    crm_sandbox.seed(20)
    call_command("sync_customers", stdout=io.StringIO())
    out = io.StringIO()
    call_command("sync_customers", stdout=out)
    assert "Incremental sync done" in out.getvalue()
    assert list(SyncRun.objects.order_by("pk").values_list("kind", flat=True)) == ["full", "incremental"]


def test_it_says_the_key_is_wrong_in_one_line(crm_sandbox, fast_retries, monkeypatch):
    wrong = CrmClient(crm_sandbox.base_url, "sk_wrong_key_0000")
    monkeypatch.setattr(CrmClient, "for_jobs", classmethod(lambda cls: wrong))

    with pytest.raises(CommandError) as caught:
        call_command("sync_customers", stdout=io.StringIO())

    assert str(caught.value) == "The CRM refused the API key. Check MERGEASSIST_CRM_API_KEY."
    run = SyncRun.objects.get()
    assert run.status == "failed" and run.error_message == str(caught.value)


def test_it_says_the_crm_is_down_in_one_line(crm_sandbox, fast_retries, settings):
    settings.MERGEASSIST_CRM_URL = "http://127.0.0.1:9/sandbox"  # the discard port: nothing listens
    settings.MERGEASSIST_CRM_RETRIES = 1

    with pytest.raises(CommandError) as caught:
        call_command("sync_customers", stdout=io.StringIO())

    assert str(caught.value) == (
        "The CRM at 127.0.0.1:9 is not answering (connection refused). Try again in a few minutes."
    )


def test_it_refuses_to_run_beside_a_live_sync(db):
    SyncRun.objects.create(kind=SyncRun.Kind.FULL)
    with pytest.raises(CommandError, match="already running"):
        call_command("sync_customers", stdout=io.StringIO())


def test_it_exits_1_with_one_line_on_stderr_when_the_key_is_wrong(crm_sandbox, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MERGEASSIST_CRM_URL": crm_sandbox.base_url,
        "MERGEASSIST_CRM_API_KEY": "sk_wrong_key_for_the_subprocess",
        "MERGEASSIST_CRM_BACKOFF": "0.001",
    }
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "--verbosity=0"], env=env, check=True, timeout=120)

    result = subprocess.run(
        [*manage, "sync_customers", "--full"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert (
        result.stderr.strip() == "CommandError: The CRM refused the API key. Check MERGEASSIST_CRM_API_KEY."
    )
    assert "Traceback" not in result.stderr and "sk_wrong_key" not in result.stderr + result.stdout

    down = subprocess.run(
        [*manage, "sync_customers"],
        check=False,
        env={**env, "MERGEASSIST_CRM_URL": "http://127.0.0.1:9/sandbox", "MERGEASSIST_CRM_RETRIES": "2"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 1
    assert down.stderr.strip() == (
        "CommandError: The CRM at 127.0.0.1:9 is not answering (connection refused). Try again in a few minutes."
    )


def test_it_runs_as_a_task(crm_sandbox, fast_retries):
    crm_sandbox.seed(30)

    outcome = sync_customers_task.call(full=True)

    run = SyncRun.objects.get()
    assert outcome == {
        "sync_run_id": run.pk,
        "status": "succeeded",
        "kind": "full",
        "customers_seen": 30,
        "customers_created": 30,
        "customers_updated": 0,
        "customers_gone": 0,
        "requests_made": 2,
    }
    assert Customer.objects.count() == 30


def test_it_runs_in_the_database_worker(crm_sandbox, fast_retries):
    crm_sandbox.seed(30)
    result = sync_customers_task.enqueue(full=True)

    call_command("db_worker", batch=True, no_startup_delay=True, no_reload=True, verbosity=0)

    result.refresh()
    assert result.status == "SUCCESSFUL"
    assert result.return_value["customers_created"] == 30
    assert result.return_value["sync_run_id"] == SyncRun.objects.get().pk
    assert Customer.objects.count() == 30
