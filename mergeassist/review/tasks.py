"""Background work of the review: delivering merge notes that could not be posted at once, and
settling merges whose process died mid-way.

`retry_pending_notes_task` runs the outbox (`mergeassist.review.actions.retry_pending_notes`) and,
while notes are still pending, enqueues itself again a minute later. A merge whose note fails
enqueues it; `manage.py db_worker` runs it. A chain that died with its worker is restarted by the
next failing note, or by enqueueing the task by hand.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.tasks import Task, task
from django.utils import timezone

from mergeassist.audit.models import Decision

logger = logging.getLogger(__name__)

RETRY_EVERY = timedelta(seconds=60)


def schedule_note_retry(retry_task: Task, *, after: timedelta = RETRY_EVERY) -> None:
    """Enqueue the outbox to run `after` from now (at once where the backend cannot defer).

    With the database queue, a run already waiting is enough: ten failed notes make one chain.
    """
    if _already_queued(retry_task):
        return
    if retry_task.get_backend().supports_defer:
        retry_task.using(run_after=timezone.now() + after).enqueue()
    else:
        retry_task.enqueue()


def _already_queued(retry_task: Task) -> bool:
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # another backend: a second chain only costs a few empty runs
        return False
    return DBTaskResult.objects.filter(task_path=retry_task.module_path, status="READY").exists()


@task
def retry_pending_notes_task() -> dict[str, int]:
    """Settle merges whose process died, post pending merge notes; re-enqueue while notes are pending."""
    from mergeassist.review.actions import retry_pending_notes, settle_stuck_merges

    settled = settle_stuck_merges()
    posted = retry_pending_notes()
    pending = Decision.objects.filter(
        outcome=Decision.Outcome.MERGED, note_status=Decision.NoteStatus.PENDING
    ).count()
    if pending:
        logger.info("%d merge notes still pending; trying again in %s", pending, RETRY_EVERY)
        schedule_note_retry(retry_pending_notes_task)
    return {"settled": settled, "posted": posted, "pending": pending}
