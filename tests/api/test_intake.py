"""The intake over HTTP: opening teams, sending phase events, and every way of being told no."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.api.conftest import INTAKE_ONLY, READER, WRITER, Api, bearer
from tests.api.helpers import assert_error, drive, new_case, open_team

INVITE = {
    "type": "participant.invited",
    "event_id": "inv-x",
    "participant_id": "p-x",
    "role": "nurse",
}


async def test_opening_a_team_answers_201_then_200_and_a_conflict_for_other_content(
    api: Api,
) -> None:
    body = new_case()
    created = await api.http.post("/teams", json=body)
    assert created.status_code == 201
    team = created.json()
    assert team["case_ref"] == body["case_ref"]
    assert team["phase"] == 1
    assert created.headers["location"] == f"/teams/{team['team_id']}"
    stored = api.stored(team["team_id"])
    assert stored[0].actor == "incident-system"  # the token's actor, not anything in the body

    again = await api.http.post("/teams", json=body)
    assert again.status_code == 200
    assert again.json()["team_id"] == team["team_id"]

    other = await api.http.post("/teams", json={**body, "title": "Another title"})
    error = assert_error(other, 409, "idempotency_conflict")
    assert error["details"]["team_id"] == team["team_id"]
    assert api.stored(team["team_id"]) == stored


async def test_a_phase_event_answers_with_the_summary_and_a_repeat_with_the_first_answer(
    api: Api,
) -> None:
    team_id = await open_team(api.http)
    first = await api.http.post(f"/teams/{team_id}/events", json=INVITE)
    assert first.status_code == 200
    summary = first.json()
    assert summary["active_participants"] == 1
    assert summary["version"] == 3
    await api.http.post(
        f"/teams/{team_id}/events", json={**INVITE, "event_id": "inv-y", "participant_id": "p-y"}
    )

    repeat = await api.http.post(f"/teams/{team_id}/events", json=INVITE)
    assert repeat.status_code == 200
    assert repeat.json() == {**summary, "replayed": True}  # as after the first delivery
    assert summary["replayed"] is False
    assert [f.event_id for f in api.stored(team_id)].count("inv-x") == 1


async def test_an_invalid_event_is_422_naming_the_field_and_reaches_nothing(api: Api) -> None:
    team_id = await open_team(api.http)
    before = api.stored(team_id)
    url = f"/teams/{team_id}/events"
    missing = await api.http.post(url, json={k: v for k, v in INVITE.items() if k != "role"})
    assert "'role'" in assert_error(missing, 422, "invalid_event")["message"]
    wrong = await api.http.post(url, json={**INVITE, "role": ["nurse"]})
    assert "'role'" in assert_error(wrong, 422, "invalid_event")["message"]
    extra = await api.http.post(url, json={**INVITE, "colour": "blue"})
    assert "'colour'" in assert_error(extra, 422, "invalid_event")["message"]
    unknown = await api.http.post(url, json={**INVITE, "type": "participant.promoted"})
    assert "participant.promoted" in assert_error(unknown, 422, "invalid_event")["message"]
    system = await api.http.post(url, json={"type": "phase.entered", "event_id": "e", "phase": 2})
    assert "ltflow itself" in assert_error(system, 422, "invalid_event")["message"]
    hashed = await api.http.post(url, json={**INVITE, "event_id": "inv#1"})
    assert "'#'" in assert_error(hashed, 422, "invalid_event")["message"]
    for raw in (b"{not json", b"", b"[1, 2]", b'"text"', b"null"):
        response = await api.http.post(
            url, content=raw, headers={"content-type": "application/json"}
        )
        assert_error(response, 422, "invalid_event")
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    late = await api.http.post(url, json={**INVITE, "occurred_at": future})
    assert "future" in assert_error(late, 422, "invalid_event")["message"]
    huge = await api.http.post(url, json={**INVITE, "role": "x" * (2 << 20)})
    assert_error(huge, 413, "invalid_event")
    not_utf8 = await api.http.post(
        url, content=b"\xff\xfe{}", headers={"content-type": "application/json"}
    )
    assert_error(not_utf8, 422, "invalid_event")
    misdirected = await api.http.post(url, json=new_case())
    assert "POST /teams" in assert_error(misdirected, 422, "invalid_event")["message"]
    bad_open = await api.http.post("/teams", json=new_case(trigger="gossip"))
    message = assert_error(bad_open, 422, "invalid_event")["message"]
    assert message.startswith("The team.convened event is invalid at 'trigger': ")
    assert api.stored(team_id) == before


async def test_wrong_phase_and_broken_rules_are_409_and_change_nothing(api: Api) -> None:
    team_id = await open_team(api.http)
    before = api.stored(team_id)
    url = f"/teams/{team_id}/events"
    wrong = await api.http.post(url, json={"type": "analysis.concluded", "event_id": "a-1"})
    error = assert_error(wrong, 409, "wrong_phase")
    assert error["details"]["allowed_phases"] == [4]
    too_few = await api.http.post(url, json={"type": "scope.confirmed", "event_id": "s-1"})
    assert_error(too_few, 409, "rule_violated")
    assert api.stored(team_id) == before


async def test_session_two_too_early_names_the_earliest_time(api: Api) -> None:
    team_id = await open_team(api.http)
    summary = await drive(api.http, team_id, "done-1")
    assert summary["phase"] == 3
    early = await api.http.post(
        f"/teams/{team_id}/events", json={"type": "session.started", "event_id": "s2", "session": 2}
    )
    error = assert_error(early, 409, "rule_violated")
    assert summary["reflection_earliest"].replace("Z", "") in error["message"].replace("+00:00", "")


async def test_a_reused_event_id_with_other_content_is_an_idempotency_conflict(api: Api) -> None:
    team_id = await open_team(api.http)
    url = f"/teams/{team_id}/events"
    assert (await api.http.post(url, json=INVITE)).status_code == 200
    before = api.stored(team_id)
    changed = await api.http.post(url, json={**INVITE, "role": "physician"})
    assert_error(changed, 409, "idempotency_conflict")
    assert api.stored(team_id) == before


async def test_an_unknown_team_is_404(api: Api) -> None:
    stored = api.last_notification()
    unknown = await api.http.post(f"/teams/{uuid.uuid4()}/events", json=INVITE)
    assert_error(unknown, 404, "team_not_found")
    not_a_uuid = await api.http.post("/teams/VIM-123/events", json=INVITE)
    assert_error(not_a_uuid, 404, "team_not_found")
    assert_error(await api.http.get(f"/teams/{uuid.uuid4()}"), 404, "team_not_found")
    assert api.last_notification() == stored


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("not-a-configured-token"),
        {"Authorization": f"Basic {WRITER}"},
        {"Authorization": "Bearer"},
    ],
    ids=["no-token", "bad-token", "not-bearer", "empty-bearer"],
)
async def test_no_or_a_bad_token_is_401_before_anything_is_read(
    api: Api, headers: dict[str, str]
) -> None:
    team_id = await open_team(api.http)
    async with httpx.AsyncClient(base_url=api.url, headers=headers) as anonymous:
        for response in (
            await anonymous.post(f"/teams/{team_id}/events", json=INVITE),
            await anonymous.post(f"/teams/{team_id}/events", content=b"{not json"),
            await anonymous.post("/teams", json=new_case()),
            await anonymous.get("/teams"),
            await anonymous.get(f"/teams/{team_id}/history"),
        ):
            assert_error(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"] == "Bearer"
    assert len(api.stored(team_id)) == 2


async def test_a_token_without_the_scope_is_403(api: Api) -> None:
    team_id = await open_team(api.http)
    async with (
        httpx.AsyncClient(base_url=api.url, headers=bearer(READER)) as reader,
        httpx.AsyncClient(base_url=api.url, headers=bearer(INTAKE_ONLY)) as intake,
    ):
        error = assert_error(
            await reader.post(f"/teams/{team_id}/events", json=INVITE), 403, "forbidden"
        )
        assert error["details"] == {"required_scope": "events:write"}
        assert_error(await reader.post("/teams", json=new_case()), 403, "forbidden")
        assert_error(await intake.get("/teams"), 403, "forbidden")
        assert (await reader.get("/teams")).status_code == 200
    assert_error(await api.http.get(f"/teams/{team_id}/history"), 403, "forbidden")
    assert len(api.stored(team_id)) == 2


async def test_unknown_endpoints_and_methods_answer_in_the_same_shape(api: Api) -> None:
    assert_error(await api.http.get("/nowhere"), 404, "not_found")
    assert_error(await api.http.delete("/teams"), 405, "method_not_allowed")


async def test_the_request_id_is_returned_and_a_caller_may_choose_it(api: Api) -> None:
    mine = await api.http.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert mine.headers["x-request-id"] == "trace-42"
    odd = await api.http.get("/healthz", headers={"X-Request-ID": "no spaces please"})
    assert odd.headers["x-request-id"] != "no spaces please"
    assert len(odd.headers["x-request-id"]) == 32
