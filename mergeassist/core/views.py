from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mergeassist.core import health


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("customers")


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and operators. 503 only when the database fails: the pages still work when
    the worker or the CRM is down (they show the snapshot), so those are reported, not fatal.
    Reasons in words go to staff only; anonymous callers get the states alone."""
    if not health.database_ok():
        return JsonResponse({"status": "error", "database": "error"}, status=503)
    worker = health.worker_status()
    crm = health.crm_reachability()
    body: dict[str, object] = {
        "status": "ok" if worker["status"] == "ok" and crm.ok else "degraded",
        "database": "ok",
        "worker": worker,
        "crm": {"status": "ok" if crm.ok else "error"},
    }
    if request.user.is_authenticated and request.user.is_staff:
        body["crm"] = {**body["crm"], "message": crm.message}  # type: ignore[dict-item]
    return JsonResponse(body)
