"""The merge history, one decision's detail, the CSV export, the dashboard, and what can be undone."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from mergeassist.audit import charts
from mergeassist.audit.actions import RevertRefused, do_revert_fields, merge_changes
from mergeassist.audit.dashboard import BAND_WIDTH, dashboard_figures
from mergeassist.audit.forms import DashboardForm, HistoryFilterForm
from mergeassist.audit.history import EXPORT_HEADER, UnknownCursor, export_rows, history_page, reviewer_names
from mergeassist.audit.models import CrmCall, Decision
from mergeassist.core.csvsafe import neutralise_row
from mergeassist.crm.errors import CrmError
from mergeassist.crm.types import CORE_FIELDS

logger = logging.getLogger(__name__)

# Rows per chunk the export hands to the server: small enough to keep memory flat, big enough
# that the per-chunk overhead does not show.
EXPORT_ROWS_PER_CHUNK = 500


@permission_required("audit.view_history", raise_exception=True)
@require_GET
@vary_on_headers("HX-Request")
def list_history(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm.from_query(request.GET, reviewers=reviewer_names())
    context: dict[str, object] = {"form": form}
    status = 200
    if form.is_valid():
        try:
            context["page"] = history_page(form.to_query())
        except UnknownCursor as exc:
            form.add_error(None, str(exc))
            status = 400
    else:
        status = 400
    wants_fragment = request.htmx and not request.htmx.history_restore_request
    template = "audit/history.html#history-results" if wants_fragment else "audit/history.html"
    return render(request, template, context, status=status)


@permission_required("audit.export_history", raise_exception=True)
@require_GET
def export_history(request: HttpRequest) -> HttpResponse:
    """The filtered list (every page of it) as CSV, streamed row chunk by row chunk."""
    form = HistoryFilterForm.from_query(request.GET, reviewers=reviewer_names())
    if not form.is_valid():
        return HttpResponse("Cannot export: " + "; ".join(form.error_summary()), status=400, content_type="text/plain")
    query = replace(form.to_query(), before=None, after=None)
    response = StreamingHttpResponse(_csv_lines(export_rows(query)), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="merge-history-{stamp}.csv"'
    return response


class _Line:
    """csv.writer writes into this and gets the line back, so nothing accumulates."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterator[tuple[object, ...]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(EXPORT_HEADER)
    chunk: list[str] = []
    for row in rows:
        chunk.append(writer.writerow(neutralise_row(row)))
        if len(chunk) >= EXPORT_ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


@permission_required("audit.view_history", raise_exception=True)
@require_GET
def show_decision(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = get_object_or_404(Decision.objects.select_related("reviewer"), pk=decision_id)
    return render(request, "audit/decision.html", _decision_context(request, decision))


def _decision_context(request: HttpRequest, decision: Decision) -> dict[str, object]:
    calls = list(decision.calls.select_related("by"))
    primary, secondary = decision.primary_before or {}, decision.secondary_before or {}
    return {
        "decision": decision,
        "calls": calls,
        "reverts": [c for c in calls if c.step == CrmCall.Step.REVERT and c.method == "PATCH"],
        "fields": [(name, primary.get(name), secondary.get(name)) for name in CORE_FIELDS],
        "choices": sorted(decision.choices.items()) if isinstance(decision.choices, dict) else [],
        "primary_json": json.dumps(primary, indent=2, ensure_ascii=False, sort_keys=True),
        "secondary_json": json.dumps(secondary, indent=2, ensure_ascii=False, sort_keys=True),
        "preview": decision.preview or {},
        "changes": merge_changes(decision),
        "can_revert": request.user.has_perm("audit.revert_fields"),
    }


@permission_required("audit.view_history", raise_exception=True)
@require_GET
def download_secondary(request: HttpRequest, decision_id: int) -> HttpResponse:
    """The deleted secondary's full record as the CRM sent it before the merge, to re-enter by hand."""
    decision = get_object_or_404(Decision, pk=decision_id)
    body = json.dumps(decision.secondary_before, indent=2, ensure_ascii=False, sort_keys=True)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    name = f"customer-{decision.secondary_crm_id}-before-decision-{decision.pk}.json"
    response["Content-Disposition"] = f'attachment; filename="{_safe_filename(name)}"'
    return response


def _safe_filename(name: str) -> str:
    # Ids are opaque strings: keep the header to characters that cannot break out of its quotes.
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in name)


