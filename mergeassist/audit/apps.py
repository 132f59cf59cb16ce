from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "mergeassist.audit"
    verbose_name = "Audit"
