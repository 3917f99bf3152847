"""A new user's first hour over HTTP (issue 20): a team named by its case_ref in every path, a
replay that says it is one, ``min_version`` that cannot be met answering why, and
``GET /teams/{id}/next`` saying what the team accepts now in the rulebook's words."""

from __future__ import annotations

from pathlib import Path

import httpx

from ltflow.api import create_app
from ltflow.api.server import running
from ltflow.config import Settings
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore
from tests.api.conftest import AUDITOR, READER, TOKENS, Api, bearer
from tests.api.helpers import assert_error, new_case


def invite(i: int) -> dict[str, str]:
    return {
        "type": "participant.invited",
        "event_id": f"inv-{i}",
        "participant_id": f"p-{i}",
        "role": "nurse",
    }


async def opened(api: Api) -> tuple[str, str]:
    body = new_case("FIRST")
    response = await api.http.post("/teams", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["team_id"]), str(body["case_ref"])


async def test_every_team_path_takes_the_case_ref_as_well_as_the_id(api: Api) -> None:
    team_id, case_ref = await opened(api)
    sent = await api.http.post(f"/teams/{case_ref}/events", json=invite(1))
    assert sent.status_code == 200, sent.text
    assert sent.json()["team_id"] == team_id
    reader = bearer(READER)
    by_ref = await api.http.get(f"/teams/{case_ref}", params={"min_version": 3}, headers=reader)
    by_id = await api.http.get(f"/teams/{team_id}", params={"min_version": 3}, headers=reader)
    assert by_ref.status_code == 200, by_ref.text
    assert by_ref.json() == by_id.json()
    history = await api.http.get(f"/teams/{case_ref}/history", headers=bearer(AUDITOR))
    assert history.status_code == 200, history.text
    assert [f["version"] for f in history.json()] == [1, 2, 3]
    for path in ("", "/next", "/events", "/history"):
        method = "POST" if path == "/events" else "GET"
        token = AUDITOR if path == "/history" else READER if method == "GET" else None
        headers = bearer(token) if token else {}
        unknown = await api.http.request(
            method, f"/teams/NOPE-1{path}", headers=headers, json=invite(9)
        )
        body = assert_error(unknown, 404, "team_not_found")
        if path in ("", "/next"):
            assert "NOPE-1" in body["message"]  # named as the caller named it


async def test_a_replayed_event_is_marked_in_its_answer_and_a_header(api: Api) -> None:
    _, case_ref = await opened(api)
    first = await api.http.post(f"/teams/{case_ref}/events", json=invite(1))
    assert first.status_code == 200, first.text
    assert first.json()["replayed"] is False
    assert "Ltflow-Replayed" not in first.headers
    await api.http.post(f"/teams/{case_ref}/events", json=invite(2))
    again = await api.http.post(f"/teams/{case_ref}/events", json=invite(1))
    assert again.status_code == 200, again.text
    assert again.json()["replayed"] is True
    assert again.headers["Ltflow-Replayed"] == "true"
    assert again.json()["version"] == first.json()["version"]  # the first answer, not now's


async def test_a_version_the_team_never_reached_is_409_at_once(api: Api) -> None:
    team_id, _ = await opened(api)
    await api.settle()
    response = await api.http.get(
        f"/teams/{team_id}", params={"min_version": 999}, headers=bearer(READER)
    )
    body = assert_error(response, 409, "version_conflict")
    assert "version 2" in body["message"]
    assert body["details"] == {"version": 2, "min_version": 999}


async def test_a_view_that_does_not_catch_up_in_time_is_504(api: Api, tmp_path: Path) -> None:
    team_id, case_ref = await opened(api)
    await api.settle()
    # A second API whose views nothing keeps up: built once, then left behind.
    settings = Settings(data_dir=tmp_path)
    stale = ViewStore.from_settings(settings)
    ProjectionRunner(api.events, stale).catch_up()
    sent = await api.http.post(f"/teams/{case_ref}/events", json=invite(1))
    version = sent.json()["version"]
    app = create_app(
        settings,
        client=api.stack.ltflow,
        views=stale,
        tokens=TOKENS,
        view_ids=api.app.state.ltflow.view_ids,
    )
    try:
        async with (
            running(app) as live,
            httpx.AsyncClient(base_url=live.url, headers=bearer(READER), timeout=30) as http,
        ):
            response = await http.get(f"/teams/{team_id}", params={"min_version": version})
    finally:
        stale.close()
    body = assert_error(response, 504, "view_behind")
    assert body["details"] == {"version": 2, "min_version": version, "retry_after": 1}
    assert response.headers["Retry-After"] == "1"


async def test_next_lists_what_the_team_accepts_and_what_each_rule_needs(api: Api) -> None:
    _, case_ref = await opened(api)
    for i in (1, 2):
        assert (await api.http.post(f"/teams/{case_ref}/events", json=invite(i))).is_success
    response = await api.http.get(f"/teams/{case_ref}/next", headers=bearer(READER))
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["phase"] == 1
    steps = {s["type"]: s for s in found["steps"]}
    assert steps["scope.confirmed"]["ready"] is False
    assert steps["scope.confirmed"]["needs"] == (
        "A Learning Team needs 3 to 8 participants; there are 2."
    )
    assert steps["participant.invited"]["ready"] is True
    assert "analysis.concluded" not in steps  # not a phase-1 event
    await api.http.post(f"/teams/{case_ref}/events", json=invite(3))
    again = (await api.http.get(f"/teams/{case_ref}/next", headers=bearer(READER))).json()
    assert {s["type"]: s for s in again["steps"]}["scope.confirmed"]["ready"] is True


async def test_openapi_names_a_team_by_id_or_case_ref(api: Api) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    for path in ("/teams/{team_id}", "/teams/{team_id}/events", "/teams/{team_id}/next"):
        operation = next(iter(spec["paths"][path].values()))
        parameter = next(p for p in operation["parameters"] if p["name"] == "team_id")
        assert "case_ref" in parameter["schema"]["description"], parameter


async def test_openapi_describes_every_event_field_and_shows_an_example_of_each_type(
    api: Api,
) -> None:
    from ltflow.aggregates import vocabulary as c

    spec = (await api.http.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    types = {"team.convened": c.TeamConvened, **c.SENDER_TYPES}
    for name, cls in types.items():
        schema = schemas[cls.__name__]
        undescribed = [f for f, p in schema["properties"].items() if not p.get("description")]
        assert not undescribed, (name, undescribed)
        (example,) = schema["examples"]
        assert example["type"] == name
        if name == "team.convened":
            c.parse_convene(example)
        else:
            c.parse_sender_event(example)  # a valid event, as a sender would send it
    policy = schemas["Policy"]["properties"]
    assert all(p.get("description") for p in policy.values()), policy
