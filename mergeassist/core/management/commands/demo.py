"""`manage.py demo`: migrate, seed the sandbox, make the logins, serve, sync and scan, then stay up."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mergeassist.core import demo
from mergeassist.crm.models import SyncRun


class Command(BaseCommand):
    help = "Run MergeAssist with demo data: the sandbox CRM, two logins, a synced snapshot and a full queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--customers", type=int, default=2000, help="how many sandbox customers to seed")

    def handle(self, *, host: str, port: int, customers: int, **options: object) -> None:
        if not settings.MERGEASSIST_SANDBOX:
            raise CommandError("The demo needs the sandbox CRM: set MERGEASSIST_SANDBOX=true.")
        app_url = f"http://{host}:{port}"
        # The app talks to its own sandbox over HTTP, exactly as it would to the real CRM.
        settings.MERGEASSIST_CRM_URL = f"{app_url}/sandbox"

        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_sandbox", customers=customers, if_empty=True)
        password = demo.demo_password()
        demo.ensure_demo_users(password)

        server = demo.start_server(host, port)
        worker = None
        try:
            demo.wait_until_up(f"{app_url}/healthz", server)
            has_synced = SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).exists()
            call_command("sync_customers", full=not has_synced)
            call_command("scan")
            worker = demo.start_worker()
            self.stdout.write(demo.banner(app_url, password, settings.MERGEASSIST_CRM_API_KEY))
            while server.poll() is None and worker.poll() is None:
                time.sleep(0.5)
            if worker.poll() is not None:
                self.stderr.write(f"The worker stopped (exit code {worker.returncode}); stopping the demo.")
        except KeyboardInterrupt:
            self.stdout.write("Stopping the web server and the worker.")
        finally:
            for process in (worker, server):
                if process is not None:
                    demo.stop(process)
