"""Fixtures for the CRM client and sync tests: a client on the live sandbox with tiny retry sleeps."""

from __future__ import annotations

import pytest

from mergeassist.crm.client import CrmClient

# Faults in these tests ask for Retry-After: 0 unless a test is about Retry-After itself.
FAST = "retry_after=0"


@pytest.fixture
def fast_retries(settings) -> None:
    """Retries as in production, but sleeping milliseconds, so the suite stays fast."""
    settings.MERGEASSIST_CRM_BACKOFF = 0.001
    settings.MERGEASSIST_CRM_RETRIES = 5
    settings.MERGEASSIST_CRM_TIMEOUT = 5


@pytest.fixture
def crm(crm_sandbox, fast_retries) -> CrmClient:
    client = CrmClient.from_settings()
    yield client
    client.close()


# A second CRM over real HTTP, for answers the sandbox cannot hold (see stub_crm.py).
from tests.crm.stub_crm import stub_crm  # noqa: E402, F401
