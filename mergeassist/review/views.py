"""The review screens: the queue, the pair screen with its live merge preview, clusters, "Compare".

One view serves a page and its fragments (htmx asks for a fragment by the id it replaces); every
POST works without JavaScript too (a redirect to the next pair), and with htmx it swaps the next
pair in and records its URL. The actions in `mergeassist.review.actions` do the work.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, push_url

from mergeassist.audit.models import Decision
from mergeassist.crm.client import CrmClient
from mergeassist.crm.errors import CrmError
from mergeassist.crm.models import Customer
from mergeassist.review import actions, display
from mergeassist.review.actions import (
    InvalidChoice,
    MergeOutcome,
    MergeRefused,
    PairNotPending,
    PreviewChanged,
    RiskNotConfirmed,
)
from mergeassist.review.forms import (
    ClusterMergeForm,
    CompareForm,
    MergeForm,
    PairViewForm,
    QueueForm,
    QueuePosition,
    QueueQuery,
    error_summary,
)
from mergeassist.review.models import CandidatePair, Cluster
from mergeassist.review.queue import (
    clusters_to_review,
    next_pair,
    position_of,
    previous_pair,
    queue_page,
)

logger = logging.getLogger(__name__)

REVIEW = "review.review_pairs"
# States in which a pair can still be merged: "failed" means nothing was merged (Retry).
OPEN_STATES = (CandidatePair.State.PENDING, CandidatePair.State.FAILED)


# -- the queue --------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@permission_required(REVIEW, raise_exception=True)
def list_queue(request: HttpRequest) -> HttpResponse:
    form = QueueForm.from_query(request.GET)
    context: dict[str, Any] = {"form": form}
    status = 200
    if form.is_valid():
        query = form.to_query()
        context["page"] = queue_page(request.user, query)
        context["queue_params"] = urlencode(query.params())
        if context["page"].is_first and not query.is_filtered:
            context["clusters"] = clusters_to_review()
    else:
        status = 400
    wants_fragment = request.htmx and not request.htmx.history_restore_request
    template = "review/queue.html#queue-results" if wants_fragment else "review/queue.html"
    return render(request, template, context, status=status)


# -- the pair screen --------------------------------------------------------------------------


def _get_pair_or_404(pair_id: int) -> CandidatePair:
    return get_object_or_404(CandidatePair.objects.select_related("customer_a", "customer_b", "cluster"), pk=pair_id)


def _queue_query(params: QueryDict) -> QueueQuery:
    """The queue's filters carried along (so "next" stays within them); unusable ones are dropped."""
    form = QueueForm.from_query({key: params.get(key, "") for key in ("q", "band", "reason", "subscription")})
    return form.to_query() if form.is_valid() else QueueQuery()


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
@permission_required(REVIEW, raise_exception=True)
def show_pair(request: HttpRequest, pair_id: int) -> HttpResponse:
    pair = _get_pair_or_404(pair_id)
    form = PairViewForm(request.GET)
    if not form.is_valid():
        return _render_pair(request, pair, errors=error_summary(form), status=400)
    primary_id = form.cleaned_data["primary"]
    if primary_id is not None and primary_id not in (pair.customer_a.crm_id, pair.customer_b.crm_id):
        return _render_pair(request, pair, errors=[f"Customer {primary_id} is not one of this pair's customers."], status=400)
    return _render_pair(request, pair, primary_id=primary_id, with_preview=form.cleaned_data["preview"])


