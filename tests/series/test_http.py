"""``/series`` through the real app: who may create and read, bad input schedules nothing, and a
series' teams in its read model."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ltflow.api import create_app
from ltflow.api.auth import Principal, TokenRegistry
from ltflow.api.server import running
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.projections.cross_team import view_ids_for
from ltflow.projections.service import ProjectionService
from ltflow.series.client import SeriesClient
from ltflow.series.model import schedule_id_for
from ltflow.workflows.plugin import LtflowPlugin
from tests.series.conftest import at_seconds, eventually, parse, series_body
from tests.workflows.conftest import Stack, make_stack_factory

RW = frozenset({"events:write", "teams:read"})
PEOPLE: dict[str, Principal] = {
    "service": Principal("rostering", RW),
    "dashboard": Principal("dashboard", frozenset({"teams:read"})),
    "fleur": Principal("sub-fleur", RW, "person", "Fleur", frozenset({"facilitator"})),
    "anna": Principal("sub-anna", RW, "person", "Anna"),  # a nurse, no organisation role
    "p1": Principal("sub-p1", RW, "person", "Piet"),  # a default participant of the series
}


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer tok-{name}"}


@dataclass
class Live:
    http: httpx.AsyncClient
    stack: Stack
    events: LearningTeams
    projections: ProjectionService

    async def settle(self) -> None:
        target = self.events.recorder.max_notification_id() or 0
        self.projections.wake()
        assert await asyncio.to_thread(self.projections.wait_for, target, 10.0)

    async def scheduled(self, series_id: str) -> bool:
        async for listed in await self.stack.client.list_schedules():
            if listed.id == schedule_id_for(series_id):
                return True
        handle = self.stack.client.get_schedule_handle(schedule_id_for(series_id))
        try:
            await handle.describe()
        except Exception:
            return False
        return True


@pytest.fixture
async def live(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Live]:
    registry = TokenRegistry(
        {hashlib.sha256(f"tok-{n}".encode()).digest(): p for n, p in PEOPLE.items()}
    )
    async with make_stack_factory(tmp_path)(dev_env, search_attributes=True) as stack:  # type: ignore[operator]
        events = LearningTeams.from_settings(stack.settings)
        projections = ProjectionService.from_settings(
            stack.settings, events, poll_interval=0.05
        ).start()
        view_ids_for(stack.settings, create=True)  # as 'ltflow dev' does, in its data dir
        app = create_app(
            stack.settings, client=stack.ltflow, views=projections.runner.store, tokens=registry
        )
        try:
            async with (
                running(app) as served,
                httpx.AsyncClient(base_url=served.url, timeout=30) as http,
            ):
                yield Live(http, stack, events, projections)
        finally:
            projections.stop()
            projections.runner.store.close()
            events.close()


async def test_a_facilitator_creates_a_series_whose_teams_show_in_its_read_model(
    live: Live,
) -> None:
    body = series_body(start=at_seconds(1).isoformat())
    sid = body["series_id"]
    created = await live.http.post("/series", json=body, headers=auth("fleur"))
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/series/{sid}"
    assert created.json()["series"]["changed_by"] == "sub-fleur"
    assert len(created.json()["next_runs"]) >= 2
    again = await live.http.post("/series", json=body, headers=auth("fleur"))
    assert again.status_code == 200, again.text
    other = {**body, "template": {**body["template"], "title": "Another title"}}
    conflict = await live.http.post("/series", json=other, headers=auth("fleur"))
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency_conflict"

    async def two_teams() -> list[Any]:
        await live.settle()
        teams = await live.http.get(f"/series/{sid}/teams", headers=auth("dashboard"))
        assert teams.status_code == 200, teams.text
        return teams.json() if len(teams.json()) >= 2 else []

    teams = await eventually(two_teams)
    assert [t["phase"] for t in teams[:2]] == [1, 1]
    assert teams[0]["slot"] < teams[1]["slot"]
    assert all(t["case_ref"].startswith(f"series-{sid}-") for t in teams)

    paused = await live.http.post(
        f"/series/{sid}/pause", json={"note": "ward closed"}, headers=auth("fleur")
    )
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    detail = await live.http.get(f"/series/{sid}", headers=auth("p1"))
    assert detail.status_code == 200, detail.text
    assert detail.json()["schedule"]["note"] == "ward closed"
    assert detail.json()["schedule"]["next_runs"] == []
    assert detail.json()["learned"]["teams"] >= 2
    listed = await live.http.get("/series", headers=auth("dashboard"))
    assert sid in [s["series"]["series_id"] for s in listed.json()]

    # Anna stands in no part of the series: it is unknown to her, and she may not change it.
    assert (await live.http.get(f"/series/{sid}", headers=auth("anna"))).status_code == 404
    assert (await live.http.get(f"/series/{sid}/teams", headers=auth("anna"))).status_code == 404
    assert sid not in [
        s["series"]["series_id"]
        for s in (await live.http.get("/series", headers=auth("anna"))).json()
    ]
    refused = await live.http.post(f"/series/{sid}/resume", headers=auth("anna"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    # A reader without events:write may not change it either.
    assert (await live.http.delete(f"/series/{sid}", headers=auth("dashboard"))).status_code == 403

    assert (await live.http.delete(f"/series/{sid}", headers=auth("fleur"))).status_code == 204
    assert (await live.http.get(f"/series/{sid}", headers=auth("service"))).status_code == 404
    # The teams stay, and so does the series' read model for those who read every team.
    kept = await live.http.get(f"/series/{sid}/teams", headers=auth("service"))
    assert kept.status_code == 200
    assert len(kept.json()) >= 2


async def test_the_same_body_without_a_start_again_is_the_same_series(live: Live) -> None:
    body = series_body(rhythm={"kind": "every", "every": "P1D", "at": "14:00"})
    first = await live.http.post("/series", json=body, headers=auth("service"))
    assert first.status_code == 201, first.text
    again = await live.http.post("/series", json=body, headers=auth("service"))
    assert again.status_code == 200, again.text
    assert again.json()["next_runs"] == first.json()["next_runs"]
    await live.http.delete(f"/series/{body['series_id']}", headers=auth("service"))


async def test_a_person_without_a_convening_role_cannot_create_a_series(live: Live) -> None:
    body = series_body()
    refused = await live.http.post("/series", json=body, headers=auth("anna"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert not await live.scheduled(body["series_id"])


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("every 0 days", {"rhythm": {"kind": "every", "every": "P0D"}}, "rhythm.every"),
    ("a microsecond", {"rhythm": {"kind": "every", "every": "PT0.000001S"}}, "rhythm.every"),
    (
        "the 31st of February",
        {"rhythm": {"kind": "calendar", "month": [{"start": 2}], "day_of_month": [{"start": 31}]}},
        "rhythm",
    ),
    (
        "an end before the start",
        {"start": "2027-01-10T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
        "end",
    ),
    ("an unknown time zone", {"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
    ("no title", {"template": {"title": ""}}, "template.title"),
    (
        "a policy under the floor",
        {"template": {"policy": {"min_reflection": "PT0.5S"}}},
        "template.policy.min_reflection",
    ),
]


@pytest.mark.parametrize(("case", "changes", "field"), BAD, ids=[b[0] for b in BAD])
async def test_bad_input_is_422_with_the_field_and_schedules_nothing(
    live: Live, case: str, changes: dict[str, Any], field: str
) -> None:
    body = series_body()
    for key, value in changes.items():
        body[key] = (
            {**body[key], **value, "policy": {**body[key]["policy"], **value.get("policy", {})}}
            if key == "template"
            else value
        )
    response = await live.http.post("/series", json=body, headers=auth("service"))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_event"
    assert response.json()["details"]["field"].startswith(field), response.json()
    assert not await live.scheduled(body["series_id"])


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"a series"'])
async def test_a_body_that_is_no_series_object_is_422(live: Live, content: bytes) -> None:
    response = await live.http.post(
        "/series",
        content=content,
        headers={**auth("service"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_event"


async def test_openapi_shows_the_series_body(live: Live) -> None:
    spec = (await live.http.get("/openapi.json")).json()
    for method, path in (("post", "/series"), ("put", "/series/{series_id}")):
        body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": "#/components/schemas/SeriesDefinition"}
    assert "rhythm" in spec["components"]["schemas"]["SeriesDefinition"]["properties"]


async def test_a_bad_pause_or_backfill_changes_nothing(live: Live) -> None:
    body = series_body(start="2030-01-01T00:00:00Z")
    assert (await live.http.post("/series", json=body, headers=auth("service"))).status_code == 201
    sid = body["series_id"]
    no_note = await live.http.post(f"/series/{sid}/pause", json={}, headers=auth("service"))
    assert no_note.status_code == 422
    assert no_note.json()["code"] == "invalid_event"
    backwards = await live.http.post(
        f"/series/{sid}/backfill",
        json={"start": "2030-02-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
        headers=auth("service"),
    )
    assert backwards.status_code == 422
    assert backwards.json()["details"]["field"] == "end"
    shown = await live.http.get(f"/series/{sid}", headers=auth("service"))
    assert shown.json()["schedule"]["paused"] is False
    assert shown.json()["schedule"]["recent"] == []
    unknown = await live.http.post(
        "/series/no-such-series/pause", json={"note": "x"}, headers=auth("service")
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    await live.http.delete(f"/series/{sid}", headers=auth("service"))


async def test_a_series_this_deployment_cannot_read_does_not_hide_the_others(
    live: Live, tmp_path: Path
) -> None:
    # Written by a client with another payload key: its definition cannot be decoded here.
    alien_settings = Settings(data_dir=tmp_path / "alien", task_queue="alien")
    alien = SeriesClient(
        Client(live.stack.client.service_client, plugins=[LtflowPlugin(alien_settings)]), "alien"
    )
    theirs = parse(series_body(start="2031-01-01T00:00:00Z"))
    await alien.create(theirs)
    ours = series_body(start="2031-01-01T00:00:00Z")
    try:
        assert (
            await live.http.post("/series", json=ours, headers=auth("service"))
        ).status_code == 201

        async def listed() -> list[str]:
            response = await live.http.get("/series", headers=auth("service"))
            assert response.status_code == 200, response.text
            ids = [s["series"]["series_id"] for s in response.json()]
            return ids if ours["series_id"] in ids else []

        assert theirs.series_id not in await eventually(listed)
    finally:
        await alien.delete(theirs.series_id)
        await live.http.delete(f"/series/{ours['series_id']}", headers=auth("service"))
