"""Canaries in every personal field of a full case: none may leak where they must not be."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy.erasure import erasure_event
from ltflow.privacy.fields import ERASED
from ltflow.projections import learning_library
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
        try:
            ProjectionRunner(app, store).catch_up()
            library = repr(learning_library.list_library(store, ids=ViewIds(b"k" * 32))).encode()
            assert secrets_in(library, people) == [
                f"{CONSENTED} {w}" for w in ("anna", "chen", "dewi")
            ]

            # Erasure: anna asks to be forgotten.
            await stack.ltflow.send(team_id, erasure_event("p-anna", "GDPR"), actor="po")
            ProjectionRunner(app, store).catch_up()  # incremental: the fold scrubs her
            incremental = repr(learning_library.list_library(store, ids=ViewIds(b"k" * 32)))
            assert f"{CONSENTED} anna" not in incremental
            assert f"{CONSENTED} chen" in incremental
            ProjectionRunner(app, store).rebuild(["team_detail"])
            store.purge()
            history = app.history(team_id)
            assert history[-1].type == "participant.erased"
            anna = [f.payload for f in history if f.payload.get("participant_id") == "p-anna"]
            assert {p.get("display_name") for p in anna if "display_name" in p} == {ERASED}
            library = repr(learning_library.list_library(store, ids=ViewIds(b"k" * 32))).encode()
            assert f"{CONSENTED} anna" not in library.decode()
            assert f"{CONSENTED} chen" in library.decode()
            views = files_bytes(tmp_path, "views.sqlite3")
            assert secrets_in(views, ["anna"]) == []
        finally:
            store.close()
            app.close()
