"""Workflow ids a guessed case number cannot find (issue 21, item 3), on the real dev server.

An attacker who can list workflows computes, for every candidate case number, the team id
(uuid5, as documented) and the old workflow name ``learning-team-<team id>``; none of a keyed
deployment's teams answers. Teams opened before keyed names keep their workflow, and a keyed
client reaches them without ever starting a second one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates import vocabulary as v
from ltflow.demo import narrative
from ltflow.eventstore.application import team_id_for
from ltflow.workflows.client import LtflowClient
from ltflow.workflows.naming import PREFIX, WorkflowIds, legacy_workflow_id

KEY = b"K" * 32


def _convene(case_ref: str) -> v.TeamConvened:
    return v.parse_convene(narrative.convene(case_ref=case_ref))


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


async def _workflows_of(
    client: Client, task_queue: str, expected: int, within: float = 10.0
) -> list[str]:
    """The task queue's workflows once visibility lists ``expected`` of them (it lags a
    moment behind a start), within ``within`` seconds; then whatever it lists."""
    deadline = time.monotonic() + within
    while True:
        found = [w.id async for w in client.list_workflows(f'TaskQueue="{task_queue}"')]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_guessed_case_number_finds_no_workflow(
    dev_env: WorkflowEnvironment, stack_factory: Callable[..., Any]
) -> None:
    async with stack_factory(dev_env, search_attributes=False) as stack:
        prefix = f"VIM-{uuid.uuid4().hex[:6]}"
        real = [f"{prefix}-{n:03d}" for n in (7, 19, 33)]
        keyed = LtflowClient(stack.client, stack.settings.task_queue, workflow_ids=WorkflowIds(KEY))
        for case_ref in real:
            await keyed.open_team(_convene(case_ref), actor="incident-system")
        listed = await _workflows_of(stack.client, stack.settings.task_queue, 3)
        assert len(listed) == 3
        # The attacker's computation, for every candidate case number.
        for n in range(1, 51):
            team_id = team_id_for(f"{prefix}-{n:03d}")
            guesses = {legacy_workflow_id(team_id), str(team_id), team_id.hex}
            assert not guesses & set(listed)
            assert not any(str(team_id) in w or team_id.hex in w for w in listed)
            assert not await _exists(stack.client, legacy_workflow_id(team_id))
        assert all(w.startswith(PREFIX) for w in listed)
        # The keyed client reaches its teams; another key names them otherwise.
        team_id = team_id_for(real[0])
        assert (await keyed.summary(team_id)).case_ref == real[0]
        assert WorkflowIds(b"L" * 32).new_id(team_id) != WorkflowIds(KEY).new_id(team_id)


async def test_a_team_opened_before_keyed_names_keeps_its_one_workflow(
    dev_env: WorkflowEnvironment, stack_factory: Callable[..., Any]
) -> None:
    async with stack_factory(dev_env, search_attributes=False) as stack:
        case_ref = f"OLD-{uuid.uuid4().hex[:8]}"
        team_id = team_id_for(case_ref)
        old = LtflowClient(stack.client, stack.settings.task_queue)  # no key: the old names
        await old.open_team(_convene(case_ref), actor="incident-system")
        assert await _exists(stack.client, legacy_workflow_id(team_id))

        keyed = LtflowClient(stack.client, stack.settings.task_queue, workflow_ids=WorkflowIds(KEY))
        assert await keyed.workflow_id(team_id) == legacy_workflow_id(team_id)
        opened = await keyed.open_team_result(_convene(case_ref), actor="incident-system")
        assert not opened.created  # the same team, through its own workflow
        invite = v.ParticipantInvited(
            event_id="inv-anna", participant_id="p-anna", role="nurse", display_name="Anna"
        )
        summary = await keyed.send(team_id, invite, actor="incident-system")
        assert summary.active_participants == 1
        # Visibility is given a moment to show a second workflow: there is none.
        listed = await _workflows_of(stack.client, stack.settings.task_queue, 2, within=2.0)
        assert listed == [legacy_workflow_id(team_id)]  # never a second workflow
        assert not await _exists(stack.client, WorkflowIds(KEY).new_id(team_id))
