"""Read-only admin for the snapshot and the sync runs: the CRM is the source of truth, syncs write here."""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from mergeassist.core.templatetags.text import crm_text
from mergeassist.core.text import isolated_text
from mergeassist.crm.models import Customer, SyncRun
from mergeassist.crm.types import CORE_FIELDS


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class CountryFilter(admin.SimpleListFilter):
    """The snapshot's countries, as typed in the CRM (whole: the column holds 64 characters), each
    isolated so a value with bidi controls cannot reorder the filter list."""

    title = "country"
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        countries = (
            Customer.objects.exclude(country="").order_by("country").values_list("country", flat=True).distinct()
        )
        return [(country, isolated_text(country)) for country in countries[:200]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        return queryset.filter(country=self.value()) if self.value() is not None else queryset


def _text_column(field: str, description: str, mode: str = ""):  # noqa: ANN202 (an admin display function)
    @admin.display(description=description, ordering=field)
    def column(obj: Customer) -> SafeString:
        value = getattr(obj, field)
        if not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False, indent=1)
        return crm_text(value, mode)

    return column


# The change page shows every field read-only; the text ones go through crm_text too.
_TEXT_FIELDS = [*CORE_FIELDS, "search_name", "search_email", "search_phone", "search_company", "raw"]
_DETAIL_FIELDS = [
    "crm_id", "crm_id_number",
    *(_text_column(name, Customer._meta.get_field(name).verbose_name, "wrap") for name in _TEXT_FIELDS),
    "crm_created_at", "crm_updated_at", "active_subscriptions", "cards_count", "is_gone", "gone_at",
    "synced_at", "last_seen_run",
]  # fmt: skip


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    # Customer text goes through crm_text: isolated, controls visible, long values truncated.
    list_display = [
        "crm_id",
        _text_column("name_first", "first name"),
        _text_column("name_last", "last name"),
        _text_column("email", "email"),
        _text_column("phone", "phone"),
        _text_column("company_name", "company"),
        "is_gone",
        "synced_at",
    ]
    list_filter = ["is_gone", CountryFilter]

    def get_fields(self, request: HttpRequest, obj: Customer | None = None) -> list:
        return _DETAIL_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None) -> list:
        return _DETAIL_FIELDS
    search_fields = ["crm_id", "search_name", "search_email", "search_phone", "search_company"]
    show_full_result_count = False  # a COUNT(*) per page is slow on a large snapshot


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at", "kind", "status", "pages_fetched", "customers_seen", "customers_created",
        "customers_updated", "customers_gone", "customers_skipped", "requests_made", "finished_at",
    ]  # fmt: skip
    list_filter = ["kind", "status"]
