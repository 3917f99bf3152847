"""The bounds of new input (issue 15) and time arithmetic that cannot overflow."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ltflow.aggregates import bounds, schedule
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import InvalidEventError
from ltflow.aggregates.state import Phase, start, summarize
from ltflow.config import Settings
from ltflow.projections.base import iso, month_of
from ltflow.workflows.timers import next_due
from tests.unit.builders import PARTICIPANTS, T0, TEAM_ID, Walk, convene_cmd

FIELDS = list(c.Policy.model_fields)
HOUR = timedelta(hours=1)


def body(**policy: str) -> dict[str, Any]:
    return {**convene_cmd().model_dump(mode="json", exclude={"policy"}), "policy": policy}


# --- the plain model rule: positive, at most two years -------------------------------------------


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"min_reflection": "P731D", "max_reflection": "P731D"}, "min_reflection"),
        ({"max_reflection": "P731D"}, "max_reflection"),
        ({"max_reflection": "P731D", "reflection_reminder_before": "P730DT1S"}, "max_reflection"),
        ({"review_every": "P731D"}, "review_every"),
        ({"follow_up_for": "P731D"}, "follow_up_for"),
    ],
    ids=FIELDS,
)
def test_a_duration_beyond_two_years_is_invalid_naming_the_field(
    policy: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidEventError) as err:
        c.parse_convene(body(**policy))
    assert f"policy.{field} must be positive and at most 730 days" in err.value.message


@pytest.mark.parametrize("field", ["max_reflection", "review_every", "follow_up_for"])
def test_a_million_millennia_is_refused_by_the_model_alone(field: str) -> None:
    with pytest.raises(InvalidEventError, match=f"policy.{field} must be positive and at most"):
        c.parse_convene(body(**{field: "P999999999D"}))


def test_two_years_is_accepted_and_the_defaults_stay_the_defaults() -> None:
    longest = c.parse_convene(
        body(max_reflection="P730D", review_every="P730D", follow_up_for="P730D")
    )
    assert longest.policy.follow_up_for == bounds.MAX_POLICY_DURATION
    assert c.parse_convene(body()).policy == c.Policy()
    assert c.parse_convene(body(), min_policy_duration=HOUR).policy == c.Policy()


# --- the deployment floor ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["min_reflection", "review_every", "follow_up_for"])
def test_a_duration_below_the_floor_is_invalid_naming_the_field_and_the_range(field: str) -> None:
    with pytest.raises(InvalidEventError) as err:
        c.parse_convene(body(**{field: "PT0.000001S"}), min_policy_duration=HOUR)
    assert err.value.message == (
        f"policy.{field} must be between 1 hour and 730 days; it is 0.000001 seconds."
    )
    assert err.value.details["problems"] == [
        {
            "field": f"policy.{field}",
            "problem": f"policy.{field} must be between 1 hour and 730 days",
        }
    ]


def test_the_floor_itself_is_accepted_and_judged_only_where_it_is_given() -> None:
    at_floor = body(
        min_reflection="PT1H",
        max_reflection="PT2H",
        reflection_reminder_before="PT1H",
        review_every="PT1H",
        follow_up_for="PT1H",
    )
    assert c.parse_convene(at_floor, min_policy_duration=HOUR).policy.review_every == HOUR
    seconds = body(review_every="PT1S")
    with pytest.raises(InvalidEventError, match="between 1 hour and 730 days"):
        c.parse_convene(seconds, min_policy_duration=HOUR)
    assert c.parse_convene(seconds, min_policy_duration=bounds.DEV_POLICY_FLOOR)
    assert c.parse_convene(seconds)  # the model alone knows no deployment


def test_the_floor_is_a_deployment_setting_one_hour_unless_configured() -> None:
    assert Settings().policy_floor == HOUR
    assert Settings.from_env({}).policy_floor == HOUR
    configured = Settings.from_env({"LTFLOW_MIN_POLICY_DURATION": "PT1S"})
    assert configured.policy_floor == timedelta(seconds=1)
    for wrong in ("PT0.5S", "P731D", "an hour"):
        with pytest.raises(ValueError, match="LTFLOW_MIN_POLICY_DURATION"):
            Settings.from_env({"LTFLOW_MIN_POLICY_DURATION": wrong})


# --- business times and due dates ----------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"type": "session.scheduled", "session": 1, "at": "9999-12-31T23:00:00-05:00"},
        {"type": "session.scheduled", "session": 1, "at": "1899-12-31T23:59:59Z"},
        {"type": "scope.confirmed", "occurred_at": "0001-01-01T00:00:00+14:00"},
        {
            "type": "safety_net.defined",
            "safety_net_id": "sn",
            "kind": "micro_action",
            "description": "d",
            "owner": "o",
            "due": "9999-12-31",
        },
    ],
    ids=["at-far-future", "at-before-1900", "occurred-at-year-1", "due-year-9999"],
)
def test_a_time_outside_the_years_1900_to_2999_is_invalid(event: dict[str, Any]) -> None:
    with pytest.raises(InvalidEventError, match="1900-01-01 and 2999-12-31"):
        c.parse_sender_event({**event, "event_id": "e"})


def test_the_edges_of_the_era_are_accepted() -> None:
    for at in ("1900-01-01T00:00:00Z", "2999-12-31T23:59:59Z"):
        c.parse_sender_event({"type": "session.scheduled", "event_id": "e", "session": 1, "at": at})


def test_a_stored_record_is_never_judged_again() -> None:
    poison = {
        **body(follow_up_for="P999999999D", review_every="PT0.000001S"),
        "event_id": "team.convened",
    }
    convened = c.load_command("team.convened", poison)
    assert isinstance(convened, c.TeamConvened)
    assert convened.policy.follow_up_for == timedelta(days=999999999)
    far = c.load_command(
        "session.scheduled",
        {"event_id": "e", "session": 1, "at": "9999-12-31T23:00:00-05:00"},
    )
    assert isinstance(far, c.SessionScheduled)


# --- arithmetic that saturates -------------------------------------------------------------------


def test_shifting_saturates_instead_of_overflowing() -> None:
    assert bounds.shift(T0, timedelta(days=999999999)) == bounds.FAR_FUTURE
    assert bounds.shift(T0, -timedelta(days=999999999)) == bounds.FAR_PAST
    assert bounds.shift(T0, timedelta(days=999999999), 10) == bounds.FAR_FUTURE
    assert bounds.shift(T0, timedelta(days=1), 3) == T0 + timedelta(days=3)
    edge = datetime(9999, 12, 31, 23, 0, tzinfo=UTC).astimezone(UTC)
    assert bounds.shift(edge, timedelta(0)) == bounds.FAR_FUTURE


def test_a_time_at_the_edge_of_the_calendar_converts_to_utc_without_overflow() -> None:
    late = c.load_command(
        "session.scheduled", {"event_id": "e", "session": 1, "at": "9999-12-31T23:00:00-05:00"}
    )
    assert isinstance(late, c.SessionScheduled)
    assert iso(late.at) == bounds.FAR_FUTURE.isoformat()
    early = datetime.fromisoformat("0001-01-01T00:30:00+01:00")
    assert iso(early) == bounds.FAR_PAST.isoformat()
    assert month_of(early) == "0001-01"


def _stored_walk(**policy: str) -> Walk:
    """A team convened with a policy stored before the bounds existed, walked to phase 6."""
    payload = {**body(**policy), "event_id": "team.convened"}
    convened = c.load_command("team.convened", payload)
    assert isinstance(convened, c.TeamConvened)
    walk = Walk(convened=convened, state=start(convened, TEAM_ID, T0), now=T0)
    from ltflow.aggregates import rules
    from tests.unit.builders import _STEPS

    walk.record(rules.convene_consequences(convened, T0), T0)
    for person in PARTICIPANTS:
        walk.invite(person)
    for phase in Phase:
        if phase > Phase.FOLLOW_UP:
            break
        if phase in _STEPS:
            _STEPS[phase](walk)
    walk.criterion("c-1", "sn-1")
    return walk


def test_a_stored_poison_follow_up_starts_and_its_timers_lie_far_ahead() -> None:
    walk = _stored_walk(follow_up_for="P999999999D", review_every="P999999999D")
    walk.start_follow_up()  # before the fix: OverflowError, retried forever by the store step
    due = next_due(walk.state)
    assert due is not None
    assert due.command.type == "follow_up.ended"
    assert due.at == bounds.FAR_FUTURE
    assert summarize(walk.state).follow_up_ends_at == bounds.FAR_FUTURE


def test_a_stored_poison_reflection_window_saturates() -> None:
    payload = {**body(max_reflection="P999999999D"), "event_id": "team.convened"}
    convened = c.load_command("team.convened", payload)
    assert isinstance(convened, c.TeamConvened)
    earliest, latest = schedule.reflection_window(T0, convened.policy)
    assert (earliest, latest) == (T0 + timedelta(days=1), bounds.FAR_FUTURE)
    assert schedule.reminder_at(latest, convened.policy) == bounds.FAR_FUTURE - timedelta(days=2)


def test_a_stored_microsecond_review_cannot_spin() -> None:
    walk = _stored_walk(review_every="PT0.000001S")
    walk.start_follow_up()
    started = walk.state.follow_up_started_at
    assert started is not None
    due = next_due(walk.state)
    assert due is not None
    assert due.command.type == "review.due"
    assert due.at == started + bounds.MIN_POLICY_FLOOR


def test_huge_durations_inside_the_bounds_fire_no_timer_early() -> None:
    walk = _stored_walk(review_every="P400D", follow_up_for="P730D")
    walk.start_follow_up()
    started = walk.state.follow_up_started_at
    assert started is not None
    first = next_due(walk.state)
    assert first is not None
    assert (first.command.type, first.at) == ("review.due", started + timedelta(days=400))
    walk.record([first.command], first.at)
    then = next_due(walk.state)
    assert then is not None
    assert (then.command.type, then.at) == ("follow_up.ended", started + timedelta(days=730))
    latest = schedule.follow_up_ends_at(bounds.LATEST, walk.state.policy)
    assert latest == bounds.LATEST + timedelta(days=730)  # no overflow at the edge of the era
    assert date(2999, 12, 31) == bounds.LATEST.date()
