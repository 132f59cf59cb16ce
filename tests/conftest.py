"""Shared fixtures: the people (alice reviews, bob audits, charlie has no role) and a live sandbox."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group, User

from mergeassist.core.roles import AUDITORS, REVIEWERS

# The live sandbox (`crm_sandbox`) and real `db_worker` processes (`workers`).
pytest_plugins = ["tests.sandbox_fixtures", "tests.worker_fixtures"]

# Playwright's sync API runs an event loop in the test thread; Django refuses DB access from there
# without this. Tests still run one at a time.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # The real hasher costs about a second per user; tests check behaviour, not key stretching.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db) -> User:
    user = User.objects.create_user("alice", "alice@example.org", PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=REVIEWERS)[0])
    return user


@pytest.fixture
def bob(db) -> User:
    user = User.objects.create_user("bob", "bob@example.org", PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=AUDITORS)[0])
    return user


@pytest.fixture
def charlie(db) -> User:
    return User.objects.create_user("charlie", "charlie@example.org", PASSWORD)
