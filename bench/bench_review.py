"""Benchmark the review screens: server time and queries per page at scale, and a reviewer in Chromium.

    .venv/bin/python bench/bench_review.py [--customers 100000] [--pairs 20000] [--requests 200]
                                          [--reviewer-pairs 50] [--skip-browser]

1. Pages from the local database: a fresh SQLite file (or DATABASE_URL, e.g. PostgreSQL) gets
   100,000 snapshot customers and 20,000 pending pairs written straight into the tables
   (bulk_create; a sync over HTTP would take minutes and is measured by bench_sync.py). The app
   then runs as in production (gunicorn, one sync worker, DJANGO_DEBUG off, whitenoise) and each
   page is requested over HTTP, start to the last byte; printed: p50 / p95 / max time, the
   server's CPU per request, and the queries per page (counted in a separate process through
   Django's whole request handling). Beside the queue's keyset paging, the same deep page read
   with OFFSET (what Django's Paginator does), its two queries alone, shows what the keyset saves.
2. A scripted reviewer: gunicorn (two workers, four threads each; production settings) on a fresh database with the sandbox CRM seeded,
   synced and scanned; Chromium (Playwright) logs in, opens the first pair and decides pairs by
   keyboard ("m" when the preview shows no risk, else "n"). Measured in the page: from the key
   press to the next pair's customers on screen (the frame after they are in the DOM).

Results are printed and written to bench/results/review.json.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
API_KEY = "sk_bench_not_a_secret"
PASSWORD = "bench-password-not-secret"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per page kind")
    parser.add_argument("--reviewer-pairs", type=int, default=50)
    parser.add_argument("--sandbox-customers", type=int, default=1500)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--pages-fill", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pages-queries", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pages_fill:
        print(json.dumps(_pages_fill(args)))
        return
    if args.pages_queries:
        print(json.dumps(_pages_queries(args)))
        return
    results: dict[str, object] = {}
    if not args.skip_pages:
        results["pages"] = _run_pages(args)
        _print_pages(results["pages"])  # type: ignore[arg-type]
    if not args.skip_browser:
        results["reviewer"] = _run_reviewer(args)
        _print_reviewer(results["reviewer"])  # type: ignore[arg-type]
    out = REPO / "bench" / "results" / "review.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nResults written to {out.relative_to(REPO)}")


# -- 1. pages from the local database -----------------------------------------------------------


def _run_pages(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mergeassist.settings",
            # Production-like: no debug query log, no sandbox.
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "bench-not-a-secret",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,testserver",
            # Production settings require a CRM; these pages read the local database only.
            "MERGEASSIST_CRM_URL": "http://127.0.0.1:9/not-called",
            "MERGEASSIST_CRM_API_KEY": API_KEY,
            # Plain HTTP on the loopback: no redirect to HTTPS, cookies without the Secure flag.
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
        }
        env.setdefault("DATABASE_URL", f"sqlite:///{Path(tmp) / 'pages.sqlite3'}")
        # Production serves hashed static files from a manifest, which collectstatic writes.
        env["DJANGO_STATIC_ROOT"] = str(Path(tmp) / "static")
        _manage(env, "collectstatic", "--noinput", "--verbosity=0")
        fill = _child(env, "--pages-fill", args)
        urls = _page_urls(args, fill)
        port = _free_port()
        # The production server, one sync worker: each request's time is the server's own.
        with open(Path(tmp) / "gunicorn.log", "w") as log:
            server = subprocess.Popen(
                [str(Path(sys.executable).with_name("gunicorn")), "mergeassist.wsgi:application", "--workers=1",
                 f"--bind=127.0.0.1:{port}", "--access-logfile=-"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                _wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
                pids = _server_pids(server.pid)
                rows = [_measure_http(f"http://127.0.0.1:{port}", fill["session"], pids, *url, args.requests) for url in urls]
            finally:
                server.terminate()
                server.wait(timeout=10)
        queries = _child(env, "--pages-queries", args, json.dumps({"session": fill["session"], "urls": urls}))
        for row in rows:
            row["queries"] = queries["by_page"][row["page"]]
        rows.append(queries["offset_peer"])
        return {
            "customers": args.customers,
            "pending_pairs": args.pairs,
            "database": fill["database"],
            "fill_seconds": fill["fill_seconds"],
            "requests_per_kind": args.requests,
            "rows": rows,
        }


def _child(env: dict[str, str], mode: str, args: argparse.Namespace, stdin: str = "") -> dict[str, object]:
    command = [sys.executable, __file__, mode, f"--customers={args.customers}", f"--pairs={args.pairs}",
               f"--requests={args.requests}"]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, input=stdin)
    if done.returncode != 0:
        sys.exit(f"The pages benchmark failed ({mode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _page_urls(args: argparse.Namespace, fill: dict[str, object]) -> list[tuple[str, list[str], bool]]:
    """(page, the URLs requested in turn, htmx?) for each kind of page."""
    rng = random.Random(1)
    count = args.requests + WARM_UP
    deep, cursor = deep_offset(args.pairs), fill["cursor_deep"]
    same = lambda url: [url] * count  # noqa: E731
    return [
        ("queue, first page, 25 per page", same("/review/?per_page=25"), False),
        ("queue, first page, 100 per page", same("/review/?per_page=100"), False),
        (f"queue, page after {deep:,} pairs, 25 per page", same(f"/review/?per_page=25&after={cursor}"), False),
        (f"queue, page after {deep:,} pairs, 100 per page", same(f"/review/?per_page=100&after={cursor}"), False),
        ("queue, reason same phone, 25 per page", same("/review/?per_page=25&reason=same_phone"), False),
        ("queue, reason same phone, 100 per page", same("/review/?per_page=100&reason=same_phone"), False),
        ("queue, active subscription, 100 per page", same("/review/?per_page=100&subscription=yes"), False),
        ("queue, search by name, 25 per page",
         [f"/review/?per_page=25&q=person{rng.randrange(args.customers)}" for _ in range(count)], False),
        ("queue, htmx fragment, 100 per page", same("/review/?per_page=100"), True),
        ("pair screen (snapshot, no CRM call)", [f"/review/{rng.choice(fill['pair_ids'])}/" for _ in range(count)], False),
    ]  # fmt: skip


# Requests before the timed ones: templates compiled, connections and caches warm, as a running
# server's would be.
WARM_UP = 5


def _measure_http(base: str, session: str, pids: list[int], name: str, urls: list[str], htmx: bool, count: int) -> dict[str, object]:
    """Each URL requested over HTTP, start to the last byte; the server's CPU from /proc."""
    headers = {"Cookie": f"sessionid={session}", **({"HX-Request": "true"} if htmx else {})}
    times: list[float] = []
    cpu: list[float] = []
    status: set[int] = set()
    for n, url in enumerate(urls):
        request = urllib.request.Request(base + url, headers=headers)
        cpu_before = _cpu_seconds(pids)
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status.add(response.status)
        if n >= WARM_UP:
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((_cpu_seconds(pids) - cpu_before) * 1000)
    return _summary(name, times, [], sorted(status), cpu)


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _server_pids(pid: int) -> list[int]:
    """The gunicorn master and its workers (the workers do the requests' work)."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            pids.append(int(stat.parent.name))
    return pids


def _pages_fill(args: argparse.Namespace) -> dict[str, object]:
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    reviewer, pair_ids, cursor_deep = _fill(args.customers, args.pairs)
    fill_seconds = time.perf_counter() - started
    session = SessionStore()
    session["_auth_user_id"] = str(reviewer.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = reviewer.get_session_auth_hash()
    session.create()
    return {
        "session": session.session_key, "pair_ids": pair_ids, "cursor_deep": cursor_deep,
        "database": django.db.connection.vendor, "fill_seconds": round(fill_seconds, 1),
    }  # fmt: skip


def _pages_queries(args: argparse.Namespace) -> dict[str, object]:
    """The queries of each page (in this process, through Django's whole request handling), and
    the OFFSET peer's two queries timed alone."""
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    given = json.loads(sys.stdin.read())
    client = Client()
    client.cookies["sessionid"] = given["session"]
    by_page: dict[str, list[int]] = {}
    for name, urls, htmx in given["urls"]:
        counts: set[int] = set()
        for url in urls[:20]:
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
            assert response.status_code == 200, (url, response.status_code)
            # The session and the user are read by middleware on every request; counted as well.
            counts.add(len(captured))
        by_page[name] = sorted(counts)
    return {"by_page": by_page, "offset_peer": _measure_offset(args.requests, deep_offset(args.pairs))}


def _fill(customers: int, pairs: int):
    """Snapshot customers and pending pairs written straight into the tables."""
    from django.contrib.auth.models import Group, User

    from mergeassist.core.dbstats import refresh_planner_statistics
    from mergeassist.core.roles import REVIEWERS
    from mergeassist.crm.models import Customer
    from mergeassist.review.forms import QueuePosition
    from mergeassist.review.models import CandidatePair, Cluster, ScanRun
    from mergeassist.review.reasons import reason_flags

    rng = random.Random(7)
    base = datetime(2020, 1, 1, tzinfo=UTC)
    batch: list[Customer] = []
    for n in range(1, customers + 1):
        subscriptions = [{"id": str(n), "status": "active", "product": "Coffee Club", "amount": "24.00"}] if n % 9 == 0 else []
        cards = [{"id": str(n), "brand": "visa", "last4": f"{n % 10000:04d}", "exp_month": 1 + n % 12, "exp_year": 2030}] if n % 4 == 0 else []
        batch.append(
            Customer(
                crm_id=str(n), crm_id_number=n, name_first=f"Person{n}", name_last=rng.choice(["Smith", "Lee", "Ng", "Brown"]),
                email=f"person{n}@example.com", phone=f"+1555{n:07d}", city="Leeds", country="US",
                crm_created_at=base + timedelta(days=n % 1500), crm_updated_at=base + timedelta(days=1500),
                active_subscriptions=len(subscriptions), cards_count=len(cards),
                search_name=f"person{n} smith", search_email=f"person{n}@example.com",
                raw={"id": str(n), "stats": {"orders_count": n % 13, "lifetime_value": f"{n % 977}.00", "currency": "USD"},
                     "subscriptions": subscriptions, "cards": cards, "integrations": [], "fields": [
                         {"key": "loyalty_tier", "label": "Loyalty tier", "value": rng.choice(["gold", "silver"])}]},
            )
        )  # fmt: skip
        if len(batch) == 5000:
            Customer.objects.bulk_create(batch)
            batch = []
    Customer.objects.bulk_create(batch)
    pks = list(Customer.objects.order_by("pk").values_list("pk", "crm_id"))
    scan = ScanRun.objects.create(threshold=60, status="succeeded")
    cluster = Cluster.objects.create(scan=scan, size=3, weakest_score=61, weakest_pair_key="1|3")
    batch_pairs: list[CandidatePair] = []
    seen: set[tuple[int, int]] = set()
    while len(seen) < pairs:
        i = rng.randrange(len(pks) - 1)
        j = min(len(pks) - 1, i + 1 + rng.randrange(50))
        if (i, j) in seen:
            continue
        seen.add((i, j))
        explanation = _explanation(rng, pks[i][1], pks[j][1])
        batch_pairs.append(
            CandidatePair(
                pair_key=f"{pks[i][1]}|{pks[j][1]}", customer_a_id=pks[i][0], customer_b_id=pks[j][0],
                score=round(rng.uniform(60, 100), 1), explanation=explanation, cluster=cluster if len(seen) <= 2 else None,
                group_size=3 if len(seen) <= 2 else 2, **reason_flags(explanation),
            )
        )  # fmt: skip
        if len(batch_pairs) == 5000:
            CandidatePair.objects.bulk_create(batch_pairs)
            batch_pairs = []
    CandidatePair.objects.bulk_create(batch_pairs)
    # What a scan does once it has written its pairs.
    refresh_planner_statistics(CandidatePair, Cluster, Customer)
    reviewer = User.objects.create_user("bench-reviewer", password=PASSWORD)
    reviewer.groups.add(Group.objects.get(name=REVIEWERS))
    ordered = CandidatePair.objects.filter(state="pending").order_by("-score", "pk")
    deep = ordered.values_list("pk", "score")[deep_offset(pairs) - 1]
    pair_ids = list(ordered.values_list("pk", flat=True)[:2000])
    return reviewer, pair_ids, QueuePosition(pair_id=deep[0], score=deep[1]).as_cursor()


def _explanation(rng: random.Random, id_a: str, id_b: str) -> list[dict[str, object]]:
    """An explanation shaped like the engine's: a row per compared field, then the combination rows
    (about 1.5 KB of JSON, as real pairs store)."""

    def row(field: str, value_a: str, value_b: str, similarity: float | None, weight: float, note: str = "") -> dict[str, object]:
        points = round(weight * similarity, 2) if similarity is not None else 0.0
        return {"field": field, "value_a": value_a, "value_b": value_b, "similarity": similarity, "weight": weight,
                "points": points, "note": note}  # fmt: skip

    return [
        row("first_name", f"person{id_a}", f"person{id_b}", rng.choice([1.0, 0.93]), 20, rng.choice(["", "nickname"])),
        row("last_name", "smith", "smith", 1.0, 15),
        row("email", f"person{id_a}@example.com", f"person{id_b}@example.com", rng.choice([1.0, 0.8]), 40),
        row("phone", f"+1555{int(id_a):07d}", f"+1555{int(id_b):07d}", rng.choice([1.0, 0.5, None]), 25),
        row("company", "", "", None, 10, "missing"),
        row("address", "12 high street", "12 high st", rng.choice([1.0, 0.7]), 30),
        row("city", "leeds", "leeds", 1.0, 4),
        row("zip", "ls1 4ap", "ls1 4ap", 1.0, 6),
        row("state", "", "", None, 2, "missing"),
        row("different_person", "", "", None, -40),
        row("contact_conflict", "", "", None, -25),
        row("name_only", "", "", None, -20),
    ]


def deep_offset(pairs: int) -> int:
    """How far into the queue the deep page starts: 10,000 pairs in, or half way for small runs."""
    return min(10_000, pairs // 2)


def _measure_offset(count: int, offset: int) -> dict[str, object]:
    """The peer: the same deep page read with OFFSET, as Paginator would."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mergeassist.review.queue import pending_pairs

    times: list[float] = []
    cpu: list[float] = []
    queries: set[int] = set()
    for _ in range(count):
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.process_time()
            rows = list(pending_pairs().order_by("-score", "pk")[offset : offset + 25])
            pending_pairs().count()
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        assert len(rows) == 25
        queries.add(len(captured))
    return _summary(f"peer: OFFSET {offset:,} LIMIT 25, its two queries alone", times, sorted(queries), [200], cpu)


def _summary(name: str, times: list[float], queries: list[int], status: list[int], cpu: list[float]) -> dict[str, object]:
    times.sort()
    return {
        "page": name,
        # The server's CPU time per request, the mean (the kernel counts it in 10 ms ticks): what
        # the page costs when the machine is not shared.
        "cpu_mean_ms": round(statistics.fmean(cpu), 1),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "max_ms": round(times[-1], 1),
        "queries": queries,
        "status": status,
    }


def _print_pages(pages: dict[str, object]) -> None:
    print(
        f"\nReview pages: {pages['customers']:,} customers, {pages['pending_pairs']:,} pending pairs on "
        f"{pages['database']} (filled in {pages['fill_seconds']} s), {pages['requests_per_kind']} requests each"
    )
    print(f"{'page':<62} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'CPU mean':>8}  queries")
    for row in pages["rows"]:  # type: ignore[union-attr]
        print(
            f"{row['page']:<62} {row['p50_ms']:>7} {row['p95_ms']:>7} {row['max_ms']:>7} {row['cpu_mean_ms']:>8}  {row['queries']}"
        )
    load = os.getloadavg()
    print(f"(load average at the end: {load[0]:.1f} on {os.cpu_count()} CPUs)")


# -- 2. a scripted reviewer in Chromium ---------------------------------------------------------


def _run_reviewer(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-review-ui-") as tmp:
        port = _free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mergeassist.settings",
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'app.sqlite3'}",
            "MERGEASSIST_CRM_API_KEY": API_KEY,
            "MERGEASSIST_CRM_URL": f"http://127.0.0.1:{port}/sandbox",
            "MERGEASSIST_SANDBOX": "true",
            "MERGEASSIST_DEMO_PASSWORD": PASSWORD,
            # As in production: no debug query log or template debugging, hashed static files
            # served by whitenoise. The sandbox CRM shares the server, as in `make demo`.
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "bench-not-a-secret",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Plain HTTP on the loopback: no redirect to HTTPS, cookies without the Secure flag.
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
        }
        env["DJANGO_STATIC_ROOT"] = str(Path(tmp) / "static")
        _manage(env, "collectstatic", "--noinput", "--verbosity=0")
        _manage(env, "migrate", "--verbosity=0")
        _manage(env, "seed_sandbox", f"--customers={args.sandbox_customers}", "--seed=11")
        _manage(env, "shell", "-c", "from mergeassist.core.demo import ensure_demo_users; ensure_demo_users(" + repr(PASSWORD) + ")")
        with open(Path(tmp) / "server.log", "w") as log:
            server = subprocess.Popen(
                # The production server; threads, because the sandbox CRM answers from the same process.
                [str(Path(sys.executable).with_name("gunicorn")), "mergeassist.wsgi:application", "--workers=2",
                 "--threads=4", f"--bind=127.0.0.1:{port}", "--access-logfile=-"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                _wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
                _manage(env, "sync_customers", "--full")
                _manage(env, "scan")
                return _drive_reviewer(f"http://127.0.0.1:{port}", args.reviewer_pairs)
            except Exception:
                # The server's log is in a temporary folder that goes with it: show its end first.
                log.flush()
                print("".join((Path(tmp) / "server.log").read_text().splitlines(keepends=True)[-40:]), file=sys.stderr)
                raise
            finally:
                server.terminate()
                server.wait(timeout=10)


# Set up before each key press: the key's time stamp, then the frame after the next pair's
# customers table is in the document.
MEASURE_JS = """
(oldId) => {
  window.__benchResult = undefined;
  const started = {t: null};
  const onKey = (event) => { started.t = event.timeStamp; };
  window.addEventListener("keydown", onKey, {capture: true, once: true});
  const check = () => {
    const table = document.querySelector("#pair-customers");
    const id = table && table.getAttribute("data-pair-id");
    if (id && id !== oldId && started.t !== null) {
      observer.disconnect();
      requestAnimationFrame(() => { window.__benchResult = performance.now() - started.t; });
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document.body, {childList: true, subtree: true});
}
"""


def _drive_reviewer(base: str, count: int) -> dict[str, object]:
    from playwright.sync_api import expect, sync_playwright

    timings: dict[str, list[float]] = {"n": [], "m": []}
    stayed: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)
        page.goto(f"{base}/accounts/login/")
        page.get_by_label("Username").fill("reviewer")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{base}/review/")
        page.locator("#queue-table tbody tr a.button").first.click()
        for _ in range(count):
            table = page.locator("#pair-customers")
            old_id = table.get_attribute("data-pair-id")
            # Like a person: read until the live preview is in, then decide.
            try:
                expect(page.locator("#merge-button, #preview-error")).to_have_count(1)
            except AssertionError:
                page.screenshot(path="/tmp/bench-review-stuck.png", full_page=True)
                Path("/tmp/bench-review-stuck.html").write_text(page.content())
                raise
            mergeable = page.locator("#merge-button").count() == 1 and page.locator("#merge-risks").count() == 0
            key = "m" if mergeable else "n"
            page.evaluate(MEASURE_JS, old_id)
            page.wait_for_timeout(50)  # the page is idle when the reviewer presses the key
            page.keyboard.press(key)
            result = _wait_for_result(page)
            if result is None:
                # The merge stayed on the pair (refused or failed): say why and decide it with n.
                stayed.append(page.locator("#review-errors, #merge-outcome").first.inner_text()[:200])
                page.keyboard.press("n")
                expect(page).not_to_have_url(f"{base}/review/{old_id}/")
                continue
            timings[key].append(result)
            # Keys are taken again once the URL of the new pair is recorded.
            expect(page).not_to_have_url(f"{base}/review/{old_id}/")
        browser.close()
    every = sorted(timings["n"] + timings["m"])
    return {
        "pairs_decided": len(every),
        "all": _stats(every),
        "not_a_duplicate": _stats(sorted(timings["n"])),
        "merge": _stats(sorted(timings["m"])),
        "stayed_on_the_pair": stayed,
    }


def _wait_for_result(page) -> float | None:
    """Milliseconds from the key to the next pair; None when the page stayed on the pair."""
    # Polled from here: the app's CSP (rightly) forbids the string evaluation wait_for_function uses.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result = page.evaluate("() => window.__benchResult")
        if result is not None:
            return float(result)
        if page.locator("#review-errors, #merge-outcome").count():
            return None
        time.sleep(0.01)
    page.screenshot(path="/tmp/bench-review-stuck.png", full_page=True)
    raise RuntimeError(f"the next pair did not appear within 20 s ({page.url}; /tmp/bench-review-stuck.png)")


def _stats(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p95_ms": round(values[max(0, int(len(values) * 0.95) - 1)], 1),
        "max_ms": round(values[-1], 1),
    }


def _print_reviewer(result: dict[str, object]) -> None:
    print(f"\nScripted reviewer in Chromium: {result['pairs_decided']} pairs decided by keyboard")
    print("key press -> next pair's customers on screen")
    for label, key in (("all keys", "all"), ("n (Not a duplicate)", "not_a_duplicate"), ("m (Merge, CRM calls included)", "merge")):
        stats = result[key]  # type: ignore[index]
        if stats.get("count"):
            print(f"  {label:<32} n={stats['count']:<3} median {stats['median_ms']} ms, p95 {stats['p95_ms']} ms, max {stats['max_ms']} ms")
    for reason in result.get("stayed_on_the_pair", []):  # type: ignore[union-attr]
        print(f"  stayed on a pair after m: {reason}")


# -- helpers ------------------------------------------------------------------------------------


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server stopped while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within 60 s")


if __name__ == "__main__":
    main()
