"""The codec server: an operator with a token reads what Temporal holds encrypted."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from ltflow.api import create_app
from ltflow.api.server import running
from ltflow.audit import access_log
from ltflow.demo import narrative
from ltflow.privacy.keyring import new_key, parse_keys
from ltflow.workflows.codec import EncryptionCodec
from ltflow.workflows.learning_team import workflow_id_for
from tests.api.conftest import AUDITOR, READER, TOKENS, WRITER, Api, bearer


async def test_an_encrypted_history_payload_decrypts_with_an_audit_token_only(api: Api) -> None:
    body = narrative.convene(case_ref=f"COD-{uuid.uuid4().hex[:8]}")
    created = await api.http.post("/teams", json=body)
    team_id = created.json()["team_id"]
    raw = Client(api.stack.client.service_client, namespace=api.stack.client.namespace)
    history = await raw.get_workflow_handle(workflow_id_for(team_id)).fetch_history()
    encrypted = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    wire = {
        "payloads": [
            {
                "metadata": {
                    k: base64.b64encode(v).decode() for k, v in encrypted.metadata.items()
                },
                "data": base64.b64encode(encrypted.data).decode(),
            }
        ]
    }

    decrypted = await api.http.post("/codec/decode", json=wire, headers=bearer(AUDITOR))
    assert decrypted.status_code == 200
    plain = decrypted.json()["payloads"][0]
    assert base64.b64decode(plain["metadata"]["encoding"]) == b"json/plain"
    assert json.loads(base64.b64decode(plain["data"]))["team_id"] == team_id

    refused = await api.http.post("/codec/decode", json=wire, headers=bearer(READER))
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    anonymous = await api.http.post("/codec/decode", json=wire, headers={"Authorization": ""})
    assert anonymous.status_code == 401

    encrypted_again = await api.http.post("/codec/encode", json={"payloads": [plain]})
    assert encrypted_again.status_code == 200
    again = await api.http.post(
        "/codec/decode", json=encrypted_again.json(), headers=bearer(AUDITOR)
    )
    assert again.json()["payloads"][0]["data"] == plain["data"]


async def test_the_codec_server_shows_a_payload_ltflow_did_not_seal_as_it_is(api: Api) -> None:
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
             "data": base64.b64encode(b'{"seq": 1}').decode()}  # fmt: skip
    shown = await api.http.post(
        "/codec/decode", json={"payloads": [plain]}, headers=bearer(AUDITOR)
    )
    assert shown.status_code == 200
    assert shown.json()["payloads"] == [plain]


async def test_a_payload_sealed_with_another_key_is_named_not_shown(api: Api) -> None:
    other = EncryptionCodec(parse_keys(new_key()))
    [sealed] = await other.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"{}")])
    wire = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                "data": base64.b64encode(sealed.data).decode(),
            }
        ]
    }
    refused = await api.http.post("/codec/decode", json=wire, headers=bearer(AUDITOR))
    assert refused.status_code == 422
    assert "key this server does not hold" in refused.json()["message"]


def _last_entries(api: Api, count: int) -> list[Any]:
    audit = api.app.state.ltflow.audit
    assert audit is not None
    return access_log.entries(audit.store, None, count)


async def test_every_decode_and_encode_is_in_the_access_log_before_it_answers(api: Api) -> None:
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
             "data": base64.b64encode(b'{"seq": 1}').decode()}  # fmt: skip
    encoded = await api.http.post("/codec/encode", json={"payloads": [plain, plain]})
    assert encoded.status_code == 200
    shown = await api.http.post(
        "/codec/decode",
        json=encoded.json(),
        headers={**bearer(AUDITOR), "X-On-Behalf-Of": "dpo-jan", "X-Audit-Reason": "ticket 7"},
    )
    assert shown.status_code == 200
    encode, decode = _last_entries(api, 2)
    assert (encode.action, encode.actor, encode.channel) == (
        "codec.encode",
        "incident-system",
        "http",
    )
    assert encode.detail == {"payloads": 2, "outcome": "ok"}
    assert (decode.action, decode.actor, decode.on_behalf_of) == (
        "codec.decode",
        "auditor-ann",
        "dpo-jan",
    )
    assert decode.detail == {"payloads": 2, "outcome": "ok", "reason": "ticket 7"}

    other = EncryptionCodec(parse_keys(new_key()))
    [encrypted] = await other.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"{}")])
    wire = {"payloads": [{"metadata": {k: base64.b64encode(v).decode()
                                       for k, v in encrypted.metadata.items()},
                          "data": base64.b64encode(encrypted.data).decode()}]}  # fmt: skip
    refused = await api.http.post("/codec/decode", json=wire, headers=bearer(AUDITOR))
    assert refused.status_code == 422
    [failed] = _last_entries(api, 1)
    assert (failed.action, failed.detail) == (
        "codec.decode",
        {"payloads": 1, "outcome": "invalid_event"},
    )


async def test_an_api_without_an_access_log_decodes_nothing(api: Api) -> None:
    bare = create_app(
        api.stack.settings,
        client=api.stack.ltflow,
        views=api.projections.runner.store,
        tokens=TOKENS,
    )
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
             "data": base64.b64encode(b"{}").decode()}  # fmt: skip
    async with running(bare) as live, httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        for path, token in (("/codec/decode", AUDITOR), ("/codec/encode", WRITER)):
            refused = await http.post(path, json={"payloads": [plain]}, headers=bearer(token))
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "unavailable"


async def test_an_empty_body_as_the_temporal_cli_sends_it_is_no_payloads(api: Api) -> None:
    for path in ("/codec/decode", "/codec/encode"):
        token = AUDITOR if path.endswith("decode") else WRITER
        answered = await api.http.post(path, json={}, headers=bearer(token))
        assert answered.status_code == 200, answered.text
        assert answered.json() == {"payloads": []}
