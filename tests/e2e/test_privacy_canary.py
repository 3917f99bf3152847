"""Canaries in every personal field of a full case: none may leak where they must not be.

Checked in every file of the data dir (write-ahead logs included), in the Temporal history
(raw, and with every payload decrypted as the codec endpoint shows it), in search attributes and
logs; and after an erasure with the command's own process, nowhere readable at all.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ltflow.audit.access_log import Accessor
from ltflow.audit.service import Audit
from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy.erasure import erase_participant
from ltflow.privacy.fields import ERASED
from ltflow.projections import learning_library, team_detail
from ltflow.projections.cross_team import ViewIds
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore
from ltflow.workflows.learning_team import workflow_id_for

CONSENTED = "Kiwicanary-consented"


def canary(field: str, who: str) -> str:
    return f"Canary{field.title()}{who.title()}Zx9"


def personalise(step: narrative.Step) -> dict[str, Any]:
    """The narrative's event with a distinctive string in each personal field."""
    event = dict(step.event)
    who = str(event.get("participant_id", "")).removeprefix("p-")
    for field in ("display_name", "perspective", "note", "reason"):
        if field in event and event["type"] != "team.abandoned":
            event[field] = canary(field, who)
    if event["type"] == "perspective.shared" and event["consent_to_share"]:
        event["perspective"] = f"{CONSENTED} {who}"
    return event


def files_bytes(data_dir: Path, *names: str) -> bytes:
    out = b""
    for name in names:
        for path in data_dir.glob(name + "*"):
            out += path.read_bytes()
    return out


def every_file(data_dir: Path) -> dict[str, bytes]:
    """Every file in the data dir (events, views, keys, audit trail, notifications, key
    files, and each one's write-ahead log or journal), by name."""
    return {
        str(path.relative_to(data_dir)): path.read_bytes()
        for path in sorted(data_dir.rglob("*"))
        if path.is_file()
    }


def payloads_in(message: Message) -> list[Payload]:
    """Every payload anywhere inside a Temporal proto message (inputs, results, failures,
    memos, headers, search attributes)."""
    if isinstance(message, Payload):
        return [message]
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated:
            items = value.values() if field.message_type.GetOptions().map_entry else value
            for item in items:
                if isinstance(item, Message):
                    found.extend(payloads_in(item))
        else:
            found.extend(payloads_in(value))
    return found


async def decoded_history(client: Client, team_id: uuid.UUID) -> str:
    """The team's whole Temporal history with every payload decrypted by ltflow's codec (what
    the codec endpoint shows an auditor), as text."""
    history = await client.get_workflow_handle(workflow_id_for(team_id)).fetch_history()
    codec = client.data_converter.payload_codec
    assert codec is not None
    payloads = [p for event in history.events for p in payloads_in(event)]
    assert len(payloads) > 50  # every update's event and answer, every activity's
    opened = await codec.decode(payloads)
    return "\n".join(p.data.decode(errors="replace") for p in opened)


def secrets_in(blob: bytes | str, who: list[str]) -> list[str]:
    text = blob.decode(errors="replace") if isinstance(blob, bytes) else blob
    found = [
        canary(f, w)
        for f in ("display_name", "perspective", "note", "reason")
        for w in who
        if canary(f, w) in text
    ]
    return found + [f"{CONSENTED} {w}" for w in who if f"{CONSENTED} {w}" in text]


