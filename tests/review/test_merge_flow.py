"""do_merge against the live sandbox over real HTTP: the happy path and the refusals."""

from __future__ import annotations

import pytest

from mergeassist.audit.models import CrmCall, Decision
from mergeassist.crm.models import Customer
from mergeassist.review.actions import (
    InvalidChoice,
    PairNotPending,
    PreviewChanged,
    RiskNotConfirmed,
    do_merge,
    load_preview,
)
from mergeassist.review.models import CandidatePair
from mergeassist.sandbox.models import SandboxCustomer
from tests.review import merge_fixtures

# The shared fixtures of tests/review/merge_fixtures.py, used here by name.
fast_client_settings = merge_fixtures.fast_client_settings
world = merge_fixtures.world


def shown(world, alice, primary=None, secondary=None):
    return load_preview(
        pair=world.pair, primary_id=primary or world.primary_id, secondary_id=secondary or world.secondary_id,
        reviewer=alice, client=world.client,
    )  # fmt: skip


def merge(world, alice, preview, take=("email",), confirmed=True, **overrides):
    arguments = dict(
        pair=world.pair, reviewer=alice, primary_id=world.primary_id, secondary_id=world.secondary_id,
        fingerprint=preview.fingerprint, take_secondary=take, confirmed_risks=confirmed, client=world.client,
    )  # fmt: skip
    arguments.update(overrides)
    return do_merge(**arguments)


def test_it_merges_writes_the_chosen_value_posts_the_note_and_updates_everything(world, alice):
    preview = shown(world, alice)
    assert {c.field for c in preview.preview.conflicts} == {"name_first", "email", "loyalty_tier"}

    outcome = merge(world, alice, preview, take=("email", "loyalty_tier"))

    assert outcome.merged and not outcome.note_pending, outcome.message
    # The CRM: the secondary is gone, the primary has the chosen values and the note.
    assert not SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()
    robert = world.sandbox_customer(world.primary_id)
    assert robert.email == "bob.smith@example.com"
    assert robert.fields.get(key="loyalty_tier").value == "silver"
    assert robert.name_first == "Robert"  # kept
    assert robert.phone == "+1 555 0100"  # filled by the merge from the secondary
    decision = outcome.decision
    (note,) = world.notes_on(world.primary_id)
    assert note == decision.note_text
    assert note.startswith(
        f"Merged customer #{world.secondary_id} (Bob Smith, bob.smith@example.com) into this customer by alice "
        "via MergeAssist on "
    )
    assert '; score 92; kept name_first "Robert" (not "Bob"); ' in note
    assert (
        'replaced email "robert@example.com" with "bob.smith@example.com", loyalty_tier "gold" with "silver"'
        in note
    )
    assert note.endswith(f"; ref {decision.pk}")
    # The snapshot: secondary gone, primary refreshed from the merge's answer.
    assert Customer.objects.get(pk=world.bob.pk).is_gone
    snapshot_robert = Customer.objects.get(pk=world.robert.pk)
    assert snapshot_robert.email == "bob.smith@example.com" and snapshot_robert.cards_count == 2
    # The pairs: merged; bob~carol now robert~carol; bob~dave retired (robert~dave exists).
    assert outcome.pair.state == CandidatePair.State.MERGED and outcome.pair.decided_by == alice
    world.bob_carol.refresh_from_db()
    assert world.bob_carol.state == CandidatePair.State.PENDING
    assert {world.bob_carol.customer_a_id, world.bob_carol.customer_b_id} == {world.robert.pk, world.carol.pk}
    assert world.bob_carol.pair_key == f"{world.robert.crm_id}|{world.carol.crm_id}"
    names = {row["field"]: (row["value_a"], row["value_b"]) for row in world.bob_carol.explanation}["first_name"]
    assert names == ("robert", "carol")  # re-scored: the merged customer beside carol, not bob
    world.bob_dave.refresh_from_db()
    assert world.bob_dave.state == CandidatePair.State.RETIRED
    world.robert_dave.refresh_from_db()
    assert world.robert_dave.state == CandidatePair.State.PENDING
    # The audit record: everything before, the choices, every call.
    assert decision.outcome == Decision.Outcome.MERGED and decision.note_status == Decision.NoteStatus.POSTED
    assert decision.reviewer_username == "alice" and decision.confirmed_risks
    assert decision.secondary_before["email"] == "bob.smith@example.com"
    assert decision.secondary_before["cards"] and decision.primary_before["subscriptions"]
    assert decision.preview["conflicts"] and decision.preview_fingerprint == preview.fingerprint
    assert decision.choices["email"] == {
        "kept": "secondary", "value": "bob.smith@example.com", "replaced": "robert@example.com", "written": True,
    }  # fmt: skip
    assert decision.choices["name_first"]["kept"] == "primary"
    calls = list(decision.calls.values_list("step", "method", "outcome"))
    assert calls == [
        ("preview", "GET", "ok"), ("patch", "PATCH", "ok"), ("merge", "POST", "ok"), ("note", "POST", "ok"),
    ]  # fmt: skip
    patch = decision.calls.get(step=CrmCall.Step.PATCH)
    assert patch.request_body == [
        {"key": "email", "value": "bob.smith@example.com"}, {"key": "loyalty_tier", "value": "silver"},
    ]  # fmt: skip


