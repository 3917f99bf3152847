"""What each read model shows after realistic cases, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from ltflow.access.policy import Viewer
from ltflow.aggregates import vocabulary as c
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy.fields import is_encrypted
from ltflow.projections import (
    action_tracker,
    deadlines,
    learning_library,
    team_detail,
    team_overview,
    theme_trends,
)
from ltflow.projections.cross_team import ViewIds
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore
from tests.conftest import Clock, postgres_settings, sqlite_settings
from tests.projections.helpers import fresh_fold
from tests.projections.scenario import PEOPLE, SAYS, TeamDriver, mixed_teams

MARCH_9 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
IDS = ViewIds(b"k" * 32)
#: An auditor sees every team whole (the views' shapes for outsiders: test_cross_team_views).
ALL: dict[str, Any] = {
    "viewer": Viewer(subject="auditor-ann", scopes=frozenset({"audit:read"})),
    "ids": IDS,
}


@dataclass
class World:
    app: LearningTeams
    store: ViewStore
    ids: dict[str, UUID]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The mixed teams, plus one convened in April, projected once per backend."""
    tmp = tmp_path_factory.mktemp("world")
    if request.param == "sqlite":
        settings = sqlite_settings(tmp)
    else:
        make = request.getfixturevalue("postgres_schema_factory")
        settings = postgres_settings(tmp, make())
    app = LearningTeams.from_settings(settings)
    store = ViewStore.from_settings(settings)
    clock = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    ids = mixed_teams(app, clock)
    clock.advance(days=30)
    april = TeamDriver(app, clock, "case-april")
    ids["april"] = april.convene(theme="falls")
    april.through_session_one(PEOPLE[:3], [True, True, True])
    april.through_analysis(PEOPLE[:3])
    ProjectionRunner(app, store, batch_size=11).catch_up()
    yield World(app, store, ids)
    store.close()
    app.close()


def test_team_detail_shows_what_the_facilitator_works_with(world: World) -> None:
    view = team_detail.get_team_detail(world.store, world.ids["closed"])
    assert view is not None
    assert (view.phase, view.status.value, view.title) == (7, "closed", "Night handovers on ward 3")
    assert [p.participant_id for p in view.participants if p.active] == PEOPLE[:4]
    assert [(s.session, len(s.attendees)) for s in view.sessions] == [(1, 4), (2, 4)]
    assert [(lp.learning_point_id, lp.kind) for lp in view.learning_points] == [
        ("lp-keep", "keep"),
        ("lp-change", "change"),
    ]
    nets = {n.safety_net_id: (n.owner, n.status, n.outcome) for n in view.safety_nets}
    assert nets == {
        "sn-list": ("porter-cy", "done", "Checklist in use"),
        "sn-pilot": ("nurse-ann", "open", None),
    }
    [criterion] = view.criteria
    assert criterion.latest_review is not None
    assert (criterion.latest_review.observed, criterion.latest_review.met) == ("95%", True)
    assert criterion.reviews == 2
    assert [s.channel for s in view.stories] == ["intranet"]
    assert view.follow_up is not None
    assert view.follow_up.outcome == "criteria_met"
    assert len(view.red_threads) == 1
    assert view.closed_at is not None


def test_stored_team_detail_equals_a_fresh_fold_of_the_team_s_events(world: World) -> None:
    for team_id in world.ids.values():
        # Stored: the fold of the events as stored (personal fields encrypted) ...
        stored = fresh_fold(world.app, team_id)
        assert team_detail.get_team_detail(world.store, team_id) == stored
        assert team_detail.get_team_detail_json(world.store, team_id) == stored.model_dump_json()
        # ... read: the fold of the events opened with the participants' keys.
        opened = team_detail.fold_team_detail(world.app.events.get(team_id))  # type: ignore[arg-type]
        assert team_detail.read_team_detail(world.store, team_id, world.app.keys) == opened
    assert team_detail.get_team_detail(world.store, UUID(int=0)) is None
    assert team_detail.read_team_detail(world.store, UUID(int=0), world.app.keys) is None


