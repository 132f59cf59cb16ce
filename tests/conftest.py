"""Shared fixtures: the people (alice reviews, bob audits, charlie has no role) and a live sandbox."""

from __future__ import annotations

import os

import pytest
from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType

from mergeassist.core.roles import AUDITOR_PERMISSIONS, AUDITORS, REVIEWER_PERMISSIONS, REVIEWERS

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


@pytest.fixture(autouse=True)
def scan_cache_per_test(settings, tmp_path_factory) -> None:
    # Each test's database starts empty: an engine state cached by another test must not be found.
    settings.MERGEASSIST_SCAN_CACHE_DIR = tmp_path_factory.mktemp("scan-cache")


def role_group(name: str, permissions: tuple[str, ...]) -> Group:
    """The group core's migrations made. Tests on a live server run on a flushed database, where the
    migrations' rows are gone: there the group is made again from the same list the migration uses.
    Tests on the ordinary database (e.g. tests/audit/test_access_matrix.py) see the migration's own."""
    group, created = Group.objects.get_or_create(name=name)
    if created:
        # A flush (live-server tests) recreates content types under new ids; the cached ones and
        # the permissions must be made again from them before the group can be granted anything.
        ContentType.objects.clear_cache()
        for app_config in apps.get_app_configs():
            create_permissions(app_config, verbosity=0)
        for permission in permissions:
            app_label, codename = permission.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


@pytest.fixture
def alice(db) -> User:
    user = User.objects.create_user("alice", "alice@example.org", PASSWORD)
    user.groups.add(role_group(REVIEWERS, REVIEWER_PERMISSIONS))
    return user


@pytest.fixture
def bob(db) -> User:
    user = User.objects.create_user("bob", "bob@example.org", PASSWORD)
    user.groups.add(role_group(AUDITORS, AUDITOR_PERMISSIONS))
    return user


@pytest.fixture
def charlie(db) -> User:
    return User.objects.create_user("charlie", "charlie@example.org", PASSWORD)


@pytest.fixture
def sam(db) -> User:
    """A superuser: everything, /admin/ included."""
    return User.objects.create_superuser("sam", "sam@example.org", PASSWORD)
