"""Middleware for every logged-in page: private caching, and htmx requests whose session expired."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect


class PrivatePagesMiddleware:
    """Pages shown to a logged-in person carry customer data: no cache may keep them.

    `Cache-Control: private, no-store` keeps shared caches and the browser's back-forward store
    from holding them after logout (htmx's own history cache is off in base.html's htmx-config).
    Responses that set their own no-store (the admin's never_cache) are left as they are.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


class HtmxLoginRedirectMiddleware:
    """An htmx request whose session expired is sent to the login page as a whole page.

    LoginRequiredMiddleware answers it with a redirect that htmx follows inside the request, so the
    login form would be swapped into the results and its URL pushed into the address bar. Instead,
    `HX-Redirect` makes htmx load the login page, with `next` the page the person was on (not the
    fragment's URL). Must come before LoginRequiredMiddleware in MIDDLEWARE.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.headers.get("HX-Request") != "true" or not _is_login_redirect(response):
            return response
        return_to = _page_the_person_is_on(request)
        client_redirect = HttpResponseClientRedirect(redirect_to_login(return_to)["Location"])
        patch_cache_control(client_redirect, private=True, no_store=True)
        return client_redirect


def _is_login_redirect(response: HttpResponse) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308) or "Location" not in response:
        return False
    return urlsplit(response["Location"]).path == resolve_url(settings.LOGIN_URL)


def _page_the_person_is_on(request: HttpRequest) -> str:
    """HX-Current-URL's path and query when it is this site; else the requested path."""
    current = request.headers.get("HX-Current-URL", "")
    if current and url_has_allowed_host_and_scheme(
        current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(current)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.get_full_path()