def _render_pair(
    request: HttpRequest,
    pair: CandidatePair,
    *,
    primary_id: str | None = None,
    with_preview: bool = False,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    """The pair screen, or the fragment htmx asked for: the preview, or the whole pair (j/k, actions)."""
    context = _pair_context(request, pair, primary_id=primary_id)
    context.update(extra)
    preview_target = f"merge-preview-{pair.pk}"
    if request.htmx and request.htmx.target == preview_target:
        with_preview = True
    if with_preview and pair.state in OPEN_STATES:
        context.update(_preview_context(request, pair, context["primary"], context["secondary"]))
        if "crm_error" in context and status == 200:
            status = 502
        elif "preview_errors" in context and status == 200:
            status = 400
    if request.htmx and not request.htmx.history_restore_request:
        part = "merge-preview" if request.htmx.target == preview_target else "review-pair"
        return render(request, f"review/pair.html#{part}", context, status=status)
    return render(request, "review/pair.html", context, status=status)


def _pair_context(request: HttpRequest, pair: CandidatePair, *, primary_id: str | None) -> dict[str, Any]:
    a, b = pair.customer_a, pair.customer_b
    if primary_id is None:
        choice = actions.suggest_primary(a, b)
        primary, secondary, rule, suggested = choice.primary, choice.secondary, choice.reason, True
    else:
        primary, secondary = (a, b) if primary_id == a.crm_id else (b, a)
        suggested_choice = actions.suggest_primary(a, b)
        suggested = suggested_choice.primary.pk == primary.pk
        rule = suggested_choice.reason if suggested else "you chose it (Swap primary)"
    query = _queue_query(request.GET)
    position = position_of(pair, request.user)
    queue_params = query.params()
    return {
        "pair": pair,
        "primary": primary,
        "secondary": secondary,
        "primary_rule": rule,
        "primary_suggested": suggested,
        "comparison": display.compare(primary, secondary),
        "explanation": display.explanation_rows(pair.explanation),
        "is_open": pair.state in OPEN_STATES,
        "last_decision": Decision.objects.filter(pair=pair).order_by("-created_at", "-id").first(),
        "next_pair": next_pair(request.user, query, position),
        "previous_pair": previous_pair(request.user, query, position),
        "queue_params": urlencode(queue_params),
        "queue_qs": ("?" + urlencode(queue_params)) if queue_params else "",
        "swap_qs": "?" + urlencode({**queue_params, "primary": secondary.crm_id}),
        "preview_qs": "?" + urlencode({**queue_params, "primary": primary.crm_id, "preview": "1"}),
        "in_cluster": pair.cluster if pair.cluster is not None and pair.cluster.size >= 3 else None,
    }


def _preview_context(request: HttpRequest, pair: CandidatePair, primary: Customer, secondary: Customer) -> dict[str, Any]:
    try:
        with CrmClient.for_pages() as client:
            shown = actions.load_preview(
                pair=pair,
                primary_id=primary.crm_id,
                secondary_id=secondary.crm_id,
                reviewer=request.user,
                client=client,
            )
    except InvalidChoice as exc:
        return {"preview_errors": [exc.message]}
    except CrmError as exc:
        # The person reads the message and retries; operators find the details in the log.
        logger.warning("Merge preview of pair %s failed: %r", pair.pk, exc)
        return {"crm_error": exc.message}
    custom_labels = {
        f.key: f.label or f.key for customer in (shown.preview.primary, shown.preview.secondary) for f in customer.fields or ()
    }
    return {
        "shown": shown,
        "conflicts": display.conflict_rows(shown.preview.conflicts, custom_labels),
    }


# -- decisions ---------------------------------------------------------------------------------


@require_POST
@permission_required(REVIEW, raise_exception=True)
def merge_pair(request: HttpRequest, pair_id: int) -> HttpResponse:
    pair = _get_pair_or_404(pair_id)
    form = MergeForm(request.POST)
    if not form.is_valid():
        return _render_pair(request, pair, errors=error_summary(form), status=400, with_preview=not request.htmx)
    data = form.cleaned_data
    position = position_of(pair, request.user)
    try:
        outcome = actions.do_merge(
            pair=pair,
            reviewer=request.user,
            primary_id=data["primary"],
            secondary_id=data["secondary"],
            fingerprint=data["fingerprint"],
            take_secondary=data["take_secondary"],
            confirmed_risks=data["confirm_risks"],
        )
    except MergeRefused as exc:
        return _refused(request, pair, exc, primary_id=data["primary"])
    if outcome.merged:
        return _go_to_next(request, position, _outcome_message(outcome), level=messages.SUCCESS)
    # Failed (nothing merged: Retry) or unknown (someone must look): stay on the pair and say so.
    pair.refresh_from_db()
    return _render_pair(
        request,
        pair,
        primary_id=data["primary"],
        outcome=outcome,
        retry_params=[*_queue_query(request.GET).params().items(), ("primary", data["primary"]), ("preview", "1")],
        status=502 if outcome.decision.outcome == Decision.Outcome.FAILED else 200,
    )


def _outcome_message(outcome: MergeOutcome) -> str:
    return outcome.message


def _refused(request: HttpRequest, pair: CandidatePair, exc: MergeRefused, *, primary_id: str | None) -> HttpResponse:
    """Nothing was merged: say why on the pair screen, with a fresh preview where it helps."""
    pair.refresh_from_db()
    status = 409 if isinstance(exc, (PreviewChanged, PairNotPending)) else 400
    changes = exc.changes if isinstance(exc, PreviewChanged) else []
    risks = exc.risks if isinstance(exc, RiskNotConfirmed) else []
    valid_primary = primary_id if primary_id in (pair.customer_a.crm_id, pair.customer_b.crm_id) else None
    return _render_pair(
        request,
        pair,
        primary_id=valid_primary,
        errors=[exc.message],
        changes=changes,
        refused_risks=risks,
        status=status,
        # Without JavaScript the preview is loaded here; with htmx the fragment loads it itself.
        with_preview=not request.htmx,
    )


@require_POST
@permission_required(REVIEW, raise_exception=True)
def settle_pair(request: HttpRequest, pair_id: int) -> HttpResponse:
    """"Check the CRM again" for a merge whose outcome is unknown: asks, never merges again."""
    pair = _get_pair_or_404(pair_id)
    position = position_of(pair, request.user)
    try:
        with CrmClient.for_pages() as client:
            outcome = actions.do_settle_merge(pair=pair, reviewer=request.user, client=client)
    except MergeRefused as exc:
        return _refused(request, pair, exc, primary_id=None)
    if outcome.merged:
        return _go_to_next(request, position, outcome.message, level=messages.SUCCESS)
    pair.refresh_from_db()
    return _render_pair(request, pair, settled=outcome.message)


@require_POST
@permission_required(REVIEW, raise_exception=True)
def reject_pair(request: HttpRequest, pair_id: int) -> HttpResponse:
    pair = _get_pair_or_404(pair_id)
    position = position_of(pair, request.user)
    try:
        actions.do_reject(pair=pair, reviewer=request.user)
    except MergeRefused as exc:
        return _refused(request, pair, exc, primary_id=None)
    message = f"Not a duplicate: {pair.customer_a.display_name} and {pair.customer_b.display_name} will not be suggested again."
    return _go_to_next(request, position, message, level=messages.INFO)


@require_POST
@permission_required(REVIEW, raise_exception=True)
def skip_pair(request: HttpRequest, pair_id: int) -> HttpResponse:
    pair = _get_pair_or_404(pair_id)
    if pair.state != CandidatePair.State.PENDING:
        return _refused(request, pair, PairNotPending(f"This pair is {pair.get_state_display().lower()}, not pending.", pair), primary_id=None)
    position = position_of(pair, request.user)
    actions.do_skip(pair=pair, reviewer=request.user)
    message = f"Skipped: {pair.customer_a.display_name} and {pair.customer_b.display_name} moved to the end of your queue."
    return _go_to_next(request, position, message, level=messages.INFO)


def _go_to_next(request: HttpRequest, position: QueuePosition, message: str, *, level: int) -> HttpResponse:
    """After a decision: the reviewer's next pair (swapped in with htmx, redirected to without)."""
    query = _queue_query(request.GET)
    following = next_pair(request.user, query, position)
    queue_params = query.params()
    suffix = ("?" + urlencode(queue_params)) if queue_params else ""
    if following is None:
        messages.add_message(request, level, message)
        messages.info(request, "No other pair is waiting for you in this queue.")
        url = reverse("review-queue") + suffix
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    url = reverse("review-pair", args=[following.pk]) + suffix
    if not request.htmx:
        messages.add_message(request, level, message)
        return redirect(url)
    response = _render_pair(request, _get_pair_or_404(following.pk), flash=message, flash_level=level)
    return push_url(response, url)


# -- compare ----------------------------------------------------------------------------------


@require_POST
@permission_required(REVIEW, raise_exception=True)
def compare_customers(request: HttpRequest) -> HttpResponse:
    form = CompareForm(request.POST)
    errors: list[str] = []
    if form.is_valid():
        first, second = form.cleaned_data["customer"]
        try:
            pair = actions.do_compare(reviewer=request.user, crm_id_a=first, crm_id_b=second)
        except MergeRefused as exc:
            errors = [exc.message]
        else:
            return redirect("review-pair", pair.pk)
    else:
        errors = error_summary(form)
    return render(request, "review/compare.html", {"errors": errors}, status=400)


# -- clusters ---------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
@permission_required(REVIEW, raise_exception=True)
def show_cluster(request: HttpRequest, cluster_id: int) -> HttpResponse:
    cluster = get_object_or_404(Cluster, pk=cluster_id)
    form = PairViewForm(request.GET)
    if not form.is_valid():
        context = _cluster_context(request, cluster, primary_id=None)
        return render(request, "review/cluster.html", {**context, "errors": error_summary(form)}, status=400)
    context = _cluster_context(request, cluster, primary_id=form.cleaned_data["primary"])
    status = 400 if context.get("errors") else 200
    target = request.htmx.target if request.htmx else None
    member = next((m for m in context["members"] if target == f"member-preview-{m.pair.pk}"), None)
    if member is not None:
        member = _with_preview(request, member, context["primary"])
        return render(request, "review/cluster.html#member-preview", {**context, "member": member})
    if form.cleaned_data["preview"]:
        context["members"] = [_with_preview(request, m, context["primary"]) for m in context["members"]]
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "review/cluster.html#cluster-review", context, status=status)
    return render(request, "review/cluster.html", context, status=status)


