"""Temporal never holds plaintext: payloads and failure messages are sealed by ltflow's codec."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ltflow import narrative
from ltflow.codec import ENCODING, EncryptionCodec, key_id, new_key, parse_keys
from ltflow.workflows.learning_team import workflow_id_for
from tests.workflows.conftest import Stack

CANARY = "Zebracanary-7f3a"


async def test_the_temporal_history_holds_no_plaintext_of_a_case(
    ts_stack: Stack, time_env: WorkflowEnvironment
) -> None:
    body = {
        **narrative.convene(case_ref=f"ENC-{uuid.uuid4().hex[:8]}"),
        "goal": f"Understand {CANARY} goal",
        "title": f"{CANARY} title",
    }
    team_id = (await ts_stack.ltflow.open_team(body, actor="f")).team_id
    for i in range(3):
        await ts_stack.ltflow.send(
            team_id,
            {
                "type": "participant.invited",
                "event_id": f"i-{i}",
                "participant_id": f"p-{i}",
                "display_name": f"{CANARY} name {i}",
                "role": "nurse",
            },
            actor="f",
        )
    handle = ts_stack.client.get_workflow_handle(workflow_id_for(team_id))
    # A client without ltflow's plugin sees what the server stores.
    raw_client = Client(time_env.client.service_client, namespace=time_env.client.namespace)
    raw_history = await raw_client.get_workflow_handle(handle.id).fetch_history()
    raw = raw_history.to_json()
    assert CANARY not in raw
    assert base64.b64encode(CANARY.encode()).decode()[:12] not in raw
    started = raw_history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata["encoding"] == ENCODING

    decoded = await handle.fetch_history()  # through the plugin's codec
    assert decoded.events  # the same history, readable with the key
    opened = await ts_stack.plugin.codec.decode(
        [decoded.events[0].workflow_execution_started_event_attributes.input.payloads[0]]
    )
    assert opened[0].data.startswith(b"{")


async def test_a_rotated_key_ring_still_opens_what_the_old_key_sealed() -> None:
    old, new = new_key(), new_key()
    sealed = await EncryptionCodec(parse_keys(old)).encode([_payload(b'{"a": 1}')])
    ring = EncryptionCodec(parse_keys(f"{new},{old}"))
    assert (await ring.decode(sealed))[0].data == b'{"a": 1}'
    resealed = await ring.encode([_payload(b"x")])
    assert resealed[0].metadata["encryption-key-id"].decode() == key_id(parse_keys(new)[0])
    with pytest.raises(ValueError, match="unknown key"):
        await EncryptionCodec(parse_keys(new)).decode(sealed)


def test_the_embedded_stack_creates_its_key_file_private(tmp_path: Path) -> None:
    from ltflow.codec import load_or_create_key_file

    keys = load_or_create_key_file(tmp_path / "payload.keys")
    assert len(keys) == 1
    assert (tmp_path / "payload.keys").stat().st_mode & 0o777 == 0o600
    assert load_or_create_key_file(tmp_path / "payload.keys") == keys


def _payload(data: bytes) -> object:
    from temporalio.api.common.v1 import Payload

    return Payload(metadata={"encoding": b"json/plain"}, data=data)
