"""The policy bounds on the Temporal door, and timers of long policies (issue 15)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates.errors import InvalidEventError
from ltflow.aggregates.state import Phase
from ltflow.application import team_id_for
from ltflow.demo import narrative
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