class ClusterMember:
    """One customer to fold into the primary: its pair with the primary and, once loaded, the preview."""

    def __init__(self, pair: CandidatePair, customer: Customer) -> None:
        self.pair = pair
        self.customer = customer
        self.side = display.side_of(customer)
        self.shown: actions.ShownPreview | None = None
        self.conflicts: list[display.ConflictRow] = []
        self.crm_error: str = ""
        self.preview_error: str = ""


def _cluster_customers(cluster: Cluster) -> list[Customer]:
    ids: set[int] = set()
    for a, b in CandidatePair.objects.filter(cluster=cluster).values_list("customer_a_id", "customer_b_id"):
        ids.update((a, b))
    return list(Customer.objects.filter(pk__in=ids, is_gone=False).order_by("crm_id_number", "crm_id"))


def _suggested_primary(customers: list[Customer]) -> Customer:
    """The same rule as for a pair, applied across the group: the winner of each comparison stays."""
    best = customers[0]
    for other in customers[1:]:
        best = actions.suggest_primary(best, other).primary
    return best


def _cluster_context(request: HttpRequest, cluster: Cluster, *, primary_id: str | None) -> dict[str, Any]:
    customers = _cluster_customers(cluster)
    context: dict[str, Any] = {"cluster": cluster, "customers": customers, "members": [], "errors": []}
    if len(customers) < 2:
        context["errors"] = ["This cluster has fewer than two customers left: nothing to merge."]
        context["primary"] = customers[0] if customers else None
        return context
    suggested = _suggested_primary(customers)
    primary = suggested
    if primary_id is not None:
        chosen = next((c for c in customers if c.crm_id == primary_id), None)
        if chosen is None:
            context["errors"] = [f"Customer {primary_id} is not in this cluster."]
        else:
            primary = chosen
    pairs = actions.cluster_member_pairs(cluster=cluster, primary_id=primary.crm_id)
    by_pk = {c.pk: c for c in customers}
    members = []
    for pair in pairs:
        other_pk = pair.customer_b_id if pair.customer_a_id == primary.pk else pair.customer_a_id
        if other_pk in by_pk:
            members.append(ClusterMember(pair, by_pk[other_pk]))
    weakest = CandidatePair.objects.filter(pair_key=cluster.weakest_pair_key).select_related("customer_a", "customer_b").first()
    context.update(
        group_risks=_group_risks(customers),
        primary=primary,
        primary_side=display.side_of(primary),
        suggested=suggested,
        members=members,
        weakest=weakest,
        preview_qs="?" + urlencode({"primary": primary.crm_id, "preview": "1"}),
    )
    return context


