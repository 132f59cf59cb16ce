"""Benchmark the customer sync against the sandbox CRM over real HTTP, beside a naive baseline.

    .venv/bin/python bench/bench_sync.py [--sizes 2000,10000]

For each size: seed the sandbox (its own SQLite file) served by `manage.py runserver` in a
subprocess, then run each engine in a fresh process with its own empty snapshot database:

- mergeassist: `run_sync(full=True)`: keyset pages of 100, one upsert transaction per page;
- naive: a plain loop that fetches every page with requests, keeps them all in a list and
  bulk-inserts everything at the end (the same row-building code, so only the shape differs).

Printed per run: wall time, HTTP requests, peak RSS of the syncing process, its growth over the
process's footprint before the sync started, and rows/s. The results also go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
API_KEY = "sk_bench_not_a_secret"
ENGINES = ("mergeassist", "naive")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000", help="comma-separated customer counts")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    results = _run_all(sizes)
    _print_table(results)
    out = REPO / "bench" / "results" / "sync.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nResults written to {out.relative_to(REPO)}")


# -- the parent: a server, seeding, one fresh process per engine and size -------------------------


def _run_all(sizes: list[int]) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        port = _free_port()
        server_env = _env(Path(tmp) / "crm.sqlite3", port)
        _manage(server_env, "migrate", "--verbosity=0")
        with open(Path(tmp) / "server.log", "w") as log:
            server = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=REPO, env=server_env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                _wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
                for size in sizes:
                    started = time.perf_counter()
                    _manage(server_env, "seed_sandbox", "--reset", f"--customers={size}")
                    print(
                        f"Seeded {size:,} sandbox customers in {time.perf_counter() - started:.1f}s",
                        flush=True,
                    )
                    for engine in ENGINES:
                        app_env = _env(Path(tmp) / f"app-{engine}-{size}.sqlite3", port)
                        _manage(app_env, "migrate", "--verbosity=0")
                        result = _run_child(engine, app_env)
                        result.update(engine=engine, customers=size)
                        print(f"  {engine:<12} {_format(result)}", flush=True)
                        results.append(result)
            finally:
                server.terminate()
                server.wait(timeout=10)
    return results


def _env(database: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-used-for-anything-real",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_LOG_LEVEL": "WARNING",
        # Production settings redirect plain HTTP to HTTPS; the bench's local server has no TLS.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "MERGEASSIST_SANDBOX": "true",
        "MERGEASSIST_CRM_URL": f"http://127.0.0.1:{port}/sandbox",
        "MERGEASSIST_CRM_API_KEY": API_KEY,
        "MERGEASSIST_SANDBOX_FAULTS": "",
    }


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL
    )


def _run_child(engine: str, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", engine],
        cwd=REPO, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("The sandbox server stopped; see its log.")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"The sandbox server did not answer {url} within 60 s.")


def _format(result: dict[str, object]) -> str:
    return (
        f"{result['wall_seconds']:>6.1f}s  {result['requests']:>5} requests  "
        f"peak RSS {result['peak_rss_mb']:>6.1f} MB (+{result['rss_growth_mb']:.1f} MB during the sync)  "
        f"{result['rows_per_second']:>6.0f} rows/s  rows {result['rows']}"
    )


def _print_table(results: list[dict[str, object]]) -> None:
    print(
        "\n| engine | customers | wall (s) | requests | peak RSS (MB) | RSS growth during sync (MB) | rows/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['engine']} | {r['customers']:,} | {r['wall_seconds']:.1f} | {r['requests']:,} | "
            f"{r['peak_rss_mb']:.1f} | {r['rss_growth_mb']:.1f} | {r['rows_per_second']:,.0f} |"
        )


# -- the child: one engine, one fresh process, so peak RSS is its own -----------------------------


def _child(engine: str) -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mergeassist.settings")
    import django

    django.setup()
    from mergeassist.crm.models import Customer

    sync = _sync_with_mergeassist if engine == "mergeassist" else _sync_naively
    # Import everything either engine uses before measuring the starting footprint.
    import requests  # noqa: F401

    from mergeassist.crm import sync as _  # noqa: F401

    Customer.objects.exists()
    before = _peak_rss_mb()
    started = time.perf_counter()
    requests_made = sync()
    wall = time.perf_counter() - started
    rows = Customer.objects.count()
    peak = _peak_rss_mb()
    print(
        json.dumps(
            {
                "wall_seconds": round(wall, 2),
                "requests": requests_made,
                "rows": rows,
                "rows_per_second": round(rows / wall, 1),
                "peak_rss_mb": round(peak, 1),
                "rss_growth_mb": round(peak - before, 1),
            }
        )
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _sync_with_mergeassist() -> int:
    from mergeassist.crm.sync import run_sync

    return run_sync(full=True).requests_made


def _sync_naively() -> int:
    """The obvious first version: fetch every page, keep it all, insert at the end.

    It uses requests directly on purpose (the app's code goes through mergeassist.crm.client):
    it is the baseline the client and the sync are measured against, not a way to talk to the CRM.
    """
    import requests
    from django.conf import settings
    from django.utils import timezone

    from mergeassist.crm.models import Customer, SyncRun
    from mergeassist.crm.sync import snapshot_row
    from mergeassist.crm.types import EXPANSIONS, parse_customer

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {settings.MERGEASSIST_CRM_API_KEY}"
    everything: list[dict[str, object]] = []
    page, requests_made = 1, 0
    while True:
        response = session.get(
            f"{settings.MERGEASSIST_CRM_URL}/v2/customers/",
            params={"page": page, "per_page": 100, "include": ",".join(EXPANSIONS)},
            timeout=30,
        )
        requests_made += 1
        response.raise_for_status()
        body = response.json()
        everything.extend(body["data"])
        if page >= body["meta"]["last_page"]:
            break
        page += 1
    run = SyncRun.objects.create(kind=SyncRun.Kind.FULL)
    now = timezone.now()
    rows = [snapshot_row(parse_customer(item), run, now) for item in everything]
    Customer.objects.bulk_create(rows, batch_size=500)
    return requests_made


if __name__ == "__main__":
    main()
