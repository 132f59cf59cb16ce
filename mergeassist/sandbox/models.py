"""The sandbox CRM's own tables. Nothing here is shared with the app's snapshot (`mergeassist.crm`).

IDs are integers in the database and strings on the wire, which is how the vendor's numeric string
IDs behave: `filter[id.gte]` and `sort=id` order them as numbers.
"""

from __future__ import annotations

import re

from django.db import models
from django.utils import timezone

from mergeassist.sandbox import generator

# ASCII digits only: str.isdigit() also says yes to "³", which int() then refuses.
_NUMERIC_ID = re.compile(r"[0-9]{1,18}")


def parse_customer_id(value: str) -> int | None:
    """The number behind a wire id, or None when the id cannot name a sandbox customer."""
    return int(value) if _NUMERIC_ID.fullmatch(value) else None


# The customer's top-level string fields, in the order the API shows them (PATCH accepts these
# keys); the generator that seeds them defines them once for the whole sandbox.
CORE_FIELDS = generator.CORE_FIELDS


class SandboxCustomer(models.Model):
    id = models.BigAutoField(primary_key=True)
    name_first = models.CharField(max_length=255, null=True, blank=True)
    name_last = models.CharField(max_length=255, null=True, blank=True)
    email = models.CharField(max_length=320, null=True, blank=True)
    phone = models.CharField(max_length=64, null=True, blank=True)
    company_name = models.CharField(max_length=255, null=True, blank=True)
    address1 = models.CharField(max_length=255, null=True, blank=True)
    address2 = models.CharField(max_length=255, null=True, blank=True)
    city = models.CharField(max_length=255, null=True, blank=True)
    state = models.CharField(max_length=255, null=True, blank=True)
    zip = models.CharField(max_length=32, null=True, blank=True)
    # As typed: usually ISO 3166-1 alpha-2, but duplicates carry "United States" and the like.
    country = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Set explicitly by every write path (not auto_now) so seeding can give realistic histories.
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Ground truth for tests: records with the same entity are the same person. Never served.
    entity = models.CharField(max_length=64, blank=True, default="", db_index=True)
    variation = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["email"]),
            models.Index(fields=["name_last", "name_first"]),
        ]

    def __str__(self) -> str:
        return f"Sandbox customer {self.id}"


class SandboxCard(models.Model):
    customer = models.ForeignKey(SandboxCustomer, on_delete=models.CASCADE, related_name="cards")
    brand = models.CharField(max_length=32)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]


class SandboxCustomField(models.Model):
    customer = models.ForeignKey(SandboxCustomer, on_delete=models.CASCADE, related_name="fields")
    key = models.CharField(max_length=64)
    label = models.CharField(max_length=255, blank=True, default="")
    value = models.CharField(max_length=1000, null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["customer", "key"], name="sandbox_field_key_once")]


class SandboxIntegration(models.Model):
    customer = models.ForeignKey(SandboxCustomer, on_delete=models.CASCADE, related_name="integrations")
    name = models.CharField(max_length=64)
    external_id = models.CharField(max_length=128)

    class Meta:
        ordering = ["id"]


class SandboxSubscription(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"
        CANCELLED = "cancelled"
        PAST_DUE = "past_due"

    customer = models.ForeignKey(SandboxCustomer, on_delete=models.CASCADE, related_name="subscriptions")
    status = models.CharField(max_length=16, choices=Status.choices)
    product = models.CharField(max_length=255)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    next_bill_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]


class SandboxOrder(models.Model):
    """Orders are never served on their own; they feed `stats` and move in a merge."""

    customer = models.ForeignKey(SandboxCustomer, on_delete=models.CASCADE, related_name="orders")
    total = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    placed_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]


class SandboxNote(models.Model):
    customer = models.ForeignKey(SandboxCustomer, on_delete=models.CASCADE, related_name="notes")
    notes = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class FaultProfile(models.Model):
    """The active fault profile. One row (pk=1), so every process and thread sees the same faults."""

    spec = models.TextField(blank=True, default="")
    # "env" when copied from MERGEASSIST_SANDBOX_FAULTS, "command" when set by hand or by a test.
    source = models.CharField(max_length=16, default="command")
    set_at = models.DateTimeField(default=timezone.now)


class FaultCounter(models.Model):
    """How many calls an endpoint has had and how often each fault fired under the current profile.

    Counting in the database (not in memory) makes `seed=` draws and `.times=` limits the same
    whichever process or thread answers.
    """

    key = models.CharField(max_length=64, unique=True)
    count = models.PositiveIntegerField(default=0)
