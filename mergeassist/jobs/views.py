"""The jobs panel (progress of the sync and the scan) and its buttons."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from mergeassist.jobs.actions import do_request_job
from mergeassist.jobs.forms import StartJobForm
from mergeassist.jobs.models import Job
from mergeassist.jobs.progress import build_panel, may_start_jobs

PANEL = "jobs/_panel.html"
# Sent with every panel: other parts of a page that show a job's results (the customer list's
# sync status line) refresh on it.
UPDATED_EVENT = "jobs-updated"


@require_GET
def show_jobs_panel(request: HttpRequest) -> HttpResponse:
    """The panel alone: pages that include it poll this while a job is queued or running."""
    response = render(request, PANEL, {"jobs_panel": build_panel(request.user)})
    response["Cache-Control"] = "no-store"
    response["HX-Trigger"] = UPDATED_EVENT
    return response


@require_POST
@vary_on_headers("HX-Request")
def start_job(request: HttpRequest) -> HttpResponse:
    if not may_start_jobs(request.user):
        return HttpResponseForbidden("Only reviewers and administrators can start a sync or a scan.")
    form = StartJobForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Choose Sync now or Scan now.", status=400, content_type="text/plain")
    choice = form.cleaned_data["job"]
    if choice == "full_sync" and not request.user.is_superuser:
        return HttpResponseForbidden("Only an administrator can start a full sync.")
    kind = Job.Kind.SCAN if choice == "scan" else Job.Kind.SYNC
    job, created = do_request_job(kind=kind, requested_by=request.user, full=choice == "full_sync")
    notice = _notice(job, created)
    if request.htmx:
        response = render(request, PANEL, {"jobs_panel": build_panel(request.user), "jobs_notice": notice})
        response["Cache-Control"] = "no-store"
        response["HX-Trigger"] = UPDATED_EVENT
        return response
    messages.info(request, notice)
    target = form.cleaned_data["next"]
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        target = "/customers/"
    return redirect(target)


def _notice(job: Job, created: bool) -> str:
    what = "full sync" if job.full else job.get_kind_display().lower()
    if created:
        return f"The {what} has been queued; its progress shows here."
    state = "running" if job.status == Job.Status.RUNNING else "waiting for a worker"
    return f"A {what} was already {state}: you joined it rather than starting another."
