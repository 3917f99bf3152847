"""The reminders of every deadline as a pure function of the state (issue 16): one slot, one id,
recorded once; stale reminders skipped; runs begun before them keep their old timers."""

from __future__ import annotations

from datetime import timedelta

from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.phases import Phase
from ltflow.workflows.timers import deadline_reminders, next_due, slot_key
from tests.unit.builders import Walk, walk_to


def _types(walk: Walk) -> list[str]:
    return sorted(d.command.type for d in deadline_reminders(walk.state, walk.now))


def test_a_reminder_once_recorded_is_never_due_again() -> None:
    walk = Walk.open()
    walk.schedule(1, walk.now + timedelta(days=3))
    due = next_due(walk.state, now=walk.now)
    assert due is not None
    assert due.command.type == "session.reminder_due"
    assert due.at == walk.state.sessions[1].scheduled_at - timedelta(days=1)  # type: ignore[operator]
    walk.send(due.command, at=due.at)
    assert next_due(walk.state, now=due.at) is None


def test_a_rescheduled_session_is_reminded_again_for_its_new_time() -> None:
    walk = Walk.open()
    walk.schedule(1, walk.now + timedelta(days=3))
    first = next_due(walk.state, now=walk.now)
    assert first is not None
    walk.send(first.command, at=first.at)
    walk.schedule(1, walk.now + timedelta(days=5))
    again = next_due(walk.state, now=walk.now)
    assert again is not None
    assert again.command.event_id != first.command.event_id
    assert again.command.event_id.startswith("system:session.reminder_due:1:")


def test_a_session_whose_time_has_passed_is_not_reminded() -> None:
    walk = Walk.open()
    walk.schedule(1, walk.now + timedelta(hours=2))
    assert _types(walk) == ["session.reminder_due"]  # less than a day ahead: at once
    assert deadline_reminders(walk.state, walk.now + timedelta(hours=3)) == []


def test_without_now_the_timers_are_those_of_runs_begun_before_the_reminders() -> None:
    walk = Walk.open()
    walk.schedule(1, walk.now + timedelta(days=3))
    assert next_due(walk.state) is None  # the old timers knew no session reminder
    processing = walk_to(Phase.PROCESSING_TIME)
    old = next_due(processing.state)
    assert old is not None
    assert old.command.type == "reflection.reminder_due"
    new = next_due(processing.state, now=processing.now)
    assert new is not None
    assert new.command.type == "reflection.prompt_due"  # earlier: halfway to the earliest


def test_a_safety_net_is_escalated_only_after_it_was_found_overdue_and_never_once_done() -> None:
    walk = walk_to(Phase.FOLLOW_UP)  # sn-2 is due 60 days on; sn-1 has no due date
    assert _types(walk) == ["safety_net.overdue", "safety_net.reminder_due"]
    overdue = next(
        d for d in deadline_reminders(walk.state, walk.now) if d.command.type.endswith("overdue")
    )
    walk.send(overdue.command, at=overdue.at)
    assert _types(walk) == ["safety_net.escalated"]
    walk.send(c.SafetyNetCompleted(event_id="done-sn-2", safety_net_id="sn-2"))
    assert _types(walk) == []


def test_a_skipped_slot_lets_the_next_one_through() -> None:
    walk = walk_to(Phase.FOLLOW_UP)
    first = next_due(walk.state, now=walk.now)
    assert first is not None
    after = next_due(walk.state, now=walk.now, skip=frozenset({first.command.event_id}))
    assert after is not None
    assert after.command.event_id != first.command.event_id


def test_a_slot_key_never_carries_a_hash_nor_grows_beyond_an_event_id() -> None:
    assert "#" not in slot_key("sn#1")
    assert slot_key("sn#1") == slot_key("sn#1")
    assert len(slot_key("x" * 200)) <= 200
