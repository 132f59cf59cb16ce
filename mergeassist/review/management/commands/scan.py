"""`manage.py scan [--full]`: scan the snapshot for duplicates and refresh the review queue."""

from __future__ import annotations

import sys
import time

from django.core.management.base import CommandError, CommandParser

from mergeassist.core.commands import EngineCommand
from mergeassist.review.management.commands.scan_csv import engine_summary
from mergeassist.review.scan import ScanAlreadyRunning, do_scan


class Command(EngineCommand):
    help = (
        "Scan the local customer snapshot for duplicates and refresh the review queue (incremental "
        "when only some customers changed since the last scan; --full to compare everyone again)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--full", action="store_true", help="rebuild the engine's state and compare every customer")
        parser.add_argument(
            "--progress", action="store_true", help="show progress even when stderr is not a terminal"
        )

    def handle(self, *, full: bool, progress: bool, **options: object) -> None:
        self._show = progress or sys.stderr.isatty()
        self._stage, self._stage_started, self._last_shown = "", time.perf_counter(), 0.0
        try:
            # From the command line this process exists to scan: the engine may pause the
            # collector, trim the heap and fork its normalising helper (see
            # mergeassist.matching.find_duplicates_in_columns). Called from another process
            # (call_command in a worker or a test), it leaves that one alone.
            scan = do_scan(full=full, big_run=self.own_process, on_progress=self._progress)
        except ScanAlreadyRunning as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(
            f"Scanned {scan.customers_scanned:,} customers ({scan.get_kind_display().lower()} scan): "
            f"{scan.candidate_pairs:,} candidate pairs compared; "
            f"{scan.pairs_created:,} new pairs, {scan.pairs_rescored:,} re-scored, {scan.pairs_revived:,} back from retired, "
            f"{scan.pairs_retired:,} retired, {scan.pairs_kept_decided:,} already decided kept as they were; "
            f"{scan.clusters:,} clusters (threshold {scan.threshold:g}) in {self._elapsed(scan):.1f} s."
        )
        if int(options.get("verbosity", 1)) >= 2 and getattr(scan, "engine_stats", None):
            self.stdout.write(engine_summary(scan.engine_stats))

    @staticmethod
    def _elapsed(scan) -> float:
        return (scan.finished_at - scan.started_at).total_seconds() if scan.finished_at else 0.0

    def _progress(self, stage: str, done: int, total: int) -> None:
        if not self._show:
            return
        now = time.perf_counter()
        if stage != self._stage:
            self._stage, self._stage_started = stage, now
        elif now - self._last_shown < 1.0 and done < total:
            return  # at most one line a second per stage
        self._last_shown = now
        elapsed = now - self._stage_started
        rate = f", {done / elapsed:,.0f}/s" if elapsed > 0.05 and done else ""
        self.stderr.write(f"scan: {stage}: {done:,} of {total:,}{rate} ({elapsed:.1f} s)")
