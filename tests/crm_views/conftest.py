import pytest
from django.contrib.auth.models import Group

from mergeassist.core.roles import AUDITORS, REVIEWERS


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The default PBKDF2 hasher takes most of a second per user on these machines; these tests
    # are about the customer list, not passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def role_groups(db):
    # A live-server test flushes the tables afterwards, taking the groups the migration made with it;
    # the next test's `alice` needs them back.
    for name in (REVIEWERS, AUDITORS):
        Group.objects.get_or_create(name=name)
