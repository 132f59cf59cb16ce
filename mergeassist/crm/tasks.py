"""The sync as a Django task, so `manage.py db_worker` (django-tasks-db) can run it off the web process.

The task holds no progress of its own: the SyncRun row does (the screen polls it), and a worker
killed mid-run leaves that row to be resumed by the next sync, task or command.
"""

from __future__ import annotations

from django.tasks import task

from mergeassist.crm.sync import SyncAlreadyRunning, run_sync


@task
def sync_customers_task(full: bool = False) -> dict[str, object]:
    """Run (or resume) a sync; returns the run's id and counts. CRM failures fail the task too."""
    try:
        run = run_sync(full=full)
    except SyncAlreadyRunning as exc:
        # Someone else is already syncing: that is the work this task was asked for.
        return {"sync_run_id": exc.run.pk, "status": "already_running"}
    return {
        "sync_run_id": run.pk,
        "status": run.status,
        "kind": run.kind,
        "customers_seen": run.customers_seen,
        "customers_created": run.customers_created,
        "customers_updated": run.customers_updated,
        "customers_gone": run.customers_gone,
        "requests_made": run.requests_made,
    }
