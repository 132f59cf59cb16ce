"""Recording CRM calls on a decision's audit trail, with their outcome and timing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from mergeassist.audit.models import CrmCall, Decision
from mergeassist.crm.errors import CrmError, CrmOutcomeUnknown


@contextmanager
def recorded_call(
    decision: Decision,
    step: str,
    method: str,
    path: str,
    *,
    by: AbstractBaseUser | None = None,
    request_body: Any = None,
) -> Iterator[None]:
    """Run one CRM call and append a CrmCall row whatever happens; the call's error propagates.

    Call it outside a transaction, so the row is committed as soon as the call returns: the
    decision it belongs to was committed before the first CRM write.
    """
    started = timezone.now()
    clock = time.monotonic()
    outcome, status, message = CrmCall.Outcome.OK, None, ""
    try:
        yield
    except CrmOutcomeUnknown as exc:
        outcome, status, message = CrmCall.Outcome.UNKNOWN, exc.status, str(exc)
        raise
    except CrmError as exc:
        outcome, status, message = CrmCall.Outcome.ERROR, exc.status, str(exc)
        raise
    except BaseException as exc:
        # Not the CRM's answer but our own stop (a bug, a shutdown) mid-call: the call may or may
        # not have reached the CRM, so it must not be recorded as "ok".
        outcome, message = (
            CrmCall.Outcome.UNKNOWN,
            f"MergeAssist stopped during the call ({type(exc).__name__}).",
        )
        raise
    finally:
        CrmCall.objects.create(
            decision=decision,
            step=step,
            method=method,
            path=path[:255],
            outcome=outcome,
            status_code=status,
            message=message[:2000],
            request_body=request_body,
            started_at=started,
            duration_ms=round((time.monotonic() - clock) * 1000),
            by=by,
        )
