"""The Temporal door: only holders of the payload key write, and no caller speaks as ``system``."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.errors import InvalidEventError
from ltflow.demo import narrative
from ltflow.eventstore.application import team_id_for
from ltflow.privacy.keyring import key_id, load_or_create_key_file, new_key, parse_keys
from ltflow.workflows.codec import ENCODING, EncryptionCodec
from ltflow.workflows.learning_team import LearningTeamWorkflow, workflow_id_for
from ltflow.workflows.payloads import SubmitEventInput
from tests.workflows.conftest import Stack


def _invite(event_id: str) -> dict[str, Any]:
    return {
        "type": "participant.invited",
        "event_id": event_id,
        "participant_id": f"p-{event_id}",
        "role": "nurse",
    }


def _raw_client(env: WorkflowEnvironment) -> Client:
    """A plain Temporal client: no plugin, so no payload key and no ltflow converter."""
    return Client(env.client.service_client, namespace=env.client.namespace)


async def _open(stack: Stack) -> uuid.UUID:
    body = narrative.convene(case_ref=f"EDGE-{uuid.uuid4().hex[:10]}")
    return (await stack.ltflow.open_team(body, actor="fac-ingrid")).team_id


async def test_an_update_without_the_payload_key_is_refused_and_stores_nothing(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    team_id = await _open(ts_stack)
    before = ts_stack.app().history(team_id)
    raw = _raw_client(time_env).get_workflow_handle(workflow_id_for(team_id))

    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await raw.execute_update("submit", {"event": _invite("raw-1"), "actor": "intruder"})

    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "unauthenticated"
    # Readable by the client that has no key: a fixed sentence, in the clear.
    assert "payload key" in cause.message
    assert ts_stack.app().history(team_id) == before
    # The team carries on for those who hold the key.
    summary = await ts_stack.ltflow.send(team_id, _invite("ok-1"), actor="fac-ingrid")
    assert summary.version == before[-1].version + 1


class ForgedCodec(PayloadCodec):
    """Payloads that look like ltflow's: its encoding, a key id, and bytes that are no cipher."""

    def __init__(self, kid: bytes) -> None:
        self.kid = kid

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        meta = {"encoding": ENCODING, "encryption-key-id": self.kid}
        return [Payload(metadata=meta, data=os.urandom(48)) for _ in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


@pytest.mark.parametrize("sender", ["another key", "forged with the key's id"])
async def test_an_update_ltflow_cannot_decrypt_is_refused_at_once_and_the_team_carries_on(
    ts_stack: Stack, time_env: WorkflowEnvironment, sender: str
) -> None:
    team_id = await _open(ts_stack)
    before = ts_stack.app().history(team_id)
    if sender == "another key":
        codec: PayloadCodec = EncryptionCodec(parse_keys(new_key()))
    else:
        kid = key_id(load_or_create_key_file(ts_stack.settings.payload_key_file)[0])
        codec = ForgedCodec(kid.encode())
    client = Client(
        time_env.client.service_client,
        namespace=time_env.client.namespace,
        data_converter=DataConverter(payload_codec=codec),
    )
    handle = client.get_workflow_handle(workflow_id_for(team_id))
    update = {"event": _invite("bad-1"), "actor": "intruder"}
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await asyncio.wait_for(handle.execute_update("submit", update), timeout=10)
    assert isinstance(caught.value.cause, ApplicationError)
    assert caught.value.cause.type == "unauthenticated"
    assert ts_stack.app().history(team_id) == before
    summary = await asyncio.wait_for(
        ts_stack.ltflow.send(team_id, _invite("ok-1"), actor="fac-ingrid"), timeout=10
    )
    assert summary.version == before[-1].version + 1


async def test_a_workflow_started_without_the_payload_key_fails_and_the_case_opens_anyway(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    case_ref = f"EDGE-{uuid.uuid4().hex[:10]}"
    team_id = team_id_for(case_ref)
    raw = _raw_client(time_env)
    handle = await raw.start_workflow(
        "LearningTeam",
        {"team_id": str(team_id), "search_attributes": False},
        id=workflow_id_for(team_id),
        task_queue=ts_stack.settings.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await asyncio.wait_for(handle.result(), timeout=10)
    assert isinstance(caught.value.cause, ApplicationError)
    assert caught.value.cause.type == "unauthenticated"

    opened = await ts_stack.ltflow.open_team(
        narrative.convene(case_ref=case_ref), actor="fac-ingrid"
    )
    assert opened.team_id == team_id
    first = ts_stack.app().history(team_id)[0]
    assert (first.type, first.actor) == ("team.convened", "fac-ingrid")


BAD_ACTORS = ["system", "System", " system ", "", "   ", "fac\ningrid", "fac\x00", "a\x7fb"]


@pytest.mark.parametrize("actor", BAD_ACTORS, ids=repr)
async def test_the_validator_refuses_system_blank_and_control_character_actors(
    ts_stack: Stack, actor: str
) -> None:
    team_id = await _open(ts_stack)
    before = ts_stack.app().history(team_id)
    with pytest.raises(InvalidEventError, match="actor"):
        await ts_stack.ltflow.send(team_id, _invite("bad-actor"), actor=actor)
    # Also straight through the update, the way a Temporal-native sender with the key calls it.
    handle = ts_stack.client.get_workflow_handle(workflow_id_for(team_id))
    event = v.parse_sender_event(_invite("bad-actor-2"))
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(
            LearningTeamWorkflow.submit, SubmitEventInput(event=event, actor=actor)
        )
    assert isinstance(caught.value.cause, ApplicationError)
    assert caught.value.cause.type == "invalid_event"
    assert ts_stack.app().history(team_id) == before


@pytest.mark.parametrize("actor", ["system", "fac\tingrid"], ids=repr)
async def test_a_team_cannot_be_convened_as_system(ts_stack: Stack, actor: str) -> None:
    body = narrative.convene(case_ref=f"EDGE-{uuid.uuid4().hex[:10]}")
    with pytest.raises(InvalidEventError, match="actor"):
        await ts_stack.ltflow.open_team(body, actor=actor)
    assert not ts_stack.app().exists(team_id_for(body["case_ref"]))
