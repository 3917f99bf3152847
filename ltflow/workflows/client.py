"""A Python client for Temporal-native services: open a team, send a phase event, read it.

Errors come back as the domain's own exceptions (``RuleViolatedError`` and friends, with the
contract's code and sentence), never as a hang or a raw Temporal failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from temporalio import common
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import (
    LtflowError,
    TeamNotFoundError,
    WrongPhaseError,
    error_from_code,
)
from ltflow.aggregates.state import TeamState, TeamSummary
from ltflow.application import team_id_for
from ltflow.workflows.learning_team import LearningTeamWorkflow, workflow_id_for
from ltflow.workflows.payloads import (
    ConveneTeamInput,
    LearningTeamInput,
    OpenTeamResult,
    SubmitEventInput,
)


class LtflowClient:
    """Talks to the ``LearningTeam`` workflows through a Temporal client with ``LtflowPlugin``."""

    def __init__(
        self, client: Client, task_queue: str = "ltflow", *, search_attributes: bool = True
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.search_attributes = search_attributes

    async def open_team(
        self, convene: c.TeamConvened | Mapping[str, Any], *, actor: str
    ) -> TeamSummary:
        """Open a team for a case (idempotent by ``case_ref``) and return its summary."""
        return (await self.open_team_result(convene, actor=actor)).summary

    async def open_team_result(
        self, convene: c.TeamConvened | Mapping[str, Any], *, actor: str
    ) -> OpenTeamResult:
        """Open a team; the answer also says whether this call created it (HTTP 201 vs 200)."""
        cmd = convene if isinstance(convene, c.TeamConvened) else c.parse_convene(dict(convene))
        team_id = team_id_for(cmd.case_ref)
        start = WithStartWorkflowOperation(
            LearningTeamWorkflow.run,
            LearningTeamInput(team_id=team_id, search_attributes=self.search_attributes),
            id=workflow_id_for(team_id),
            task_queue=self.task_queue,
            id_conflict_policy=common.WorkflowIDConflictPolicy.USE_EXISTING,
        )
        with _domain_errors(team_id):
            result: OpenTeamResult = await self.client.execute_update_with_start_workflow(
                "convene",
                ConveneTeamInput(convene=cmd, actor=actor),
                start_workflow_operation=start,
                result_type=OpenTeamResult,
            )
            return result

    async def send(
        self, team_id: UUID, event: c.Command | Mapping[str, Any], *, actor: str
    ) -> TeamSummary:
        """Send one phase event; a repeat of its ``event_id`` returns the first answer."""
        cmd = event if isinstance(event, c.Command) else c.parse_sender_event(dict(event))
        handle = self.client.get_workflow_handle(workflow_id_for(team_id))
        with _domain_errors(team_id):
            answer: TeamSummary = await handle.execute_update(
                "submit", SubmitEventInput(event=cmd, actor=actor), result_type=TeamSummary
            )
            return answer

    async def summary(self, team_id: UUID) -> TeamSummary:
        handle = self.client.get_workflow_handle(workflow_id_for(team_id))
        with _domain_errors(team_id):
            return await handle.query(LearningTeamWorkflow.summary)

    async def state(self, team_id: UUID) -> TeamState | None:
        handle = self.client.get_workflow_handle(workflow_id_for(team_id))
        with _domain_errors(team_id):
            return await handle.query(LearningTeamWorkflow.state)


class _domain_errors:
    """Translate Temporal failures into ltflow's domain errors."""

    def __init__(self, team_id: UUID) -> None:
        self.team_id = team_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        error = _translate(exc, self.team_id)
        if error is not None:
            raise error from exc


def _translate(exc: BaseException, team_id: UUID) -> LtflowError | None:
    if isinstance(exc, WorkflowUpdateFailedError):
        cause: BaseException | None = exc.cause
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.__cause__
        if isinstance(cause, ApplicationError) and cause.type:
            details = cause.details[0] if cause.details else {}
            return error_from_code(
                cause.type, cause.message, details if isinstance(details, dict) else {}
            )
        return None
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        if "completed" in exc.message.lower():
            return WrongPhaseError(
                "The team is finished; nothing more can be recorded.", team_id=str(team_id)
            )
        return TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))
    if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError):
        return None
    return None
