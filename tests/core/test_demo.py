"""`make demo` from a fresh clone: it installs, seeds, serves the login page and the customer list."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "demo-pass-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_banner(process: subprocess.Popen[str], timeout: float) -> str:
    """Read the demo's output until it says it is running; fail with its output otherwise."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            lines.append(line)
            if "Press Ctrl-C to stop." in line:
                return "".join(lines)
        elif process.poll() is not None:
            break
        else:
            time.sleep(0.2)
    raise AssertionError("make demo did not start:\n" + "".join(lines[-60:]))


@dataclass
class Demo:
    url: str
    output: str
    process: subprocess.Popen[str]
    clone: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    clone = tmp_path_factory.mktemp("demo") / "mergeassist"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "MERGEASSIST_", "DATABASE_URL", "PYTEST"))
    }
    env["MERGEASSIST_DEMO_PASSWORD"] = PASSWORD
    process = subprocess.Popen(
        ["make", "demo", f"DEMO_ARGS=--port {port} --customers 300"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = wait_for_banner(process, timeout=600)
        yield Demo(f"http://127.0.0.1:{port}", output, process, clone)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def running_demo(demo: Demo) -> tuple[str, str]:
    return demo.url, demo.output


def log_in(url: str, username: str) -> requests.Session:
    session = requests.Session()
    login_page = session.get(f"{url}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
    session.post(
        f"{url}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/accounts/login/"},
        timeout=10,
    )
    return session


def processes_started_in(folder: Path) -> list[str]:
    """Command lines of the processes whose working directory is `folder` (the demo's children)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cwd").resolve() == folder.resolve():
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def test_it_prints_the_url_the_logins_and_the_api_key(running_demo):
    url, output = running_demo
    assert f"{url}/" in output
    assert re.search(r"reviewer\s+" + PASSWORD, output)
    assert re.search(r"admin\s+" + PASSWORD, output)
    assert "Bearer sk_sandbox_" in output


def test_it_serves_the_login_page_and_after_login_the_customer_list(running_demo):
    url, _ = running_demo
    session = requests.Session()
    login_page = session.get(f"{url}/accounts/login/", timeout=10)
    assert login_page.status_code == 200
    assert "Log in to MergeAssist" in login_page.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
    response = session.post(
        f"{url}/accounts/login/",
        data={"username": "reviewer", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/accounts/login/"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.url == f"{url}/customers/"
    assert "Customers" in response.text
    # The list comes from the sandbox CRM the demo seeded: 300 customers.
    assert "300" in response.text


def test_its_worker_runs_scan_now(running_demo):
    url, _ = running_demo
    session = log_in(url, "reviewer")
    page = session.get(f"{url}/customers/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    pressed = session.post(
        f"{url}/jobs/start",
        data={"job": "scan", "csrfmiddlewaretoken": token},
        headers={"HX-Request": "true", "Referer": f"{url}/customers/"},
        timeout=10,
    )
    assert "The scan has been queued" in pressed.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        panel = session.get(f"{url}/jobs/panel", timeout=10).text
        if "hx-trigger" not in panel:
            break
        time.sleep(0.5)
    assert "Scan done" in panel, "the demo's worker did not run the scan"


def test_ctrl_c_stops_the_web_server_and_the_worker(demo):
    assert any("db_worker" in command for command in processes_started_in(demo.clone))
    assert any("runserver" in command for command in processes_started_in(demo.clone))

    os.killpg(demo.process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C

    demo.process.wait(timeout=30)  # make itself reports the interrupt with a non-zero status
    assert processes_started_in(demo.clone) == []
    time.sleep(0.2)
    said = demo.process.stdout.read() or ""
    assert "Stopping the web server and the worker." in said
    assert "Traceback" not in said
