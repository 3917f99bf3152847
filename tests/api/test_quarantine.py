"""What operators see of a poison event over HTTP: ``/healthz`` degraded (not failing) with the
quarantined teams, the metrics; and 503 only when the projection service itself fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from eventsourcing.persistence import StoredEvent
from prometheus_client.parser import text_string_to_metric_families

from ltflow.api import create_app
from ltflow.api.server import running
from ltflow.eventstore.application import LearningTeams
from ltflow.projections.base import ProjectionError
from ltflow.projections.service import ProjectionService
from tests.api.conftest import READER, TOKENS, Api, bearer
from tests.api.helpers import assert_error
from tests.conftest import Clock, sqlite_settings
from tests.projections.scenario import TeamDriver

#: A topic a newer release might store: this code has no such event class.
FUTURE = "ltflow.aggregates.learning_team:LearningTeam.ArrivedFromTheFuture"


@asynccontextmanager
async def _api_beside(
    api: Api, tmp_path: Path, clock: Clock
) -> AsyncIterator[tuple[httpx.AsyncClient, ProjectionService, UUID, UUID]]:
    """An API on an event store of its own (the shared one must stay healthy), where one team
    has an event this code cannot read; the healthy team's id and the poisoned one's."""
    settings = sqlite_settings(tmp_path)
    events = LearningTeams.from_settings(settings)
    healthy = TeamDriver(events, clock, "case-healthy").convene()
    poisoned = TeamDriver(events, clock, "case-future").convene()
    events.recorder.insert_events([StoredEvent(poisoned, 3, FUTURE, b"{}")])
    service = ProjectionService.from_settings(settings, events, poll_interval=0.05).start()
    app = create_app(
        api.stack.settings,
        client=api.stack.ltflow,
        views=service.runner.store,
        tokens=TOKENS,
        projections=service,
    )
    try:
        target = events.recorder.max_notification_id() or 0
        assert await asyncio.to_thread(service.wait_for, target, 10)
        async with running(app) as live, httpx.AsyncClient(base_url=live.url) as http:
            yield http, service, healthy, poisoned
    finally:
        service.stop()
        service.runner.store.close()
        events.close()


def _samples(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


async def test_healthz_is_degraded_while_a_team_is_quarantined_and_the_others_read(
    api: Api, tmp_path: Path, clock: Clock
) -> None:
    async with _api_beside(api, tmp_path, clock) as (http, _, healthy, poisoned):
        health = await http.get("/healthz")
        metrics = _samples((await http.get("/metrics")).text)
        detail = await http.get(f"/teams/{healthy}", headers=bearer(READER))

    assert health.status_code == 200, health.text
    assert health.json() == {
        "status": "degraded",
        "checks": {"temporal": "ok", "views": "ok", "projections": "degraded"},
        "details": {"projections": {"quarantined": 1, "team_ids": [str(poisoned)]}},
    }
    assert metrics["ltflow_projections_quarantined_teams"] == 1
    assert metrics["ltflow_projections_poison_events_total"] == 1
    assert detail.status_code == 200
    assert detail.json()["case_ref"] == "case-healthy"


async def test_healthz_is_503_when_the_projection_service_itself_fails(
    api: Api, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> int:
        raise ProjectionError("views and log disagree")

    async with _api_beside(api, tmp_path, clock) as (http, service, _, _):
        monkeypatch.setattr(service.runner, "catch_up", broken)
        service.wake()
        with pytest.raises(ProjectionError):
            await asyncio.to_thread(service.wait_for, 10**9, 10)
        error = assert_error(await http.get("/healthz"), 503, "unavailable")
    assert error["details"]["checks"]["projections"] == "failing"
