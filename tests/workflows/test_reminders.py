"""A durable reminder for every deadline (issue 16), on the time-skipping server with the real
policy: days pass by ``time_env.sleep``, every reminder is recorded once, as ``system``, at its
time, and tells its recipients by role and id, never by name."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from temporalio.testing import WorkflowEnvironment

from ltflow.demo import narrative
from ltflow.eventstore.application import StoredFact
from ltflow.projections.team_detail import fold_team_detail
from ltflow.workflows.payloads import Notification
from tests.workflows.conftest import Stack

SPONSOR = "sub-sponsor-ward"
FACILITATOR = "sub-ingrid"
#: The personal text of the narrative: none of it may reach a notification.
PERSONAL = [
    "fac-ingrid",
    *(name for _, name, _ in narrative.PARTICIPANTS),
    "Double dose",
    "The round started late",
    "paper list",
]


def with_identities(event: dict[str, Any]) -> dict[str, Any]:
    """The narrative's event with the ids the access issue gives people."""
    if event["type"] == "participant.invited":
        return {**event, "subject": f"sub-{event['participant_id']}"}
    if event["type"] == "safety_net.defined":
        return {**event, "owner_id": f"sub-{event['owner']}"}
    return event


async def open_and_run(stack: Stack, env: WorkflowEnvironment, until: str) -> UUID:
    body = {
        **narrative.convene(case_ref=f"REM-{uuid.uuid4().hex[:10]}"),
        "facilitator_id": FACILITATOR,
    }
    team_id = (await stack.ltflow.open_team(body, actor="fac-ingrid")).team_id
    sponsor = {"type": "sponsor.assigned", "event_id": "sponsor", "sponsor_id": SPONSOR}
    await stack.ltflow.send(team_id, sponsor, actor="fac-ingrid")
    start = await env.get_current_time()
    for step in narrative.steps(start):
        if step.after >= timedelta(hours=1):
            await env.sleep(step.after)
        await stack.ltflow.send(team_id, with_identities(step.event), actor="fac-ingrid")
        if step.event["event_id"] == until:
            return team_id
    raise KeyError(until)


def facts(stack: Stack, team_id: UUID, type_: str) -> list[StoredFact]:
    return [f for f in stack.app().history(team_id) if f.type == type_]


def one(stack: Stack, team_id: UUID, type_: str) -> StoredFact:
    found = facts(stack, team_id, type_)
    assert len(found) == 1, (type_, [f.event_id for f in found])
    assert found[0].actor == "system"
    return found[0]


def near(moment: datetime, expected: datetime) -> bool:
    """At the expected time, give or take the minute a step of the case takes."""
    return expected <= moment < expected + timedelta(minutes=1)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def sent(stack: Stack, type_: str) -> list[Notification]:
    return [n for n in stack.notifier.sent if n.type == type_]


