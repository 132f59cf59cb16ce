"""Fault injection for the sandbox API: rate limits, 5xx, slow answers, dropped connections, bad JSON.

A profile is a comma-separated spec (the full syntax is in docs/sandbox.md):

    list.5xx=0.1, list.429=0.1, merge.drop_after=1, list.5xx.times=3, seed=42, delay=0.5, retry_after=0

`<endpoint>.<fault>=<probability>` where endpoint is list, patch, note, preview, merge or `*` (all),
and fault is one of FAULTS. `<endpoint>.<fault>.times=N` lets that fault fire at most N times.
`seed=N` makes the draws reproducible, `delay=S` is how long a slow answer waits (seconds),
`retry_after=S` is the Retry-After a 429 sends (whole seconds).

The active profile lives in the FaultProfile table so the management command, the test thread and
the server's request threads all see the same one. When no profile was ever set, the environment
variable MERGEASSIST_SANDBOX_FAULTS supplies it.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone

from mergeassist.sandbox.models import FaultCounter, FaultProfile

ENV_VAR = "MERGEASSIST_SANDBOX_FAULTS"
ENDPOINTS = ("list", "patch", "note", "preview", "merge")
# Faults that replace the answer (nothing happens), in the order they are tried.
FAULTS_BEFORE = ("drop", "5xx", "429")
# Faults that spoil the answer after the work was done (the change is committed).
FAULTS_AFTER = ("drop_after", "malformed")
FAULTS = (*FAULTS_BEFORE, "slow", *FAULTS_AFTER)
SERVER_ERROR_STATUSES = (500, 502, 503)


@dataclass(frozen=True)
class FaultRule:
    probability: float
    times: int | None = None  # None: no limit


@dataclass(frozen=True)
class FaultPlan:
    rules: dict[str, FaultRule] = field(default_factory=dict)  # "list.5xx" or "*.5xx" -> rule
    seed: int | None = None
    delay: float = 1.0
    retry_after: int = 1

    def rule_for(self, endpoint: str, fault: str) -> tuple[str, FaultRule] | None:
        """The endpoint's own rule wins over the `*` rule."""
        for target in (f"{endpoint}.{fault}", f"*.{fault}"):
            if target in self.rules:
                return target, self.rules[target]
        return None

    def touches(self, endpoint: str) -> bool:
        return any(target.split(".")[0] in (endpoint, "*") for target in self.rules)


@dataclass(frozen=True)
class FaultDecision:
    before: str | None = None  # "drop", "5xx" or "429"
    slow: bool = False
    after: str | None = None  # "drop_after" or "malformed"
    server_status: int = 500
    delay: float = 1.0  # seconds, when slow
    retry_after: int = 1  # seconds, on a 429


NO_FAULT = FaultDecision()


class FaultSpecError(ValueError):
    pass


def parse_fault_spec(spec: str) -> FaultPlan:
    """Turn `list.5xx=0.1,seed=42` into a FaultPlan, or raise FaultSpecError saying what is wrong."""
    probabilities: dict[str, float] = {}
    times: dict[str, int] = {}
    options: dict[str, float] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, sep, raw_value = (piece.strip() for piece in item.partition("="))
        if not sep:
            raise FaultSpecError(f"{item!r} needs a value: write it as name=value")
        if name in ("seed", "retry_after"):
            options[name] = _parse_number(name, raw_value, whole=True)
        elif name == "delay":
            options[name] = _parse_number(name, raw_value, whole=False)
        elif name.endswith(".times"):
            target = name.removesuffix(".times")
            _check_target(target)
            times[target] = int(_parse_number(name, raw_value, whole=True))
        else:
            _check_target(name)
            probability = _parse_number(name, raw_value, whole=False)
            if probability > 1:
                raise FaultSpecError(f"{name} is a probability between 0 and 1, not {raw_value}")
            probabilities[name] = probability
    for target in times:
        if target not in probabilities:
            # `list.5xx.times=3` alone means "fail exactly the next 3 calls".
            probabilities[target] = 1.0
    return FaultPlan(
        rules={target: FaultRule(p, times.get(target)) for target, p in probabilities.items()},
        seed=int(options["seed"]) if "seed" in options else None,
        delay=options.get("delay", 1.0),
        retry_after=int(options.get("retry_after", 1)),
    )


def _parse_number(name: str, raw: str, *, whole: bool) -> float:
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise FaultSpecError(f"{name} must be {kind}, not {raw!r}") from None
    if value < 0:
        raise FaultSpecError(f"{name} must not be negative")
    return value


def _check_target(target: str) -> None:
    endpoint, _, fault = target.partition(".")
    if endpoint not in (*ENDPOINTS, "*"):
        raise FaultSpecError(
            f"unknown endpoint {endpoint!r} in {target!r}; use one of {', '.join(ENDPOINTS)} or *"
        )
    if fault not in FAULTS:
        raise FaultSpecError(f"unknown fault {fault!r} in {target!r}; use one of {', '.join(FAULTS)}")


