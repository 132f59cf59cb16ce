"""manage.py seed_sandbox: fill the sandbox CRM with realistic customers and known duplicates."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandParser

from mergeassist.sandbox.models import SandboxCustomer
from mergeassist.sandbox.seeding import seed_customers, wipe_sandbox


class Command(BaseCommand):
    help = "Seed the sandbox CRM with synthetic customers (with known duplicate groups)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=2000, help="how many customers (default 2000)")
        parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same customers")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when customers exist")
        parser.add_argument("--reset", action="store_true", help="delete every sandbox record first")

    def handle(
        self, *args: object, customers: int, seed: int, if_empty: bool, reset: bool, **options: object
    ) -> None:
        if reset:
            wipe_sandbox()
        elif if_empty and SandboxCustomer.objects.exists():
            self.stdout.write("The sandbox already has customers; nothing seeded.")
            return
        started = time.monotonic()
        created = seed_customers(customers, seed=seed)
        self.stdout.write(
            f"Seeded {created} sandbox customers (seed {seed}) in {time.monotonic() - started:.1f}s."
        )