def _group_risks(customers: list[Customer]) -> list[str]:
    """What the snapshot already tells before any preview: money on more than one of the group."""
    risks = []
    subscribed = sum(1 for c in customers if c.active_subscriptions)
    carded = sum(1 for c in customers if c.cards_count)
    if subscribed >= 2:
        risks.append(f"{subscribed} customers of this group have active subscriptions")
    if carded >= 2:
        risks.append(f"{carded} customers of this group have saved cards")
    return risks


def _with_preview(request: HttpRequest, member: ClusterMember, primary: Customer) -> ClusterMember:
    try:
        with CrmClient.for_pages() as client:
            member.shown = actions.load_preview(
                pair=member.pair,
                primary_id=primary.crm_id,
                secondary_id=member.customer.crm_id,
                reviewer=request.user,
                client=client,
            )
    except InvalidChoice as exc:
        member.preview_error = exc.message
    except CrmError as exc:
        logger.warning("Merge preview of cluster pair %s failed: %r", member.pair.pk, exc)
        member.crm_error = exc.message
    else:
        member.conflicts = display.conflict_rows(member.shown.preview.conflicts)
    return member


@require_POST
@permission_required(REVIEW, raise_exception=True)
def merge_cluster(request: HttpRequest, cluster_id: int) -> HttpResponse:
    cluster = get_object_or_404(Cluster, pk=cluster_id)
    customers = _cluster_customers(cluster)
    form = ClusterMergeForm(request.POST, member_ids=[c.crm_id for c in customers])
    primary_id = request.POST.get("primary") if request.POST.get("primary") in {c.crm_id for c in customers} else None
    if not form.is_valid():
        context = _cluster_context(request, cluster, primary_id=primary_id)
        context["errors"] = error_summary(form)
        return _render_cluster(request, context, status=400)
    data = form.cleaned_data
    results = actions.do_merge_cluster(
        cluster=cluster,
        reviewer=request.user,
        primary_id=data["primary"],
        members=data["member_fingerprints"],
        take_secondary=data["take_secondary"],
        confirmed_risks=data["confirm_risks"],
    )
    outcomes = [_cluster_result(member_id, result) for (member_id, _), result in zip(data["member_fingerprints"], results)]
    all_merged = len(results) == len(data["member_fingerprints"]) and all(r.ok for r in outcomes)
    if not request.htmx:
        for result in outcomes:
            messages.add_message(request, messages.SUCCESS if result.ok else messages.ERROR, result.message)
        return redirect("review-cluster", cluster.pk)
    context = _cluster_context(request, cluster, primary_id=data["primary"]) if not all_merged else {
        "cluster": cluster, "members": [], "errors": [], "primary": None,
    }
    context.update(outcomes=outcomes, all_merged=all_merged, not_tried=[m for m, _ in data["member_fingerprints"][len(results):]])
    return _render_cluster(request, context, status=200)


class ClusterResult:
    def __init__(self, member_id: str, ok: bool, message: str) -> None:
        self.member_id, self.ok, self.message = member_id, ok, message


def _cluster_result(member_id: str, result: MergeOutcome | MergeRefused) -> ClusterResult:
    if isinstance(result, MergeRefused):
        return ClusterResult(member_id, False, f"Customer {member_id}: not merged. {result.message}")
    return ClusterResult(member_id, result.merged, f"Customer {member_id}: {result.message}")


def _render_cluster(request: HttpRequest, context: dict[str, Any], *, status: int) -> HttpResponse:
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "review/cluster.html#cluster-review", context, status=status)
    return render(request, "review/cluster.html", context, status=status)
