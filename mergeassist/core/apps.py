from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mergeassist.core"
    verbose_name = "MergeAssist"