async def test_no_personal_field_leaks_and_erasure_reaches_every_copy(
    time_env: WorkflowEnvironment,
    stack_factory: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    people = ["anna", "bram", "chen", "dewi", "eva"]
    app_settings: dict[str, Settings] = {}

    def factory() -> LearningTeams:
        return LearningTeams.from_settings(app_settings["s"])

    async with stack_factory(time_env, search_attributes=False, app_factory=factory) as stack:
        settings = dataclasses.replace(stack.settings, encrypt_at_rest=True)
        app_settings["s"] = settings
        body = narrative.convene(case_ref=f"CAN-{uuid.uuid4().hex[:8]}")
        team_id = (await stack.ltflow.open_team(body, actor="fac-ingrid")).team_id
        start = await time_env.get_current_time()
        for step in narrative.steps(start):
            if step.after >= timedelta(hours=1):
                await time_env.sleep(step.after)
            await stack.ltflow.send(team_id, personalise(step), actor="fac-ingrid")

        # 1. the raw event store (database files, write-ahead log included)
        assert secrets_in(files_bytes(tmp_path, "events.sqlite3"), people) == []
        # 2. the raw Temporal history, seen without ltflow's codec
        raw = Client(time_env.client.service_client, namespace=time_env.client.namespace)
        handle = raw.get_workflow_handle(workflow_id_for(team_id))
        assert secrets_in((await handle.fetch_history()).to_json(), people) == []
        # 2b. ... and with every payload decrypted, as the codec endpoint shows it: personal
        # fields entered Temporal encrypted with the participants' keys, consented or not
        assert secrets_in(await decoded_history(stack.client, team_id), people) == []
        # 3. workflow id and search attributes
        described = await handle.describe()
        assert secrets_in(described.id + repr(described.raw_description), people) == []
        # 4. logs of the worker, the activities and the client
        assert (
            secrets_in("\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records), people)
            == []
        )
        # 5. the learning library holds only consented perspectives
        store = ViewStore.from_settings(settings)
        app = LearningTeams.from_settings(settings)
        audit = Audit.from_settings(settings, app)
        try:
            ProjectionRunner(app, store).catch_up()
            library = repr(learning_library.list_library(store, ids=ViewIds(b"k" * 32))).encode()
            assert secrets_in(library, people) == [
                f"{CONSENTED} {w}" for w in ("anna", "chen", "dewi")
            ]
            # An auditor reads the history (the access log records it) and verifies the case.
            assert len(audit.history(team_id, Accessor(actor="auditor-ann"))) > 40
            assert audit.verify(team_id, Accessor(actor="auditor-ann")).ok
            # 6. every file in the data dir: no personal text but the library's consented
            # perspectives in the views; and none readable by anyone but the owner
            files = every_file(tmp_path)
            assert {"events.sqlite3", "views.sqlite3", "keys.sqlite3", "audit.sqlite3"} <= set(
                files
            )
            for name, data in files.items():
                allowed = [f"{CONSENTED} {w}" for w in people] if name.startswith("views.") else []
                assert set(secrets_in(data, people)) <= set(allowed), name
                assert (tmp_path / name).stat().st_mode & 0o077 == 0, f"{name} is not private"

            # Erasure: anna asks to be forgotten, with the command's own process.
            target = time_env.client.service_client.config.target_host
            await erase_participant(
                dataclasses.replace(settings, temporal_address=target),
                team_id,
                "p-anna",
                actor="po",
                reason="GDPR",
            )
            incremental = repr(learning_library.list_library(store, ids=ViewIds(b"k" * 32)))
            assert f"{CONSENTED} anna" not in incremental
            assert f"{CONSENTED} chen" in incremental
            history = app.history(team_id)
            assert history[-1].type == "participant.erased"
            anna = [f.payload for f in history if f.payload.get("participant_id") == "p-anna"]
            assert {p.get("display_name") for p in anna if "display_name" in p} == {ERASED}
            detail = team_detail.read_team_detail(store, team_id, app.keys)
            assert detail is not None
            assert {p.perspective for p in detail.perspectives if p.participant_id == "p-anna"} == {
                ERASED
            }
            # 7. after the erasure: nothing of anna readable in any file, write-ahead logs
            # included, nor in the Temporal history decrypted as the codec endpoint does
            # (her fields there stay encrypted with a key that no longer exists)
            for name, data in every_file(tmp_path).items():
                assert secrets_in(data, ["anna"]) == [], name
            assert secrets_in(await decoded_history(stack.client, team_id), people) == []
            assert app.keys is not None
            assert app.keys.get(team_id, "p-anna") is None
        finally:
            audit.close()
            store.close()
            app.close()
