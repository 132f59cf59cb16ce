from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "mergeassist.crm"
    verbose_name = "CRM snapshot"
