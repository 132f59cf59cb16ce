"""Read-only admin for the snapshot and the sync runs: the CRM is the source of truth, syncs write here."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from mergeassist.crm.models import Customer, SyncRun


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = [
        "crm_id",
        "name_first",
        "name_last",
        "email",
        "phone",
        "company_name",
        "is_gone",
        "synced_at",
    ]
    list_filter = ["is_gone", "country"]
    search_fields = ["crm_id", "search_name", "search_email", "search_phone", "search_company"]
    show_full_result_count = False  # a COUNT(*) per page is slow on a large snapshot


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at", "kind", "status", "pages_fetched", "customers_seen", "customers_created",
        "customers_updated", "customers_gone", "requests_made", "finished_at",
    ]  # fmt: skip
    list_filter = ["kind", "status"]