def test_overview_lists_teams_with_phase_participants_and_next_deadline(world: World) -> None:
    teams = {t.case_ref: t for t in team_overview.list_teams(world.store, now=MARCH_9)}
    assert len(teams) == 6
    assert {ref: (t.phase, t.participants) for ref, t in teams.items()} == {
        "case-closed": (7, 4),
        "case-follow": (6, 3),
        "case-reflect": (3, 5),
        "case-gone": (1, 0),
        "case-fresh": (1, 0),
        "case-april": (5, 3),
    }
    reflect, follow = teams["case-reflect"], teams["case-follow"]
    assert (reflect.next_deadline_kind, reflect.next_deadline_at) == (
        "reflection.closes",
        datetime(2026, 3, 23, 9, tzinfo=UTC),
    )
    assert (follow.next_deadline_kind, follow.open_safety_nets) == ("review.due", 2)
    assert teams["case-gone"].status == "abandoned"
    assert teams["case-closed"].next_deadline_at is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"phase": 3}, {"case-reflect"}),
        ({"theme": "falls"}, {"case-closed", "case-reflect", "case-april"}),
        ({"trigger": "theme_trend"}, {"case-follow"}),
        ({"theme": "falls", "phase": 7}, {"case-closed"}),
        ({"status": "abandoned"}, {"case-gone"}),
    ],
)
def test_overview_filters_by_phase_theme_and_trigger(
    world: World, filters: dict[str, Any], expected: set[str]
) -> None:
    found = team_overview.list_teams(world.store, now=MARCH_9, **filters)
    assert {t.case_ref for t in found} == expected


def test_overview_overdue_flags_are_decided_by_the_now_asked_with(world: World) -> None:
    def flags(ref: str, now: datetime) -> tuple[bool, bool, bool]:
        [team] = [t for t in team_overview.list_teams(world.store, now=now) if t.case_ref == ref]
        return team.overdue.reflection, team.overdue.deadline, team.overdue.safety_nets

    assert flags("case-follow", MARCH_9) == (False, False, False)
    assert flags("case-follow", MARCH_9 + timedelta(days=2)) == (False, False, True)
    assert flags("case-follow", datetime(2026, 4, 7, tzinfo=UTC)) == (False, True, True)
    assert flags("case-reflect", datetime(2026, 3, 24, tzinfo=UTC)) == (False, True, False)
    page = team_overview.list_teams(world.store, now=MARCH_9, limit=2, offset=1)
    assert len(page) == 2


def test_action_tracker_shows_every_safety_net_open_overdue_done_or_ended(world: World) -> None:
    def statuses(today: date) -> dict[tuple[str, str], str]:
        found = action_tracker.list_actions(world.store, **ALL, today=today)
        return {(a.case_ref, a.safety_net_id): a.status for a in found}

    assert statuses(date(2026, 3, 9)) == {
        ("case-closed", "sn-list"): "done",
        # Left open when its team closed: nobody's to do any more, so not "open".
        ("case-closed", "sn-pilot"): "ended",
        ("case-follow", "sn-list"): "open",
        ("case-follow", "sn-pilot"): "open",
    }
    assert statuses(date(2026, 3, 11))[("case-follow", "sn-list")] == "overdue"
    march_11 = date(2026, 3, 11)
    counts: list[tuple[action_tracker.ActionStatus, int]] = [
        ("open", 1),
        ("overdue", 1),
        ("done", 1),
        ("ended", 1),
    ]
    for status, count in counts:
        found = action_tracker.list_actions(world.store, **ALL, today=march_11, status=status)
        assert [a.status for a in found] == [status] * count
    by_owner = action_tracker.list_actions(world.store, **ALL, today=march_11, owner="porter-cy")
    assert {(a.case_ref, a.owner) for a in by_owner} == {
        ("case-closed", "porter-cy"),
        ("case-follow", "porter-cy"),
    }
    follow = action_tracker.list_actions(
        world.store, **ALL, today=march_11, team_id=world.ids["follow"]
    )
    assert [a.due for a in follow] == [date(2026, 3, 10), date(2026, 4, 9)]


def test_deadlines_list_reflection_windows_reminders_and_reviews(world: World) -> None:
    def upcoming(now: datetime, **kw: Any) -> list[tuple[str, str, bool]]:
        found = deadlines.list_deadlines(world.store, **ALL, now=now, **kw)
        return [(d.case_ref, d.kind, d.overdue) for d in found]

    assert upcoming(MARCH_9) == [
        ("case-reflect", "reflection.opens", False),
        ("case-reflect", "reflection.reminder", False),
        ("case-reflect", "reflection.closes", False),
        ("case-follow", "review.due", False),
        ("case-follow", "follow_up.ends", False),
    ]
    # Passed markers drop out; a passed deadline somebody must act on stays, as overdue.
    assert upcoming(datetime(2026, 3, 24, tzinfo=UTC), until=datetime(2026, 5, 1, tzinfo=UTC)) == [
        ("case-reflect", "reflection.closes", True),
        ("case-follow", "review.due", False),
    ]
    only = upcoming(MARCH_9, team_id=world.ids["follow"], kinds=["review.due"])
    assert only == [("case-follow", "review.due", False)]


