"""Projections as a running service: pushed on PostgreSQL, polled (or woken) on SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ltflow.eventstore.application import LearningTeams
from ltflow.projections.base import ProjectionError
from ltflow.projections.service import ProjectionService
from ltflow.projections.team_overview import get_team_overview
from tests.conftest import Clock, postgres_settings, sqlite_settings
from tests.projections.helpers import max_id
from tests.projections.scenario import TeamDriver


@pytest.mark.postgres
def test_postgresql_pushes_new_events_into_the_views_without_a_polling_delay(
    postgres_schema_factory: Callable[[], str], tmp_path: Path, clock: Clock
) -> None:
    settings = postgres_settings(tmp_path, postgres_schema_factory())
    app = LearningTeams.from_settings(settings)
    # Polling so rarely that only a push can explain a quick arrival.
    service = ProjectionService.from_settings(settings, app, poll_interval=60, fallback_interval=60)
    assert service.push
    service.start()
    try:
        assert service.wait_for(0, timeout=10)  # listening and caught up
        for case_ref in ("case-push-1", "case-push-2"):
            started = time.monotonic()
            team_id = TeamDriver(app, clock, case_ref).convene()
            assert service.wait_for(max_id(app), timeout=5)
            assert time.monotonic() - started < 1.0
            assert get_team_overview(service.runner.store, team_id, now=clock()) is not None
    finally:
        service.stop()
        service.runner.store.close()
        app.close()


def test_sqlite_is_polled_and_can_be_woken_by_the_process_that_wrote(
    tmp_path: Path, clock: Clock
) -> None:
    app = LearningTeams.from_settings(sqlite_settings(tmp_path))
    service = ProjectionService.from_settings(sqlite_settings(tmp_path), app, poll_interval=60)
    assert not service.push
    service.start()
    try:
        assert service.wait_for(0, timeout=10)
        TeamDriver(app, clock, "case-poll").convene()
        target = max_id(app)
        assert not service.wait_for(target, timeout=0.3)  # no push: it waits for its next poll
        service.wake()
        assert service.wait_for(target, timeout=5)
    finally:
        service.stop()
        service.runner.store.close()
        app.close()
    assert service._thread is not None
    assert not service._thread.is_alive()


def test_sqlite_polling_picks_up_new_events(tmp_path: Path, clock: Clock) -> None:
    app = LearningTeams.from_settings(sqlite_settings(tmp_path))
    service = ProjectionService.from_settings(sqlite_settings(tmp_path), app, poll_interval=0.05)
    service.start()
    try:
        TeamDriver(app, clock, "case-polled").convene()
        assert service.wait_for(max_id(app), timeout=5)
    finally:
        service.stop()
        service.runner.store.close()
        app.close()


def test_a_failure_that_is_not_transient_stops_the_service_and_is_raised_to_waiters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = LearningTeams.from_settings(sqlite_settings(tmp_path))
    service = ProjectionService.from_settings(sqlite_settings(tmp_path), app)

    def broken(**_: object) -> int:
        raise ProjectionError("views and log disagree")

    monkeypatch.setattr(service.runner, "catch_up", broken)
    service.start()
    try:
        with pytest.raises(ProjectionError, match="disagree"):
            service.wait_for(1, timeout=5)
    finally:
        service.stop()
        service.runner.store.close()
        app.close()