@permission_required("audit.revert_fields", raise_exception=True)
@require_POST
def revert_fields(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = get_object_or_404(Decision, pk=decision_id)
    try:
        outcome = do_revert_fields(decision=decision, user=request.user)
    except RevertRefused as exc:
        level, text, status = messages.ERROR, exc.message, 409
    except CrmError as exc:
        logger.warning("Revert on decision %s failed: %r", decision.pk, exc)
        level, text, status = messages.ERROR, f"Nothing was put back: {exc.message}", 502
    else:
        level, text, status = messages.SUCCESS, outcome.message, 200
    if not request.htmx:
        messages.add_message(request, level, text)
        return redirect("history-detail", decision_id=decision.pk)
    # Re-read the decision and its calls, so the fragment shows the trail as it is now.
    context = _decision_context(request, Decision.objects.get(pk=decision.pk))
    context["revert_message"], context["revert_ok"] = text, level == messages.SUCCESS
    return render(request, "audit/decision.html#revert", context, status=status)


@permission_required("audit.view_history", raise_exception=True)
@require_GET
def show_dashboard(request: HttpRequest) -> HttpResponse:
    form = DashboardForm.from_query(request.GET)
    if not form.is_valid():
        return render(request, "audit/dashboard.html", {"form": form}, status=400)
    figures = dashboard_figures(form.cleaned_data["days"])
    return render(request, "audit/dashboard.html", {"form": form, "figures": figures, "charts": _charts(figures)})


def _charts(figures) -> dict[str, str]:  # noqa: ANN001
    day_labels = [day.strftime("%b %d") for day, _ in figures.merges_per_day]
    markers = []
    band_lows = [b.low for b in figures.bands]
    for value, label, css in (
        (figures.current_threshold, f"now {figures.current_threshold:g}", "marker-current"),
        (figures.suggested_threshold, f"suggested {figures.suggested_threshold}", "marker-suggested"),
    ):
        if value is not None and band_lows:
            # Position in band units: band i covers [low_i, low_i + width).
            position = next((i + (value - low) / BAND_WIDTH for i, low in enumerate(band_lows) if low <= value < low + BAND_WIDTH), None)
            if position is not None:
                markers.append(charts.Marker(position, label, css))
    return {
        "merges": charts.column_chart(
            "chart-merges", "Merges per day", day_labels,
            [charts.Series("merges", [n for _, n in figures.merges_per_day], "bar-ok")],
        ),
        "reviewers": charts.bar_chart(
            "chart-reviewers", "Decisions per reviewer", [r.reviewer for r in figures.per_reviewer],
            [
                charts.Series("merges", [r.merges for r in figures.per_reviewer], "bar-ok"),
                charts.Series("not a duplicate", [r.not_duplicates for r in figures.per_reviewer], "bar-muted"),
            ],
        ),
        "calls": charts.column_chart(
            "chart-crm-calls", "CRM calls per day", day_labels,
            [
                charts.Series("answered", [d.ok for d in figures.calls_per_day], "bar-ok"),
                charts.Series("failed or lost", [d.failed for d in figures.calls_per_day], "bar-error"),
            ],
        ),
        "bands": charts.column_chart(
            "chart-bands", "Suggestions accepted per score band", [b.label for b in figures.bands],
            [charts.Series("accepted", [round(100 * b.share) for b in figures.bands], "bar-ok")],
            percent=True, markers=markers,
        ),
    }  # fmt: skip
