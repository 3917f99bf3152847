"""A poison event cannot stop the read side: its team is quarantined, every other team goes on,
and the team is folded again from its first event once the fault is gone."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
import structlog
from eventsourcing.persistence import StoredEvent
from pydantic import BaseModel, ValidationError

from ltflow.eventstore.application import LearningTeams
from ltflow.projections import action_tracker, learning_library, team_fold, theme_trends
from ltflow.projections.base import Row, TeamProjection
from ltflow.projections.poison import describe, texts_in
from ltflow.projections.registry import PROJECTIONS
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore
from ltflow.projections.team_detail import get_team_detail
from ltflow.projections.team_models import TeamDetailView
from ltflow.projections.team_overview import get_team_overview
from tests.conftest import Clock
from tests.projections.helpers import (
    POISON,
    SECRET,
    assert_counts_match_log,
    broken_invitation,
    fresh_fold,
    max_id,
    notification_of,
    snapshot,
)
from tests.projections.scenario import PEOPLE, TeamDriver, mixed_teams

#: A topic a newer release might store: this code has no such event class.
FUTURE = "ltflow.aggregates.learning_team:LearningTeam.ArrivedFromTheFuture"


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A release whose ``participant.invited`` step fails for :data:`POISON`; ``undo()`` is
    the fix."""
    real = team_fold.STEPS["participant.invited"]
    monkeypatch.setitem(team_fold.STEPS, "participant.invited", broken_invitation(real))
    return monkeypatch


def _poisoned_team(app: LearningTeams, clock: Clock) -> tuple[TeamDriver, UUID]:
    """A team whose fourth event (v4, after team.convened, phase.entered and one invitation)
    is the poison, with one event after it."""
    driver = TeamDriver(app, clock, "case-poisoned")
    team_id = driver.convene()
    driver.send("participant.invited", participant_id="nurse-ann", role="staff")
    driver.send("participant.invited", participant_id=POISON, role="staff", display_name=SECRET)
    driver.send("participant.invited", participant_id="doctor-bo", role="staff")
    return driver, team_id


def _swap(*replacements: TeamProjection) -> tuple[TeamProjection, ...]:
    by_name = {p.name: p for p in replacements}
    return tuple(by_name.get(p.name, p) for p in PROJECTIONS)


def _bumped(projection: TeamProjection) -> TeamProjection:
    """The projection as a new release ships it (another code version)."""
    return dataclasses.replace(projection, version=projection.version + 1)


def _failing_for_poison(rows: Callable[[TeamDetailView], list[Row]]) -> Any:
    """A read model's rows as a buggy release derives them: they fail for a team with
    :data:`POISON` among its participants."""

    def derived(view: TeamDetailView) -> list[Row]:
        poison = view.participant(POISON)
        if poison is not None:  # quoting a personal field as the fold holds it (encrypted)
            raise OverflowError(f"date value out of range for {poison.display_name}")
        return rows(view)

    return derived


def test_a_poison_event_stops_only_its_team_and_every_other_team_stays_current(
    app: LearningTeams, views: ViewStore, clock: Clock, broken: pytest.MonkeyPatch
) -> None:
    runner = ProjectionRunner(app, views, batch_size=7)
    other = TeamDriver(app, clock, "case-other")
    other_id = other.convene()
    mixed = mixed_teams(app, clock)
    runner.catch_up()
    before = get_team_detail(views, other_id)
    assert before == fresh_fold(app, other_id)

    _, team_id = _poisoned_team(app, clock)
    other.through_session_one(PEOPLE[:3], [True, True, False])  # after the poison in the log
    with structlog.testing.capture_logs() as logs:
        runner.catch_up()

    after = get_team_detail(views, other_id)
    assert after == fresh_fold(app, other_id)
    assert before is not None
    assert after is not None
    assert after.version > before.version
    overview = get_team_overview(views, other_id, now=clock())
    assert overview is not None
    assert overview.version == after.version
    for mixed_id in mixed.values():
        assert get_team_detail(views, mixed_id) == fresh_fold(app, mixed_id)
    stopped = get_team_detail(views, team_id)
    assert stopped is not None
    assert stopped.version == 3
    assert [p.participant_id for p in stopped.participants] == ["nurse-ann"]
    assert {t.position for t in runner.positions().values()} == {max_id(app)}

    [held] = runner.quarantined()
    assert (held.team_id, held.projection, held.version, held.event_type) == (
        team_id,
        "team_detail",
        4,
        "participant.invited",
    )
    assert held.notification_id == notification_of(app, team_id, 4)
    assert held.error_class == "ValueError"
    assert held.error == "cannot fold the invitation of '…'"
    assert held.location.startswith("tests/projections/helpers.py:")
    assert held.location.endswith(" in step")
    assert (held.skipped, held.code_version) == (1, runner.code_version)
    assert runner.poisoned == 1
    [warning] = [line for line in logs if line["log_level"] == "warning"]
    assert (warning["team_id"], warning["version"]) == (str(team_id), 4)
    assert SECRET not in repr(logs) + held.model_dump_json()


