"""What a resumed full sync pays to end with the same snapshot as an uninterrupted one.

    .venv/bin/python bench/bench_resume.py [--customers 5000] [--stop-at 0.9]

Seeds the sandbox (its own SQLite file, served by `manage.py runserver` in a subprocess), then in a
fresh process: a full sync stopped after `--stop-at` of its pages; the resumed run, timed in two
parts (the re-check of what was read before the stop, then the rest); and, as the peer, an
uninterrupted full sync of the same CRM into an emptied snapshot. Printed: wall time and HTTP
requests of each, timed with time.perf_counter around the calls a user's command makes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sync import REPO, _env, _free_port, _manage, _wait_until_up  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--stop-at", type=float, default=0.9, help="share of the pages read before the stop")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.customers, args.stop_at)
        return
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
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
                _manage(server_env, "seed_sandbox", "--reset", f"--customers={args.customers}")
                app_env = _env(Path(tmp) / "app.sqlite3", port)
                _manage(app_env, "migrate", "--verbosity=0")
                done = subprocess.run(
                    [sys.executable, str(Path(__file__).resolve()), "--child",
                     f"--customers={args.customers}", f"--stop-at={args.stop_at}"],
                    cwd=REPO, env=app_env, check=True, capture_output=True, text=True,
                )  # fmt: skip
            finally:
                server.terminate()
                server.wait(timeout=10)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{args.customers:,} customers, stopped after {result['stopped_after_id']:,} of them were read:")
    print("| run | wall (s) | requests |")
    print("|---|---:|---:|")
    print(f"| resumed: re-check of ids up to the cursor | {result['recheck_seconds']:.1f} | {result['recheck_requests']:,} |")
    print(f"| resumed: the rest of the pass | {result['rest_seconds']:.1f} | {result['rest_requests']:,} |")
    print(f"| uninterrupted full sync (peer) | {result['full_seconds']:.1f} | {result['full_requests']:,} |")
    print(f"snapshots equal: {result['snapshots_equal']}")


class _Stop(Exception):
    pass


def _child(customers: int, stop_at: float) -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mergeassist.settings")
    import django

    django.setup()
    from mergeassist.crm.models import Customer, SyncRun
    from mergeassist.crm.sync import PAGE_SIZE, SyncProgress, run_sync

    stop_after_pages = max(1, int(customers / PAGE_SIZE * stop_at))

    def stop(progress: SyncProgress) -> None:
        if progress.run.pages_fetched >= stop_after_pages and progress.run.status == SyncRun.Status.RUNNING:
            raise _Stop

    try:
        run_sync(full=True, on_progress=stop)
    except _Stop:
        pass
    stopped = SyncRun.objects.get()
    marks: dict[str, float | int] = {}

    def note_recheck(progress: SyncProgress) -> None:
        finished_recheck = progress.rechecking and progress.rechecked_to >= progress.recheck_up_to
        if finished_recheck and "recheck_seconds" not in marks:
            marks["recheck_seconds"] = time.perf_counter() - started
            marks["recheck_requests"] = progress.requests_so_far - requests_before

    requests_before = stopped.requests_made
    started = time.perf_counter()
    resumed = run_sync(on_progress=note_recheck)
    resumed_seconds = time.perf_counter() - started
    columns = ["crm_id", "raw", "crm_updated_at", "name_first", "email", "search_name"]
    after_resume = list(Customer.objects.filter(is_gone=False).order_by("crm_id").values_list(*columns))

    Customer.objects.all().delete()
    SyncRun.objects.all().delete()
    started = time.perf_counter()
    full = run_sync(full=True)
    full_seconds = time.perf_counter() - started
    expected = list(Customer.objects.filter(is_gone=False).order_by("crm_id").values_list(*columns))
    print(
        json.dumps(
            {
                "stopped_after_id": int(stopped.cursor),
                "recheck_seconds": round(marks["recheck_seconds"], 2),
                "recheck_requests": marks["recheck_requests"],
                "rest_seconds": round(resumed_seconds - marks["recheck_seconds"], 2),
                "rest_requests": resumed.requests_made - requests_before - marks["recheck_requests"],
                "full_seconds": round(full_seconds, 2),
                "full_requests": full.requests_made,
                "snapshots_equal": after_resume == expected,
            }
        )
    )


if __name__ == "__main__":
    main()
