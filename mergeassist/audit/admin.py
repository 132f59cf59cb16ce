"""The audit trail in the admin: readable by those allowed, changeable by nobody, superusers included."""

from __future__ import annotations

from django.contrib import admin

from mergeassist.audit.models import CrmCall, Decision
from mergeassist.crm.admin import ReadOnlyAdmin


class CrmCallInline(admin.TabularInline):
    model = CrmCall
    fields = ["started_at", "step", "method", "path", "outcome", "status_code", "duration_ms", "by", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "outcome", "note_status", "reviewer_username", "primary_crm_id", "secondary_crm_id", "score"]
    list_filter = ["kind", "outcome", "note_status"]
    search_fields = ["primary_crm_id", "secondary_crm_id", "primary_email", "secondary_email"]
    date_hierarchy = "created_at"
    inlines = [CrmCallInline]
    show_full_result_count = False  # a COUNT(*) per page is slow on a long history


@admin.register(CrmCall)
class CrmCallAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "decision", "step", "method", "path", "outcome", "status_code", "duration_ms"]
    list_filter = ["step", "outcome"]
    list_select_related = ["decision"]
    show_full_result_count = False
