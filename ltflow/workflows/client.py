"""A Python client for Temporal-native services: open a team, send a phase event, read it.

It takes the vocabulary's typed events (parse JSON with
:func:`~ltflow.aggregates.vocabulary.parse_sender_event` first). Errors come back as the
domain's own exceptions (``RuleViolatedError`` and friends, with the contract's code and
sentence), never as a hang or a raw Temporal failure.
"""

from __future__ import annotations

from uuid import UUID

from temporalio import common
from temporalio.client import Client, WithStartWorkflowOperation

from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.state import TeamState, TeamSummary
from ltflow.eventstore.application import team_id_for
from ltflow.workflows.failures import as_domain_errors
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

    async def open_team(self, convene: v.TeamConvened, *, actor: str) -> TeamSummary:
        """Open a team for a case (idempotent by ``case_ref``) and return its summary."""
        return (await self.open_team_result(convene, actor=actor)).summary

    async def open_team_result(self, convene: v.TeamConvened, *, actor: str) -> OpenTeamResult:
        """Open a team; the answer also says whether this call created it (HTTP 201 vs 200)."""
        team_id = team_id_for(convene.case_ref)
        start = WithStartWorkflowOperation(
            LearningTeamWorkflow.run,
            LearningTeamInput(team_id=team_id, search_attributes=self.search_attributes),
            id=workflow_id_for(team_id),
            task_queue=self.task_queue,
            id_conflict_policy=common.WorkflowIDConflictPolicy.USE_EXISTING,
        )
        with as_domain_errors(team_id):
            return await self.client.execute_update_with_start_workflow(
                LearningTeamWorkflow.convene,
                ConveneTeamInput(convene=convene, actor=actor),
                start_workflow_operation=start,
            )

    async def send(self, team_id: UUID, event: v.Command, *, actor: str) -> TeamSummary:
        """Send one phase event; a repeat of its ``event_id`` returns the first answer."""
        handle = self.client.get_workflow_handle_for(
            LearningTeamWorkflow.run, workflow_id_for(team_id)
        )
        with as_domain_errors(team_id):
            return await handle.execute_update(
                LearningTeamWorkflow.submit, SubmitEventInput(event=event, actor=actor)
            )

    async def summary(self, team_id: UUID) -> TeamSummary:
        handle = self.client.get_workflow_handle(workflow_id_for(team_id))
        with as_domain_errors(team_id):
            return await handle.query(LearningTeamWorkflow.summary)

    async def state(self, team_id: UUID) -> TeamState | None:
        handle = self.client.get_workflow_handle(workflow_id_for(team_id))
        with as_domain_errors(team_id):
            return await handle.query(LearningTeamWorkflow.state)
