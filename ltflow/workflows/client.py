"""A Python client for Temporal-native services: open a team, send a phase event, read it.

It takes the vocabulary's typed events (parse JSON with
:func:`~ltflow.aggregates.vocabulary.parse_sender_event` first). Errors come back as the
domain's own exceptions (``RuleViolatedError`` and friends, with the contract's code and
sentence), never as a hang or a raw Temporal failure. A team whose workflow stopped answers
``team_unavailable`` until :meth:`LtflowClient.repair` restarts it from the event store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

from temporalio import common
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError

from ltflow.access.policy import Viewer
from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.errors import LtflowError, RepairRefusedError, TeamNotFoundError
from ltflow.aggregates.state import TeamState, TeamSummary
from ltflow.eventstore.application import team_id_for
from ltflow.privacy.fields import encrypt_personal_fields
from ltflow.privacy.keys import KeyStore
from ltflow.workflows.failures import STOPPED, as_domain_errors, workflow_status
from ltflow.workflows.learning_team import LearningTeamWorkflow
from ltflow.workflows.naming import WorkflowIds, legacy_workflow_id
from ltflow.workflows.payloads import (
    ConveneTeamInput,
    LearningTeamInput,
    OpenTeamResult,
    SubmitEventInput,
)


@dataclass(frozen=True)
class RepairResult:
    """A repaired team: the status its stopped run had, and the new run that replaced it."""

    team_id: UUID
    workflow_id: str
    run_id: str
    previous_status: str


class LtflowClient:
    """Talks to the ``LearningTeam`` workflows through a Temporal client with ``LtflowPlugin``."""

    def __init__(
        self,
        client: Client,
        task_queue: str = "ltflow",
        *,
        search_attributes: bool = True,
        keys: KeyStore | None = None,
        workflow_ids: WorkflowIds | None = None,
    ) -> None:
        """``keys``: the participant keys (``key_store_for(settings)``, the store the workers'
        event store uses). With them, personal fields are encrypted here, before an event
        enters Temporal, so the workflow, its history and anything that reads it see ids and
        counts, never stories; and an erased participant's fields stay unreadable there too."""
        self.client = client
        self.task_queue = task_queue
        self.search_attributes = search_attributes
        self.keys = keys
        #: How team workflows are named (:mod:`ltflow.workflows.naming`): keyed with the
        #: deployment's secret (``workflow_ids_for(settings)``), or the old names only.
        self.workflow_ids = workflow_ids or WorkflowIds(None)

    async def workflow_id(self, team_id: UUID) -> str:
        """The id of the team's workflow: the old name where a workflow has it (teams opened
        before keyed names), else the keyed name. Remembered once known."""
        ids = self.workflow_ids
        if not ids.keyed:
            return legacy_workflow_id(team_id)
        known = ids.remembered(team_id)
        if known is not None:
            return known
        legacy = legacy_workflow_id(team_id)
        found = await workflow_status(self.client.get_workflow_handle(legacy))
        chosen = legacy if found is not None else ids.new_id(team_id)
        ids.remember(team_id, chosen)
        return chosen

    async def open_team(self, convene: v.TeamConvened, *, actor: str) -> TeamSummary:
        """Open a team for a case (idempotent by ``case_ref``) and return its summary."""
        return (await self.open_team_result(convene, actor=actor)).summary

    async def open_team_result(self, convene: v.TeamConvened, *, actor: str) -> OpenTeamResult:
        """Open a team; the answer also says whether this call created it (HTTP 201 vs 200)."""
        team_id = team_id_for(convene.case_ref)
        workflow_id = await self.workflow_id(team_id)
        start = WithStartWorkflowOperation(
            LearningTeamWorkflow.run,
            LearningTeamInput(team_id=team_id, search_attributes=self.search_attributes),
            id=workflow_id,
            task_queue=self.task_queue,
            id_conflict_policy=common.WorkflowIDConflictPolicy.USE_EXISTING,
        )
        async with as_domain_errors(team_id, self.client.get_workflow_handle(workflow_id)):
            return await self.client.execute_update_with_start_workflow(
                LearningTeamWorkflow.convene,
                ConveneTeamInput(convene=convene, actor=actor),
                start_workflow_operation=start,
            )

    async def send(
        self, team_id: UUID, event: v.Command, *, actor: str, viewer: Viewer | None = None
    ) -> TeamSummary:
        """Send one phase event; a repeat of its ``event_id`` returns the first answer.

        ``viewer``: who sends it, for the access policy (judged by the workflow's validator
        against the team's roles); None sends with a Temporal-native sender's full trust."""
        if self.keys is not None and type(event).personal:
            # Deterministic, so a retried send carries the same content digest (a repeat).
            event = await asyncio.to_thread(encrypt_personal_fields, self.keys, team_id, event)
        handle = self.client.get_workflow_handle_for(
            LearningTeamWorkflow.run, await self.workflow_id(team_id)
        )
        async with as_domain_errors(team_id, handle):
            return await handle.execute_update(
                LearningTeamWorkflow.submit,
                SubmitEventInput(event=event, actor=actor, viewer=viewer),
            )

    async def summary(self, team_id: UUID) -> TeamSummary:
        handle = self.client.get_workflow_handle(await self.workflow_id(team_id))
        async with as_domain_errors(team_id, handle):
            return await handle.query(LearningTeamWorkflow.summary)

    async def state(self, team_id: UUID) -> TeamState | None:
        handle = self.client.get_workflow_handle(await self.workflow_id(team_id))
        async with as_domain_errors(team_id, handle):
            return await handle.query(LearningTeamWorkflow.state)

    async def repair(self, team_id: UUID) -> RepairResult:
        """Start a new run for a team whose workflow failed, was terminated, timed out or was
        cancelled. The event store is the record: the new run loads the team from it (every
        event, every seen ``event_id``) and sets its timers again. Refused while the run is
        running or after it completed normally (the case is finished)."""
        workflow_id = await self.workflow_id(team_id)
        status = await workflow_status(self.client.get_workflow_handle(workflow_id))
        if status is None or status not in STOPPED:
            raise _repair_refusal(team_id, status)
        try:
            handle = await self.client.start_workflow(
                LearningTeamWorkflow.run,
                LearningTeamInput(team_id=team_id, search_attributes=self.search_attributes),
                id=workflow_id,
                task_queue=self.task_queue,
                id_reuse_policy=common.WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=common.WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError:  # repaired (or opened again) a moment ago
            raise _repair_refusal(team_id, WorkflowExecutionStatus.RUNNING) from None
        assert handle.result_run_id is not None
        return RepairResult(team_id, workflow_id, handle.result_run_id, status.name)


def _repair_refusal(team_id: UUID, status: WorkflowExecutionStatus | None) -> LtflowError:
    """Why a run with this status is not one a repair restarts."""
    if status is None:
        return TeamNotFoundError(
            f"Temporal knows no workflow for team {team_id}; there is nothing to repair.",
            team_id=str(team_id),
        )
    reason = (
        "it completed normally: the case is finished"
        if status is WorkflowExecutionStatus.COMPLETED
        else "it is running"
    )
    return RepairRefusedError(
        f"The workflow of team {team_id} needs no repair: {reason}.",
        team_id=str(team_id),
        workflow_status=status.name,
    )
