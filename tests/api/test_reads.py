"""Reads from the read models, and what operators and API clients read: health, metrics, OpenAPI."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import ERRORS_BY_CODE, LtflowError
from ltflow.aggregates.state import TeamSummary
from ltflow.api import create_app
from ltflow.api.auth import Principal, TokenRegistry
from ltflow.api.errors import status_for
from ltflow.api.server import running
from ltflow.projections.store import SQLiteViewStore
from ltflow.workflows.client import LtflowClient
from tests.api.conftest import READER, TOKENS, WRITER, Api, bearer
from tests.api.helpers import assert_error, drive, open_team


async def test_teams_are_listed_from_the_read_models_with_their_filters(api: Api) -> None:
    theme = f"theme-{uuid.uuid4().hex[:8]}"
    first = await open_team(api.http, theme=theme)
    second = await open_team(api.http, theme=theme, trigger="periodic")
    reached = await drive(api.http, second, "sched-1")
    assert reached["phase"] == 2
    await api.settle()

    async def ids(**params: Any) -> set[str]:
        response = await api.http.get("/teams", params={"theme": theme, **params})
        assert response.status_code == 200, response.text
        return {team["team_id"] for team in response.json()}

    assert await ids() == {first, second}
    assert await ids(phase=2) == {second}
    assert await ids(phase=1, trigger="incident") == {first}
    assert await ids(trigger="theme_trend") == set()
    assert await ids(status="closed") == set()
    assert_error(await api.http.get("/teams", params={"trigger": "gossip"}), 422, "invalid_query")
    # The writer is a service outside the team: it finds a team's deadlines by its view id.
    view_id = api.app.state.ltflow.view_ids.of(second)
    deadlines = await api.http.get("/deadlines", params={"view_id": view_id})
    assert [(d["kind"], d["ref"]) for d in deadlines.json()] == [("session", "1")]
    assert (await api.http.get("/deadlines", params={"team_id": second})).json() == []
    trends = await api.http.get("/trends", params={"theme": theme})
    assert sum(row["teams"] for row in trends.json()) == 2


async def test_a_read_can_wait_for_the_version_the_write_answered(api: Api) -> None:
    team_id = await open_team(api.http)
    summary = await drive(api.http, team_id, "inv-p-chen")
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(READER)) as reader:
        detail = await reader.get(f"/teams/{team_id}", params={"min_version": summary["version"]})
    assert detail.status_code == 200
    view = detail.json()
    assert view["version"] == summary["version"]
    assert [p["participant_id"] for p in view["participants"]] == ["p-anna", "p-bram", "p-chen"]


async def test_healthz_says_what_answers(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        health = await anonymous.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "checks": {"temporal": "ok", "views": "ok", "projections": "ok"},
    }


async def test_healthz_is_503_when_the_views_cannot_be_read(api: Api, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    views = SQLiteViewStore(blocked / "views.sqlite3")
    app = create_app(api.stack.settings, client=api.stack.ltflow, views=views, tokens=TOKENS)
    async with running(app) as live, httpx.AsyncClient(base_url=live.url) as http:
        error = assert_error(await http.get("/healthz"), 503, "unavailable")
    assert error["details"]["checks"]["views"] == "failing"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_requests_by_route_and_status_and_events_by_outcome(api: Api) -> None:
    team_id = await open_team(api.http)
    before = _samples((await api.http.get("/metrics")).text)
    await api.http.post(f"/teams/{team_id}/events", json={"type": "team.closed", "event_id": "x"})
    await api.http.post(f"/teams/{team_id}/events", json={"type": "nonsense"})
    await api.http.post(f"/teams/{team_id}/events", json={"type": "team.closed"})
    ok = {"type": "participant.invited", "event_id": "i", "participant_id": "p", "role": "nurse"}
    await api.http.post(f"/teams/{team_id}/events", json=ok)
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        metrics = await anonymous.get("/metrics")
        await anonymous.post(f"/teams/{team_id}/events", json=ok)
    after = _samples((await api.http.get("/metrics")).text)
    assert metrics.headers["content-type"].startswith("text/plain")

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    route = "/teams/{team_id}/events"
    assert grew("ltflow_http_requests_total", method="POST", route=route, status="409") == 1
    assert grew("ltflow_http_requests_total", method="POST", route=route, status="422") == 2
    assert grew("ltflow_http_requests_total", method="POST", route=route, status="200") == 1
    assert grew("ltflow_http_requests_total", method="POST", route=route, status="401") == 1
    assert grew("ltflow_http_request_duration_seconds_count", method="POST", route=route,
                status="200") == 1  # fmt: skip
    assert grew("ltflow_events_rejected_total", code="wrong_phase") == 1
    assert grew("ltflow_events_rejected_total", code="invalid_event") == 2
    assert grew("ltflow_events_rejected_total", code="unauthenticated") == 1
    assert grew("ltflow_events_accepted_total", type="participant.invited") == 1


async def test_openapi_shows_the_phase_events_as_a_discriminated_union(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        spec = (await anonymous.get("/openapi.json")).json()
    send = spec["paths"]["/teams/{team_id}/events"]["post"]
    schema = send["requestBody"]["content"]["application/json"]["schema"]
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == set(c.SENDER_TYPES)
    assert len(schema["oneOf"]) == len(c.SENDER_TYPES)
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for status in ("401", "403", "404", "409", "422"):
        assert send["responses"][status]["content"]["application/json"]["schema"] == error_ref
    opened = spec["paths"]["/teams"]["post"]
    body = opened["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TeamConvened"}
    assert {"200", "201", "409", "422"} <= set(opened["responses"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    expected = {"/teams", "/teams/{team_id}", "/actions", "/deadlines", "/library", "/trends"}
    expected |= {f"/teams/{{team_id}}/{audit}" for audit in ("history", "state", "verify")}
    assert expected | {"/healthz", "/metrics"} <= set(spec["paths"])


class _Refusing(LtflowClient):
    """A client whose every send is answered with one domain error (the mapping under test)."""

    error: LtflowError

    async def send(
        self, team_id: Any, event: Any, *, actor: str, viewer: Any = None
    ) -> TeamSummary:
        raise self.error


@pytest.mark.parametrize("code", sorted(ERRORS_BY_CODE))
async def test_every_domain_error_keeps_its_status_and_code_over_http(api: Api, code: str) -> None:
    client = _Refusing(api.stack.client, api.stack.settings.task_queue)
    error_type = ERRORS_BY_CODE[code]
    client.error = error_type("A clear sentence about it.", why="because")
    views = api.projections.runner.store
    app = create_app(api.stack.settings, client=client, views=views, tokens=TOKENS)
    async with (
        running(app) as live,
        httpx.AsyncClient(base_url=live.url, headers=bearer(WRITER)) as http,
    ):
        event = {"type": "scope.confirmed", "event_id": "e-1"}
        response = await http.post(f"/teams/{uuid.uuid4()}/events", json=event)
    body = assert_error(response, status_for(client.error), code)
    assert body == {
        "code": code,
        "message": "A clear sentence about it.",
        "details": {"why": "because"},
    }


async def test_team_detail_shows_personal_fields_decrypted_and_erased_ones_at_once(
    api: Api,
) -> None:
    team_id = await open_team(api.http)
    for pid, name in (("p-ria", "Ria Ravensbergen"), ("p-sem", "Sem Smit")):
        invite = {"type": "participant.invited", "event_id": f"inv-{pid}",
                  "participant_id": pid, "display_name": name, "role": "nurse"}  # fmt: skip
        sent = await api.http.post(f"/teams/{team_id}/events", json=invite)
        assert sent.status_code == 200, sent.text
    version = sent.json()["version"]
    # An auditor sees every field (the policy's business); the view is stored encrypted.
    auditor = Principal(
        "sub-ada", frozenset({"teams:read"}), "person", "Ada", frozenset({"auditor"})
    )
    tokens = TokenRegistry({hashlib.sha256(b"tok-ada").digest(): auditor})
    app = create_app(
        api.stack.settings,
        client=api.stack.ltflow,
        views=api.projections.runner.store,
        tokens=tokens,
        audit=api.app.state.ltflow.audit,
    )
    async with running(app) as live, httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        shown = await http.get(
            f"/teams/{team_id}", params={"min_version": version}, headers=bearer("tok-ada")
        )
        assert shown.status_code == 200, shown.text
        names = {p["participant_id"]: p["display_name"] for p in shown.json()["participants"]}
        assert names == {"p-ria": "Ria Ravensbergen", "p-sem": "Sem Smit"}

        keys = api.events.keys
        assert keys is not None
        keys.delete(uuid.UUID(team_id), "p-ria")  # the key only: no event, no rebuild
        shown = await http.get(f"/teams/{team_id}", headers=bearer("tok-ada"))
        names = {p["participant_id"]: p["display_name"] for p in shown.json()["participants"]}
        assert names == {"p-ria": "[erased]", "p-sem": "Sem Smit"}
