"""Production settings (DJANGO_DEBUG=false), each checked in a fresh process as an operator starts it."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import PASSWORD
from tests.core.test_demo import free_port

REPO = Path(__file__).resolve().parents[2]
HOST = "mergeassist.example.org"


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MERGEASSIST_", "DATABASE_URL"))}
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="prod-" + "k3y!" * 15,
        DJANGO_ALLOWED_HOSTS=f"{HOST},127.0.0.1",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        MERGEASSIST_CRM_URL="http://127.0.0.1:9/crm",
        MERGEASSIST_CRM_API_KEY="sk_live_never_shown",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=check
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize("missing", ["MERGEASSIST_CRM_URL", "MERGEASSIST_CRM_API_KEY"])
def test_production_refuses_to_start_without_the_crm(tmp_path, missing):
    env = production_env(tmp_path)
    del env[missing]
    result = manage(env, "check", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"MergeAssist cannot start: {missing} must be set when DJANGO_DEBUG is off")
    assert "Traceback" not in result.stderr and "sk_live_never_shown" not in result.stderr


def test_debug_is_off_unless_asked_for(tmp_path):
    env = production_env(tmp_path)
    del env["DJANGO_DEBUG"]
    result = manage(env, "shell", "--no-imports", "-c", "from django.conf import settings; print(settings.DEBUG)")
    assert result.stdout.strip() == "False"


def test_the_sandbox_stays_out_of_production(tmp_path):
    env = production_env(tmp_path)
    manage(env, "migrate", "--verbosity", "0")
    probe = (
        "import sys; from django.conf import settings; from django.test import Client; "
        "print('sandbox' in ' '.join(settings.INSTALLED_APPS), 'faker' in sys.modules, "
        "'mergeassist.sandbox.generator' in sys.modules, "
        "Client(HTTP_X_FORWARDED_PROTO='https').get('/sandbox/v2/customers/', HTTP_HOST='" + HOST + "').status_code)"
    )
    assert manage(env, "shell", "--no-imports", "-c", probe).stdout.split() == ["False", "False", "False", "404"]
    tables = [row[0] for row in sqlite3.connect(tmp_path / "prod.sqlite3").execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert "crm_customer" in tables and "jobs_job" in tables
    assert not [t for t in tables if t.startswith("sandbox_")]
    assert "seed_sandbox" not in manage(env, "help", "--commands").stdout


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    env = production_env(tmp_path)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mergeassist.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--no-control-socket"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/healthz", timeout=10)
                break
            except requests.RequestException:  # not listening yet, or its workers still booting
                time.sleep(0.2)
        yield url, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_gunicorn_serves_healthz_and_static_files_through_whitenoise(gunicorn):
    url, log = gunicorn
    https = {"X-Forwarded-Proto": "https", "Host": HOST}

    health = requests.get(f"{url}/healthz", headers={"Host": HOST}, timeout=10)  # plain HTTP: the probe is exempt
    assert health.status_code == 200
    body = health.json()
    assert body["database"] == "ok" and body["crm"] == {"status": "error"} and body["status"] == "degraded"
    assert "sk_live_never_shown" not in health.text

    login = requests.get(f"{url}/accounts/login/", headers=https, timeout=10)
    assert login.status_code == 200
    assert login.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "script-src 'self' 'nonce-" in login.headers["Content-Security-Policy"]
    stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', login.text).group(1)
    css = requests.get(url + stylesheet, headers={**https, "Accept-Encoding": "gzip"}, timeout=10)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert css.headers["Content-Encoding"] == "gzip"
    assert "immutable" in css.headers["Cache-Control"]
    assert ".topbar" in css.text

    # Plain HTTP to a page is sent to HTTPS; the session cookie is Secure.
    plain = requests.get(f"{url}/accounts/login/", headers={"Host": HOST}, allow_redirects=False, timeout=10)
    assert plain.status_code == 301 and plain.headers["Location"] == f"https://{HOST}/accounts/login/"
    assert "Secure" in login.headers["Set-Cookie"]


def test_logs_are_json_lines_with_the_request_id(gunicorn):
    url, log = gunicorn
    # A POST without a CSRF token is refused and logged (django.security.csrf) within the request.
    missing = requests.post(
        f"{url}/healthz", headers={"X-Forwarded-Proto": "https", "Host": HOST, "X-Request-ID": "req-42"}, timeout=10
    )
    assert missing.status_code == 403
    assert missing.headers["X-Request-ID"] == "req-42"
    time.sleep(0.5)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    entry = next(line for line in lines if line.get("request_id") == "req-42")
    assert entry["level"] == "WARNING" and entry["logger"].startswith("django.security")
    assert entry["message"] == "Forbidden (Referer checking failed - no Referer.): /healthz"


def test_a_session_ends_with_the_browser_and_after_an_idle_hour(client, alice):
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    cookie = client.cookies["sessionid"]
    assert cookie["expires"] == "" and cookie["max-age"] == ""  # gone when the browser closes
    assert client.session.get_expiry_age() == 3600
    # Each request renews it: an hour of *idleness* ends it, not an hour of work.
    first_expiry = client.session.get_expiry_date()
    time.sleep(1.1)
    client.get("/jobs/panel")
    assert client.session.get_expiry_date() > first_expiry
