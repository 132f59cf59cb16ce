"""Snapshot customers and pairs written straight into the tables, for screens that need no CRM."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

import pytest

from mergeassist.crm.models import Customer
from mergeassist.review.models import CandidatePair
from mergeassist.review.reasons import reason_flags
from mergeassist.review.scan import pair_key_of


def explanation(email: float = 1.0, phone: float | None = None, first_note: str = "") -> list[dict[str, Any]]:
    rows = [
        {"field": "first_name", "value_a": "ann", "value_b": "ann", "similarity": 1.0, "points": 20, "note": first_note},
        {"field": "email", "value_a": "a@x", "value_b": "a@x", "similarity": email, "points": 40 * email, "note": ""},
    ]
    if phone is not None:
        rows.append({"field": "phone", "value_a": "1", "value_b": "1", "similarity": phone, "points": 25, "note": ""})
    return rows


def customer(crm_id: str, first: str = "Ann", last: str = "Lee", **values: Any) -> Customer:
    values.setdefault("email", f"{first.lower()}.{crm_id}@example.com")
    values.setdefault("crm_created_at", datetime(2020, 1, 1, tzinfo=UTC))
    return Customer.objects.create(
        crm_id=crm_id, crm_id_number=int(crm_id), name_first=first, name_last=last,
        search_name=f"{first} {last}".lower(), search_email=values["email"].lower(), **values,
    )  # fmt: skip


def pair(a: Customer, b: Customer, score: float = 90.0, rows: list[dict[str, Any]] | None = None, **values: Any) -> CandidatePair:
    rows = explanation() if rows is None else rows
    return CandidatePair.objects.create(
        pair_key=pair_key_of(a.crm_id, b.crm_id), customer_a=a, customer_b=b, score=score,
        explanation=rows, **{**reason_flags(rows), **values},
    )  # fmt: skip


def restore_group_permissions() -> None:
    """Live-server tests flush the database after each test, and with it what the migrations granted.

    The next such test gets the groups back from the migration's own function, so what the views
    check is still what the migration grants.
    """
    from django.apps import apps
    from django.contrib.auth.models import Group

    from mergeassist.core.roles import REVIEWERS

    if not Group.objects.filter(name=REVIEWERS, permissions__codename="review_pairs").exists():
        grant = importlib.import_module("mergeassist.core.migrations.0002_group_permissions").grant_permissions
        grant(apps, None)


@pytest.fixture(autouse=True)
def groups_as_migrated(db) -> None:
    restore_group_permissions()


@pytest.fixture
def reviewer(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def three_pairs(db) -> list[CandidatePair]:
    """Three pending pairs, strongest first: 95 (same email and phone), 80 (nickname), 70."""
    people = [customer(str(n), first) for n, first in enumerate(["Ann", "Anne", "Bo", "Bob", "Cy", "Cyrus"], 1)]
    return [
        pair(people[0], people[1], 95, explanation(phone=1.0)),
        pair(people[2], people[3], 80, explanation(email=0.5, first_note="nickname")),
        pair(people[4], people[5], 70, explanation(email=0.6)),
    ]
