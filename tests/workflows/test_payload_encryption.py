"""Temporal never holds plaintext: payloads and failure messages are encrypted by ltflow's codec."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.privacy.keyring import key_id, new_key, parse_keys
from ltflow.workflows.codec import (
    ENCODING,
    REFUSED,
    ChainedCodec,
    EncryptionCodec,
    with_host_codec,
)
from ltflow.workflows.learning_team import workflow_id_for
from ltflow.workflows.plugin import LtflowPlugin
from tests.json_client import JsonLtflowClient
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
    decrypted = await ts_stack.plugin.codec.decode(
        [decoded.events[0].workflow_execution_started_event_attributes.input.payloads[0]]
    )
    assert decrypted[0].data.startswith(b"{")


async def test_a_rotated_key_ring_still_decrypts_what_the_old_key_encrypted() -> None:
    old, new = new_key(), new_key()
    encrypted = await EncryptionCodec(parse_keys(old)).encode([_payload(b'{"a": 1}')])
    ring = EncryptionCodec(parse_keys(f"{new},{old}"))
    assert (await ring.decode(encrypted))[0].data == b'{"a": 1}'
    encrypted_again = await ring.encode([_payload(b"x")])
    assert encrypted_again[0].metadata["encryption-key-id"].decode() == key_id(parse_keys(new)[0])
    # A key dropped from the ring too early: refused (never raised), and the reason kept.
    [refused] = await EncryptionCodec(parse_keys(new)).decode(encrypted)
    assert refused.metadata["encoding"] == REFUSED
    assert refused.metadata["refused"] == b"unknown-key"
    assert not refused.data


def test_the_embedded_stack_creates_its_key_file_private(tmp_path: Path) -> None:
    from ltflow.privacy.keyring import load_or_create_key_file

    keys = load_or_create_key_file(tmp_path / "payload.keys")
    assert len(keys) == 1
    assert (tmp_path / "payload.keys").stat().st_mode & 0o777 == 0o600
    assert load_or_create_key_file(tmp_path / "payload.keys") == keys


def _payload(data: bytes) -> object:
    from temporalio.api.common.v1 import Payload

    return Payload(metadata={"encoding": b"json/plain"}, data=data)


HOST_ENCODING = b"binary/host-wrapped"


class HostCodec(PayloadCodec):
    """A host's own codec (here: wraps each payload, reversibly, and says so)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(metadata={"encoding": HOST_ENCODING}, data=p.SerializeToString()[::-1])
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            assert p.metadata["encoding"] == HOST_ENCODING, "the host's codec sees its own payloads"
            plain = Payload()
            plain.ParseFromString(p.data[::-1])
            out.append(plain)
        return out


async def test_a_hosts_own_codec_is_kept_inside_ltflows_encryption() -> None:
    ours, host = EncryptionCodec(parse_keys(new_key())), HostCodec()
    assert with_host_codec(None, ours) is ours
    assert with_host_codec(ours, ours) is ours
    chain = with_host_codec(host, ours)
    assert isinstance(chain, ChainedCodec)
    assert with_host_codec(chain, ours) is chain  # configured twice: still one chain

    original = _payload(b'{"a": 1}')
    encrypted = await chain.encode([original])
    assert (
        encrypted[0].metadata["encoding"] == ENCODING
    )  # what the server sees: ltflow's encryption
    assert (await ours.decode(encrypted))[0].metadata[
        "encoding"
    ] == HOST_ENCODING  # the host's inside
    assert await chain.decode(encrypted) == [original]
    # Written by the host's codec alone (by a client without ltflow's key): refused, and the
    # host's codec never sees the refusal; a replay of old histories may accept it.
    [refused] = await chain.decode(await host.encode([original]))
    assert refused.metadata["encoding"] == REFUSED
    assert not refused.data
    lenient = with_host_codec(host, EncryptionCodec(parse_keys(new_key()), accept_plaintext=True))
    assert await lenient.decode(await host.encode([original])) == [original]


async def test_a_case_runs_on_a_client_with_the_hosts_codec(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, task_queue=f"tq-{uuid.uuid4().hex[:8]}")
    plugin = LtflowPlugin(settings)
    client = Client(
        time_env.client.service_client,
        namespace=time_env.client.namespace,
        data_converter=DataConverter(payload_codec=HostCodec()),
        plugins=[plugin],
    )
    async with Worker(client, task_queue=settings.task_queue):
        ltflow = JsonLtflowClient(client, settings.task_queue, search_attributes=False)
        team_id = (await ltflow.open_team(narrative.convene(case_ref="HOST-1"), actor="f")).team_id
        event = {"type": "participant.invited", "event_id": "i-1", "participant_id": "p-1",
                 "role": "nurse"}  # fmt: skip
        assert (await ltflow.send(team_id, event, actor="f")).version == 3
        raw_client = Client(time_env.client.service_client, namespace=time_env.client.namespace)
        history = await raw_client.get_workflow_handle(workflow_id_for(team_id)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert started.metadata["encoding"] == ENCODING
    inner = (await plugin.codec.decode([started]))[0]
    assert inner.metadata["encoding"] == HOST_ENCODING
