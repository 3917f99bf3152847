"""The durable workflow on the time-skipping test server: days and weeks in seconds."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates.errors import (
    IdempotencyConflictError,
    InvalidEventError,
    RuleViolatedError,
    TeamNotFoundError,
    WrongPhaseError,
)
from ltflow.aggregates.state import Phase, Status
from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.eventstore.application import LearningTeams, team_id_for
from ltflow.workflows.learning_team import workflow_id_for
from tests.workflows.conftest import Stack

OVERDUE = "reflection.overdue"


def case(case_ref: str | None = None) -> dict[str, Any]:
    """A narrative case under its own reference: workflow ids must not collide between tests."""
    return narrative.convene(case_ref=case_ref or f"VIM-{uuid.uuid4().hex[:10]}")


def types(stack: Stack, team_id: Any) -> list[str]:
    return [f.type for f in stack.app().history(team_id)]


async def run_until(stack: Stack, env: WorkflowEnvironment, team_id: Any, event_id: str) -> None:
    start = await env.get_current_time()
    for step in narrative.steps(start):
        if step.after >= timedelta(hours=1):
            await env.sleep(step.after)
        await stack.ltflow.send(team_id, step.event, actor="fac-ingrid")
        if step.event["event_id"] == event_id:
            return
    raise KeyError(event_id)


async def test_full_case_runs_through_seven_phases_with_the_real_policy(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    opened = await ts_stack.ltflow.open_team(case(), actor="fac-ingrid")
    team_id = opened.team_id
    await run_until(ts_stack, time_env, team_id, "closed")

    summary = await ts_stack.ltflow.summary(team_id)
    assert summary.status is Status.CLOSED
    history = ts_stack.app().history(team_id)
    assert [f.payload["phase"] for f in history if f.type == "phase.entered"] == list(range(1, 8))
    reviews_due = [f for f in history if f.type == "review.due"]
    assert [f.payload["review"] for f in reviews_due] == [1, 2]
    assert all(f.actor == "system" for f in reviews_due)
    follow_up = next(f for f in history if f.type == "follow_up.started")
    waited = reviews_due[0].occurred_at - follow_up.occurred_at
    assert timedelta(days=28) <= waited < timedelta(days=28, minutes=1)
    assert [f.payload["outcome"] for f in history if f.type == "follow_up.ended"] == [
        "criteria_met"
    ]
    assert ts_stack.notifier.types().count("review.due") == 2
    assert summary.version == len(history)


async def test_session_two_too_early_is_rejected_with_the_earliest_time_and_changes_nothing(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    team_id = (await ts_stack.ltflow.open_team(case(), actor="f")).team_id
    await run_until(ts_stack, time_env, team_id, "done-1")
    before_store = types(ts_stack, team_id)
    before_state = await ts_stack.ltflow.state(team_id)
    assert before_state is not None
    earliest = before_state.reflection_earliest
    assert earliest is not None

    with pytest.raises(RuleViolatedError) as err:
        await asyncio.wait_for(
            ts_stack.ltflow.send(
                team_id, {"type": "session.started", "event_id": "s2", "session": 2}, actor="f"
            ),
            timeout=15,
        )
    assert err.value.code == "rule_violated"
    assert earliest.isoformat() in err.value.message
    assert types(ts_stack, team_id) == before_store
    assert await ts_stack.ltflow.state(team_id) == before_state

    await time_env.sleep(timedelta(days=1))
    after = await ts_stack.ltflow.send(
        team_id, {"type": "session.started", "event_id": "s2", "session": 2}, actor="f"
    )
    assert after.phase is Phase.SESSION_TWO


async def test_the_reminder_and_the_overdue_escalation_fire_and_are_stored(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    team_id = (await ts_stack.ltflow.open_team(case(), actor="f")).team_id
    await run_until(ts_stack, time_env, team_id, "done-1")

    await time_env.sleep(timedelta(days=12, hours=1))
    assert "reflection.reminder_due" in types(ts_stack, team_id)
    assert "reflection.overdue" not in types(ts_stack, team_id)

    await time_env.sleep(timedelta(days=2))
    history = ts_stack.app().history(team_id)
    overdue = [f for f in history if f.type == "reflection.overdue"]
    assert len(overdue) == 1
    assert overdue[0].actor == "system"
    assert overdue[0].payload["facilitator"] == "fac-ingrid"
    timed = [n for n in ts_stack.notifier.sent if n.type in ("reflection.reminder_due", OVERDUE)]
    assert [n.type for n in timed] == ["reflection.reminder_due", OVERDUE]
    # Named by role and id only: this facilitator has no identity, and their name stays out.
    assert timed[1].recipient == "facilitator"
    assert "fac-ingrid" not in timed[1].model_dump_json()
    # Late is escalated, not forbidden: session 2 can still start.
    late = await ts_stack.ltflow.send(
        team_id, {"type": "session.started", "event_id": "s2", "session": 2}, actor="f"
    )
    assert late.phase is Phase.SESSION_TWO


async def test_a_duplicate_event_id_stores_one_event_and_returns_the_first_answer(
    ts_stack: Stack,
) -> None:
    team_id = (await ts_stack.ltflow.open_team(case(), actor="f")).team_id
    invite = {
        "type": "participant.invited",
        "event_id": "inv-1",
        "participant_id": "p-1",
        "role": "nurse",
    }
    first = await ts_stack.ltflow.send(team_id, invite, actor="f")
    await ts_stack.ltflow.send(
        team_id, {**invite, "event_id": "inv-2", "participant_id": "p-2"}, actor="f"
    )
    again = await ts_stack.ltflow.send(team_id, invite, actor="f")

    assert again == first
    assert types(ts_stack, team_id).count("participant.invited") == 2
    with pytest.raises(IdempotencyConflictError):
        await ts_stack.ltflow.send(team_id, {**invite, "role": "physician"}, actor="f")


async def test_concurrent_events_to_one_team_are_each_stored_once(ts_stack: Stack) -> None:
    team_id = (await ts_stack.ltflow.open_team(case(), actor="f")).team_id
    invites = [
        {
            "type": "participant.invited",
            "event_id": f"inv-{i}",
            "participant_id": f"p-{i}",
            "role": "nurse",
        }
        for i in range(8)
    ]
    await asyncio.gather(*(ts_stack.ltflow.send(team_id, e, actor="f") for e in invites + invites))
    history = ts_stack.app().history(team_id)
    assert sorted(f.event_id for f in history if f.type == "participant.invited") == sorted(
        e["event_id"] for e in invites
    )
    state = await ts_stack.ltflow.state(team_id)
    assert state is not None
    assert state == ts_stack.app().state(team_id)


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"type": "scope.confirmed", "event_id": "x"}, RuleViolatedError),
        ({"type": "red_thread.recorded", "event_id": "x", "summary": "s"}, WrongPhaseError),
        ({"type": "review.due", "event_id": "x", "review": 1, "criteria": []}, InvalidEventError),
    ],
    ids=["rule", "phase", "system-type"],
)
async def test_a_rejected_update_answers_at_once_and_changes_nothing(
    ts_stack: Stack, event: dict[str, Any], error: type[Exception]
) -> None:
    team_id = (await ts_stack.ltflow.open_team(case(), actor="f")).team_id
    before_state = await ts_stack.ltflow.state(team_id)
    before_store = types(ts_stack, team_id)
    from ltflow.aggregates.vocabulary import ALL_TYPES

    cmd = ALL_TYPES[event["type"]].model_validate(event)
    with pytest.raises(error):
        await asyncio.wait_for(ts_stack.ltflow.send(team_id, cmd, actor="f"), timeout=15)
    assert await ts_stack.ltflow.state(team_id) == before_state
    assert types(ts_stack, team_id) == before_store


async def test_an_unknown_team_is_not_found(ts_stack: Stack) -> None:
    with pytest.raises(TeamNotFoundError):
        await ts_stack.ltflow.send(
            team_id_for("never-opened"),
            {"type": "scope.confirmed", "event_id": "x"},
            actor="f",
        )


async def test_opening_a_case_twice_is_idempotent_and_other_content_conflicts(
    ts_stack: Stack,
) -> None:
    body = case()
    first = await ts_stack.ltflow.open_team(body, actor="f")
    again = await ts_stack.ltflow.open_team_result(body, actor="f")
    assert again.summary == first
    assert not again.created
    with pytest.raises(IdempotencyConflictError):
        await ts_stack.ltflow.open_team({**body, "title": "Other"}, actor="f")
    assert types(ts_stack, first.team_id) == ["team.convened", "phase.entered"]
    handle = ts_stack.client.get_workflow_handle(workflow_id_for(first.team_id))
    assert (await handle.describe()).id == f"learning-team-{first.team_id}"


async def test_an_activity_that_fails_after_its_commit_is_retried_and_stores_nothing_twice(
    time_env: WorkflowEnvironment, stack_factory: Any
) -> None:
    failures = {"left": 1}

    class CrashAfterCommit(LearningTeams):
        def record(self, *args: Any, **kwargs: Any) -> Any:
            result = super().record(*args, **kwargs)
            if failures["left"] and not result.duplicate:
                failures["left"] -= 1
                raise ConnectionError("lost the answer after the commit")
            return result

    holder: dict[str, CrashAfterCommit] = {}

    def factory() -> LearningTeams:

        holder["app"] = CrashAfterCommit.from_settings(stack_settings["s"])  # type: ignore[assignment]
        return holder["app"]

    stack_settings: dict[str, Settings] = {}
    async with stack_factory(time_env, search_attributes=False, app_factory=factory) as stack:
        stack_settings["s"] = stack.settings
        team_id = (await stack.ltflow.open_team(case(), actor="f")).team_id
        answer = await stack.ltflow.send(
            team_id,
            {
                "type": "participant.invited",
                "event_id": "inv-1",
                "participant_id": "p-1",
                "role": "nurse",
            },
            actor="f",
        )
        assert failures["left"] == 0
        assert answer.version == 3
        assert types(stack, team_id).count("participant.invited") == 1


async def test_the_seen_event_ids_survive_continue_as_new(ts_stack: Stack) -> None:
    from ltflow.workflows.learning_team import LearningTeamWorkflow
    from ltflow.workflows.payloads import LearningTeamInput

    case_ref = f"CAN-{uuid.uuid4().hex[:8]}"
    team_id = team_id_for(case_ref)
    handle = await ts_stack.client.start_workflow(
        LearningTeamWorkflow.run,
        LearningTeamInput(team_id=team_id, search_attributes=False, max_events_per_run=3),
        id=workflow_id_for(team_id),
        task_queue=ts_stack.settings.task_queue,
    )
    first_run = handle.result_run_id
    await ts_stack.ltflow.open_team(case(case_ref), actor="f")
    invite = {
        "type": "participant.invited",
        "event_id": "inv-0",
        "participant_id": "p-0",
        "role": "nurse",
    }
    first = await ts_stack.ltflow.send(team_id, invite, actor="f")
    for i in range(1, 6):
        await ts_stack.ltflow.send(
            team_id, {**invite, "event_id": f"inv-{i}", "participant_id": f"p-{i}"}, actor="f"
        )
    described = await ts_stack.client.get_workflow_handle(workflow_id_for(team_id)).describe()
    assert described.run_id != first_run

    again = await ts_stack.ltflow.send(team_id, invite, actor="f")
    assert again == first
    assert types(ts_stack, team_id).count("participant.invited") == 6
