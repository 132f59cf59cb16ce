"""Background work for a `db_worker`: the scan can take minutes on a large snapshot."""

from django.tasks import task

from mergeassist.review.scan import do_scan


@task
def scan_snapshot() -> int:
    return do_scan().pk
