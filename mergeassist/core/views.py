from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mergeassist.core import health
from mergeassist.core.access import has_a_role, landing_page, people_to_ask


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The first page the person's role opens on; without a role, whom to ask for one."""
    if url := landing_page(request.user):
        return redirect(url)
    return render(request, "core/no_role.html", {"admins": people_to_ask()})


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


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403: a page in words, a small fragment for htmx, and "whom to ask" for people with no role."""
    if getattr(request, "htmx", False):
        return render(request, "403.html#access-denied", status=403)
    if request.user.is_authenticated and not has_a_role(request.user):
        return render(request, "core/no_role.html", {"admins": people_to_ask()}, status=403)
    return render(request, "403.html", status=403)


def locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None) -> HttpResponse:
    """django-axes' answer to a locked-out login: the login page, refusing, and saying why and for how long."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        "form": AuthenticationForm(request),
        "locked_out": True,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "lockout_minutes": minutes,
        "next": request.POST.get("next", "") or request.GET.get("next", ""),
    }
    # 429 Too Many Requests: the refusal is about the attempts, not the credentials.
    return render(request, "registration/login.html", context, status=429)
