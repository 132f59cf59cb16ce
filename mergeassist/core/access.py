"""Who may see what: the one place the app's pages are mapped to the permissions the roles carry.

Views check permissions with Django's `permission_required(..., raise_exception=True)`; this module
answers the questions around them: where a person should land, and whom to ask for a role.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.urls import reverse

# The pages a role opens on, in order of preference: the first one the user may see is home.
LANDING_PAGES = (
    ("crm.view_customer", "customers"),
    ("audit.view_history", "history"),
)
# Any of these means the person has a role; without one, every page would only say "no".
ROLE_PERMISSIONS = ("crm.view_customer", "review.review_pairs", "audit.view_history")


def has_a_role(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_superuser or any(user.has_perm(p) for p in ROLE_PERMISSIONS))


def landing_page(user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The URL of the first page this user may see, or None when they have no role."""
    for permission, url_name in LANDING_PAGES:
        if user.has_perm(permission):
            return reverse(url_name)
    return None


def people_to_ask(limit: int = 5) -> list[User]:
    """The administrators who can give a role (active superusers), for the "no role yet" page."""
    return list(User.objects.filter(is_active=True, is_superuser=True).order_by("username")[:limit])
