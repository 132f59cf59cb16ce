"""The CRM client: the only code in MergeAssist that speaks HTTP (and imports requests).

One `requests.Session` carries the `Authorization: Bearer` header; every call has a timeout.
Failures are retried only where sending the request again cannot do harm:

| call                      | retried on                                                     |
|---------------------------|----------------------------------------------------------------|
| GETs (list, preview, ...) | 429, 5xx, timeouts, dropped or refused connections, bad bodies |
| PATCH fields              | the same: it sets absolute values, so twice is the same as once|
| POST note                 | 429 and refused connections only (the CRM has done nothing)    |
| POST merge                | 429 and refused connections only; a lost answer raises         |
|                           | `CrmOutcomeUnknown`, settled by `settle_merge`, never a resend |

Everything the client assumes about response bodies is in `mergeassist.crm.types` (the adapter).

Two budgets, one per kind of caller; nothing else builds a client:

| constructor                | for                                            | budget                     |
|----------------------------|------------------------------------------------|----------------------------|
| `CrmClient.for_pages()`    | a person waiting: /customers/, fragments, and  | about 3 s in all, one      |
|                            | the review screens' previews                   | quick retry, then the page |
|                            |                                                | says so (or falls back)    |
| `CrmClient.for_jobs()`     | the sync, the merge itself, background tasks   | patient: 10 s a try, 5     |
| (`from_settings()` alias)  |                                                | retries with backoff       |

The review screens use `for_pages()` for previews and `for_jobs()` for the merge: a merge must
not give up on a slow CRM half-way (a lost answer is settled, never resent).

Ids are canonical (`mergeassist.crm.ids`) in every request and result, and the client refuses to
ask the CRM to merge a customer into itself however its ids are spelt (`CrmValidationError`).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from mergeassist.crm.errors import (
    CrmAuthError,
    CrmError,
    CrmNotFound,
    CrmOutcomeUnknown,
    CrmRateLimited,
    CrmUnavailable,
    CrmUnexpectedResponse,
    CrmValidationError,
)
from mergeassist.crm.ids import InvalidCrmId, canonical_id, same_customer
from mergeassist.crm.types import (
    CORE_FIELDS,
    EXPANSIONS,
    Card,
    Conflict,
    CrmCustomer,
    CustomerPage,
    CustomField,
    Integration,
    MalformedBody,
    MergePreview,
    MergeResult,
    MergeSettlement,
    Note,
    SettlementOutcome,
    SkippedCustomer,
    Stats,
    Subscription,
    field_update_body,
    list_params,
    note_body,
    parse_customer,
    parse_customer_page,
    parse_error,
    parse_json,
    parse_merge_preview,
    parse_merge_result,
    parse_note,
)

__all__ = [
    "CORE_FIELDS",
    "EXPANSIONS",
    "Card",
    "Conflict",
    "CrmAuthError",
    "CrmClient",
    "CrmCustomer",
    "CrmError",
    "CrmNotFound",
    "CrmOutcomeUnknown",
    "CrmRateLimited",
    "CrmUnavailable",
    "CrmUnexpectedResponse",
    "CrmValidationError",
    "CustomField",
    "CustomerPage",
    "Integration",
    "MergePreview",
    "MergeResult",
    "MergeSettlement",
    "Note",
    "SettlementOutcome",
    "SkippedCustomer",
    "Stats",
    "Subscription",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A misbehaving CRM must not park a sync for an hour: its Retry-After advice is followed up to this.
MAX_RETRY_AFTER_SECONDS = 60.0
# The exponential backoff stops growing here, however many retries are configured.
MAX_BACKOFF_SECONDS = 30.0
# Under a budget, a try is not started with less time than this left.
MIN_TRY_SECONDS = 0.25


@dataclass(frozen=True)
class _RetryPolicy:
    """Which failures a call may be sent again after.

    Two kinds of failure are always safe to retry, whatever the call: a 429 (the rate limiter
    refused the request before the CRM handled it) and a connection that was never made (refused,
    or a connect timeout: no byte of the request reached the CRM).

    A *lost answer* (read timeout, connection dropped after sending, 5xx, unreadable body) is
    different: the CRM may have done the work. Sending again is only safe for idempotent calls.
    """

    name: str
    retry_lost_answer: bool


# GETs change nothing. PATCH sets fields to absolute values: sending the same body twice leaves the
# customer as sending it once would, so a lost PATCH answer is safe to retry too.
IDEMPOTENT = _RetryPolicy("idempotent", retry_lost_answer=True)
# A note sent twice is two notes; a merge sent twice merges into whatever the secondary id means
# by then (or 404s, hiding that the first one worked). A lost answer is reported, never resent.
AT_MOST_ONCE = _RetryPolicy("at-most-once", retry_lost_answer=False)


class _Retry(Exception):
    """One attempt failed in a way the policy allows retrying; `error` is raised if none are left."""

    def __init__(self, error: CrmError, *, delay: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.delay = delay


class _LostAnswer(Exception):
    """The request may have reached the CRM, but its answer did not reach us."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class CrmClient:
    """Talks to the CRM's customer API (or the sandbox) and returns typed results.

    Every public method raises only `CrmError` subclasses; `requests_made` counts HTTP attempts,
    retries included, for progress lines and benchmarks.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10,
        retries: int = 5,
        backoff: float = 0.5,
        max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
        budget: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self.max_retry_after = max_retry_after
        # Seconds one call may take in all, retries and waits included (None: only the per-try timeout).
        self.budget = budget
        self.requests_made = 0
        self._host = _host_of(self.base_url)
        self._session = requests.Session()
        # The key lives only in the session's headers: never in an attribute, a message or a repr.
        self._session.headers.update(
            {
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": "MergeAssist/0.1 (+crm-client)",
            }
        )
        # Our own retries decide what is safe to resend; urllib3 must not resend anything itself.
        adapter = HTTPAdapter(max_retries=0, pool_connections=1, pool_maxsize=4)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    @classmethod
    def for_jobs(cls) -> CrmClient:
        """The patient client, for the sync, the merge and background tasks.

        settings.MERGEASSIST_CRM_TIMEOUT a try, MERGEASSIST_CRM_RETRIES retries with exponential
        backoff from MERGEASSIST_CRM_BACKOFF, a rate limit's Retry-After followed up to a minute.
        """
        from django.conf import settings

        return cls(
            settings.MERGEASSIST_CRM_URL,
            settings.MERGEASSIST_CRM_API_KEY,
            timeout=settings.MERGEASSIST_CRM_TIMEOUT,
            retries=settings.MERGEASSIST_CRM_RETRIES,
            backoff=settings.MERGEASSIST_CRM_BACKOFF,
        )

    @classmethod
    def from_settings(cls) -> CrmClient:
        """The patient client (`for_jobs`); kept under this name for code written before the split."""
        return cls.for_jobs()

    @classmethod
    def for_pages(cls) -> CrmClient:
        """The short-budget client, for a person waiting on a page or a fragment.

        Every call ends within settings.MERGEASSIST_CRM_PAGE_BUDGET seconds (about 3) in all:
        tries, the wait between them and a rate limit's Retry-After share it, so a slow or failing
        CRM is reported (or the page falls back to the snapshot) instead of holding the page.
        """
        from django.conf import settings

        budget = settings.MERGEASSIST_CRM_PAGE_BUDGET
        return cls(
            settings.MERGEASSIST_CRM_URL,
            settings.MERGEASSIST_CRM_API_KEY,
            timeout=min(settings.MERGEASSIST_CRM_PAGE_TIMEOUT, budget),
            retries=settings.MERGEASSIST_CRM_PAGE_RETRIES,
            backoff=min(settings.MERGEASSIST_CRM_BACKOFF, 0.2),
            max_retry_after=budget,
            budget=budget,
        )

    def __repr__(self) -> str:
        return (
            f"CrmClient(base_url={_without_credentials(self.base_url)!r}, api_key='***', "
            f"timeout={self.timeout}, retries={self.retries}, budget={self.budget})"
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the five endpoints ---------------------------------------------------------------------

    def list_customers(
        self,
        *,
        page: int = 1,
        per_page: int = 25,
        include: Sequence[str] = (),
        search: str | None = None,
        filters: Mapping[str, str] | None = None,
        sort: str | None = None,
    ) -> CustomerPage:
        """One page of customers.

        `filters` keys are the CRM's filter names without the brackets: {"email": ...},
        {"email.contains": ...}, {"id.gte": "101"}. `sort` is a field name, "-" first for
        descending. `include` names expansions (see EXPANSIONS). Retried on every transient failure.
        """
        params = list_params(
            page=page, per_page=per_page, include=tuple(include), search=search, filters=filters, sort=sort
        )
        return self._request(
            "GET",
            "/v2/customers/",
            params=params,
            parse=parse_customer_page,
            policy=IDEMPOTENT,
            what="customer list",
        )

    def iter_pages(
        self,
        *,
        per_page: int = 100,
        include: Sequence[str] = (),
        filters: Mapping[str, str] | None = None,
        sort: str | None = None,
        start_page: int = 1,
    ) -> Iterator[CustomerPage]:
        """Pages from `start_page` on, fetched one at a time as the caller consumes them.

        Stops after the last page by `meta`, and also after an empty or short page, so a CRM whose
        `meta` is wrong cannot make it loop. Page numbers shift if customers are added or removed
        while paging; the sync pages by id instead (see mergeassist.crm.sync).
        """
        page = start_page
        while True:
            result = self.list_customers(
                page=page, per_page=per_page, include=include, filters=filters, sort=sort
            )
            yield result
            if result.is_last:
                return
            page += 1

    def update_fields(self, customer_id: str, values: Mapping[str, str | None]) -> CrmCustomer:
        """Set core or custom fields (None clears one) and return the customer after the update.

        Retried like a GET: the body holds absolute values, so a repeat changes nothing more.
        """
        customer_id = _checked_id(customer_id)
        return self._request(
            "PATCH",
            f"/v2/customers/{_quote(customer_id)}",
            json=field_update_body(values),
            parse=parse_customer,
            policy=IDEMPOTENT,
            what=f"customer {customer_id}",
        )

    def add_note(self, customer_id: str, text: str) -> Note:
        """Add a note to the customer's activity history.

        Not idempotent: a lost answer raises `CrmOutcomeUnknown` (the note may exist) rather than
        risking a second copy. Callers that must deliver it (an outbox) decide whether to resend.
        """
        customer_id = _checked_id(customer_id)
        return self._request(
            "POST",
            f"/v2/customers/{_quote(customer_id)}/notes",
            json=note_body(text),
            parse=parse_note,
            policy=AT_MOST_ONCE,
            what=f"customer {customer_id}",
            lost_answer=f"The CRM did not confirm the note on customer {customer_id}",
        )

    def preview_merge(self, primary_id: str, secondary_id: str) -> MergePreview:
        """What merging `secondary_id` into `primary_id` would do; changes nothing in the CRM.

        The preview's `fingerprint` changes whenever either customer or the conflicts change.
        Raises `CrmValidationError` without calling the CRM when both ids name one customer.
        """
        primary_id, secondary_id = _distinct_pair(primary_id, secondary_id)
        return self._request(
            "GET",
            _merge_path(primary_id, secondary_id),
            parse=parse_merge_preview,
            policy=IDEMPOTENT,
            what=f"customer {primary_id} or {secondary_id}",
        )

    def merge(self, primary_id: str, secondary_id: str) -> MergeResult:
        """Merge `secondary_id` into `primary_id` (the secondary is deleted). Not reversible.

        Raises `CrmOutcomeUnknown` when the request may have reached the CRM but its answer was
        lost (timeout, dropped connection, 5xx, unreadable body). Never resend then: call
        `settle_merge` to learn what happened.

        Raises `CrmValidationError` without calling the CRM when both ids name one customer
        ("041" and "41" too): some CRMs delete a customer merged into itself.
        """
        primary_id, secondary_id = _distinct_pair(primary_id, secondary_id)
        return self._request(
            "POST",
            _merge_path(primary_id, secondary_id),
            json={},
            parse=parse_merge_result,
            policy=AT_MOST_ONCE,
            what=f"customer {primary_id} or {secondary_id}",
            lost_answer=f"The CRM did not confirm the merge of customer {secondary_id} into {primary_id}",
        )

    # -- checks built on the list endpoint -------------------------------------------------------

    def customer_exists(self, customer_id: str) -> bool:
        """True if the CRM still has this customer (a merged-away secondary does not)."""
        customer_id = _checked_id(customer_id)
        page = self.list_customers(page=1, per_page=1, filters={"id": customer_id})
        return any(same_customer(listed, customer_id) for listed in page.ids_in_order)

    def settle_merge(self, primary_id: str, secondary_id: str) -> MergeSettlement:
        """Settle a merge whose answer was lost, by asking which of the two customers still exist.

        Merged if the secondary is gone and the primary exists; not merged if the secondary still
        exists; unclear if both are gone (someone else merged or deleted them).
        """
        primary_id, secondary_id = _distinct_pair(primary_id, secondary_id)
        secondary_exists = self.customer_exists(secondary_id)
        primary_exists = self.customer_exists(primary_id)
        return MergeSettlement(
            primary_id=primary_id,
            secondary_id=secondary_id,
            primary_exists=primary_exists,
            secondary_exists=secondary_exists,
        )

    # -- transport -------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[Any], T],
        policy: _RetryPolicy,
        what: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        lost_answer: str = "",
    ) -> T:
        """Send one call, retrying what `policy` allows, and parse its answer with `parse`."""
        deadline = time.monotonic() + self.budget if self.budget is not None else None
        last_retry: _Retry | None = None
        for attempt in range(self.retries + 1):
            timeout = self.timeout
            if last_retry is not None:
                delay = self._delay_before_retry(attempt, last_retry)
                if deadline is not None and deadline - time.monotonic() - delay < MIN_TRY_SECONDS:
                    break  # no time left for another try within the budget
                logger.warning(
                    "CRM %s %s failed (%s); retry %d of %d in %.2fs",
                    method, path, last_retry.error.message, attempt, self.retries, delay,
                )  # fmt: skip
                time.sleep(delay)
            if deadline is not None:
                timeout = max(MIN_TRY_SECONDS, min(self.timeout, deadline - time.monotonic()))
            try:
                return self._attempt(
                    method, path, params=params, json=json, parse=parse, policy=policy, what=what,
                    timeout=timeout,
                )  # fmt: skip
            except _Retry as retry:
                last_retry = retry
            except _LostAnswer as lost:
                if policy.retry_lost_answer:
                    last_retry = _Retry(self._unavailable(lost.reason, lost.status))
                    continue
                raise CrmOutcomeUnknown(
                    f"{lost_answer} ({lost.reason}); it may or may not have happened. "
                    "Check the CRM before trying again.",
                    status=lost.status,
                ) from None
        assert last_retry is not None
        raise last_retry.error

    def _attempt(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        parse: Callable[[Any], T],
        policy: _RetryPolicy,
        what: str,
        timeout: float,
    ) -> T:
        self.requests_made += 1
        try:
            response = self._session.request(
                method, self.base_url + path, params=params, json=json, timeout=timeout
            )
        except (
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidURL,
        ):
            # Without its user-info: a URL typed with credentials must not show them to every user.
            raise CrmError(
                f"MERGEASSIST_CRM_URL ({_without_credentials(self.base_url)!r}) is not a valid http(s) URL."
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise _Retry(self._unavailable(f"no connection within {round(timeout, 1):g}s")) from None
        except requests.exceptions.ConnectionError as exc:
            if _was_refused(exc):
                raise _Retry(self._unavailable("connection refused")) from None
            raise _LostAnswer("the connection dropped") from None
        except requests.exceptions.Timeout:
            raise _LostAnswer(f"no answer within {round(timeout, 1):g}s") from None
        except requests.exceptions.RequestException as exc:  # e.g. a body cut short mid-way
            raise _LostAnswer(f"the answer broke off: {type(exc).__name__}") from None

        status = response.status_code
        if 200 <= status < 300:
            try:
                return parse(parse_json(response.content))
            # The adapter checks every type it reads, so its verdict is the only failure here
            # (tests/crm/test_parser_properties.py feeds it arbitrary JSON to show it).
            except MalformedBody as exc:
                if policy.retry_lost_answer:
                    raise _Retry(
                        CrmUnexpectedResponse(
                            f"The CRM at {self._host} sent an answer MergeAssist cannot read ({exc}).",
                            status=status,
                        )
                    ) from None
                raise _LostAnswer(f"unreadable answer: {exc}", status=status) from None
        message, field_errors = parse_error(response.content)
        if status in (401, 403):
            raise CrmAuthError(status=status)
        if status == 404:
            raise CrmNotFound(f"The CRM has no {what}; it may have been merged away or deleted.", status=404)
        if status == 422:
            raise CrmValidationError(
                _validation_message(message, field_errors), field_errors=field_errors, status=422
            )
        if status == 429:
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            advice = (
                f"Try again in {retry_after:g} seconds." if retry_after is not None else "Try again shortly."
            )
            raise _Retry(
                CrmRateLimited(
                    f"The CRM at {self._host} is rate-limiting MergeAssist. {advice}",
                    retry_after=retry_after,
                    status=429,
                ),
                delay=retry_after,
            )
        if status >= 500:
            if policy.retry_lost_answer:
                raise _Retry(self._unavailable(f"HTTP {status}", status))
            raise _LostAnswer(f"HTTP {status}", status=status)
        raise CrmError(
            f"The CRM answered HTTP {status}: {message or response.reason or 'no reason given'}.",
            status=status,
        )

    def _delay_before_retry(self, attempt: int, retry: _Retry) -> float:
        """Exponential backoff with jitter; a 429's Retry-After (capped) when it asks for longer."""
        backoff = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
        # Jitter keeps several workers that failed together from retrying in lockstep.
        delay = backoff * random.uniform(0.5, 1.0)
        if retry.delay is not None:
            delay = max(delay, min(retry.delay, self.max_retry_after))
        return delay

    def _unavailable(self, reason: str, status: int | None = None) -> CrmUnavailable:
        return CrmUnavailable(
            f"The CRM at {self._host} is not answering ({reason}). Try again in a few minutes.", status=status
        )