def test_library_holds_communicated_learning_and_only_consented_perspectives(
    world: World,
) -> None:
    [entry] = learning_library.list_library(world.store, ids=IDS)
    assert (entry.view_id, entry.theme) == (IDS.of(world.ids["closed"]), "falls")
    assert entry.perspectives == [SAYS["nurse-ann"], SAYS["porter-cy"]]
    assert [lp.kind for lp in entry.learning_points] == ["keep", "change"]
    assert [s.summary for s in entry.stories] == ["How a checklist made night handovers safer"]
    published = entry.model_dump_json()
    personal = [*PEOPLE, "Ann", "Bo", "Cy", "Di", "fac-fiona", "case-closed", "slept on it"]
    for word in [*personal, SAYS["doctor-bo"], SAYS["family-di"]]:
        assert word not in published
    assert learning_library.list_library(world.store, ids=IDS, theme="medication") == []


def test_theme_trends_count_teams_learning_points_and_safety_nets_per_month(
    world: World,
) -> None:
    found = {
        (t.theme, t.month): (t.teams, t.learning_points, t.safety_nets)
        for t in theme_trends.theme_trends(world.store)
    }
    assert found == {
        (None, "2026-03"): (1, 0, 0),
        ("aggression", "2026-03"): (1, 0, 0),
        ("falls", "2026-03"): (2, 2, 2),
        ("falls", "2026-04"): (1, 2, 0),
        ("medication", "2026-03"): (1, 2, 2),
    }
    april = theme_trends.theme_trends(world.store, theme="falls", since="2026-04", until="2026-04")
    assert [(t.month, t.teams) for t in april] == [("2026-04", 1)]


def test_system_timers_show_in_deadlines_and_overview(
    app: LearningTeams, runner: ProjectionRunner, views: ViewStore, clock: Clock
) -> None:
    driver = TeamDriver(app, clock, "case-late")
    team_id = driver.convene()
    driver.through_session_one(PEOPLE[:3], [False] * 3)
    latest = clock() + timedelta(days=14)
    driver.system(c.ReflectionReminderDue(event_id="late#reminder", latest=latest))
    runner.catch_up()
    kinds = [d.kind for d in deadlines.list_deadlines(views, **ALL, now=clock(), team_id=team_id)]
    assert kinds == ["reflection.opens", "reflection.closes"]
    clock.advance(days=15)
    driver.system(c.ReflectionOverdue(event_id="late#overdue", latest=latest, facilitator="f"))
    runner.catch_up()
    overview = team_overview.get_team_overview(views, team_id, now=clock())
    assert overview is not None
    assert (overview.overdue.reflection, overview.overdue.deadline) == (True, True)
    detail = team_detail.get_team_detail(views, team_id)
    assert detail is not None
    assert detail.reflection is not None
    assert detail.reflection.reminded_at is not None
    assert detail.reflection.overdue_at is not None


def test_the_stored_view_holds_no_personal_text_and_an_erasure_shows_without_rebuild(
    app: LearningTeams, settings: Any, clock: Clock
) -> None:
    driver = TeamDriver(app, clock, "case-encrypted-view")
    team_id = driver.convene()
    driver.through_session_one(PEOPLE[:3], [True, False, True])
    store = ViewStore.from_settings(settings)
    try:
        runner = ProjectionRunner(app, store)
        runner.catch_up()
        doc = team_detail.get_team_detail_json(store, team_id)
        assert doc is not None
        with store.read() as tx:  # every stored row of every view table
            rows = repr(
                [tx.fetchall(f"SELECT * FROM {store.table(p.table)}") for p in runner.projections]
            )
        for person in PEOPLE[:3]:
            assert SAYS[person] not in rows
        stored = team_detail.load(doc)
        assert all(is_encrypted(p.display_name) for p in stored.participants)
        assert all(is_encrypted(p.perspective) for p in stored.perspectives)

        opened = team_detail.read_team_detail(store, team_id, app.keys)
        assert opened is not None
        assert {p.perspective for p in opened.perspectives} == {SAYS[p] for p in PEOPLE[:3]}
        assert {p.display_name for p in opened.participants} == {"Ann", "Bo", "Cy"}

        assert app.keys is not None
        app.keys.delete(team_id, "nurse-ann")  # no event, no rebuild, no projection run
        erased = team_detail.read_team_detail(store, team_id, app.keys)
        assert erased is not None
        ann = erased.participant("nurse-ann")
        assert ann is not None
        assert ann.display_name == "[erased]"
        by = {p.participant_id: p.perspective for p in erased.perspectives}
        assert by == {"nurse-ann": "[erased]", "doctor-bo": SAYS["doctor-bo"],
                      "porter-cy": SAYS["porter-cy"]}  # fmt: skip
        assert team_detail.get_team_detail_json(store, team_id) == doc  # not one byte changed
    finally:
        store.close()
