"""Two web processes (gunicorn) and two `db_worker`s on one database: twenty "Sync now" presses at
once start one sync. `make test` runs it on SQLite and again on PostgreSQL, where READ COMMITTED
would let a check-then-insert start several."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from django.test import Client

from mergeassist.crm.models import Customer, SyncRun
from mergeassist.jobs.models import Job
from tests.core.test_demo import free_port
from tests.worker_fixtures import process_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
PRESSES = 20


def start_web(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mergeassist.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--threads", "20", "--no-control-socket"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=10).status_code in (200, 503):
                return process, url
        except requests.RequestException:  # not listening yet, or its worker still booting
            time.sleep(0.2)
    raise AssertionError("gunicorn did not start:\n" + log.read_text())


def test_twenty_presses_on_two_web_servers_with_two_workers_start_one_sync(workers, crm_sandbox, alice, role_permissions, tmp_path):
    crm_sandbox.seed(300, seed=5)
    crm_sandbox.set_faults("list.slow=1,delay=0.2")
    env = process_env(crm_sandbox)
    webs = [start_web(env, tmp_path / f"web-{n}.log") for n in (1, 2)]
    try:
        workers.start("worker-1")
        workers.start("worker-2")

        # Twenty logged-in browsers, half on each web server, each with its CSRF token.
        logged_in = Client()
        logged_in.force_login(alice)
        sessions = []
        for n in range(PRESSES):
            url = webs[n % 2][1]
            session = requests.Session()
            session.cookies.set("sessionid", logged_in.cookies["sessionid"].value)
            # No kept-alive connection: gunicorn may close an idle one just as the press reuses it.
            session.get(f"{url}/jobs/panel", headers={"Connection": "close"}, timeout=10).raise_for_status()
            sessions.append((session, url))

        barrier = threading.Barrier(PRESSES)
        answers: list[str] = []
        lock = threading.Lock()

        def press(session: requests.Session, url: str) -> None:
            barrier.wait()
            try:
                response = session.post(
                    f"{url}/jobs/start",
                    data={"job": "sync"},
                    headers={"HX-Request": "true", "X-CSRFToken": session.cookies["csrftoken"], "Referer": url},
                    timeout=120,
                )
            except requests.RequestException as exc:  # shown by the assertion below, not lost with the thread
                with lock:
                    answers.append(f"no answer: {exc!r}")
                return
            if "has been queued" in response.text:
                answer = "queued"
            elif "you joined it" in response.text:
                answer = "joined"
            else:
                answer = response.text[:300]
            with lock:
                answers.append(f"{response.status_code} {answer}")

        threads = [threading.Thread(target=press, args=pair) for pair in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)

        assert Counter(answers) == {"200 queued": 1, "200 joined": PRESSES - 1}, "\n".join(
            [*answers, *(path.read_text()[-3000:] for path in sorted(tmp_path.glob("web-*.log")))]
        )
        sync_jobs = Job.objects.filter(kind=Job.Kind.SYNC)
        assert sync_jobs.count() == 1

        wait_for(
            lambda: Job.objects.filter(kind=Job.Kind.SCAN, status=Job.Status.SUCCEEDED).exists(),
            timeout=120, what="the sync and the scan after it", workers=workers,
        )  # fmt: skip
        assert SyncRun.objects.count() == 1 and SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED
        assert sync_jobs.get().status == Job.Status.SUCCEEDED
        assert Job.objects.filter(kind=Job.Kind.SCAN).count() == 1
        assert Customer.objects.count() == 300
    finally:
        for process, _ in webs:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
