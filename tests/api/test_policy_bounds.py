"""Absurd policies are refused at the door (issue 15, first defect).

Before the fix each of these bodies was accepted: ``follow_up_for`` of a million millennia made
the timer arithmetic overflow at ``follow_up.started`` (the store step retried forever and the
projection runner stopped on the stored event, for every team), a review every microsecond
stored ~15 ``review.due`` events a second, and such a ``max_reflection`` answered 400
``ltflow_error`` at session 1's completion.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ltflow.eventstore.application import team_id_for
from tests.api.conftest import Api
from tests.api.helpers import assert_error, drive, new_case, open_team

POISON = [
    ("follow_up_for", "P999999999D"),
    ("review_every", "PT0.000001S"),
    ("max_reflection", "P999999999D"),
]


async def _views_of(api: Api, team_id: str) -> tuple[Any, Any]:
    await api.settle()
    detail = await api.http.get(f"/teams/{team_id}")
    listed = await api.http.get("/teams")
    assert detail.status_code == 200, detail.text
    mine = [t for t in listed.json() if t["team_id"] == team_id]
    return detail.json(), mine


@pytest.mark.parametrize(("field", "value"), POISON, ids=[f for f, _ in POISON])
async def test_a_poison_policy_is_422_naming_the_field_and_the_range_and_changes_nothing(
    api: Api, field: str, value: str
) -> None:
    other = await open_team(api.http)
    await drive(api.http, other, "scope-ok")
    before = await _views_of(api, other)
    notifications = api.last_notification()

    body = new_case("POISON", policy={field: value})
    answer = await api.http.post("/teams", json=body)

    error = assert_error(answer, 422, "invalid_event")
    assert f"policy.{field}" in error["message"]
    assert "730 days" in error["message"]
    assert not api.events.exists(team_id_for(body["case_ref"]))
    assert api.last_notification() == notifications
    assert await _views_of(api, other) == before
    # The other team goes on as before.
    moved = await api.http.post(
        f"/teams/{other}/events",
        json={
            "type": "session.scheduled",
            "event_id": "s1-at",
            "session": 1,
            "at": "2030-01-07T09:00:00Z",
        },
    )
    assert moved.status_code == 200, moved.text


async def test_the_deployment_floor_is_the_apis_configured_one(api: Api) -> None:
    context = api.app.state.ltflow
    floor = context.policy_floor
    body = new_case("FLOOR", policy={"review_every": "PT30M"})
    try:
        context.policy_floor = timedelta(hours=1)  # production's floor
        refused = await api.http.post("/teams", json=body)
    finally:
        context.policy_floor = floor
    error = assert_error(refused, 422, "invalid_event")
    assert error["message"].startswith(
        "policy.review_every must be between 1 hour and 730 days; it is 30 minutes"
    )
    assert error["details"]["problems"][0]["field"] == "policy.review_every"
    assert not api.events.exists(team_id_for(body["case_ref"]))

    accepted = await api.http.post("/teams", json=body)  # this stack's floor: one second
    assert accepted.status_code == 201, accepted.text


async def test_the_methods_defaults_and_two_years_are_accepted(api: Api) -> None:
    default = await api.http.post("/teams", json=new_case("DEFAULTS"))
    assert default.status_code == 201, default.text
    longest = new_case(
        "LONGEST",
        policy={"max_reflection": "P730D", "review_every": "P730D", "follow_up_for": "P730D"},
    )
    answer = await api.http.post("/teams", json=longest)
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "session.scheduled", "session": 1, "at": "9999-12-31T23:00:00-05:00"}, "at"),
        ({"type": "session.scheduled", "session": 1, "at": "0001-01-01T00:30:00+01:00"}, "at"),
        (
            {"type": "scope.confirmed", "occurred_at": "0001-01-01T00:00:00+14:00"},
            "occurred_at",
        ),
    ],
    ids=["far-future", "far-past", "occurred-at"],
)
async def test_a_time_at_the_edge_of_the_calendar_is_422_and_changes_nothing(
    api: Api, event: dict[str, Any], field: str
) -> None:
    team_id = await open_team(api.http)
    before = api.stored(team_id)
    answer = await api.http.post(f"/teams/{team_id}/events", json={**event, "event_id": "edge"})
    error = assert_error(answer, 422, "invalid_event")
    assert f"'{field}'" in error["message"]
    assert "2999-12-31" in error["message"]
    assert api.stored(team_id) == before
