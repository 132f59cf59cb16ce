"""`GET /v2/customers/`: checking the query string, filtering, sorting and paging."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db.models import F, OrderBy, Q, QuerySet
from django.db.models.functions import Lower
from django.http import QueryDict
from django.utils import timezone

from mergeassist.sandbox.models import SandboxCustomer, parse_customer_id
from mergeassist.sandbox.serialize import INCLUDES

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
SORT_FIELDS = ("id", "email", "name_first", "name_last", "company_name", "created_at", "updated_at")
TEXT_SORT_FIELDS = ("email", "name_first", "name_last", "company_name")


def _numeric_id(value: str) -> int:
    number = parse_customer_id(value)
    if number is None:
        raise forms.ValidationError("Must be a numeric customer id.")
    return number


def _date_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
        aware = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.UTC)
        # The database compares in UTC; 9999-12-31T23:59:59-12:00 is past the last UTC year.
        return aware.astimezone(timezone.UTC)
    except ValueError:
        raise forms.ValidationError("Must be an ISO 8601 date-time, e.g. 2024-05-01T12:00:00Z.") from None
    except OverflowError:
        raise forms.ValidationError("Must be a date-time between years 1 and 9999 in UTC.") from None


# filter[<name>] -> (ORM lookup, value parser). Exactly the filters the vendor documents.
FILTERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "id": ("id", _numeric_id),
    "id.gte": ("id__gte", _numeric_id),
    "id.lte": ("id__lte", _numeric_id),
    "email": ("email", str),
    "email.contains": ("email__icontains", str),
    "name_first": ("name_first", str),
    "name_first.contains": ("name_first__icontains", str),
    "name_last": ("name_last", str),
    "name_last.contains": ("name_last__icontains", str),
    "company_name": ("company_name", str),
    "company_name.contains": ("company_name__icontains", str),
    "created_at": ("created_at", _date_time),
    "updated_at": ("updated_at", _date_time),
}


class CustomerListForm(forms.Form):
    page = forms.IntegerField(required=False, min_value=1)
    per_page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PER_PAGE)
    include = forms.CharField(required=False, strip=True)
    search = forms.CharField(required=False, strip=False)
    sort = forms.CharField(required=False, strip=True)

    def __init__(self, query: QueryDict) -> None:
        super().__init__(query)
        self.filter_params = {key: query[key] for key in query if key.startswith("filter")}
        # Strict on purpose: a misspelt parameter (per-page=100) fails loudly instead of being ignored.
        self.unknown_params = [
            key for key in query if key not in self.fields and key not in self.filter_params
        ]

    def clean_page(self) -> int | None:
        return self._given_number("page")

    def clean_per_page(self) -> int | None:
        return self._given_number("per_page")

    def _given_number(self, name: str) -> int | None:
        # Left out means the default; present but empty (`per_page=`) is not an integer.
        if name in self.data and self.cleaned_data[name] is None:
            raise forms.ValidationError("Enter a whole number.")
        return self.cleaned_data[name]

    def clean_include(self) -> list[str]:
        names = [name.strip() for name in self.cleaned_data["include"].split(",") if name.strip()]
        unknown = [name for name in names if name not in INCLUDES]
        if unknown:
            raise forms.ValidationError(f"Unknown expansion {', '.join(unknown)}; use {', '.join(INCLUDES)}.")
        return list(dict.fromkeys(names))

    def clean_sort(self) -> str:
        sort = self.cleaned_data["sort"]
        if sort and sort.removeprefix("-") not in SORT_FIELDS:
            raise forms.ValidationError(
                f"Cannot sort by {sort!r}; use {', '.join(SORT_FIELDS)}, '-' for descending."
            )
        return sort or "id"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned["lookups"], self.filter_errors = parse_filters(self.filter_params)
        for key in self.unknown_params:
            self.filter_errors[key] = [
                f"Unknown query parameter; use {', '.join(self.fields)} or filter[...]."
            ]
        if self.filter_errors:
            raise forms.ValidationError("Bad filter.")
        return cleaned

    def error_dict(self) -> dict[str, list[str]]:
        """Errors keyed by query parameter, as the contract's 422 body has them."""
        errors = {key: list(messages) for key, messages in self.errors.items() if key != "__all__"}
        return errors | self.filter_errors


def parse_filters(params: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """`filter[...]` parameters as ORM lookups, and the errors of those that are unknown or bad."""
    lookups: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for param, raw in params.items():
        name = param.removeprefix("filter[").removesuffix("]")
        if param != f"filter[{name}]" or name not in FILTERS:
            errors[param] = [f"Unknown filter; use one of filter[{'], filter['.join(FILTERS)}]."]
            continue
        lookup, parse = FILTERS[name]
        try:
            lookups[lookup] = parse(raw)
        except forms.ValidationError as error:
            errors[param] = list(error.messages)
    return lookups, errors


@dataclass(frozen=True)
class Page:
    customers: list[SandboxCustomer]
    number: int
    per_page: int
    total: int

    @property
    def last_page(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first_index(self) -> int | None:
        return (self.number - 1) * self.per_page + 1 if self.customers else None

    @property
    def last_index(self) -> int | None:
        return (self.number - 1) * self.per_page + len(self.customers) if self.customers else None


def matching_customers(cleaned: dict[str, Any]) -> QuerySet[SandboxCustomer]:
    customers = SandboxCustomer.objects.filter(**cleaned["lookups"])
    if cleaned["search"]:
        term = cleaned["search"]
        customers = customers.filter(
            Q(name_first__icontains=term) | Q(name_last__icontains=term) | Q(email__icontains=term)
        )
    return customers.order_by(*ordering(cleaned["sort"]))


def ordering(sort: str) -> list[OrderBy]:
    """The same order on SQLite and PostgreSQL: text ignores case, empty (null) values come first
    ascending and last descending, and ties break on id so pages never repeat or skip a customer."""
    descending = sort.startswith("-")
    name = sort.removeprefix("-")
    key = Lower(name) if name in TEXT_SORT_FIELDS else F(name)
    if descending:
        return [key.desc(nulls_last=True), F("id").desc()]
    return [key.asc(nulls_first=True), F("id").asc()]


def page_of(customers: QuerySet[SandboxCustomer], number: int, per_page: int) -> Page:
    total = customers.count()
    offset = (number - 1) * per_page
    # Past the end nothing is read: an OFFSET beyond 2**63 (page=9223372036854775807) overflows
    # the database's integer.
    rows = list(customers[offset : offset + per_page]) if offset < total else []
    return Page(rows, number, per_page, total)


def page_links(base_url: str, query: QueryDict, page: Page) -> dict[str, str | None]:
    def link(number: int) -> str:
        params = query.copy()
        params["page"] = str(number)
        return f"{base_url}?{urlencode(sorted(params.lists()), doseq=True)}"

    return {
        "first": link(1),
        "last": link(page.last_page),
        "prev": link(page.number - 1) if 1 < page.number <= page.last_page + 1 else None,
        "next": link(page.number + 1) if page.number < page.last_page else None,
    }
