from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "mergeassist.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox CRM"
