"""The application on every event-store backend (the ``settings`` fixture: SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from ltflow.aggregates.errors import (
    IdempotencyConflictError,
    InvalidEventError,
    RuleViolatedError,
    TeamNotFoundError,
    VersionConflictError,
    WrongPhaseError,
)
from ltflow.aggregates.learning_team import LearningTeam
from ltflow.aggregates.state import Phase, Status
from ltflow.aggregates.vocabulary import parse_convene, parse_sender_event
from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.eventstore.application import LearningTeams, team_id_for
from tests.conftest import Clock
from tests.integration.helpers import open_team, run_narrative, run_steps, steps_until


def stored(app: LearningTeams, team_id: UUID) -> list[tuple[int, str, str]]:
    return [(f.version, f.type, f.event_id) for f in app.history(team_id)]


def invite(pid: str, event_id: str | None = None) -> Any:
    return parse_sender_event(
        {
            "type": "participant.invited",
            "event_id": event_id or f"inv-{pid}",
            "participant_id": pid,
            "role": "nurse",
        }
    )


def test_narrative_case_runs_through_all_seven_phases(app: LearningTeams, clock: Clock) -> None:
    team_id, results = run_narrative(app, clock)
    history = app.history(team_id)

    entered = [f.payload["phase"] for f in history if f.type == "phase.entered"]
    assert entered == [1, 2, 3, 4, 5, 6, 7]
    final = app.summary(team_id)
    assert final.status is Status.CLOSED
    assert final.phase is Phase.COMMUNICATE
    assert final.version == len(history)
    state = app.state(team_id)
    assert state.active_participants == ["p-anna", "p-bram", "p-chen", "p-dewi"]
    assert sorted(state.learning_points.values()) == ["change", "change", "keep"]
    assert state.safety_nets == {"sn-handover": False, "sn-phone": True}
    assert state.criteria == {"c-handover": True, "c-phone": True}
    assert state.stories == 2
    ended = [f for f in history if f.type == "follow_up.ended"]
    assert [f.payload["outcome"] for f in ended] == ["criteria_met"]
    assert ended[0].event_id == "rev-2a#follow-up-ended"
    assert all(not r.duplicate for r in results)


def test_every_event_is_stored_with_actor_times_and_event_id(
    app: LearningTeams, clock: Clock
) -> None:
    team_id, _ = run_narrative(app, clock)
    history = app.history(team_id)
    assert [f.version for f in history] == list(range(1, len(history) + 1))
    system = {"phase.entered", "reflection.opened", "follow_up.ended"}
    for fact in history:
        assert fact.actor == ("system" if fact.type in system else "fac-ingrid")
        assert fact.recorded_at.tzinfo is not None
    completed = next(f for f in history if f.event_id == "done-1")
    opened = next(f for f in history if f.type == "reflection.opened")
    assert opened.occurred_at == completed.occurred_at
    earliest = datetime.fromisoformat(opened.payload["earliest"])
    latest = datetime.fromisoformat(opened.payload["latest"])
    assert earliest == completed.occurred_at + timedelta(days=1)
    assert latest == completed.occurred_at + timedelta(days=14)


def test_a_repeated_event_id_stores_nothing_and_returns_the_first_answer(
    app: LearningTeams, clock: Clock
) -> None:
    team_id = open_team(app, clock)
    first = app.record(team_id, invite("p-1"), actor="svc", received_at=clock())
    app.record(team_id, invite("p-2"), actor="svc", received_at=clock())
    before = stored(app, team_id)

    repeat = app.record(team_id, invite("p-1"), actor="svc", received_at=clock.advance(hours=1))

    assert repeat.duplicate
    assert repeat.summary == first.summary
    assert repeat.recorded_versions == []
    assert stored(app, team_id) == before


def test_the_same_event_id_with_other_content_is_a_conflict_and_changes_nothing(
    app: LearningTeams, clock: Clock
) -> None:
    team_id = open_team(app, clock)
    app.record(team_id, invite("p-1", event_id="e-1"), actor="svc", received_at=clock())
    before = stored(app, team_id)

    with pytest.raises(IdempotencyConflictError) as err:
        app.record(team_id, invite("p-2", event_id="e-1"), actor="svc", received_at=clock())

    assert err.value.code == "idempotency_conflict"
    assert "e-1" in err.value.message
    assert stored(app, team_id) == before


def test_opening_the_same_case_twice_returns_the_same_team(
    app: LearningTeams, clock: Clock
) -> None:
    body = narrative.convene()
    first = app.convene(parse_convene(body), actor="svc", received_at=clock())
    again = app.convene(parse_convene(body), actor="svc", received_at=clock.advance(minutes=5))

    assert again.duplicate
    assert not first.duplicate
    assert again.summary.team_id == first.summary.team_id == team_id_for(narrative.CASE_REF)
    assert len(app.history(first.summary.team_id)) == 2

    other = {**body, "goal": "Something else entirely."}
    with pytest.raises(IdempotencyConflictError):
        app.convene(parse_convene(other), actor="svc", received_at=clock())
    assert len(app.history(first.summary.team_id)) == 2


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (
            {
                "type": "session.completed",
                "event_id": "x",
                "session": 1,
                "attendees": ["p-1", "p-2", "p-3"],
            },
            WrongPhaseError,
        ),
        ({"type": "scope.confirmed", "event_id": "x"}, RuleViolatedError),
        (
            {"type": "participant.withdrawn", "event_id": "x", "participant_id": "nobody"},
            RuleViolatedError,
        ),
        (
            {
                "type": "participant.invited",
                "event_id": "x",
                "participant_id": "p-9",
                "role": "n",
                "occurred_at": "2030-01-01T00:00:00Z",
            },
            InvalidEventError,
        ),
        (
            {
                "type": "participant.invited",
                "event_id": "x",
                "participant_id": "p-9",
                "role": "n",
                "occurred_at": "2020-01-01T00:00:00Z",
            },
            RuleViolatedError,
        ),
    ],
    ids=["wrong-phase", "team-too-small", "unknown-participant", "future", "out-of-order"],
)
def test_a_rejected_event_leaves_the_event_store_exactly_as_it_was(
    app: LearningTeams, clock: Clock, event: dict[str, Any], error: type[Exception]
) -> None:
    team_id = open_team(app, clock)
    app.record(team_id, invite("p-1"), actor="svc", received_at=clock())
    before = [f.model_dump() for f in app.history(team_id)]

    with pytest.raises(error):
        app.record(team_id, parse_sender_event(event), actor="svc", received_at=clock())

    assert [f.model_dump() for f in app.history(team_id)] == before
    assert app.summary(team_id).version == len(before)


def test_session_two_too_early_names_the_earliest_start(app: LearningTeams, clock: Clock) -> None:
    team_id = open_team(app, clock)
    run_steps(app, clock, team_id, steps_until(clock(), "done-1"))
    completed_at = clock()
    clock.advance(hours=23)
    before = stored(app, team_id)

    start = parse_sender_event({"type": "session.started", "event_id": "s2", "session": 2})
    with pytest.raises(RuleViolatedError) as err:
        app.record(team_id, start, actor="svc", received_at=clock())

    earliest = (completed_at + timedelta(days=1)).isoformat()
    assert earliest in err.value.message
    assert err.value.details["earliest"] == earliest
    assert stored(app, team_id) == before
    clock.advance(hours=1)
    assert app.record(team_id, start, actor="svc", received_at=clock()).summary.phase == 4


def test_an_unknown_team_is_not_found(app: LearningTeams, clock: Clock) -> None:
    with pytest.raises(TeamNotFoundError):
        app.record(team_id_for("nope"), invite("p-1"), actor="svc", received_at=clock())


def test_a_stale_expected_version_is_a_conflict(app: LearningTeams, clock: Clock) -> None:
    team_id = open_team(app, clock)
    with pytest.raises(VersionConflictError):
        app.record(team_id, invite("p-1"), actor="s", received_at=clock(), expected_version=1)
    ok = app.record(team_id, invite("p-1"), actor="s", received_at=clock(), expected_version=2)
    assert ok.summary.version == 3


def _stale_once(app: LearningTeams, version: int) -> None:
    """Make the next load of a team return it as it stood at ``version``: a racing writer."""
    real = app._get
    calls = {"n": 0}

    def stale(team_id: UUID, v: int | None = None) -> LearningTeam:
        calls["n"] += 1
        return real(team_id, version if calls["n"] == 1 else v)

    app._get = stale  # type: ignore[method-assign]


def test_our_own_retried_write_after_a_race_is_a_no_op(
    settings: Settings, app: LearningTeams, clock: Clock
) -> None:
    team_id = open_team(app, clock)
    other = LearningTeams.from_settings(settings)
    try:
        first = app.record(team_id, invite("p-1"), actor="s", received_at=clock())
        _stale_once(other, version=2)
        again = other.record(team_id, invite("p-1"), actor="s", received_at=clock())
    finally:
        other.close()
    assert again.duplicate
    assert again.summary == first.summary
    assert [t for _, t, _ in stored(app, team_id)].count("participant.invited") == 1


def test_a_real_concurrent_write_is_a_clear_conflict_and_stores_nothing(
    settings: Settings, app: LearningTeams, clock: Clock
) -> None:
    team_id = open_team(app, clock)
    other = LearningTeams.from_settings(settings)
    try:
        app.record(team_id, invite("p-1"), actor="s", received_at=clock())
        before = stored(app, team_id)
        _stale_once(other, version=2)
        with pytest.raises(VersionConflictError) as err:
            other.record(team_id, invite("p-2"), actor="s", received_at=clock())
    finally:
        other.close()
    assert err.value.code == "version_conflict"
    assert stored(app, team_id) == before


def test_concurrent_writers_lose_and_duplicate_nothing(settings: Settings, clock: Clock) -> None:
    apps = [LearningTeams.from_settings(settings) for _ in range(4)]
    try:
        team_id = open_team(apps[0], clock)
        pids = [f"p-{i}" for i in range(8)]
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def writer(k: int) -> None:
            barrier.wait()
            for pid in pids[k::4] + pids:  # each sends its own, then retries everyone's
                while True:
                    try:
                        apps[k].record(team_id, invite(pid), actor="s", received_at=clock())
                        break
                    except VersionConflictError:
                        continue
                    except BaseException as exc:  # pragma: no cover - reported below
                        errors.append(exc)
                        return

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors
        invited = [e for _, t, e in stored(apps[0], team_id) if t == "participant.invited"]
        assert sorted(invited) == sorted(f"inv-{p}" for p in pids)
    finally:
        for a in apps:
            a.close()


def test_a_team_survives_a_restart_of_the_application(settings: Settings, clock: Clock) -> None:
    first = LearningTeams.from_settings(settings)
    team_id, _ = run_narrative(first, clock)
    state = first.state(team_id)
    first.close()

    reopened = LearningTeams.from_settings(settings)
    try:
        assert reopened.state(team_id) == state
        assert reopened.state(team_id, version=5).version == 5
    finally:
        reopened.close()


def test_old_events_are_upcast_when_their_class_version_grows(
    app: LearningTeams, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    team_id = open_team(app, clock)
    app.record(team_id, invite("p-1"), actor="s", received_at=clock())

    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["payload"] = {**state["payload"], "role": state["payload"]["role"].upper()}

    cls = LearningTeam.ParticipantInvited
    monkeypatch.setattr(cls, "class_version", 2)
    monkeypatch.setattr(cls, "upcast_v1_v2", staticmethod(upcast_v1_v2), raising=False)
    invited = [f for f in app.history(team_id) if f.type == "participant.invited"]
    assert invited[0].payload["role"] == "NURSE"
