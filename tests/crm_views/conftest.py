import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The default PBKDF2 hasher takes most of a second per user on these machines; these tests
    # are about the customer list, not passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