def test_the_quarantine_survives_a_restart_and_the_teams_later_events_are_skipped(
    app: LearningTeams, views: ViewStore, clock: Clock, broken: pytest.MonkeyPatch
) -> None:
    poisoned, team_id = _poisoned_team(app, clock)
    ProjectionRunner(app, views, batch_size=7).catch_up()
    [first] = ProjectionRunner(app, views).quarantined()

    poisoned.send("participant.invited", participant_id="porter-cy", role="staff")
    late = TeamDriver(app, clock, "case-late")
    late_id = late.convene()
    restarted = ProjectionRunner(app, views, batch_size=7)
    assert restarted.catch_up() == 2  # the new team's (convened, phase entered), not the other

    [again] = restarted.quarantined()
    assert again.model_dump(exclude={"skipped"}) == first.model_dump(exclude={"skipped"})
    assert again.skipped == first.skipped + 1
    assert restarted.poisoned == 0  # nothing new met: it only skipped
    detail = get_team_detail(views, team_id)
    assert detail is not None
    assert detail.version == 3
    assert get_team_detail(views, late_id) == fresh_fold(app, late_id)
    assert {t.position for t in restarted.positions().values()} == {max_id(app)}


def test_retry_after_the_fault_is_removed_refolds_the_team_to_what_a_rebuild_gives(
    app: LearningTeams, views: ViewStore, clock: Clock, broken: pytest.MonkeyPatch
) -> None:
    mixed_teams(app, clock)
    poisoned, team_id = _poisoned_team(app, clock)
    runner = ProjectionRunner(app, views, batch_size=7)
    runner.catch_up()
    poisoned.send("participant.invited", participant_id="porter-cy", role="staff")
    runner.catch_up()

    still = runner.retry([team_id])[team_id]  # the fault is still there: quarantined again
    assert still is not None
    assert (still.version, still.skipped) == (4, 2)
    [held] = runner.quarantined()
    assert held.skipped == 2

    broken.undo()  # the fix
    assert runner.retry([uuid4()]) == {}  # not quarantined: nothing to do
    assert runner.retry() == {team_id: None}
    assert runner.quarantined() == []
    assert get_team_detail(views, team_id) == fresh_fold(app, team_id)
    retried = snapshot(views)
    ProjectionRunner(app, views).rebuild()
    assert snapshot(views) == retried
    assert assert_counts_match_log(app, views) == max_id(app)

    poisoned.send("participant.invited", participant_id="family-di", role="family")
    runner.catch_up()  # and it follows the log again
    assert get_team_detail(views, team_id) == fresh_fold(app, team_id)


def test_a_code_change_folds_a_quarantined_team_again_from_its_first_event(
    app: LearningTeams, views: ViewStore, clock: Clock, broken: pytest.MonkeyPatch
) -> None:
    mixed_teams(app, clock)
    _, team_id = _poisoned_team(app, clock)
    ProjectionRunner(app, views, batch_size=7).catch_up()

    # A release that changes another view but not the fault: folded again, held again.
    unfixed = ProjectionRunner(app, views, projections=_swap(_bumped(theme_trends.PROJECTION)))
    unfixed.catch_up()
    [held] = unfixed.quarantined()
    assert (held.version, held.code_version) == (4, unfixed.code_version)
    assert unfixed.poisoned == 1

    broken.undo()
    fixed = _swap(_bumped(_bumped(theme_trends.PROJECTION)))
    runner = ProjectionRunner(app, views, projections=fixed, batch_size=7)
    runner.catch_up()
    assert runner.quarantined() == []
    assert get_team_detail(views, team_id) == fresh_fold(app, team_id)
    after = snapshot(views)
    ProjectionRunner(app, views, projections=fixed).rebuild()
    assert snapshot(views) == after


def test_a_read_model_that_fails_for_one_team_holds_every_view_of_it_before_the_event(
    app: LearningTeams, views: ViewStore, clock: Clock
) -> None:
    failing = dataclasses.replace(
        action_tracker.PROJECTION, rows=_failing_for_poison(action_tracker.action_rows)
    )
    runner = ProjectionRunner(app, views, projections=_swap(failing), batch_size=7)
    mixed = mixed_teams(app, clock)
    _, team_id = _poisoned_team(app, clock)
    runner.catch_up()

    [held] = runner.quarantined()
    assert (held.team_id, held.projection, held.version) == (team_id, "action_tracker", 4)
    assert (held.error_class, held.error) == ("OverflowError", "date value out of range for …")
    assert SECRET not in held.model_dump_json()
    detail = get_team_detail(views, team_id)
    overview = get_team_overview(views, team_id, now=clock())
    assert detail is not None
    assert overview is not None
    assert detail.version == overview.version == 3
    for mixed_id in mixed.values():
        assert get_team_detail(views, mixed_id) == fresh_fold(app, mixed_id)


