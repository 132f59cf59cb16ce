"""Fixtures that serve the sandbox CRM over real HTTP.

`crm_sandbox` starts pytest-django's live server, points settings.MERGEASSIST_CRM_URL at its
sandbox, and hands back a `CrmSandbox` to seed customers, set faults and read the ground truth.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

import pytest

from mergeassist.sandbox import faults
from mergeassist.sandbox.models import SandboxCustomer, parse_customer_id
from mergeassist.sandbox.seeding import seed_customers


@dataclass
class CrmSandbox:
    base_url: str  # e.g. http://localhost:51234/sandbox; the client appends /v2/customers/...
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def url(self, path: str = "") -> str:
        """`url("/v2/customers/")` -> the full URL on the live sandbox."""
        return self.base_url + path

    def seed(self, count: int, seed: int = 0) -> int:
        """Add `count` synthetic customers (ids after the highest); returns how many were added."""
        return seed_customers(count, seed=seed)

    def set_faults(self, spec: str) -> None:
        """Make `spec` (e.g. "list.5xx=0.3,seed=1") the active fault profile; counters restart."""
        faults.set_fault_profile(spec)

    def clear_faults(self) -> None:
        faults.clear_fault_profile()

    # Ground truth, read straight from the sandbox's tables.

    def customer_ids(self) -> list[str]:
        return [str(pk) for pk in SandboxCustomer.objects.order_by("id").values_list("id", flat=True)]

    def exists(self, customer_id: str) -> bool:
        number = parse_customer_id(customer_id)
        return number is not None and SandboxCustomer.objects.filter(id=number).exists()

    def entity_of(self, customer_id: str) -> str:
        return SandboxCustomer.objects.values_list("entity", flat=True).get(id=int(customer_id))

    def entities(self) -> dict[str, str]:
        """customer id -> ground-truth person id, for every customer still in the sandbox."""
        return {str(pk): entity for pk, entity in SandboxCustomer.objects.values_list("id", "entity")}

    def true_pairs(self) -> set[tuple[str, str]]:
        """Every pair of current customers that are the same person, as (lower id, higher id)."""
        ids_by_entity: dict[str, list[int]] = defaultdict(list)
        for pk, entity in SandboxCustomer.objects.order_by("id").values_list("id", "entity"):
            ids_by_entity[entity].append(pk)
        return {(str(a), str(b)) for ids in ids_by_entity.values() for a, b in combinations(ids, 2)}


@pytest.fixture
def crm_sandbox(live_server, settings) -> CrmSandbox:
    """The sandbox CRM on a live server, empty and without faults; settings point the client at it."""
    if not settings.MERGEASSIST_CRM_API_KEY:
        settings.MERGEASSIST_CRM_API_KEY = "sk_test_" + secrets.token_urlsafe(16)
    settings.MERGEASSIST_CRM_URL = live_server.url + "/sandbox"
    sandbox = CrmSandbox(base_url=settings.MERGEASSIST_CRM_URL, api_key=settings.MERGEASSIST_CRM_API_KEY)
    # Explicitly none, so a MERGEASSIST_SANDBOX_FAULTS in the developer's shell cannot leak in.
    sandbox.clear_faults()
    return sandbox
