"""Helpers for the sandbox's own tests: an authorised HTTP client and hand-made customers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from mergeassist.sandbox.models import SandboxCustomer


class SandboxApi:
    """requests against the live sandbox with the right key; `path` starts after /sandbox."""

    def __init__(self, crm_sandbox) -> None:
        self.sandbox = crm_sandbox
        self.session = requests.Session()
        self.session.headers.update(crm_sandbox.headers)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.sandbox.url(path), params=params, timeout=10)

    def patch(self, path: str, body: Any) -> requests.Response:
        return self.session.patch(self.sandbox.url(path), json=body, timeout=10)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self.session.post(self.sandbox.url(path), json=body, timeout=10)

    def list_ids(self, **params: Any) -> list[str]:
        response = self.get("/v2/customers/", **params)
        assert response.status_code == 200, response.text
        return [customer["id"] for customer in response.json()["data"]]


@pytest.fixture
def api(crm_sandbox) -> SandboxApi:
    return SandboxApi(crm_sandbox)


@pytest.fixture
def make_customer(crm_sandbox) -> Callable[..., SandboxCustomer]:
    """A customer with exactly the given fields and related rows. Ids keep counting across tests."""

    def make(
        *,
        orders: int = 0,
        cards: int = 0,
        subscriptions: tuple[str, ...] = (),
        fields: dict[str, str | None] | None = None,
        integrations: tuple[str, ...] = (),
        notes: tuple[str, ...] = (),
        **core: Any,
    ) -> SandboxCustomer:
        core.setdefault("created_at", datetime(2024, 1, 1, tzinfo=UTC))
        core.setdefault("updated_at", core["created_at"])
        customer = SandboxCustomer.objects.create(**core)
        for index in range(orders):
            customer.orders.create(total=Decimal("10.00"), placed_at=datetime(2024, 2, 1 + index, tzinfo=UTC))
        for index in range(cards):
            customer.cards.create(
                brand="visa", last4=f"{4242 + index}", exp_month=1, exp_year=2030, is_default=index == 0
            )
        for status in subscriptions:
            customer.subscriptions.create(status=status, product="Coffee Club", amount=Decimal("24.00"))
        for key, value in (fields or {}).items():
            customer.fields.create(key=key, label=key.replace("_", " ").title(), value=value)
        for name in integrations:
            customer.integrations.create(name=name, external_id=f"{name}-{customer.id}")
        for text in notes:
            customer.notes.create(notes=text)
        return customer

    return make
