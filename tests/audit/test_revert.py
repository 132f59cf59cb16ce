"""Undo what can be undone: the primary's pre-merge values PATCHed back on the live sandbox CRM."""

from __future__ import annotations

import pytest

from mergeassist.audit.actions import RevertRefused, do_revert_fields, merge_changes
from mergeassist.audit.models import CrmCall, Decision
from mergeassist.crm.errors import CrmError
from mergeassist.crm.models import Customer
from mergeassist.sandbox.models import SandboxCustomer
from tests.audit.factories import make_decision, merge_in_the_sandbox


@pytest.fixture
def crm(crm_sandbox, settings):
    settings.MERGEASSIST_CRM_BACKOFF = 0.01
    return crm_sandbox


def in_crm(decision: Decision) -> SandboxCustomer:
    return SandboxCustomer.objects.get(id=int(decision.primary_crm_id))


def test_it_knows_which_fields_the_merge_changed(crm, alice):
    decision = merge_in_the_sandbox(alice)
    changes = {c.field: (c.before, c.after) for c in merge_changes(decision)}
    # email: the reviewer's choice; phone: empty on the primary, filled by the CRM from the secondary.
    assert changes == {"email": ("ann@old.example", "ann@new.example"), "phone": (None, "+1 617 555 0199")}


def test_it_puts_back_the_primarys_pre_merge_values(crm, alice, sam):
    decision = merge_in_the_sandbox(alice)
    assert in_crm(decision).email == "ann@new.example"

    outcome = do_revert_fields(decision=decision, user=sam)

    customer = in_crm(decision)
    assert (customer.email, customer.phone, customer.name_first) == ("ann@old.example", None, "Ann")
    assert {c.field for c in outcome.put_back} == {"email", "phone"}
    assert "Put back" in outcome.message
    calls = list(decision.calls.order_by("id").values_list("step", "method", "outcome", "by__username"))
    assert calls == [
        ("revert", "GET", "ok", "sam"),
        ("revert", "PATCH", "ok", "sam"),
        ("refresh", "GET", "ok", "sam"),
    ]
    patch = decision.calls.get(method="PATCH")
    assert patch.request_body == {"email": "ann@old.example", "phone": None}
    assert patch.status_code is None and patch.duration_ms >= 0
    # The snapshot shows the primary as the CRM has it now.
    assert Customer.objects.get(crm_id=decision.primary_crm_id).email == "ann@old.example"


def test_it_leaves_alone_a_field_changed_in_the_crm_since(crm, alice, sam):
    decision = merge_in_the_sandbox(alice)
    SandboxCustomer.objects.filter(id=int(decision.primary_crm_id)).update(phone="+1 617 555 0000")

    outcome = do_revert_fields(decision=decision, user=sam)

    customer = in_crm(decision)
    assert customer.email == "ann@old.example"
    assert customer.phone == "+1 617 555 0000"
    assert [c.field for c, _ in outcome.changed_since] == ["phone"]
    assert "Changed in the CRM since the merge, so left as they are: phone." in outcome.message


def test_a_second_revert_changes_nothing_and_says_so(crm, alice, sam):
    decision = merge_in_the_sandbox(alice)
    do_revert_fields(decision=decision, user=sam)
    outcome = do_revert_fields(decision=decision, user=sam)
    assert outcome.put_back == []
    assert "Already as before the merge: email, phone." in outcome.message
    assert decision.calls.filter(method="PATCH").count() == 1


def test_it_refuses_a_decision_that_changed_nothing(crm, alice, sam):
    decision = make_decision(kind=Decision.Kind.NOT_DUPLICATE, outcome=Decision.Outcome.NOT_DUPLICATE, reviewer=alice)
    with pytest.raises(RevertRefused, match="nothing to put back"):
        do_revert_fields(decision=decision, user=sam)
    assert not decision.calls.exists()


def test_a_crm_error_is_recorded_and_raised(crm, alice, sam):
    decision = merge_in_the_sandbox(alice)
    crm.set_faults("patch.5xx=1,seed=1")
    with pytest.raises(CrmError):
        do_revert_fields(decision=decision, user=sam)
    patch = decision.calls.get(method="PATCH")
    assert patch.outcome == CrmCall.Outcome.ERROR and patch.status_code >= 500
    assert "not answering" in patch.message
    assert in_crm(decision).email == "ann@new.example"


# -- the view ------------------------------------------------------------------------------------


def test_a_superuser_reverts_from_the_detail_page(crm, client, alice, sam):
    decision = merge_in_the_sandbox(alice)
    client.force_login(sam)
    page = client.get(f"/history/{decision.pk}/").content.decode()
    assert "Put back the pre-merge values" in page

    response = client.post(f"/history/{decision.pk}/revert/", follow=True)

    assert response.redirect_chain[-1][0] == f"/history/{decision.pk}/"
    html = response.content.decode()
    assert "Put back email, phone." in html
    assert 'id="last-revert"' in html
    assert in_crm(decision).email == "ann@old.example"


def test_htmx_gets_the_revert_section_back_with_the_outcome(crm, client, alice, sam):
    decision = merge_in_the_sandbox(alice)
    client.force_login(sam)
    response = client.post(f"/history/{decision.pk}/revert/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="revert"') and "Put back email, phone." in html


def test_the_view_says_what_the_crm_answered(crm, client, alice, sam):
    decision = merge_in_the_sandbox(alice)
    crm.set_faults("patch.5xx=1,seed=1")
    client.force_login(sam)
    response = client.post(f"/history/{decision.pk}/revert/", headers={"HX-Request": "true"})
    assert response.status_code == 502
    assert "Nothing was put back: The CRM at" in response.content.decode()


def test_reviewers_and_auditors_see_the_changes_but_cannot_revert(crm, client, alice, bob):
    decision = merge_in_the_sandbox(alice)
    client.force_login(bob)
    page = client.get(f"/history/{decision.pk}/").content.decode()
    assert 'id="revert-fields"' in page and "Put back the pre-merge values" not in page
    assert client.post(f"/history/{decision.pk}/revert/").status_code == 403
    client.force_login(alice)
    assert client.post(f"/history/{decision.pk}/revert/").status_code == 403
    assert in_crm(decision).email == "ann@new.example"
