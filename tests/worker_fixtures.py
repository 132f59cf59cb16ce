"""Real `db_worker` processes started by a test (`workers`), on the test database the test itself uses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection

from tests.sandbox_fixtures import CrmSandbox

REPO = Path(__file__).resolve().parents[1]
# Short enough that a killed worker is noticed within seconds; the beat is five times faster.
HEARTBEAT_SECONDS = 0.4
STALE_SECONDS = 3.0


def database_url() -> str:
    """The URL of the database this test runs on, for processes started by the test."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def process_env(crm_sandbox: CrmSandbox, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MERGEASSIST_CRM_URL": crm_sandbox.base_url,
        "MERGEASSIST_CRM_API_KEY": crm_sandbox.api_key,
        "MERGEASSIST_CRM_BACKOFF": "0.001",
        "MERGEASSIST_JOB_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "MERGEASSIST_JOB_STALE_SECONDS": str(STALE_SECONDS),
        "MERGEASSIST_SYNC_EVERY_MINUTES": "0",
        **extra,
    }


@dataclass
class Workers:
    crm_sandbox: CrmSandbox
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay",
             "--interval", "0.2", "--worker-id", name],
            cwd=REPO,
            env=process_env(self.crm_sandbox),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no signal handler, no finally, nothing written on the way out."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(f"== {path.name}\n{path.read_text()[-4000:]}" for path in sorted(self.log_dir.glob("*.log")))

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def workers(crm_sandbox: CrmSandbox, settings, tmp_path: Path) -> Iterator[Workers]:
    # The test process reaps and requests jobs too: the same clock as the workers'.
    settings.MERGEASSIST_JOB_HEARTBEAT_SECONDS = HEARTBEAT_SECONDS
    settings.MERGEASSIST_JOB_STALE_SECONDS = STALE_SECONDS
    settings.MERGEASSIST_CRM_BACKOFF = 0.001
    pool = Workers(crm_sandbox, tmp_path)
    yield pool
    pool.stop_all()


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, workers: Workers | None = None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"Timed out waiting for {what}" + (f"\n{workers.logs()}" if workers else ""))


@pytest.fixture
def fast_retries(settings) -> None:
    settings.MERGEASSIST_CRM_BACKOFF = 0.001
    settings.MERGEASSIST_CRM_TIMEOUT = 5


@pytest.fixture
def role_permissions(transactional_db) -> None:
    """What core's data migration grants the Reviewers and Auditors, granted again: a transactional
    test's flush (before this one) empties the tables the migration filled."""
    from django.contrib.auth.models import Group, Permission

    from mergeassist.core.roles import AUDITOR_PERMISSIONS, AUDITORS, REVIEWER_PERMISSIONS, REVIEWERS

    for group_name, names in ((REVIEWERS, REVIEWER_PERMISSIONS), (AUDITORS, AUDITOR_PERMISSIONS)):
        group, _ = Group.objects.get_or_create(name=group_name)
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
