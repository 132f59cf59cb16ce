"""Matching benchmark: MergeAssist, Splink and an exact-rules baseline on the same labelled data.

    .venv/bin/python bench/bench_matching.py                       # FEBRL1, FEBRL2, 10k, 100k, 1M
    .venv/bin/python bench/bench_matching.py --sizes 10000 --engines mergeassist
    .venv/bin/python bench/bench_matching.py --datasets febrl1,febrl2

Every engine runs in a child process of its own (this script again, with --child), so its wall
time and peak memory (VmHWM, plus any helper it forks) are its alone and measured the same way
for each engine. The parent prepares each data set once (parquet + true pairs) and scores what
the child predicted.
Needs requirements-bench.txt (splink, duckdb, recordlinkage, pandas, pyarrow).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from matching_data import PreparedDataset, prepare_febrl, prepare_synthetic  # noqa: E402

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
DEFAULT_ENGINES = ("mergeassist", "splink", "exact-rules")
DEFAULT_TIMEOUT_S = 900
RESULTS_FILE = Path(__file__).resolve().parent / "results" / "matching.md"  # git-ignored


@dataclass(slots=True)
class Row:
    dataset: str
    records: int
    true_pairs: int
    engine: str
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    blocking_recall: float | None = None
    candidate_pairs: int | None = None
    wall_s: float | None = None
    peak_rss_mb: float | None = None
    error: str = ""


# ---------------------------------------------------------------------------------------------
# Child side: run one engine on one data set, write a small JSON and the predicted pairs.


def run_child(engine: str, data_path: Path, truth_path: Path, out_path: Path) -> None:
    from matching_engines import ENGINES

    truth = np.load(truth_path)
    run = ENGINES[engine](data_path, truth)
    np.save(out_path.with_suffix(".pairs.npy"), run.predicted)
    out_path.write_text(
        json.dumps(
            {
                "candidate_pairs": run.candidate_pairs,
                "blocked_true_pairs": run.blocked_true_pairs,
                "wall_s": run.wall_s,
                "peak_rss_mb": run.peak_rss_mb,
            }
        )
    )


# ---------------------------------------------------------------------------------------------
# Parent side


def score(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 over pairs; both arrays are sorted unique pair codes."""
    true_positives = int(np.intersect1d(predicted, truth, assume_unique=True).size)
    precision = true_positives / predicted.size if predicted.size else 1.0
    recall = true_positives / truth.size if truth.size else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def run_engine(engine: str, dataset: PreparedDataset, workdir: Path, timeout_s: float) -> Row:
    row = Row(dataset.name, dataset.records, dataset.true_pairs, engine)
    out_path = workdir / f"{dataset.name}.{engine}.json"
    command = [
        sys.executable, __file__, "--child", engine,
        "--data", str(dataset.data_path), "--truth", str(dataset.truth_path), "--out", str(out_path),
    ]  # fmt: skip
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        row.error = f"timed out after {timeout_s:.0f} s"
        return row
    if finished.returncode != 0:
        last_line = (finished.stderr.strip().splitlines() or ["no output"])[-1]
        row.error = f"failed (exit {finished.returncode}): {last_line[:200]}"
        return row
    measured = json.loads(out_path.read_text())
    predicted = np.unique(np.load(out_path.with_suffix(".pairs.npy")))
    truth = np.load(dataset.truth_path)
    row.precision, row.recall, row.f1 = score(predicted, truth)
    if measured["blocked_true_pairs"] is not None and truth.size:
        row.blocking_recall = measured["blocked_true_pairs"] / truth.size
    row.candidate_pairs = measured["candidate_pairs"]
    row.wall_s = measured["wall_s"]
    row.peak_rss_mb = measured["peak_rss_mb"]
    return row


def _fmt(value: float | int | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


TABLE_HEADER = (
    "| data set | records | true pairs | engine | precision | recall | F1 | blocking recall "
    "| candidate pairs | wall s | peak MB |\n"
    "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
)


def table_line(row: Row) -> str:
    if row.error:
        cells = ["—"] * 7
        cells[0] = row.error
    else:
        cells = [
            _fmt(row.precision, ".3f"),
            _fmt(row.recall, ".3f"),
            _fmt(row.f1, ".3f"),
            _fmt(row.blocking_recall, ".3f"),
            _fmt(row.candidate_pairs, ","),
            _fmt(row.wall_s, ".1f"),
            _fmt(row.peak_rss_mb, ",.0f"),
        ]
    leading = [row.dataset, f"{row.records:,}", f"{row.true_pairs:,}", row.engine]
    return "| " + " | ".join(leading + cells) + " |"


def prepared_datasets(names: list[str], sizes: list[int], workdir: Path):
    """Yield each data set when it is ready, so the first rows print early."""
    for name in names:
        if name in ("febrl1", "febrl2"):
            yield prepare_febrl(name, workdir)
        elif name == "synthetic":
            for size in sizes:
                yield prepare_synthetic(size, workdir)
        else:
            raise SystemExit(f"unknown data set {name!r}: use febrl1, febrl2, synthetic")


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="febrl1,febrl2,synthetic", help="febrl1,febrl2,synthetic")
    parser.add_argument(
        "--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="synthetic sizes, e.g. 10000,100000"
    )
    parser.add_argument("--engines", default=",".join(DEFAULT_ENGINES), help="mergeassist,splink,exact-rules")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per engine run")
    parser.add_argument(
        "--markdown", type=Path, default=RESULTS_FILE, help="where to write the table (bench/results/)"
    )
    # Internal: what the parent passes to a child.
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--truth", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    if arguments.child:
        run_child(arguments.child, arguments.data, arguments.truth, arguments.out)
        return 0

    engines = _csv(arguments.engines)
    sizes = [int(size) for size in _csv(arguments.sizes)]
    lines = [TABLE_HEADER]
    print(f"# Matching benchmark, {date.today().isoformat()}\n", flush=True)
    print(TABLE_HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-matching-") as folder:
        workdir = Path(folder)
        started = time.perf_counter()
        for dataset in prepared_datasets(_csv(arguments.datasets), sizes, workdir):
            for engine in engines:
                line = table_line(run_engine(engine, dataset, workdir, arguments.timeout))
                lines.append(line)
                print(line, flush=True)
            dataset.data_path.unlink()
        print(f"\n(benchmark took {time.perf_counter() - started:.0f} s in all)", flush=True)
    arguments.markdown.parent.mkdir(parents=True, exist_ok=True)
    arguments.markdown.write_text("\n".join(lines) + "\n")
    print(f"Table written to {arguments.markdown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