def set_fault_profile(spec: str, *, source: str = "command") -> FaultPlan:
    """Make `spec` the active profile for every process, and start its counters afresh."""
    plan = parse_fault_spec(spec)
    with transaction.atomic():
        FaultProfile.objects.update_or_create(
            pk=1, defaults={"spec": spec.strip(), "source": source, "set_at": timezone.now()}
        )
        FaultCounter.objects.all().delete()
    return plan


def clear_fault_profile() -> None:
    """No faults from now on, whatever the environment says, until a profile is set again."""
    set_fault_profile("")


def active_fault_profile() -> FaultProfile | None:
    profile = FaultProfile.objects.filter(pk=1).first()
    if profile is not None:
        return profile
    env_spec = os.environ.get(ENV_VAR, "").strip()
    if not env_spec:
        return None
    # Copy the environment's profile into the table once, so counters and `--show` work the same way.
    try:
        set_fault_profile(env_spec, source="env")
    except IntegrityError:  # another thread copied it first
        pass
    return FaultProfile.objects.filter(pk=1).first()


def decide_faults(endpoint: str) -> FaultDecision:
    """Draw this call's faults under the active profile. Cheap (one query) when there is none."""
    profile = active_fault_profile()
    if profile is None or not profile.spec:
        return NO_FAULT
    plan = parse_fault_spec(profile.spec)
    if not plan.touches(endpoint):
        return NO_FAULT
    call_number = _count(f"calls:{endpoint}")

    def fires(fault: str) -> bool:
        found = plan.rule_for(endpoint, fault)
        if found is None:
            return False
        target, rule = found
        if _draw(plan.seed, endpoint, call_number, fault) >= rule.probability:
            return False
        return rule.times is None or _count_if_below(f"fired:{target}", rule.times)

    before = next((fault for fault in FAULTS_BEFORE if fires(fault)), None)
    if before is not None:
        status_draw = _draw(plan.seed, endpoint, call_number, "status")
        return FaultDecision(
            before=before,
            server_status=SERVER_ERROR_STATUSES[int(status_draw * len(SERVER_ERROR_STATUSES))],
            retry_after=plan.retry_after,
        )
    return FaultDecision(
        slow=fires("slow"), after=next((f for f in FAULTS_AFTER if fires(f)), None), delay=plan.delay
    )


def _draw(seed: int | None, endpoint: str, call_number: int, fault: str) -> float:
    if seed is None:
        return random.random()
    # A string seed hashes the same in every process (unlike hash()), so draws are reproducible.
    return random.Random(f"{seed}:{endpoint}:{call_number}:{fault}").random()


def _count(key: str) -> int:
    """Add one to a counter and return its new value."""
    with transaction.atomic():
        counter, _ = FaultCounter.objects.select_for_update().get_or_create(key=key)
        counter.count = F("count") + 1
        counter.save(update_fields=["count"])
        counter.refresh_from_db(fields=["count"])
        return counter.count


def _count_if_below(key: str, limit: int) -> bool:
    """Add one to a counter unless it reached `limit`; True when it was added."""
    with transaction.atomic():
        FaultCounter.objects.get_or_create(key=key)
        return FaultCounter.objects.filter(key=key, count__lt=limit).update(count=F("count") + 1) == 1


# The answers a fault gives instead of (or on top of) the real one.


def too_many_requests(retry_after: int) -> JsonResponse:
    response = JsonResponse({"message": f"Too many requests. Retry after {retry_after} seconds."}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def server_error(status: int) -> JsonResponse:
    return JsonResponse({"message": "The CRM had a problem answering. Please try again."}, status=status)


def malformed(response: HttpResponse) -> HttpResponse:
    """The real answer cut in half: valid headers, a status, and JSON that does not parse."""
    body = response.content
    return HttpResponse(
        body[: max(1, len(body) // 2)], status=response.status_code, content_type="application/json"
    )


def dropped_connection(request: HttpRequest) -> StreamingHttpResponse:
    """Close the client's connection without sending a byte, so it sees RemoteDisconnected.

    Raising in a view only earns a 500. Instead the body iterator shuts the socket down (so the
    development server does not wait for another request on a keep-alive connection) and raises
    ConnectionResetError, which wsgiref treats as "the client went away" and answers with nothing.
    """
    client_socket = _client_socket(request.environ)

    def drop() -> Iterator[bytes]:
        if client_socket is not None:
            try:
                client_socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise ConnectionResetError("sandbox fault: connection dropped")
        yield b""  # pragma: no cover - makes this a generator

    return StreamingHttpResponse(drop(), content_type="application/json")


def _client_socket(environ: dict) -> socket.socket | None:
    """The client's socket under gunicorn or Django's development/live server; None elsewhere."""
    if isinstance(environ.get("gunicorn.socket"), socket.socket):
        return environ["gunicorn.socket"]
    # runserver and live_server: wsgi.input is a LimitedStream over the handler's rfile, whose raw
    # SocketIO holds the socket. Private attributes, hence every step is checked.
    read = getattr(environ.get("wsgi.input"), "_read", None)
    rfile = getattr(read, "__self__", None)
    raw = getattr(rfile, "raw", None)
    candidate = getattr(raw, "_sock", None)
    return candidate if isinstance(candidate, socket.socket) else None
