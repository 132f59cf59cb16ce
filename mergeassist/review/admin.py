"""Scans, pairs and clusters in the admin, read-only: they change only through the scan and the review actions."""

from django.contrib import admin

from mergeassist.crm.admin import ReadOnlyAdmin
from mergeassist.review.models import CandidatePair, Cluster, ScanRun


@admin.register(ScanRun)
class ScanRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "status", "customers_scanned", "pairs_created", "pairs_retired", "clusters"]
    list_filter = ["status"]


@admin.register(CandidatePair)
class CandidatePairAdmin(ReadOnlyAdmin):
    list_display = ["pair_key", "score", "state", "last_scored_at", "decided_by"]
    list_filter = ["state"]
    search_fields = ["pair_key"]
    show_full_result_count = False


@admin.register(Cluster)
class ClusterAdmin(ReadOnlyAdmin):
    list_display = ["id", "size", "weakest_score", "weakest_pair_key", "scan"]
