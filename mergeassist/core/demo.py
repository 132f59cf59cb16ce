"""What `make demo` does: from an empty database to a running app with demo data and logins."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User

from mergeassist.core.roles import REVIEWERS

DEMO_PASSWORD_FILE = Path(settings.BASE_DIR) / ".demo_password"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str


DEMO_LOGINS = (DemoLogin("reviewer", "Reviewers: reviews and merges"), DemoLogin("admin", "superuser"))


def demo_password() -> str:
    """MERGEASSIST_DEMO_PASSWORD, or one made once and kept beside the checkout (never in the code)."""
    if password := os.getenv("MERGEASSIST_DEMO_PASSWORD"):
        return password
    if DEMO_PASSWORD_FILE.exists():
        return DEMO_PASSWORD_FILE.read_text().strip()
    password = secrets.token_urlsafe(12)
    DEMO_PASSWORD_FILE.write_text(password)
    DEMO_PASSWORD_FILE.chmod(0o600)
    return password


def ensure_demo_users(password: str) -> None:
    reviewer, _ = User.objects.get_or_create(username="reviewer", defaults={"email": "reviewer@example.org"})
    reviewer.set_password(password)
    reviewer.save()
    reviewer.groups.add(Group.objects.get(name=REVIEWERS))
    admin, _ = User.objects.get_or_create(
        username="admin", defaults={"email": "admin@example.org", "is_staff": True, "is_superuser": True}
    )
    admin.is_staff = admin.is_superuser = True
    admin.set_password(password)
    admin.save()


def start_server(host: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MERGEASSIST_CRM_URL": settings.MERGEASSIST_CRM_URL}
    command = [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"]
    return subprocess.Popen(command, cwd=settings.BASE_DIR, env=env)


def start_worker() -> subprocess.Popen[bytes]:
    """A db_worker beside the web server: it runs "Sync now", "Scan now" and the schedule."""
    env = {**os.environ, "MERGEASSIST_CRM_URL": settings.MERGEASSIST_CRM_URL}
    command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay", "--verbosity", "0"]
    return subprocess.Popen(command, cwd=settings.BASE_DIR, env=env)


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Stop a child the way Ctrl-C would, then harder if it does not go.

    The worker finishes its task on the first SIGINT (the terminal sends it one); a second one makes
    it stop at once, and a job cut short is marked so and resumed by the next sync.
    """
    for sig in (signal.SIGINT, signal.SIGINT, signal.SIGKILL):
        if process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue


def wait_until_up(url: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"The web server stopped while starting (exit code {server.returncode}).")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise RuntimeError(f"The web server did not answer at {url} within {timeout:.0f} s.")


def banner(app_url: str, password: str, api_key: str) -> str:
    logins = "\n".join(f"    {login.username:<9} {password}   ({login.role})" for login in DEMO_LOGINS)
    return (
        "\n"
        "  MergeAssist is running.\n\n"
        f"  Open      {app_url}/  (log in at {app_url}/accounts/login/)\n"
        f"  Logins (username, password):\n{logins}\n"
        f"  Sandbox CRM API: {app_url}/sandbox/v2/customers/  (Authorization: Bearer {api_key})\n"
        "  A worker runs \"Sync now\" and \"Scan now\" (on the customer list) and a sync every 15 minutes.\n\n"
        "  Press Ctrl-C to stop. The web server and the worker both stop.\n"
    )
