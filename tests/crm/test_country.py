"""Countries as the CRM has them ("United States", not "United S"), in the snapshot and the admin."""

from __future__ import annotations

from mergeassist.crm.models import Customer
from mergeassist.crm.sync import run_sync
from mergeassist.sandbox.models import SandboxCustomer

LONG_COUNTRIES = ["United States", "United Kingdom of Great Britain and Northern Ireland", "US"]


def test_the_snapshot_and_the_admin_filter_keep_whole_country_names(crm_sandbox, fast_retries, client, admin_user):
    for number, country in enumerate(LONG_COUNTRIES):
        SandboxCustomer.objects.create(name_first=f"Ann{number}", email=f"ann{number}@example.com", country=country)

    run_sync(full=True)

    assert sorted(Customer.objects.values_list("country", flat=True)) == sorted(LONG_COUNTRIES)
    client.force_login(admin_user)
    html = client.get("/admin/crm/customer/").content.decode()
    for country in LONG_COUNTRIES:
        assert f"{country}</a>" in html, country
    filtered = client.get("/admin/crm/customer/", {"country": "United States"}).content.decode()
    assert "ann0@example.com" in filtered and "ann2@example.com" not in filtered
