"""Each step of do_merge failing under the sandbox's faults: the final state in the CRM, the
snapshot and the audit record, and what a retry does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from mergeassist.audit.models import Decision
from mergeassist.crm.client import CrmClient
from mergeassist.crm.models import Customer
from mergeassist.review.actions import (
    PairNotPending,
    do_merge,
    do_settle_merge,
    load_preview,
    retry_pending_notes,
)
from mergeassist.review.models import CandidatePair
from mergeassist.sandbox.models import SandboxCustomer
from tests.review import merge_fixtures

# The shared fixtures of tests/review/merge_fixtures.py, used here by name.
fast_client_settings = merge_fixtures.fast_client_settings
world = merge_fixtures.world

NOW = timedelta(0)


def preview_of(world, alice):
    return load_preview(
        pair=world.pair, primary_id=world.primary_id, secondary_id=world.secondary_id, reviewer=alice,
        client=world.client,
    )  # fmt: skip


def merge(world, alice, fingerprint, take=("email",)):
    return do_merge(
        pair=world.pair, reviewer=alice, primary_id=world.primary_id, secondary_id=world.secondary_id,
        fingerprint=fingerprint, take_secondary=take, confirmed_risks=True, client=world.client,
    )  # fmt: skip


def steps_of(decision: Decision) -> list[tuple[str, str]]:
    return list(decision.calls.values_list("step", "outcome"))


def secondary_in_crm(world) -> bool:
    return SandboxCustomer.objects.filter(id=int(world.secondary_id)).exists()


def secondary_gone_in_snapshot(world) -> bool:
    return Customer.objects.get(pk=world.bob.pk).is_gone


def test_a_failing_preview_merges_nothing_and_leaves_the_pair_open(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("preview.5xx=1")

    outcome = merge(world, alice, preview.fingerprint)

    assert not outcome.merged and outcome.decision.outcome == Decision.Outcome.FAILED
    assert outcome.message.startswith("Nothing was merged: the CRM's merge preview could not be fetched again. ")
    assert "is not answering (HTTP 5" in outcome.message
    assert outcome.pair.state == CandidatePair.State.PENDING
    assert steps_of(outcome.decision) == [("preview", "error")]
    assert secondary_in_crm(world) and world.sandbox_customer(world.primary_id).email == "robert@example.com"
    assert not secondary_gone_in_snapshot(world)

    crm_sandbox.clear_faults()
    assert merge(world, alice, preview.fingerprint).merged  # Retry


def test_a_failing_patch_merges_nothing_and_retry_merges(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("patch.5xx=1")

    outcome = merge(world, alice, preview.fingerprint)

    assert outcome.decision.outcome == Decision.Outcome.FAILED
    assert outcome.pair.state == CandidatePair.State.FAILED
    assert "the chosen values (email) could not be written" in outcome.message
    assert steps_of(outcome.decision) == [("preview", "ok"), ("patch", "error")]
    assert "written" not in outcome.decision.choices["email"]
    assert secondary_in_crm(world) and world.sandbox_customer(world.primary_id).email == "robert@example.com"
    assert not secondary_gone_in_snapshot(world)

    crm_sandbox.clear_faults()
    retried = merge(world, alice, preview.fingerprint)
    assert retried.merged and retried.pair.state == CandidatePair.State.MERGED
    assert (
        not secondary_in_crm(world)
        and world.sandbox_customer(world.primary_id).email == "bob.smith@example.com"
    )
    assert Decision.objects.filter(pair=world.pair).count() == 2


def test_a_merge_refused_with_5xx_is_settled_as_not_merged_and_says_the_values_were_written(
    world, alice, crm_sandbox
):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("merge.5xx=1")

    outcome = merge(world, alice, preview.fingerprint)

    # A 5xx on the merge is a lost answer (the CRM may have merged): settled by asking, not resent.
    assert outcome.decision.outcome == Decision.Outcome.FAILED
    assert outcome.pair.state == CandidatePair.State.FAILED
    assert steps_of(outcome.decision) == [
        ("preview", "ok"),
        ("patch", "ok"),
        ("merge", "unknown"),
        ("settle", "ok"),
    ]
    assert "still there" in outcome.message
    assert "The chosen values (email) were written to customer" in outcome.message
    assert outcome.decision.choices["email"]["written"] is True
    assert secondary_in_crm(world)
    assert world.sandbox_customer(world.primary_id).email == "bob.smith@example.com"
    assert not secondary_gone_in_snapshot(world)
    assert world.notes_on(world.primary_id) == []


def test_a_merge_whose_answer_was_dropped_is_settled_as_merged(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("merge.drop_after=1")

    outcome = merge(world, alice, preview.fingerprint)

    assert outcome.merged and outcome.pair.state == CandidatePair.State.MERGED
    assert steps_of(outcome.decision) == [
        ("preview", "ok"), ("patch", "ok"), ("merge", "unknown"), ("settle", "ok"), ("refresh", "ok"), ("note", "ok"),
    ]  # fmt: skip
    assert not secondary_in_crm(world)
    assert secondary_gone_in_snapshot(world)
    assert Customer.objects.get(pk=world.robert.pk).cards_count == 2  # refreshed after settling
    assert len(world.notes_on(world.primary_id)) == 1


def test_a_lost_merge_answer_that_cannot_be_settled_is_unknown_and_never_merged_again(
    world, alice, crm_sandbox
):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("merge.drop_after=1,list.5xx=1")

    outcome = merge(world, alice, preview.fingerprint)

    assert outcome.decision.outcome == Decision.Outcome.UNKNOWN
    assert outcome.pair.state == CandidatePair.State.UNKNOWN
    assert "cannot tell" in outcome.message and "check both customers in the CRM" in outcome.message
    assert steps_of(outcome.decision) == [
        ("preview", "ok"),
        ("patch", "ok"),
        ("merge", "unknown"),
        ("settle", "error"),
    ]
    # The CRM did merge; MergeAssist does not pretend to know it.
    assert not secondary_in_crm(world)
    assert not secondary_gone_in_snapshot(world)
    assert world.notes_on(world.primary_id) == []

    crm_sandbox.clear_faults()
    with pytest.raises(PairNotPending) as caught:
        merge(world, alice, preview.fingerprint)
    assert "unknown outcome" in caught.value.message


def test_a_failing_note_leaves_the_merge_standing_and_the_outbox_delivers_it(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("note.5xx=1")

    outcome = merge(world, alice, preview.fingerprint)

    assert outcome.merged and outcome.note_pending
    assert "note on the primary is pending" in outcome.message
    assert outcome.pair.state == CandidatePair.State.MERGED
    assert outcome.decision.note_status == Decision.NoteStatus.PENDING
    assert steps_of(outcome.decision)[-1] == ("note", "unknown")
    assert not secondary_in_crm(world) and secondary_gone_in_snapshot(world)
    assert world.notes_on(world.primary_id) == []
    assert (
        DBTaskResult.objects.filter(task_path="mergeassist.review.tasks.retry_pending_notes_task").count()
        == 1
    )

    assert retry_pending_notes(client=world.client, min_age=NOW) == 0  # the CRM still fails
    crm_sandbox.clear_faults()
    assert retry_pending_notes(client=world.client, min_age=timedelta(hours=1)) == 0  # too recent to retry
    assert retry_pending_notes(client=world.client, min_age=NOW) == 1

    decision = Decision.objects.get(pk=outcome.decision.pk)
    assert decision.note_status == Decision.NoteStatus.POSTED and decision.note_attempts == 3
    assert world.notes_on(world.primary_id) == [decision.note_text]
    assert retry_pending_notes(client=world.client, min_age=NOW) == 0  # posted once, not again


def test_a_note_for_a_primary_gone_since_is_undeliverable_and_not_retried(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("note.5xx=1")
    outcome = merge(world, alice, preview.fingerprint)
    assert outcome.note_pending
    crm_sandbox.clear_faults()
    # Before the outbox's next run, someone merges or deletes the primary in the CRM.
    SandboxCustomer.objects.filter(id=int(world.primary_id)).delete()

    assert retry_pending_notes(client=world.client, min_age=NOW) == 0

    decision = Decision.objects.get(pk=outcome.decision.pk)
    assert decision.note_status == Decision.NoteStatus.UNDELIVERABLE
    assert f"customer {world.primary_id} is no longer in the CRM" in decision.error_message
    assert decision.outcome == Decision.Outcome.MERGED and decision.note_text  # the merge and the text stand
    assert steps_of(decision)[-1] == ("note", "error")
    attempts = decision.note_attempts
    assert retry_pending_notes(client=world.client, min_age=NOW) == 0
    assert Decision.objects.get(pk=decision.pk).note_attempts == attempts  # not tried again


def test_a_note_whose_answer_was_lost_is_sent_again_with_the_same_ref(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("note.drop_after=1")

    outcome = merge(world, alice, preview.fingerprint)

    assert outcome.merged and outcome.note_pending
    assert len(world.notes_on(world.primary_id)) == 1  # it did arrive; we cannot know that

    crm_sandbox.clear_faults()
    assert retry_pending_notes(client=world.client, min_age=NOW) == 1

    notes = world.notes_on(world.primary_id)
    assert len(notes) == 2 and all(n.endswith(f"ref {outcome.decision.pk}") for n in notes)
    assert Decision.objects.get(pk=outcome.decision.pk).note_status == Decision.NoteStatus.POSTED


def test_the_note_task_posts_pending_notes_and_stops_when_none_are_left(world, alice, crm_sandbox, settings):
    from mergeassist.review.tasks import retry_pending_notes_task

    preview = preview_of(world, alice)
    crm_sandbox.set_faults("note.5xx=1")
    outcome = merge(world, alice, preview.fingerprint)
    Decision.objects.filter(pk=outcome.decision.pk).update(
        finished_at=outcome.decision.finished_at - timedelta(hours=1)
    )
    outcome.decision.calls.update(started_at=outcome.decision.finished_at - timedelta(hours=1))
    DBTaskResult.objects.all().delete()

    result = retry_pending_notes_task.call()  # still failing: it queues its next run
    assert result == {"settled": 0, "posted": 0, "pending": 1}
    assert DBTaskResult.objects.filter(status="READY").count() == 1

    crm_sandbox.clear_faults()
    DBTaskResult.objects.all().delete()
    outcome.decision.calls.update(started_at=outcome.decision.finished_at - timedelta(hours=1))
    assert retry_pending_notes_task.call() == {"settled": 0, "posted": 1, "pending": 0}
    assert not DBTaskResult.objects.exists()
    assert len(world.notes_on(world.primary_id)) == 1


def test_checking_the_crm_again_settles_an_unknown_merge_as_merged(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("merge.drop_after=1,list.5xx=1")
    unknown = merge(world, alice, preview.fingerprint)
    assert unknown.pair.state == CandidatePair.State.UNKNOWN
    crm_sandbox.clear_faults()

    outcome = do_settle_merge(pair=world.pair, reviewer=alice, client=world.client)

    assert outcome.merged and outcome.pair.state == CandidatePair.State.MERGED
    assert outcome.decision.pk == unknown.decision.pk
    assert secondary_gone_in_snapshot(world)
    assert len(world.notes_on(world.primary_id)) == 1
    assert [s for s, _ in steps_of(outcome.decision)][-3:] == ["settle", "refresh", "note"]
    with pytest.raises(PairNotPending):
        do_settle_merge(pair=world.pair, reviewer=alice, client=world.client)


def test_checking_the_crm_again_reopens_an_unknown_merge_that_did_not_happen(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("merge.drop_after=1,list.5xx=1")
    merge(world, alice, preview.fingerprint)
    # Someone undid it in the CRM by hand: the secondary is back under its id (as far as a
    # settle can tell). Recreate it so the CRM shows it still there.
    SandboxCustomer.objects.create(id=int(world.secondary_id), name_first="Bob", name_last="Smith")
    crm_sandbox.clear_faults()

    outcome = do_settle_merge(pair=world.pair, reviewer=alice, client=world.client)

    assert outcome.decision.outcome == Decision.Outcome.FAILED
    assert outcome.pair.state == CandidatePair.State.FAILED and "may be merged again" in outcome.message


def test_a_merge_left_merging_by_a_dead_process_is_settled_by_the_background_task(world, alice, crm_sandbox):
    from mergeassist.review.tasks import retry_pending_notes_task

    preview = preview_of(world, alice)
    # The process died right after the merge call: the CRM merged, MergeAssist recorded nothing more.
    world.client.merge(world.primary_id, world.secondary_id)
    CandidatePair.objects.filter(pk=world.pair.pk).update(
        state=CandidatePair.State.MERGING, decided_by=alice, decided_at=timezone.now() - timedelta(hours=1)
    )
    Decision.objects.create(
        kind=Decision.Kind.MERGE, pair=world.pair, pair_key=world.pair.pair_key, reviewer=alice,
        reviewer_username="alice", created_at=timezone.now() - timedelta(hours=1), score=world.pair.score,
        primary_crm_id=world.primary_id, secondary_crm_id=world.secondary_id, secondary_name="Bob Smith",
        preview_fingerprint=preview.fingerprint,
    )  # fmt: skip

    result = retry_pending_notes_task.call()

    assert result["settled"] == 1
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.MERGED
    assert secondary_gone_in_snapshot(world)
    assert len(world.notes_on(world.primary_id)) == 1


def test_a_merge_the_crm_refuses_outright_fails_without_asking_again(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    crm_sandbox.set_faults("merge.429=1,retry_after=0")

    outcome = merge(world, alice, preview.fingerprint, take=())

    assert (
        outcome.decision.outcome == Decision.Outcome.FAILED
        and outcome.pair.state == CandidatePair.State.FAILED
    )
    assert "the CRM refused the merge" in outcome.message and "rate-limiting" in outcome.message
    assert steps_of(outcome.decision) == [
        ("preview", "ok"),
        ("merge", "error"),
    ]  # a refusal needs no settling
    assert secondary_in_crm(world) and not secondary_gone_in_snapshot(world)


class CrashingClient(CrmClient):
    """A client whose process 'dies' (raises) at one step: before the PATCH, or after the merge."""

    def __init__(self, *args, crash_at: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.crash_at = crash_at

    def update_fields(self, customer_id, values):
        if self.crash_at == "patch":
            raise RuntimeError("worker killed")
        return super().update_fields(customer_id, values)

    def merge(self, primary_id, secondary_id):
        result = super().merge(primary_id, secondary_id)
        if self.crash_at == "after merge":
            raise RuntimeError("worker killed")
        return result


def test_our_own_crash_before_the_merge_call_leaves_the_pair_failed(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    client = CrashingClient(crm_sandbox.base_url, crm_sandbox.api_key, crash_at="patch")

    with pytest.raises(RuntimeError):
        do_merge(
            pair=world.pair, reviewer=alice, primary_id=world.primary_id, secondary_id=world.secondary_id,
            fingerprint=preview.fingerprint, take_secondary=["email"], confirmed_risks=True, client=client,
        )  # fmt: skip

    decision = Decision.objects.get(pair=world.pair)
    assert decision.outcome == Decision.Outcome.FAILED and "MergeAssist stopped" in decision.error_message
    assert steps_of(decision) == [("preview", "ok"), ("patch", "unknown")]
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.FAILED and secondary_in_crm(world)


def test_our_own_crash_after_the_merge_call_is_settled_not_guessed(world, alice, crm_sandbox):
    preview = preview_of(world, alice)
    client = CrashingClient(crm_sandbox.base_url, crm_sandbox.api_key, crash_at="after merge")

    with pytest.raises(RuntimeError):
        do_merge(
            pair=world.pair, reviewer=alice, primary_id=world.primary_id, secondary_id=world.secondary_id,
            fingerprint=preview.fingerprint, take_secondary=[], confirmed_risks=True, client=client,
        )  # fmt: skip

    decision = Decision.objects.get(pair=world.pair)
    assert decision.outcome == Decision.Outcome.IN_PROGRESS
    assert steps_of(decision) == [("preview", "ok"), ("merge", "unknown")]  # never recorded as "ok"
    world.pair.refresh_from_db()
    assert world.pair.state == CandidatePair.State.MERGING and not secondary_in_crm(world)
    with pytest.raises(PairNotPending):  # too early to call it stuck: it may still be running
        do_settle_merge(pair=world.pair, reviewer=alice, client=world.client)

    CandidatePair.objects.filter(pk=world.pair.pk).update(decided_at=timezone.now() - timedelta(hours=1))
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(hours=1))
    outcome = do_settle_merge(pair=world.pair, reviewer=alice, client=world.client)

    assert outcome.merged and outcome.decision.pk == decision.pk
    assert secondary_gone_in_snapshot(world) and len(world.notes_on(world.primary_id)) == 1
