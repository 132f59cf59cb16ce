"""A management command that knows whether it owns its process."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class EngineCommand(BaseCommand):
    """A command that runs the matching engine. `own_process` is True when it runs from the
    command line (manage.py), where the process is the command's until exit and the engine may
    take its big-run switches; False through call_command in a worker, a web process or a test,
    whose process must be left as it was found."""

    own_process = False

    def run_from_argv(self, argv: list[str]) -> None:
        self.own_process = True
        super().run_from_argv(argv)
