"""Benchmark the merge history at 100,000 decisions: the CSV export and the pages, over real HTTP.

    .venv/bin/python bench/bench_history.py [--rows 100000] [--runs 30] [--database-url URL]

1. A fresh database (a temporary SQLite file, or --database-url, e.g. PostgreSQL) is migrated and
   filled straight through the ORM with `--rows` decisions spread over a year (8 reviewers, the
   usual mix of outcomes, both customers' full records) and a CRM call per merge.
2. The app runs as `manage.py runserver --noreload` with DJANGO_DEBUG off, in a subprocess; a
   superuser's session is made directly, so the login's lock-out is not in the way.
3. Export: GET /history/export.csv (every row), read to the last byte. Timed from request to last
   byte; memory is the server's peak RSS (VmHWM) before and after, so the growth is what the
   export cost. Beside it, the peer: the same rows written into one in-memory CSV, the way a plain
   HttpResponse would, each in a fresh child process (time and VmHWM growth).
4. Pages: each URL `--runs` times after two warm-ups; p50 and p95 of the whole HTTP request, and
   the server's CPU time per request (from /proc), which a busy machine moves far less than wall
   time.

Figures go to stdout and bench/results/history.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REVIEWERS = [f"reviewer{n}" for n in range(1, 9)]
FIRST = ["Ann", "Bob", "Carla", "Dev", "Eve", "Femi", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Mo", "Nia"]
LAST = ["Lee", "Smith", "Garcia", "Okafor", "Nguyen", "Muller", "Rossi", "Kowalski", "Tanaka", "Silva"]
OUTCOMES = [("merged", 70), ("not_duplicate", 20), ("failed", 4), ("unknown", 1), ("stale", 5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--child", choices=("fill", "streamed", "materialised"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _setup_django()
        {"fill": _fill, "streamed": _export_in_process, "materialised": _export_in_process}[args.child](args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/history.sqlite3"
        results = _run(url, args)
    _print(results)
    out = REPO / "bench" / "results" / "history.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nResults written to {out.relative_to(REPO)}")


def _env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
        "MERGEASSIST_SANDBOX": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "mergeassist.settings",
    }


def _run(database_url: str, args: argparse.Namespace) -> dict[str, object]:
    env = _env(database_url)
    _manage(env, "migrate", "--verbosity=0")
    if database_url.startswith("postgres"):  # a server database outlives the run: start it empty
        _manage(env, "flush", "--no-input")
    started = time.perf_counter()
    fill = json.loads(_child(env, "fill", args))
    print(f"Filled {args.rows:,} decisions in {time.perf_counter() - started:.1f} s")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/healthz")
        cookie = f"sessionid={fill['session']}"
        results: dict[str, object] = {"rows": args.rows, "database": database_url.split(":")[0]}
        results["export_http"] = _export_over_http(base, cookie, server.pid)
        results["export_peer"] = {kind: json.loads(_child(env, kind, args)) for kind in ("streamed", "materialised")}
        results["pages"] = _pages(base, cookie, fill, args.runs, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return results


def _export_over_http(base: str, cookie: str, pid: int) -> dict[str, float]:
    before = _vm(pid)
    started = time.perf_counter()
    request = urllib.request.Request(base + "/history/export.csv", headers={"Cookie": cookie})
    size, lines, first_byte = 0, 0, None
    with urllib.request.urlopen(request, timeout=600) as response:
        assert response.status == 200, response.status
        while chunk := response.read(65536):
            first_byte = first_byte or time.perf_counter() - started
            size += len(chunk)
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    after = _vm(pid)
    return {
        "seconds": round(seconds, 2),
        "first_byte_ms": round((first_byte or 0) * 1000, 1),
        "rows": lines - 1,
        "megabytes": round(size / 1e6, 1),
        "server_peak_before_mb": before["VmHWM"],
        "server_peak_after_mb": after["VmHWM"],
        "server_peak_growth_mb": round(after["VmHWM"] - before["VmHWM"], 1),
    }


def _pages(base: str, cookie: str, fill: dict[str, object], runs: int, pid: int) -> list[dict[str, object]]:
    urls = [
        ("first page", "/history/", {}),
        ("first page, htmx fragment", "/history/", {"HX-Request": "true"}),
        ("one reviewer", f"/history/?reviewer={REVIEWERS[3]}", {}),
        ("outcome failed", "/history/?outcome=failed", {}),
        ("note pending", "/history/?outcome=note_pending", {}),
        ("one week", f"/history/?date_from={fill['week_from']}&date_to={fill['week_to']}", {}),
        ("deep page (keyset, middle of the table)", f"/history/?before={fill['middle_id']}", {}),
        ("deep page, one reviewer", f"/history/?reviewer={REVIEWERS[3]}&before={fill['middle_id']}", {}),
        ("search: deleted secondary's email", f"/history/?q={fill['secondary_email']}", {}),
        ("search: customer id", f"/history/?q={fill['secondary_id']}", {}),
        ("search: a name", "/history/?q=Okafor", {}),
        ("decision detail", f"/history/{fill['middle_id']}/", {}),
        ("dashboard, 30 days", "/dashboard/?days=30", {}),
        ("dashboard, a year", "/dashboard/?days=365", {}),
    ]
    out = []
    for label, path, headers in urls:
        timings = []
        cpu_before = 0.0
        for n in range(runs + 2):
            if n == 2:
                cpu_before = _cpu_seconds(pid)
            request = urllib.request.Request(base + path, headers={"Cookie": cookie, **headers})
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=120) as response:
                body = response.read()
                assert response.status == 200, (path, response.status)
            if n >= 2:
                timings.append((time.perf_counter() - started) * 1000)
        server_cpu_ms = (_cpu_seconds(pid) - cpu_before) * 1000 / runs
        assert b"decision-" in body or b"chart" in body or b"Calls to the CRM" in body, path
        timings.sort()
        out.append({
            "page": label, "path": path, "server_cpu_ms": round(server_cpu_ms, 1),
            "p50_ms": round(statistics.median(timings), 1),
            "p95_ms": round(timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))], 1),
        })  # fmt: skip
    return out


# -- children ----------------------------------------------------------------------------------


def _setup_django() -> None:
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _fill(args: argparse.Namespace) -> None:
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction
    from django.utils import timezone

    from mergeassist.audit.models import CrmCall, Decision

    rng = random.Random(20260101)
    now = timezone.now()
    outcomes = [name for name, weight in OUTCOMES for _ in range(weight)]
    batch: list[Decision] = []
    for n in range(args.rows):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        primary_id, secondary_id = str(100_000 + 2 * n), str(100_001 + 2 * n)
        primary = _record(primary_id, first, last, f"{first}.{last}{n}@example.com".lower(), rng)
        secondary = _record(secondary_id, first, last, f"{first[0]}{last}{n}@mail.example".lower(), rng)
        outcome = rng.choice(outcomes)
        kind = "not_duplicate" if outcome == "not_duplicate" else "merge"
        batch.append(Decision(
            kind=kind, outcome=outcome, pair_key=f"{primary_id}|{secondary_id}",
            reviewer_username=rng.choice(REVIEWERS),
            created_at=now - timedelta(seconds=(args.rows - n) * 365 * 86400 / args.rows),
            score=round(rng.uniform(70, 100), 1),
            primary_crm_id=primary_id, secondary_crm_id=secondary_id,
            primary_name=f"{first} {last}", primary_email=primary["email"],
            secondary_name=f"{first} {last}", secondary_email=secondary["email"],
            primary_before=primary, secondary_before=secondary,
            preview={"conflicts": [{"field": "email", "primary_value": primary["email"], "secondary_value": secondary["email"]}],
                     "transfers": {"orders": rng.randint(0, 9)}, "warnings": []},
            choices={}, note_text=f"Merged {secondary_id} into {primary_id}" if kind == "merge" else "",
            note_status=("pending" if rng.random() < 0.02 else "posted") if outcome == "merged" else "not_needed",
        ))  # fmt: skip
        if len(batch) == 5000:
            _save(batch)
            batch = []
    _save(batch)
    with transaction.atomic():
        merges = Decision.objects.filter(kind="merge").values_list("id", "created_at", "outcome")
        CrmCall.objects.bulk_create(
            [
                CrmCall(decision_id=pk, step="merge", method="POST", path="/v2/customers/x/merge/y",
                        outcome="ok" if outcome != "failed" else "error", status_code=200 if outcome != "failed" else 503,
                        started_at=created_at, duration_ms=rng.randint(80, 900))
                for pk, created_at, outcome in merges.iterator()
            ],
            batch_size=5000,
        )  # fmt: skip
    user = User.objects.create_superuser("bench", "bench@example.org", "not-used-for-login")
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    ids = list(Decision.objects.order_by("id").values_list("id", flat=True))
    middle = Decision.objects.get(pk=ids[len(ids) // 2])
    week_from = (now - timedelta(days=100)).date()
    print(json.dumps({
        "session": session.session_key, "middle_id": middle.pk,
        "secondary_email": middle.secondary_email, "secondary_id": middle.secondary_crm_id,
        "week_from": week_from.isoformat(), "week_to": (week_from + timedelta(days=6)).isoformat(),
    }))  # fmt: skip


def _save(batch: list) -> None:  # noqa: ANN001
    from mergeassist.audit.models import Decision

    Decision.objects.bulk_create(batch)


def _record(crm_id: str, first: str, last: str, email: str, rng: random.Random) -> dict[str, object]:
    return {
        "id": crm_id, "name_first": first, "name_last": last, "email": email,
        "phone": f"+1 617 555 {rng.randint(0, 9999):04d}", "company_name": None,
        "address1": f"{rng.randint(1, 999)} Main St", "address2": None, "city": "Boston", "state": "MA",
        "zip": "02110", "country": "US", "created_at": "2024-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
        "fields": [{"key": "source", "value": "web"}], "cards": [], "subscriptions": [],
        "stats": {"orders_count": rng.randint(0, 20), "lifetime_value": "120.00", "currency": "USD"},
    }  # fmt: skip


def _export_in_process(args: argparse.Namespace) -> None:
    """The export's rows through the view's own writer, streamed to /dev/null or built in memory."""
    import io

    from mergeassist.audit.forms import HistoryQuery
    from mergeassist.audit.history import export_rows
    from mergeassist.audit.views import _csv_lines

    before = _vm(os.getpid())["VmHWM"]
    started = time.perf_counter()
    lines = _csv_lines(export_rows(HistoryQuery()))
    if args.child == "streamed":
        with open(os.devnull, "w") as sink:
            for chunk in lines:
                sink.write(chunk)
    else:
        buffer = io.StringIO()
        for chunk in lines:
            buffer.write(chunk)
        body = buffer.getvalue().encode()  # what HttpResponse(content) holds
        del body
    seconds = time.perf_counter() - started
    after = _vm(os.getpid())["VmHWM"]
    print(json.dumps({"seconds": round(seconds, 2), "peak_growth_mb": round(after - before, 1)}))


# -- helpers -----------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used: unlike wall time, barely moved by a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _vm(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = round(int(rest.split()[0]) / 1024, 1)
    return values


def _child(env: dict[str, str], kind: str, args: argparse.Namespace) -> str:
    command = [sys.executable, __file__, "--child", kind, "--rows", str(args.rows)]
    return subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]


def _manage(env: dict[str, str], *command: str) -> None:
    subprocess.run([sys.executable, "manage.py", *command], cwd=REPO, env=env, check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"The server did not answer at {url}")


def _print(results: dict[str, object]) -> None:
    http = results["export_http"]
    peer = results["export_peer"]
    print(f"\nMerge history, {results['rows']:,} decisions ({results['database']})\n")
    print("CSV export of every row")
    print(f"  over HTTP (streamed):  {http['seconds']:6.2f} s, first byte {http['first_byte_ms']} ms, "
          f"{http['rows']:,} rows, {http['megabytes']} MB; server peak RSS {http['server_peak_before_mb']} -> "
          f"{http['server_peak_after_mb']} MB (+{http['server_peak_growth_mb']} MB)")  # fmt: skip
    for kind, figures in peer.items():
        print(f"  in process, {kind:<12} {figures['seconds']:6.2f} s, peak RSS +{figures['peak_growth_mb']} MB")
    print("\nPages (whole HTTP request)")
    print(f"  {'page':<42} {'p50 ms':>8} {'p95 ms':>8} {'server CPU ms':>14}")
    for page in results["pages"]:
        print(f"  {page['page']:<42} {page['p50_ms']:>8} {page['p95_ms']:>8} {page['server_cpu_ms']:>14}")


if __name__ == "__main__":
    main()