async def delivered(stack: Stack, type_: str, seconds: float = 10) -> None:
    """Notifications go out in the background: wait (boundedly) until one of ``type_`` has."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not sent(stack, type_) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)


def roles(note: Notification) -> set[tuple[str, str | None]]:
    return {(r.role, r.subject) for r in note.recipients}


async def test_the_session_reminder_and_the_reflection_prompt_fire_once_at_their_time(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    team_id = await open_and_run(ts_stack, time_env, "start-2")

    scheduled = next(f for f in ts_stack.app().history(team_id) if f.event_id == "sched-1")
    session_at = datetime.fromisoformat(scheduled.payload["at"])
    reminder = one(ts_stack, team_id, "session.reminder_due")
    assert near(reminder.occurred_at, session_at - timedelta(days=1))
    assert reminder.payload["session"] == 1

    opened = one(ts_stack, team_id, "reflection.opened")
    prompt = one(ts_stack, team_id, "reflection.prompt_due")
    # Halfway through the processing time of the real policy (min_reflection: one day).
    assert near(prompt.occurred_at, opened.occurred_at + timedelta(hours=12))

    (note,) = sent(ts_stack, "session.reminder_due")
    assert ("facilitator", FACILITATOR) in roles(note)
    assert {r.participant_id for r in note.recipients if r.role == "participant"} == {
        "p-anna",
        "p-bram",
        "p-chen",
        "p-dewi",
    }
    (prompted,) = sent(ts_stack, "reflection.prompt_due")
    assert {r.role for r in prompted.recipients} == {"participant"}
    assert ("participant", "sub-p-anna") in roles(prompted)

    view = fold_team_detail(ts_stack.app().events.get(team_id))  # type: ignore[arg-type]
    assert view.sessions[0].reminded_at == reminder.occurred_at
    assert view.reflection is not None
    assert view.reflection.prompted_at == prompt.occurred_at


async def test_safety_nets_reviews_and_the_follow_up_end_each_remind_once_with_the_real_policy(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    team_id = await open_and_run(ts_stack, time_env, "follow-up")
    started_at = next(
        f for f in ts_stack.app().history(team_id) if f.type == "follow_up.started"
    ).occurred_at

    await time_env.sleep(timedelta(days=91))

    nets = {
        f.payload["safety_net_id"]: date.fromisoformat(f.payload["due"])
        for f in ts_stack.app().history(team_id)
        if f.type == "safety_net.defined"
    }
    assert len(nets) == 2
    for kind in ("safety_net.reminder_due", "safety_net.overdue", "safety_net.escalated"):
        found = facts(ts_stack, team_id, kind)
        assert sorted(f.payload["safety_net_id"] for f in found) == sorted(nets), kind
        assert all(f.actor == "system" for f in found)
    for f in facts(ts_stack, team_id, "safety_net.reminder_due"):
        due = nets[f.payload["safety_net_id"]]
        assert near(f.occurred_at, midnight(due) - timedelta(days=1))
    for f in facts(ts_stack, team_id, "safety_net.overdue"):
        due = nets[f.payload["safety_net_id"]]
        assert near(f.occurred_at, midnight(due) + timedelta(days=1))
    for f in facts(ts_stack, team_id, "safety_net.escalated"):
        due = nets[f.payload["safety_net_id"]]
        assert near(f.occurred_at, midnight(due) + timedelta(days=8))
        assert f.payload["sponsor_id"] == SPONSOR

    assert [f.payload["review"] for f in facts(ts_stack, team_id, "review.due")] == [1, 2, 3]
    ending = one(ts_stack, team_id, "follow_up.ending_due")
    assert near(ending.occurred_at, started_at + timedelta(days=83))
    ended = one(ts_stack, team_id, "follow_up.ended")
    assert near(ended.occurred_at, started_at + timedelta(days=90))

    escalations = sent(ts_stack, "safety_net.escalated")
    assert len(escalations) == 2
    for note in escalations:
        assert ("sponsor", SPONSOR) in roles(note)
        assert ("facilitator", FACILITATOR) in roles(note)
        owner = f"sub-p-{'bram' if note.details['safety_net_id'] == 'sn-handover' else 'dewi'}"
        assert ("owner", owner) in roles(note)
    assert {r.role for r in sent(ts_stack, "follow_up.ending_due")[0].recipients} == {
        "facilitator",
        "sponsor",
    }

    view = fold_team_detail(ts_stack.app().events.get(team_id))  # type: ignore[arg-type]
    for net in view.safety_nets:
        assert None not in (net.reminded_at, net.overdue_at, net.escalated_at)
    assert view.follow_up is not None
    assert view.follow_up.ending_reminded_at == ending.occurred_at


async def test_every_notification_names_people_by_role_and_id_only(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    team_id = await open_and_run(ts_stack, time_env, "closed")
    await delivered(ts_stack, "team.closed")
    view = fold_team_detail(ts_stack.app().events.get(team_id))  # type: ignore[arg-type]
    # What the action tracker needs: a safety net left open by a closed team is no open action.
    assert {n.safety_net_id: n.ended_open for n in view.safety_nets} == {
        "sn-handover": True,
        "sn-phone": False,
    }
    types = {n.type for n in ts_stack.notifier.sent}
    assert {
        "phase.entered",
        "session.scheduled",
        "session.reminder_due",
        "reflection.prompt_due",
        "review.due",
        "follow_up.ended",
        "team.closed",
    } <= types
    assert [n.details["phase"] for n in sent(ts_stack, "phase.entered")] == list(range(1, 8))
    (met,) = sent(ts_stack, "follow_up.ended")
    assert met.details == {"outcome": "criteria_met"}
    for note in ts_stack.notifier.sent:
        text = note.model_dump_json(exclude={"case_ref"})
        assert not [p for p in PERSONAL if p in text], (note.type, text)
        assert all(r.subject or r.participant_id for r in note.recipients)
