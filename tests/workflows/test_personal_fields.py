"""Personal fields enter Temporal encrypted by the sender's client, and only with the right key.

The client encrypts each personal field with its participant's key before the update leaves the
process (deterministically, so a retried send is a repeat); a value that looks encrypted is
refused at that door, and the store refuses a field encrypted with any other key, so nothing
forged is ever stored. An erased participant gets no new key.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.errors import InvalidEventError, RuleViolatedError
from ltflow.demo import narrative
from ltflow.privacy.erasure import erasure_event
from ltflow.privacy.fields import ERASED, encrypt_field, is_encrypted
from ltflow.workflows.learning_team import workflow_id_for
from tests.json_client import JsonLtflowClient
from tests.workflows.conftest import Stack

SECRET = "Anna told how the pumps ran out"


def invite(pid: str, event_id: str | None = None, name: str = "Anna Zwart") -> dict[str, Any]:
    return {
        "type": "participant.invited",
        "event_id": event_id or f"inv-{pid}",
        "participant_id": pid,
        "display_name": name,
        "role": "nurse",
    }


async def opened(stack: Stack) -> uuid.UUID:
    body = narrative.convene(case_ref=f"PF-{uuid.uuid4().hex[:10]}")
    return (await stack.ltflow.open_team(body, actor="fac")).team_id


async def history_text(stack: Stack, team_id: uuid.UUID) -> str:
    """The events the workflow's accepted updates carried (not the convene), decrypted by
    ltflow's codec as the codec endpoint does: one JSON line each."""
    history = await stack.client.get_workflow_handle(workflow_id_for(team_id)).fetch_history()
    codec = stack.client.data_converter.payload_codec
    assert codec is not None
    payloads = []
    for event in history.events:
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name == "submit":
                payloads.extend(request.input.args.payloads)
    return "\n".join(p.data.decode() for p in await codec.decode(payloads))


async def test_a_retried_personal_event_is_a_repeat_and_enters_temporal_encrypted(
    ts_stack: Stack,
) -> None:
    team_id = await opened(ts_stack)
    first = await ts_stack.ltflow.send(team_id, invite("p-anna", name=SECRET), actor="fac")
    again = await ts_stack.ltflow.send(team_id, invite("p-anna", name=SECRET), actor="fac")
    assert again == first  # the first answer, not an idempotency conflict
    stored = ts_stack.app().history(team_id)
    assert [f.type for f in stored].count("participant.invited") == 1
    assert stored[-1].payload["display_name"] == SECRET  # the record reads it, with the key

    text = await history_text(ts_stack, team_id)
    assert SECRET not in text
    sent = [json.loads(line)["event"]["display_name"] for line in text.splitlines()]
    assert len(sent) == 2
    assert is_encrypted(sent[0])
    assert sent[0] == sent[1]  # deterministic: the same digest, so the same event


async def test_a_value_that_looks_encrypted_is_refused_at_the_door(ts_stack: Stack) -> None:
    team_id = await opened(ts_stack)
    forged = invite("p-anna", name="ltflow-pii:v1:" + base64.b64encode(os.urandom(40)).decode())
    with pytest.raises(InvalidEventError) as refused:
        await ts_stack.ltflow.send(team_id, forged, actor="fac")
    assert refused.value.code == "invalid_event"
    assert "display_name" in refused.value.message
    assert [f.type for f in ts_stack.app().history(team_id)] == ["team.convened", "phase.entered"]


async def test_a_field_encrypted_with_another_key_is_refused_by_the_store(
    ts_stack: Stack,
) -> None:
    team_id = await opened(ts_stack)
    await ts_stack.ltflow.send(team_id, invite("p-anna"), actor="fac")  # anna has a key now
    # A sender without ltflow's client: encrypts with a key of its own, sends it as it is.
    bare = JsonLtflowClient(ts_stack.client, ts_stack.settings.task_queue, search_attributes=False)
    wrong = AESGCM.generate_key(bit_length=256)
    aad = f"{team_id}/p-anna/reason".encode()
    for value in (
        encrypt_field(wrong, "Nobody said this", aad),  # another key
        encrypt_field(wrong, "Nobody said this", b"other/aad"),  # another field's
    ):
        event = v.ParticipantWithdrawn(
            event_id=f"forged-{uuid.uuid4().hex[:6]}", participant_id="p-anna", reason=value
        )
        with pytest.raises(InvalidEventError) as refused:
            await bare.send(team_id, event, actor="fac")
        assert refused.value.code == "invalid_event"
        assert "not with the key of participant 'p-anna'" in refused.value.message
    # For a participant who never had a key, too (an invitation encrypted elsewhere).
    stranger = encrypt_field(wrong, "Mallory", f"{team_id}/p-mal/display_name".encode())
    with pytest.raises(InvalidEventError):
        await bare.send(team_id, invite("p-mal", name=stranger), actor="fac")
    assert [f.type for f in ts_stack.app().history(team_id)] == [
        "team.convened",
        "phase.entered",
        "participant.invited",
    ]
    # The team takes its next event as before.
    after = await ts_stack.ltflow.send(team_id, invite("p-bram", name="Bram"), actor="fac")
    assert after.version == 4


async def test_an_erased_participant_gets_no_new_key_and_their_fields_still_read_erased(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    team_id = await opened(ts_stack)
    await ts_stack.ltflow.send(team_id, invite("p-anna", name=SECRET), actor="fac")
    await ts_stack.ltflow.send(team_id, erasure_event("p-anna", "GDPR"), actor="po")
    keys = ts_stack.ltflow.keys
    assert keys is not None
    assert keys.get(team_id, "p-anna") is None
    # A confused sender invites her again under the same id: refused before anything is made.
    with pytest.raises(RuleViolatedError) as refused:
        await ts_stack.ltflow.send(team_id, invite("p-anna", "inv-again"), actor="fac")
    assert "was erased" in refused.value.message
    assert keys.get(team_id, "p-anna") is None  # no new key: her old fields stay [erased]
    invited = [f for f in ts_stack.app().history(team_id) if f.type == "participant.invited"]
    assert [f.payload["display_name"] for f in invited] == [ERASED]
