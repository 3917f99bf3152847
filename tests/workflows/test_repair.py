"""Failed, timed-out and finished runs on the time-skipping server; the status mapping."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates.errors import (
    RepairRefusedError,
    TeamNotFoundError,
    TeamUnavailableError,
    WrongPhaseError,
)
from ltflow.demo import narrative
from ltflow.eventstore.application import team_id_for
from ltflow.workflows.failures import from_failure
from ltflow.workflows.learning_team import LearningTeamWorkflow, workflow_id_for
from ltflow.workflows.payloads import LearningTeamInput
from tests.workflows.conftest import Stack

INVITE: dict[str, Any] = {
    "type": "participant.invited",
    "event_id": "i-1",
    "participant_id": "p-1",
    "role": "nurse",
}
GONE = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")


@pytest.mark.parametrize(
    "status",
    [
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.TERMINATED,
        WorkflowExecutionStatus.TIMED_OUT,
        WorkflowExecutionStatus.CANCELED,
    ],
)
def test_a_stopped_run_is_unavailable_with_its_status(status: WorkflowExecutionStatus) -> None:
    team_id = uuid.uuid4()
    error = from_failure(GONE, team_id, status=status)
    assert isinstance(error, TeamUnavailableError)
    assert error.details == {"team_id": str(team_id), "workflow_status": status.name}


def test_a_completed_run_is_finished_and_no_run_is_no_team() -> None:
    team_id = uuid.uuid4()
    finished = from_failure(GONE, team_id, status=WorkflowExecutionStatus.COMPLETED)
    assert isinstance(finished, WrongPhaseError)
    assert finished.details["finished"] is True
    assert isinstance(from_failure(GONE, team_id, status=None), TeamNotFoundError)


async def test_a_timed_out_run_is_unavailable_and_repair_continues_from_the_store(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    case_ref = f"REP-{uuid.uuid4().hex[:10]}"
    team_id = team_id_for(case_ref)
    # A host started the team's workflow with a run timeout of its own.
    await ts_stack.client.start_workflow(
        LearningTeamWorkflow.run,
        LearningTeamInput(team_id=team_id, search_attributes=False),
        id=workflow_id_for(team_id),
        task_queue=ts_stack.settings.task_queue,
        run_timeout=timedelta(hours=1),
    )
    await ts_stack.ltflow.open_team(narrative.convene(case_ref=case_ref), actor="fac-ingrid")
    await time_env.sleep(timedelta(hours=2))

    with pytest.raises(TeamUnavailableError) as caught:
        await ts_stack.ltflow.send(team_id, INVITE, actor="fac-ingrid")
    assert caught.value.details["workflow_status"] == "TIMED_OUT"
    repaired = await ts_stack.ltflow.repair(team_id)
    assert repaired.previous_status == "TIMED_OUT"
    assert (await ts_stack.ltflow.send(team_id, INVITE, actor="fac-ingrid")).version == 3


async def test_a_run_that_failed_is_unavailable(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    team_id = uuid.uuid4()
    raw = Client(time_env.client.service_client, namespace=time_env.client.namespace)
    # Started without the payload key: the run fails at once.
    handle = await raw.start_workflow(
        "LearningTeam",
        {"team_id": str(team_id)},
        id=workflow_id_for(team_id),
        task_queue=ts_stack.settings.task_queue,
    )
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=10)
    with pytest.raises(TeamUnavailableError) as caught:
        await ts_stack.ltflow.send(team_id, INVITE, actor="fac-ingrid")
    assert caught.value.details["workflow_status"] == "FAILED"


async def test_a_finished_team_stays_wrong_phase_and_is_not_repaired(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    body = narrative.convene(case_ref=f"REP-{uuid.uuid4().hex[:10]}")
    team_id = (await ts_stack.ltflow.open_team(body, actor="fac-ingrid")).team_id
    abandon = {"type": "team.abandoned", "event_id": "ab-1", "reason": "merged with another"}
    await ts_stack.ltflow.send(team_id, abandon, actor="fac-ingrid")
    await time_env.sleep(timedelta(days=8))  # beyond the days a finished team answers repeats

    with pytest.raises(WrongPhaseError) as caught:
        await ts_stack.ltflow.send(team_id, INVITE, actor="fac-ingrid")
    assert caught.value.details["finished"] is True
    with pytest.raises(RepairRefusedError, match="completed"):
        await ts_stack.ltflow.repair(team_id)
