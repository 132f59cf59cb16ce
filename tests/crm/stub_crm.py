"""A second CRM implementation for hostile answers the sandbox cannot store.

The sandbox keeps its customers in a database, which (rightly) refuses a lone surrogate; a real CRM
may still send one, escaped in legal JSON. `StubCrm` serves the list endpoint over real HTTP from a
list of Python dicts (or a raw body), paging by id like the contract says, so the client and the
sync can be tested against bodies no database would keep.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


class StubCrm:
    def __init__(self) -> None:
        self.customers: list[dict[str, Any]] = []
        # When set, every request gets this body as it is (e.g. 100,000 "[").
        self.raw_body: bytes | None = None
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, query: dict[str, str]) -> bytes:
        if self.raw_body is not None:
            return self.raw_body
        customers = sorted(self.customers, key=lambda c: int(c["id"]))
        if "filter[id.gte]" in query:
            customers = [c for c in customers if int(c["id"]) >= int(query["filter[id.gte]"])]
        if "filter[id.lte]" in query:
            customers = [c for c in customers if int(c["id"]) <= int(query["filter[id.lte]"])]
        if query.get("sort") == "-updated_at":
            customers.sort(key=lambda c: str(c.get("updated_at")), reverse=True)
        per_page, page = int(query.get("per_page", 25)), int(query.get("page", 1))
        chosen = customers[(page - 1) * per_page : page * per_page]
        meta = {
            "current_page": page,
            "per_page": per_page,
            "last_page": max(1, -(-len(customers) // per_page)),
            "total": len(customers),
        }
        # ensure_ascii: a lone surrogate goes out as the legal JSON escape "\ud800".
        return json.dumps({"data": chosen, "meta": meta}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                stub.requests += 1
                query = {key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()}
                body = stub.answer(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def customer(id: int, **values: Any) -> dict[str, Any]:
    """A contract-shaped customer; `values` override any field, with any JSON type."""
    return {
        "id": str(id),
        "name_first": "Ann",
        "name_last": f"Lee{id}",
        "email": f"ann{id}@example.com",
        "phone": "+1 555 0100",
        "company_name": None,
        "address1": None,
        "address2": None,
        "city": "Boston",
        "state": None,
        "zip": None,
        "country": "US",
        "created_at": "2024-01-01T00:00:00.000000Z",
        "updated_at": f"2024-01-02T00:00:{id % 60:02d}.000000Z",
        "cards": [],
        "fields": [],
        "stats": {"orders_count": 0, "lifetime_value": "0.00", "currency": "USD", "last_order_at": None},
        "integrations": [],
        "subscriptions": [],
        **values,
    }


@pytest.fixture
def stub_crm() -> Iterator[StubCrm]:
    stub = StubCrm()
    stub.start()
    yield stub
    stub.stop()
