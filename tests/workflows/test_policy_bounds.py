"""The policy bounds on the Temporal door, and timers of long policies (issue 15)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates.errors import InvalidEventError
from ltflow.aggregates.state import Phase
from ltflow.demo import narrative
from ltflow.eventstore.application import team_id_for
from ltflow.workflows.learning_team import MAX_SLEEP, LearningTeamWorkflow, workflow_id_for
from ltflow.workflows.payloads import LearningTeamInput
from tests.conftest import Clock
from tests.integration.test_stored_policies import StoredDriver
from tests.projections.scenario import PEOPLE
from tests.workflows.conftest import Stack
from tests.workflows.test_learning_team_workflow import run_until, types


async def test_the_worker_refuses_a_policy_below_its_floor_and_stores_nothing(
    ts_stack: Stack,
) -> None:
    """A Temporal-native sender skips the HTTP and CLI checks: the convene activity judges the
    policy with the worker's own floor (one second here, as in ``ltflow dev``)."""
    case_ref = f"FLOOR-{uuid.uuid4().hex[:8]}"
    body = narrative.convene(case_ref=case_ref, policy={"review_every": "PT0.5S"})
    with pytest.raises(InvalidEventError) as err:
        await ts_stack.ltflow.open_team(body, actor="f")
    assert err.value.message == (
        "policy.review_every must be between 1 second and 730 days; it is 0.5 seconds."
    )
    assert not ts_stack.app().exists(team_id_for(case_ref))
    with pytest.raises(InvalidEventError):  # and again: the workflow it started is no team
        await ts_stack.ltflow.open_team(body, actor="f")

    fixed = narrative.convene(case_ref=case_ref, policy={"review_every": "PT1S"})
    opened = await ts_stack.ltflow.open_team(fixed, actor="f")
    assert opened.phase is Phase.GOAL_AND_SCOPE


async def test_a_two_year_follow_up_fires_no_timer_early(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    policy = {"review_every": "P400D", "follow_up_for": "P730D"}
    body = narrative.convene(case_ref=f"LONG-{uuid.uuid4().hex[:8]}", policy=policy)
    team_id = (await ts_stack.ltflow.open_team(body, actor="f")).team_id
    await run_until(ts_stack, time_env, team_id, "follow-up")
    started = next(f for f in ts_stack.app().history(team_id) if f.type == "follow_up.started")

    await time_env.sleep(timedelta(days=399))
    assert "review.due" not in types(ts_stack, team_id)
    await time_env.sleep(timedelta(days=2))
    assert types(ts_stack, team_id).count("review.due") == 1
    assert "follow_up.ended" not in types(ts_stack, team_id)
    await time_env.sleep(timedelta(days=330))

    history = ts_stack.app().history(team_id)
    review = next(f for f in history if f.type == "review.due")
    ended = next(f for f in history if f.type == "follow_up.ended")
    assert (
        timedelta(days=400)
        <= review.occurred_at - started.occurred_at
        < timedelta(days=400, minutes=1)
    )
    assert (
        timedelta(days=730)
        <= ended.occurred_at - started.occurred_at
        < timedelta(days=730, minutes=1)
    )
    assert ended.payload["outcome"] == "period_ended"
    assert (await ts_stack.ltflow.summary(team_id)).phase is Phase.COMMUNICATE


async def test_a_team_stored_before_the_bounds_runs_on_without_overflow(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    """A follow-up that ends in the year 9999 (saturated): the workflow sleeps three years at a
    time, records nothing early, and still takes the team's events."""
    now = await time_env.get_current_time()
    clock = Clock(now - timedelta(days=30))
    stored = StoredDriver(ts_stack.app(), clock, f"OLD-{uuid.uuid4().hex[:8]}")
    stored.policy = {"review_every": "P999999999D", "follow_up_for": "P999999999D"}
    team_id = stored.convene()
    stored.through_session_one(PEOPLE[:3], [True, True, True])
    stored.through_analysis(PEOPLE[:3])
    stored.through_follow_up(due=date(2026, 4, 1))
    recorded = len(ts_stack.app().history(team_id))

    await ts_stack.client.start_workflow(
        LearningTeamWorkflow.run,
        LearningTeamInput(team_id=team_id, search_attributes=False),
        id=workflow_id_for(team_id),
        task_queue=ts_stack.settings.task_queue,
    )
    await time_env.sleep(MAX_SLEEP * 2 + timedelta(days=30))
    handle = ts_stack.client.get_workflow_handle(workflow_id_for(team_id))
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    # Only what was truly due is recorded: its safety nets' due date (April) has long passed,
    # so each is overdue and escalated, once; nothing of the year-9999 follow-up fires early.
    later = [f.type for f in ts_stack.app().history(team_id)[recorded:]]
    assert sorted(later) == sorted(["safety_net.overdue", "safety_net.escalated"] * 2)
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        async for e in handle.fetch_history_events()
        if e.HasField("timer_started_event_attributes")
    ]
    assert [t for t in timers if t > timedelta(days=1)] == [MAX_SLEEP, MAX_SLEEP, MAX_SLEEP]

    met = {"type": "review.recorded", "event_id": "rev", "criterion_id": "cr-1"}
    after = await ts_stack.ltflow.send(team_id, {**met, "observed": "all", "met": True}, actor="f")
    assert after.phase is Phase.COMMUNICATE
