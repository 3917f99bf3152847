"""The series read model: a series' teams, their phases, and what they learned over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ltflow.eventstore.application import LearningTeams
from ltflow.projections import series as series_view
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore
from ltflow.projections.team_detail import get_team_detail
from ltflow.series.refs import case_ref_for
from tests.conftest import Clock
from tests.projections.scenario import PEOPLE, TeamDriver

DEC_7 = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)


def test_a_series_shows_its_teams_phases_and_learning_across_them(
    app: LearningTeams, views: ViewStore, runner: ProjectionRunner
) -> None:
    clock = Clock(DEC_7)
    first = TeamDriver(app, clock, case_ref_for("ward-5", DEC_7))
    first_id = first.convene(theme="handover", trigger="daily_practice")
    first.through_session_one(PEOPLE[:3], [True, True, True])
    first.through_analysis(PEOPLE[:3])
    first.through_follow_up(due=clock().date() + timedelta(days=7))
    clock.advance(days=28)
    second_slot = DEC_7 + timedelta(days=28)
    second = TeamDriver(app, clock, case_ref_for("ward-5", second_slot))
    second_id = second.convene(theme="handover", trigger="daily_practice")
    # Another series and a team of no series stay out of ward 5's view.
    TeamDriver(app, clock, case_ref_for("ward-6", second_slot)).convene()
    TeamDriver(app, clock, "INC-2026-0042").convene()
    runner.catch_up()

    overview = series_view.series_overview(views, "ward-5")
    assert [t.team_id for t in overview.history] == [first_id, second_id]
    assert [t.slot for t in overview.history] == [DEC_7, second_slot]
    assert [int(t.phase) for t in overview.history] == [6, 1]
    assert overview.by_phase == {"6": 1, "1": 1}
    assert overview.by_status == {"active": 2}
    assert (overview.keep, overview.change) == (1, 1)
    assert [lp.text for lp in overview.history[0].learning_points] == [
        "Colleagues double-check each other at night",
        "Handover needs a written checklist",
    ]
    assert (overview.safety_nets, overview.safety_nets_done) == (2, 0)
    # No one is named: no participants, no owners of safety nets.
    assert "porter-cy" not in overview.model_dump_json()
    assert "Fiona" not in overview.model_dump_json()

    detail = get_team_detail(views, first_id)
    assert detail is not None
    assert detail.series_id == "ward-5"
    assert series_view.series_overview(views, "ward-6").teams == 1
    assert series_view.series_overview(views, "ward-7").teams == 0


def test_a_case_that_only_looks_like_a_series_belongs_to_none(
    app: LearningTeams, views: ViewStore, runner: ProjectionRunner
) -> None:
    clock = Clock(DEC_7)
    for case in ("series-ward-5", "series-Ward 5-2026-12-07T13:00Z", "series--2026-12-07T13:00Z"):
        team_id = TeamDriver(app, clock, case).convene()
        runner.catch_up()
        detail = get_team_detail(views, team_id)
        assert detail is not None
        assert detail.series_id is None
