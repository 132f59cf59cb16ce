import os

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class SandboxConfig(AppConfig):
    name = "mergeassist.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox CRM"

    def ready(self) -> None:
        from mergeassist.sandbox import faults

        # A typo in the fault profile should stop the start, not silently inject nothing.
        try:
            faults.parse_fault_spec(os.environ.get(faults.ENV_VAR, ""))
        except faults.FaultSpecError as error:
            raise ImproperlyConfigured(f"{faults.ENV_VAR}: {error}") from None