def test_it_merges_without_a_patch_when_every_conflict_keeps_the_primary(world, alice):
    outcome = merge(world, alice, shown(world, alice), take=())

    assert outcome.merged
    assert world.sandbox_customer(world.primary_id).email == "robert@example.com"
    assert [c.step for c in outcome.decision.calls.all()] == ["preview", "merge", "note"]
    assert "kept name_first" in outcome.decision.note_text and "replaced none" in outcome.decision.note_text


def test_it_refuses_a_stale_preview_and_says_what_changed(world, alice, crm_sandbox):
    preview = shown(world, alice)
    SandboxCustomer.objects.filter(id=int(world.secondary_id)).update(city="York")
    world.sandbox_customer(world.primary_id).fields.filter(key="loyalty_tier").update(value="platinum")

    with pytest.raises(PreviewChanged) as caught:
        merge(world, alice, preview)

    changes = {(c.side, c.field): (c.before, c.after) for c in caught.value.changes}
    assert changes[("secondary", "city")] == ("Leeds", "York")
    assert changes[("primary", "fields.loyalty_tier")] == ("gold", "platinum")
    assert "York" in caught.value.message
    assert world.sandbox_customer(world.secondary_id)  # not merged
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.PENDING
    stale = caught.value.decision
    assert stale.outcome == Decision.Outcome.STALE
    assert list(stale.calls.values_list("step", flat=True)) == ["preview"]
    # A fresh look lets the merge go ahead.
    assert merge(world, alice, shown(world, alice)).merged


def test_it_refuses_a_preview_the_reviewer_never_loaded(world, alice, bob):
    preview = shown(world, alice)

    with pytest.raises(PreviewChanged):
        merge(world, bob, preview)
    with pytest.raises(PreviewChanged):
        merge(world, alice, preview, fingerprint="0" * 64)
    assert world.sandbox_customer(world.secondary_id)
    assert not Decision.objects.exists()


def test_it_refuses_unconfirmed_risks_before_any_crm_write(world, alice):
    preview = shown(world, alice)
    assert "Both customers have saved cards" in preview.risks
    assert "The secondary has a saved card" in preview.risks  # the CRM's own warning

    with pytest.raises(RiskNotConfirmed) as caught:
        merge(world, alice, preview, confirmed=False)

    assert "Both customers have saved cards" in caught.value.risks
    assert world.sandbox_customer(world.secondary_id)
    assert world.sandbox_customer(world.primary_id).email == "robert@example.com"
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.PENDING and not Decision.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"take": ("phone",)}, "Not a conflict of this merge: phone"),
        ({"secondary_id": "0"}, "not this pair's customers"),
        ({"secondary_id": "__same__"}, "cannot be merged into itself"),
    ],
)
def test_it_refuses_choices_that_cannot_be_right(world, alice, overrides, reason):
    preview = shown(world, alice)
    if overrides.get("secondary_id") == "__same__":
        overrides = {"secondary_id": "0" + world.primary_id}  # one customer, spelt two ways
    take = overrides.pop("take", ("email",))

    with pytest.raises(InvalidChoice) as caught:
        merge(world, alice, preview, take=take, **overrides)

    assert reason in caught.value.message
    assert world.sandbox_customer(world.secondary_id) and not Decision.objects.exists()


def test_a_second_merge_of_a_merged_pair_is_refused_and_says_who(world, alice):
    preview = shown(world, alice)
    assert merge(world, alice, preview).merged

    with pytest.raises(PairNotPending) as caught:
        merge(world, alice, preview)

    assert "already merged by alice" in caught.value.message
    assert Decision.objects.filter(outcome=Decision.Outcome.MERGED).count() == 1


def test_swap_primary_previews_and_merges_the_other_way_round(world, alice):
    preview = shown(world, alice, primary=world.secondary_id, secondary=world.primary_id)
    assert preview.preview.primary.id == world.secondary_id

    outcome = merge(
        world, alice, preview, take=(), primary_id=world.secondary_id, secondary_id=world.primary_id
    )

    assert outcome.merged
    assert not SandboxCustomer.objects.filter(id=int(world.primary_id)).exists()
    assert world.sandbox_customer(world.secondary_id).subscriptions.filter(status="active").count() == 1


def test_it_remembers_only_the_last_few_previews_a_reviewer_was_shown(world, alice):
    from mergeassist.review.actions import KEEP_SHOWN
    from mergeassist.review.models import PreviewShown

    first = shown(world, alice)
    for city in ("York", "Hull", "Bath", "Ely", "Wells", "Truro"):
        SandboxCustomer.objects.filter(id=int(world.secondary_id)).update(city=city)
        latest = shown(world, alice)

    assert PreviewShown.objects.filter(pair=world.pair, reviewer=alice).count() == KEEP_SHOWN
    with pytest.raises(PreviewChanged):  # the oldest is forgotten: "load it again"
        merge(world, alice, first)
    assert merge(world, alice, latest).merged
