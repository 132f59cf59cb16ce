"""The sandbox CRM's five endpoints, serving docs/vendor-api/openapi.yaml.

Every view is thin: check the key, draw the faults, parse, call one action, answer JSON.
"""

from __future__ import annotations

import functools
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from mergeassist.sandbox import actions, faults
from mergeassist.sandbox.listing import (
    DEFAULT_PER_PAGE,
    CustomerListForm,
    matching_customers,
    page_links,
    page_of,
)
from mergeassist.sandbox.serialize import customer_json, error_json, note_json, with_includes

View = Callable[..., HttpResponse]


def _error(status: int, message: str, errors: dict[str, list[str]] | None = None) -> JsonResponse:
    return JsonResponse(error_json(message, errors), status=status)


def _has_valid_key(request: HttpRequest) -> bool:
    expected = settings.MERGEASSIST_CRM_API_KEY
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # An empty configured key must never let an empty header in.
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), expected.encode())
    )


def sandbox_api(endpoint: str, methods: tuple[str, ...]) -> Callable[[View], View]:
    """Make a view a sandbox API endpoint: no login or CSRF, Bearer key, JSON errors, faults.

    The same five checks wrap all five endpoints, which is why this is a decorator.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = _error(405, f"Method {request.method} not allowed; use {', '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            if not _has_valid_key(request):
                response = _error(401, "Unauthenticated: send Authorization: Bearer <API key>.")
                response["WWW-Authenticate"] = "Bearer"
                return response
            with actions.request_lock:
                decision = faults.decide_faults(endpoint)
            if decision.before:
                return _fault_instead_of_answer(decision, request)
            if decision.slow:
                time.sleep(decision.delay)
            try:
                with actions.request_lock:
                    response = view(request, **kwargs)
            except actions.CustomerNotFound as missing:
                response = _error(404, str(missing))
            except actions.InvalidRequest as invalid:
                response = _error(422, str(invalid), invalid.errors)
            except RequestDataTooBig:
                # Django's own refusal is a 400 HTML page; the contract's clients read JSON.
                response = _error(
                    413,
                    f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.",
                    {"body": ["Send a smaller body."]},
                )
            return _fault_after_answer(decision, request, response)

        return login_not_required(csrf_exempt(wrapper))

    return decorate


def _fault_instead_of_answer(decision: faults.FaultDecision, request: HttpRequest) -> HttpResponse:
    if decision.before == "drop":
        return faults.dropped_connection(request)
    if decision.before == "5xx":
        return faults.server_error(decision.server_status)
    return faults.too_many_requests(decision.retry_after)


def _fault_after_answer(
    decision: faults.FaultDecision, request: HttpRequest, response: HttpResponse
) -> HttpResponse:
    """The work is done and committed; the client may still not get to know it."""
    if decision.after == "drop_after":
        return faults.dropped_connection(request)
    if decision.after == "malformed":
        return faults.malformed(response)
    return response


def _json_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    # RecursionError: json.loads recurses once per level, so a body of 100,000 "[" ends there.
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise actions.InvalidRequest(
            "The body is not valid JSON.", {"body": ["Send a JSON document."]}
        ) from None


@sandbox_api("list", methods=("GET",))
def list_customers(request: HttpRequest) -> HttpResponse:
    form = CustomerListForm(request.GET)
    if not form.is_valid():
        return _error(422, "The query parameters are invalid.", form.error_dict())
    params = form.cleaned_data
    page = page_of(
        with_includes(matching_customers(params), params["include"]),
        params["page"] or 1,
        params["per_page"] or DEFAULT_PER_PAGE,
    )
    return JsonResponse(
        {
            "data": [customer_json(customer, params["include"]) for customer in page.customers],
            "links": page_links(request.build_absolute_uri(request.path), request.GET, page),
            "meta": {
                "current_page": page.number,
                "per_page": page.per_page,
                "last_page": page.last_page,
                "total": page.total,
                "from": page.first_index,
                "to": page.last_index,
            },
        }
    )


@sandbox_api("patch", methods=("PATCH",))
def update_customer(request: HttpRequest, customer_id: str) -> HttpResponse:
    actions.get_customer(customer_id)  # 404 before 422, like the vendor
    updates = actions.parse_field_updates(_json_body(request))
    actions.do_update_customer_fields(customer_id=customer_id, updates=updates)
    return JsonResponse(actions.full_customer_json(customer_id))


@sandbox_api("note", methods=("POST",))
def add_note(request: HttpRequest, customer_id: str) -> HttpResponse:
    actions.get_customer(customer_id)
    note = actions.do_add_note(customer_id=customer_id, text=actions.parse_note(_json_body(request)))
    return JsonResponse(note_json(note), status=201)


@sandbox_api("preview", methods=("GET",))
def preview_merge(request: HttpRequest, primary_id: str, secondary_id: str) -> HttpResponse:
    return JsonResponse(actions.merge_preview(primary_id, secondary_id))


@sandbox_api("merge", methods=("POST",))
def merge_customers(request: HttpRequest, primary_id: str, secondary_id: str) -> HttpResponse:
    outcome = actions.do_merge_customers(primary_id=primary_id, secondary_id=secondary_id)
    return JsonResponse({"customer": outcome.customer, "transferred": outcome.transferred})


@login_not_required
@csrf_exempt
def merge(request: HttpRequest, primary_id: str, secondary_id: str) -> HttpResponse:
    """One URL, two operations: GET previews, POST merges (each with its own faults)."""
    if request.method == "POST":
        return merge_customers(request, primary_id=primary_id, secondary_id=secondary_id)
    if request.method == "GET":
        return preview_merge(request, primary_id=primary_id, secondary_id=secondary_id)
    response = _error(405, f"Method {request.method} not allowed; use GET, POST.")
    response["Allow"] = "GET, POST"
    return response
