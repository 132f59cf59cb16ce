from django.contrib import admin

from mergeassist.review.models import CandidatePair, Cluster, ScanRun


@admin.register(ScanRun)
class ScanRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "status", "customers_scanned", "pairs_created", "pairs_retired", "clusters"]
    list_filter = ["status"]
    readonly_fields = [field.name for field in ScanRun._meta.fields]


@admin.register(CandidatePair)
class CandidatePairAdmin(admin.ModelAdmin):
    list_display = ["pair_key", "score", "state", "last_scored_at", "decided_by"]
    list_filter = ["state"]
    search_fields = ["pair_key"]
    # Pair states change only through the review actions, which keep the audit trail.
    readonly_fields = [field.name for field in CandidatePair._meta.fields]


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ["id", "size", "weakest_score", "weakest_pair_key", "scan"]
