"""`manage.py sync_customers [--full]`: copy the CRM's customers into the local snapshot."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mergeassist.crm.errors import CrmError
from mergeassist.crm.models import SyncRun
from mergeassist.crm.sync import SyncAlreadyRunning, SyncProgress, run_sync
from mergeassist.jobs.progress import sync_progress


class Command(BaseCommand):
    help = (
        "Sync customers from the CRM into the snapshot: incremental (changes since the last run) unless "
        "--full. A run that stopped part-way is resumed from where it stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--full",
            action="store_true",
            help="read every customer and mark those no longer in the CRM as gone",
        )

    def handle(self, *, full: bool, verbosity: int = 1, **options: object) -> None:

        previous_sigterm = _stop_cleanly_on_sigterm()
        # The command reports progress and failures itself; the client's per-retry warnings and
        # the sync's log lines would repeat them on stderr. -v 2 shows them.
        quieted = _quiet_loggers() if verbosity < 2 else []
        self._announced_resume = False
        try:
            run = run_sync(full=full, on_progress=self._print_progress)
        except SyncAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        except CrmError as exc:
            # One line an operator can act on; the run is marked failed and the next one resumes it.
            raise CommandError(exc.message) from None
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted. The next sync_customers resumes where this one stopped."
            ) from None
        except Exception as exc:
            # A bug or a database failure: one line for the operator; -v 2 shows the traceback.
            if verbosity >= 2:
                raise
            raise CommandError(
                f"The sync stopped on an unexpected error ({type(exc).__name__}: {str(exc)[:200]}); it is "
                "marked failed and the next sync_customers resumes it. Run with -v 2 for the traceback."
            ) from None
        finally:
            _restore_sigterm(previous_sigterm)
            _restore_loggers(quieted)
        self.stdout.write(self.style.SUCCESS(_summary(run)))

    def _print_progress(self, progress: SyncProgress) -> None:
        run = progress.run
        if progress.resumed_after and not self._announced_resume:
            self.stdout.write(
                f"Resuming the unfinished full sync after customer id {progress.resumed_after}."
            )
            self._announced_resume = True
        if run.status == SyncRun.Status.SUCCEEDED:
            return
        if progress.rechecking:
            self.stdout.write(
                f"re-checked ids up to {progress.rechecked_to:,} of {progress.recheck_up_to:,} "
                f"(read before the stop): {progress.rechecked_again:,} changed and read again, "
                f"{progress.rechecked_gone:,} gone"
            )
            return
        # The same words the jobs panel shows (one function says what a running sync shows).
        self.stdout.write(
            f"page {run.pages_fetched:,}: {sync_progress(run).line()}; "
            f"{run.customers_created:,} new, {run.customers_updated:,} updated, {run.requests_made:,} requests"
        )


def _summary(run: SyncRun) -> str:
    # The time spent working: a run resumed the next morning did not take all night.
    summary = (
        f"{run.get_kind_display()} sync done in {run.seconds_working:.1f}s: {run.customers_seen:,} customers "
        f"({run.customers_created:,} new, {run.customers_updated:,} updated, {run.customers_gone:,} gone), "
        f"{run.pages_fetched:,} pages, {run.requests_made:,} requests."
    )
    if run.customers_skipped:
        summary += (
            f" {run.customers_skipped:,} customer{'s' if run.customers_skipped != 1 else ''} skipped, "
            f"their records unreadable: {run.skipped_detail}"
        )
    return summary


def _quiet_loggers() -> list[tuple[logging.Logger, int]]:
    quieted = []
    for name in ("mergeassist.crm.client", "mergeassist.crm.sync"):
        logger = logging.getLogger(name)
        quieted.append((logger, logger.level))
        logger.setLevel(logging.ERROR)
    return quieted


def _restore_loggers(quieted: list[tuple[logging.Logger, int]]) -> None:
    for logger, level in quieted:
        logger.setLevel(level)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop_cleanly_on_sigterm() -> object:
    # A worker or supervisor stops us with SIGTERM: end like Ctrl-C, so the run row says it stopped.
    try:
        return signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread (e.g. called from a test server thread)
        return None


def _restore_sigterm(previous: object) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]
