"""manage.py sandbox_faults: set, clear or show the sandbox API's fault profile (syntax: docs/sandbox.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mergeassist.sandbox import faults


class Command(BaseCommand):
    help = "Set, clear or show the faults the sandbox CRM injects, e.g. --set 'list.5xx=0.3,seed=1'."

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--set", metavar="SPEC", help="make SPEC the active profile, e.g. 'list.429=0.2,seed=7'"
        )
        action.add_argument(
            "--clear", action="store_true", help="no faults (overrides MERGEASSIST_SANDBOX_FAULTS)"
        )
        action.add_argument("--show", action="store_true", help="show the active profile (the default)")

    def handle(self, *args: object, set: str | None, clear: bool, show: bool, **options: object) -> None:
        if set is not None:
            try:
                faults.set_fault_profile(set)
            except faults.FaultSpecError as error:
                raise CommandError(f"Bad fault profile: {error}") from None
        elif clear:
            faults.clear_fault_profile()
        profile = faults.active_fault_profile()
        if profile is None or not profile.spec:
            self.stdout.write("No faults are active.")
        else:
            self.stdout.write(
                f"Active faults ({profile.source}, since {profile.set_at:%Y-%m-%d %H:%M:%S}): {profile.spec}"
            )