def _quote(customer_id: str) -> str:
    return quote(str(customer_id), safe="")


def _checked_id(customer_id: object) -> str:
    """The id's canonical spelling, or CrmValidationError before any request is sent."""
    try:
        return canonical_id(customer_id)
    except InvalidCrmId as exc:
        raise CrmValidationError(
            f"MergeAssist refused to send the request: {exc}.", field_errors={"id": [str(exc)]}, status=None
        ) from None


def _distinct_pair(primary_id: object, secondary_id: object) -> tuple[str, str]:
    primary, secondary = _checked_id(primary_id), _checked_id(secondary_id)
    if same_customer(primary, secondary):
        raise CrmValidationError(
            f"A customer cannot be merged into itself (ids {primary_id} and {secondary_id} are both "
            f"customer {primary}).",
            field_errors={"secondary_id": ["Must differ from primary_id."]},
            status=None,
        )
    return primary, secondary


def _without_credentials(url: str) -> str:
    """The URL with any user-info (user:password@) taken out, for messages and logs."""
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{head}{sep}{authority}{slash}{path}"


def _merge_path(primary_id: str, secondary_id: str) -> str:
    return f"/v2/customers/{_quote(primary_id)}/merge/{_quote(secondary_id)}"


def _host_of(base_url: str) -> str:
    # Host and port only: a URL may carry credentials or paths that have no place in a message.
    parts = urlsplit(base_url)
    if not parts.hostname:
        return _without_credentials(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def _was_refused(exc: requests.exceptions.ConnectionError) -> bool:
    """True when no connection was made, so the CRM cannot have seen the request."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit() alone lets "¹" through to float()
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _validation_message(message: str, field_errors: dict[str, list[str]]) -> str:
    details = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in field_errors.items())
    text = f"The CRM rejected the request: {message or 'validation failed'}"
    return f"{text} ({details})." if details else f"{text}."
