"""The team fold on its own: pure, tolerant of the future, strict about the start."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from ltflow.eventstore.application import LearningTeams
from ltflow.projections.base import ProjectionError
from ltflow.projections.team_detail import apply_event, dump, fold_team_detail, load
from tests.conftest import Clock
from tests.projections.scenario import TeamDriver, full_team


def test_a_fold_survives_its_own_json_and_folding_twice_gives_the_same(
    app: LearningTeams, clock: Clock
) -> None:
    team_id = full_team(app, clock, "case-fold")
    events = list(app.events.get(team_id))
    view = fold_team_detail(events)  # type: ignore[arg-type]
    assert fold_team_detail(events) == view  # type: ignore[arg-type]
    assert load(dump(view)) == view
    assert view.version == len(events)


def test_a_participant_invited_again_after_withdrawing_is_active_again(
    app: LearningTeams, clock: Clock
) -> None:
    driver = TeamDriver(app, clock, "case-back")
    team_id = driver.convene()
    driver.send("participant.invited", participant_id="p-1", role="nurse", display_name="Pat")
    driver.send("participant.withdrawn", participant_id="p-1", reason="ill")
    gone = fold_team_detail(app.events.get(team_id))  # type: ignore[arg-type]
    assert [(p.active, p.withdrawal_reason) for p in gone.participants] == [(False, "ill")]
    driver.send("participant.invited", participant_id="p-1", role="lead")
    back = fold_team_detail(app.events.get(team_id))  # type: ignore[arg-type]
    assert [(p.active, p.role, p.display_name) for p in back.participants] == [
        (True, "lead", "Pat")
    ]


def test_an_event_type_from_a_newer_release_is_skipped_but_counted(
    app: LearningTeams, clock: Clock
) -> None:
    team_id = TeamDriver(app, clock, "case-new").convene()
    view = fold_team_detail(app.events.get(team_id))  # type: ignore[arg-type]
    unchanged = {"version", "updated_at"}
    before, version = view.model_dump(exclude=unchanged), view.version
    future = _event("team.renamed", team_id, version + 1, {"title": "?"})
    assert apply_event(view, future).version == version + 1
    assert view.model_dump(exclude=unchanged) == before


def test_a_history_must_start_with_team_convened() -> None:
    with pytest.raises(ProjectionError, match=r"team\.convened"):
        fold_team_detail([])
    stray = _event("participant.invited", uuid4(), 3, {"participant_id": "p", "role": "r"})
    with pytest.raises(ProjectionError, match=r"before team\.convened"):
        apply_event(None, stray)


def _event(type_: str, team_id: object, version: int, payload: dict[str, object]) -> Any:
    return SimpleNamespace(
        TYPE=type_,
        originator_id=team_id,
        originator_version=version,
        occurred_at=datetime(2026, 3, 3, tzinfo=UTC),
        actor="x",
        payload=payload,
    )
