from django.contrib import admin

from mergeassist.jobs.models import Job, WorkerBeat


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "full", "status", "attempt", "requested_by", "reason", "requested_at", "finished_at", "worker_id"]
    list_filter = ["kind", "status"]
    readonly_fields = [field.name for field in Job._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False  # jobs start from "Sync now" / "Scan now", which decide joining in the database


@admin.register(WorkerBeat)
class WorkerBeatAdmin(admin.ModelAdmin):
    list_display = ["worker_id", "hostname", "pid", "started_at", "beat_at"]
    readonly_fields = ["worker_id", "hostname", "pid", "started_at", "beat_at"]
