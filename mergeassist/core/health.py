"""What /healthz reports: the database, the workers' last heartbeat, and whether the CRM answers."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection

from mergeassist.crm.client import CrmClient
from mergeassist.crm.errors import CrmError
from mergeassist.jobs.progress import worker_heartbeat

logger = logging.getLogger(__name__)

# A worker beats every few seconds; one silent for this long is reported late.
WORKER_LATE_AFTER_SECONDS = 60
# Load balancers probe every few seconds: ask the CRM at most this often per web process.
CRM_CHECK_EVERY_SECONDS = 30
CRM_TIMEOUT_SECONDS = 3.0
_CRM_CACHE_KEY = "mergeassist:healthz:crm"


@dataclass(frozen=True)
class CrmReachability:
    ok: bool
    message: str  # in words, from the client's own errors: no key, no URL credentials


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # the probe must answer whatever the database says; the log keeps the reason
        logger.exception("Health check: the database did not answer")
        return False
    return True


def worker_status() -> dict[str, object]:
    beat, age = worker_heartbeat()
    if beat is None:
        return {"status": "none", "last_heartbeat": None, "seconds_ago": None}
    return {
        "status": "ok" if age is not None and age <= WORKER_LATE_AFTER_SECONDS else "late",
        "last_heartbeat": beat.isoformat(),
        "seconds_ago": round(age or 0),
    }


def crm_reachability() -> CrmReachability:
    cached = cache.get(_CRM_CACHE_KEY)
    if cached is not None:
        return cached
    client = CrmClient.from_settings()
    client.retries = 0
    client.timeout = min(client.timeout, CRM_TIMEOUT_SECONDS)
    try:
        with client:
            client.list_customers(page=1, per_page=1)
        found = CrmReachability(ok=True, message="The CRM answered.")
    except CrmError as exc:
        found = CrmReachability(ok=False, message=exc.message)
    except Exception:  # anything else on the CRM path is a failure to report, not to raise
        logger.exception("Health check: asking the CRM failed")
        found = CrmReachability(ok=False, message="Asking the CRM failed; see the log.")
    cache.set(_CRM_CACHE_KEY, found, CRM_CHECK_EVERY_SECONDS)
    return found
