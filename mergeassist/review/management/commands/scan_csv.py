"""`manage.py scan_csv INPUT.csv --out PAIRS.csv`: the scan's engine on a file, no database needed."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from mergeassist.core.commands import EngineCommand
from mergeassist.matching import find_duplicates_in_columns, read_columns_csv
from mergeassist.matching.csvio import EXPLANATION_FORMS, write_result_csv
from mergeassist.review.scan import match_config


def engine_summary(stats: dict) -> str:
    """One line of the engine's own figures (the benchmarks read it)."""
    stages = ", ".join(f"{name} {stats[f'{name}_s']:.1f}" for name in ("normalise", "blocking", "scoring", "clustering"))
    return f"engine: {stats['total_s']:.1f} s ({stages}); {stats['candidate_pairs']:,} candidate pairs"


class Command(EngineCommand):
    help = (
        "Find duplicates in a CSV of customers (id,name_first,name_last,email,phone,company_name,"
        "address1,address2,city,state,zip,country) and write id_a,id_b,score,is_match,explanation "
        "(compact by default; --explain full writes each explanation as JSON)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", type=Path)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument(
            "--explain", choices=EXPLANATION_FORMS, default="compact",
            help="compact: 'field similarity points' per row that counts; full: the pair screen's JSON rows",
        )

    def handle(self, *, input: Path, out: Path, explain: str, **options: object) -> None:
        if not input.is_file():
            raise CommandError(f"No such file: {input}")
        started = time.perf_counter()
        try:
            ids, fields, problems = read_columns_csv(input)
        except (UnicodeDecodeError, OSError) as error:
            raise CommandError(f"Cannot read {input}: {error}") from None
        for problem in problems:
            self.stderr.write(f"{input}: {problem}")
        if not ids:
            raise CommandError(f"{input} has no usable rows.")
        self._progress(f"read {len(ids):,} records in {time.perf_counter() - started:.1f} s; matching")
        # From the command line this process exists to run the engine: let it pause the
        # collector, trim the heap and fork its normalising helper (see find_duplicates_in_columns).
        # Called from another process (call_command in a worker or a test), leave that one alone.
        result = find_duplicates_in_columns(ids, fields, match_config(), big_run=self.own_process)
        if self.own_process:
            # What is left is writing the file and exiting: the collector need not walk the
            # records and the result again (while writing, and once more at exit).
            gc.freeze()
        self._progress(f"matched in {result.stats['total_s']:.1f} s; writing {len(result.scores):,} pairs")
        written = write_result_csv(out, result, explanation=explain)
        matches = int(result.is_match.sum())
        self.stdout.write(
            f"Read {len(ids):,} records ({len(problems)} rows skipped); wrote {written:,} pairs to {out}, "
            f"{matches:,} of them over the threshold, in {len(result.clusters):,} clusters."
        )
        if int(options.get("verbosity", 1)) >= 2:
            self.stdout.write(engine_summary(result.stats))

    def _progress(self, message: str) -> None:
        # Progress goes to the terminal only; a redirected stderr keeps just the row problems.
        if sys.stderr.isatty():
            self.stderr.write(f"scan_csv: {message}")
