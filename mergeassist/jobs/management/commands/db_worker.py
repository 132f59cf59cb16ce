"""`manage.py db_worker`: django-tasks-db's worker, plus the worker's pulse beside its loop.

The pulse (`mergeassist.jobs.actions.WorkerPulse`) renews this worker's heartbeat for /healthz,
re-queues jobs whose worker died, and queues the scheduled jobs (no cron). Every option of the
library's command works as before.
"""

from __future__ import annotations

import os

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from mergeassist.jobs.actions import WorkerPulse


class Command(DbWorkerCommand):
    help = "Run background jobs (sync, scan) from the database queue, and the schedule."

    def handle(self, *args: object, **options: object) -> None:
        # With --reload the parent process only watches files; the child (marked by the reloader's
        # variable) is the one that works.
        pulse = None
        if not options.get("reload") or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
            pulse = WorkerPulse(worker_id=str(options["worker_id"]))
            pulse.start()
        try:
            super().handle(*args, **options)
        finally:
            # --batch returns when the queue is empty (and tests call the command in-process):
            # the pulse ends with the worker, not with the process.
            if pulse is not None:
                pulse.stopping.set()
                pulse.join(timeout=30)
