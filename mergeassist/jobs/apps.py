from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "mergeassist.jobs"
    label = "jobs"
    verbose_name = "Background jobs"
