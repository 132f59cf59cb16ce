"""The one task a `db_worker` runs for a job; what it does is in `mergeassist.jobs.actions`."""

from __future__ import annotations

from django.tasks import TaskContext, task

from mergeassist.jobs.actions import run_job_now


@task(takes_context=True)
def run_job(context: TaskContext, job_id: int) -> dict[str, object]:
    worker_ids = context.task_result.worker_ids
    return run_job_now(job_id, worker_id=worker_ids[-1] if worker_ids else "")
