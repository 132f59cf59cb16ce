"""The audit trail, pairs, clusters and scan runs are read-only in the admin, superusers included."""

from __future__ import annotations

import pytest
from django.contrib import admin

from mergeassist.audit.models import CrmCall, Decision
from mergeassist.review.models import CandidatePair, Cluster, ScanRun
from tests.audit.factories import make_call, make_decision


@pytest.mark.parametrize("model", [Decision, CrmCall, CandidatePair, Cluster, ScanRun])
def test_nobody_may_add_change_or_delete(rf, sam, model):
    request = rf.get("/admin/")
    request.user = sam
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_a_superuser_reads_a_decision_but_cannot_change_or_delete_it(client, sam):
    decision = make_decision()
    make_call(decision)
    client.force_login(sam)
    page = client.get(f"/admin/audit/decision/{decision.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    # A POST to the change form changes nothing, and delete is refused.
    client.post(f"/admin/audit/decision/{decision.pk}/change/", {"outcome": "failed"})
    assert Decision.objects.get(pk=decision.pk).outcome == "merged"
    assert client.post(f"/admin/audit/decision/{decision.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Decision.objects.filter(pk=decision.pk).exists()
    # Nor through the changelist's bulk action.
    client.post("/admin/audit/decision/", {"action": "delete_selected", "_selected_action": [decision.pk], "post": "yes"})
    assert Decision.objects.filter(pk=decision.pk).exists()