def test_a_read_model_rederived_after_a_code_change_quarantines_the_team_it_fails_for(
    app: LearningTeams, views: ViewStore, clock: Clock
) -> None:
    mixed_teams(app, clock)
    _, team_id = _poisoned_team(app, clock)
    ProjectionRunner(app, views).catch_up()
    before = snapshot(views)

    failing = dataclasses.replace(
        theme_trends.PROJECTION, rows=_failing_for_poison(theme_trends.trend_rows)
    )
    runner = ProjectionRunner(app, views, projections=_swap(failing))
    assert runner.prepare() == ["theme_trends"]
    runner.catch_up()

    [held] = runner.quarantined()
    assert (held.team_id, held.projection, held.version) == (team_id, "theme_trends", 5)
    assert (held.notification_id, held.event_type) == (None, None)
    after = snapshot(views)
    assert after["theme_trends"] == [r for r in before["theme_trends"] if r[0] != str(team_id)]
    assert after["team_detail"] == before["team_detail"]


def test_an_event_this_code_cannot_decode_quarantines_only_its_team(
    app: LearningTeams, views: ViewStore, clock: Clock
) -> None:
    other = TeamDriver(app, clock, "case-other")
    other_id = other.convene()
    driver = TeamDriver(app, clock, "case-future")
    team_id = driver.convene()
    driver.send("participant.invited", participant_id="nurse-ann", role="staff")
    state = orjson.dumps({"payload": {"note": SECRET}, "actor": "fac-fiona"})
    app.recorder.insert_events([StoredEvent(team_id, 4, FUTURE, state)])
    other.through_session_one(PEOPLE[:3], [True, True, False])

    runner = ProjectionRunner(app, views, batch_size=50)
    runner.catch_up()

    assert get_team_detail(views, other_id) == fresh_fold(app, other_id)
    detail = get_team_detail(views, team_id)
    assert detail is not None
    assert detail.version == 3
    [held] = runner.quarantined()
    assert (held.team_id, held.version, held.event_type) == (team_id, 4, FUTURE)
    assert held.notification_id == notification_of(app, team_id, 4)
    assert held.error_class == "eventsourcing.utils.TopicError"
    assert SECRET not in held.model_dump_json()
    assert runner.retry()[team_id] is not None  # still unreadable: still quarantined
    assert {t.position for t in runner.positions().values()} == {max_id(app)}


def test_an_error_message_keeps_no_text_of_the_payload_even_where_it_was_shortened() -> None:
    class Note(BaseModel):
        when: datetime

    payload = {"note": "Ann's ward, line one\nline two", "nested": [{"who": SECRET}]}
    try:
        Note.model_validate({"when": SECRET * 20})  # pydantic shortens the input it shows
    except ValidationError as exc:
        error_class, message, location = describe(exc, [SECRET * 20])
    assert error_class == "pydantic_core._pydantic_core.ValidationError"
    assert message.startswith("1 validation error(s) for Note: when: Input should be")
    assert "Dana" not in message
    assert location.startswith("tests/projections/test_poison.py:")
    quoted = ValueError(f"bad {payload['note']!r} from {payload['nested']}")
    assert describe(quoted, texts_in(payload))[1] == "bad \"…\" from [{'who': '…'}]"
    assert describe(KeyError("participant_id"), texts_in(payload))[1] == "'participant_id'"
    assert len(describe(ValueError("x" * 1000), [])[1]) == 300


def test_a_view_of_decrypted_fields_that_fails_keeps_their_text_out_of_the_record(
    app: LearningTeams, views: ViewStore, clock: Clock
) -> None:
    def quoting(view: TeamDetailView) -> list[Row]:
        poison = view.participant(POISON)
        if poison is not None:  # a buggy release quoting what it was handed: plaintext
            raise OverflowError(f"date value out of range for {poison.display_name}")
        return learning_library.library_rows(view)

    # Handed the fold with the participants' names decrypted, for every team.
    failing = dataclasses.replace(
        learning_library.PROJECTION, rows=quoting, personal=("participants",), personal_if=None
    )
    runner = ProjectionRunner(app, views, projections=_swap(failing))
    _, team_id = _poisoned_team(app, clock)
    runner.catch_up()

    [held] = runner.quarantined()
    assert (held.team_id, held.projection, held.version) == (team_id, "learning_library", 4)
    assert held.error_class == "ltflow.projections.team_detail.OpenedRowsError"
    assert held.error.startswith("OverflowError while deriving rows")
    assert "test_poison.py" in held.location  # where it was raised, still
    assert SECRET not in held.model_dump_json()
