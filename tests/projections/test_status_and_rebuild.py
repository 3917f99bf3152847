"""Status counts exactly; a view whose code changed is rebuilt without touching the event store."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.projections import team_detail, team_overview
from ltflow.projections.base import ProjectionError, Row, TeamProjection
from ltflow.projections.registry import PROJECTIONS
from ltflow.projections.runner import TRACKING, ProjectionRunner
from ltflow.projections.status import projection_status
from ltflow.projections.store import ViewStore
from ltflow.projections.team_models import TeamDetailView
from tests.conftest import Clock
from tests.projections.helpers import max_id, snapshot, stored_events
from tests.projections.scenario import TeamDriver, full_team, mixed_teams


def _behind(runner: ProjectionRunner) -> dict[str, int]:
    return {s.name: s.behind for s in projection_status(runner)}


def test_status_says_exactly_how_many_events_each_projection_is_behind(
    app: LearningTeams, views: ViewStore, clock: Clock
) -> None:
    runner = ProjectionRunner(app, views, batch_size=4)
    mixed_teams(app, clock)
    total = max_id(app)
    assert set(_behind(runner).values()) == {total}  # nothing built yet

    runner.catch_up()
    assert set(_behind(runner).values()) == {0}

    before = max_id(app)
    full_team(app, clock, "case-more")
    added = max_id(app) - before
    assert set(_behind(runner).values()) == {added}
    assert runner.catch_up(max_batches=2) == 8
    assert set(_behind(runner).values()) == {added - 8}

    runner.rebuild(["theme_trends"])  # re-derived at the fold's position: as far behind
    assert set(_behind(runner).values()) == {added - 8}
    runner.catch_up()
    assert set(_behind(runner).values()) == {0}
    assert all(not s.stale for s in projection_status(runner))


@pytest.mark.postgres
def test_status_counts_events_not_ids_where_the_log_has_gaps(
    postgres_schema_factory: Callable[[], str], tmp_path: Any, clock: Clock
) -> None:
    from tests.conftest import postgres_settings

    settings = postgres_settings(tmp_path, postgres_schema_factory())
    app = LearningTeams.from_settings(settings)
    with ViewStore.from_settings(settings) as views:
        runner = ProjectionRunner(app, views)
        driver = TeamDriver(app, clock, "case-gaps")
        driver.convene()
        runner.catch_up()
        schema, table = views.schema, app.recorder.events_table_name  # type: ignore[attr-defined]
        with views.write() as tx:  # a rolled-back insert elsewhere would burn ids like this
            tx.execute(
                "SELECT setval(pg_get_serial_sequence(?, 'notification_id'), "
                "(SELECT MAX(notification_id) FROM " + f'"{schema}".{table}' + ") + 100)",
                (f'"{schema}".{table}',),
            )
        driver.send("participant.invited", participant_id="p-1", role="staff")
        driver.send("participant.invited", participant_id="p-2", role="staff")
        status = projection_status(runner)
        assert {s.behind for s in status} == {2}
        assert status[0].max_notification_id - status[0].position > 100
        runner.catch_up()
        assert {s.behind for s in projection_status(runner)} == {0}
    app.close()


def _shouting(view: TeamDetailView) -> list[Row]:
    """team_overview as a new release might write it: titles in capitals."""
    [row] = team_overview.overview_rows(view)
    return [(*row[:2], row[2].upper(), *row[3:])]


def test_a_view_whose_code_changed_is_rebuilt_without_touching_the_event_store(
    app: LearningTeams, views: ViewStore, clock: Clock
) -> None:
    mixed_teams(app, clock)
    ProjectionRunner(app, views).catch_up()
    events, before = stored_events(app), snapshot(views)

    changed = dataclasses.replace(team_overview.PROJECTION, rows=_shouting)
    assert changed.code_version != team_overview.PROJECTION.code_version
    runner = ProjectionRunner(app, views, projections=_swap(changed))
    reads: list[int] = []
    read = runner.log.read
    runner.log.read = lambda after, limit: reads.append(after) or read(after, limit)  # type: ignore[method-assign,func-returns-value]

    assert runner.prepare() == ["team_overview"]
    assert projection_status(runner)[1].stale is False
    runner.catch_up()

    titles = {t.title for t in team_overview.list_teams(views, now=clock())}
    assert titles == {"NIGHT HANDOVERS ON WARD 3"}
    assert min(reads) == max_id(app)  # no replay: only new events read
    assert stored_events(app) == events
    after = snapshot(views)
    assert after.pop("team_overview") != before.pop("team_overview")
    after.pop(TRACKING), before.pop(TRACKING)
    assert after == before  # every other view untouched


def test_a_changed_fold_replays_the_log_and_rebuilds_every_view(
    app: LearningTeams, views: ViewStore, clock: Clock
) -> None:
    mixed_teams(app, clock)
    ProjectionRunner(app, views).catch_up()
    events, before = stored_events(app), snapshot(views)
    bumped = dataclasses.replace(team_detail.PROJECTION, version=team_detail.PROJECTION.version + 1)
    runner = ProjectionRunner(app, views, projections=_swap(bumped), batch_size=9)

    assert runner.prepare() == [p.name for p in PROJECTIONS]
    assert runner.catch_up() == max_id(app)

    after = snapshot(views)
    assert stored_events(app) == events
    assert {k: v for k, v in after.items() if k != TRACKING} == {
        k: v for k, v in before.items() if k != TRACKING
    }


def test_rebuilding_one_view_reads_no_events_and_leaves_the_others_alone(
    app: LearningTeams, views: ViewStore, clock: Clock, settings: Settings
) -> None:
    mixed_teams(app, clock)
    runner = ProjectionRunner(app, views)
    runner.catch_up()
    before = snapshot(views)
    with views.write() as tx:  # damage one view by hand
        tx.execute(f"DELETE FROM {views.table(team_overview.TABLE)}")
    runner.log.read = _refuse  # type: ignore[method-assign]

    assert runner.rebuild(["team_overview", "deadlines"]) == ["team_overview", "deadlines"]
    assert snapshot(views) == before
    with pytest.raises(KeyError, match="nope"):
        runner.rebuild(["nope"])


def _swap(replacement: TeamProjection) -> tuple[TeamProjection, ...]:
    return tuple(replacement if p.name == replacement.name else p for p in PROJECTIONS)


def _refuse(after: int, limit: int) -> list[Any]:
    raise AssertionError(f"read the event log after {after}")


def test_a_runner_whose_views_were_rebuilt_by_newer_code_stops_instead_of_writing(
    app: LearningTeams, views: ViewStore, clock: Clock
) -> None:
    old = ProjectionRunner(app, views)
    old.catch_up()
    newer = dataclasses.replace(team_overview.PROJECTION, version=99)
    ProjectionRunner(app, views, projections=_swap(newer)).catch_up()
    TeamDriver(app, clock, "case-after-deploy").convene()
    with pytest.raises(ProjectionError, match="built by other code"):
        old.catch_up()
