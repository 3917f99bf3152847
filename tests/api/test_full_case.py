"""A whole Learning Team over HTTP, with the method's real policy: the time-skipping server lets
the three days of processing time and the four-weekly reviews pass in moments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates import vocabulary as c
from ltflow.demo import narrative
from tests.api.conftest import AUDITOR, READER, Api, bearer


async def _run_case(api: Api, env: WorkflowEnvironment) -> tuple[str, list[dict[str, Any]]]:
    """Open the narrative case and send every step, letting time pass where the story waits."""
    case_ref = f"HTTP-{uuid.uuid4().hex[:10]}"
    opened = await api.http.post("/teams", json=narrative.convene(case_ref=case_ref))
    assert opened.status_code == 201, opened.text
    assert {k: opened.json()[k] for k in ("case_ref", "phase")} == {
        "case_ref": case_ref,
        "phase": 1,
    }
    team_id: str = opened.json()["team_id"]
    answers = [opened.json()]
    for step in narrative.steps(await env.get_current_time()):
        if step.after >= timedelta(hours=1):
            await env.sleep(step.after)
        response = await api.http.post(f"/teams/{team_id}/events", json=step.event)
        assert response.status_code == 200, f"{step.caption}: {response.text}"
        answers.append(response.json())
    return team_id, answers


async def test_a_case_runs_through_all_seven_phases_over_http(
    ts_api: Api, time_env: WorkflowEnvironment
) -> None:
    team_id, answers = await _run_case(ts_api, time_env)

    phases = [a["phase"] for a in answers]
    assert sorted(set(phases)) == list(range(1, 8))
    assert phases == sorted(phases)
    last = answers[-1]
    assert (last["phase"], last["status"]) == (7, "closed")

    history = ts_api.stored(team_id)
    assert last["version"] == len(history)
    assert [f.payload["phase"] for f in history if f.type == "phase.entered"] == list(range(1, 8))
    sent = [f for f in history if f.type in c.SENDER_TYPES or f.type == "team.convened"]
    assert {f.actor for f in sent} == {"incident-system"}
    timers = [f for f in history if f.type == "review.due"]
    assert [f.payload["review"] for f in timers] == [1, 2]
    assert {f.actor for f in timers} == {"system"}

    repeat = await ts_api.http.post(
        f"/teams/{team_id}/events", json={"type": "team.closed", "event_id": "closed"}
    )
    assert repeat.json() == last
    assert len(ts_api.stored(team_id)) == len(history)

    await ts_api.settle()
    async with httpx.AsyncClient(base_url=ts_api.url, headers=bearer(READER)) as reader:
        await _check_read_models(reader, team_id, last["version"])
    async with httpx.AsyncClient(base_url=ts_api.url, headers=bearer(AUDITOR)) as auditor:
        await _check_audit(auditor, team_id, len(history))


async def _check_read_models(http: httpx.AsyncClient, team_id: str, version: int) -> None:
    detail = (await http.get(f"/teams/{team_id}", params={"min_version": version})).json()
    assert (detail["version"], detail["status"], detail["phase"]) == (version, "closed", 7)
    assert len(detail["stories"]) == 2
    assert [c["latest_review"]["met"] for c in detail["criteria"]] == [True, True]

    closed = (await http.get("/teams", params={"phase": 7, "theme": "medication"})).json()
    assert [t["team_id"] for t in closed] == [team_id]
    assert closed[0]["status"] == "closed"
    assert (await http.get("/teams", params={"phase": 1})).json() == []

    done = (await http.get("/actions", params={"status": "done"})).json()
    assert [a["safety_net_id"] for a in done] == ["sn-phone"]
    every = (await http.get("/actions")).json()
    # The writer is a service outside the team: owners by role, the team by its view id only.
    assert {a["safety_net_id"]: a["owner"] for a in every} == {
        "sn-handover": "the owner",
        "sn-phone": "the owner",
    }
    [view_id] = {a["view_id"] for a in every}
    assert {(a["team_id"], a["case_ref"], a["title"]) for a in every} == {(None, None, None)}
    assert (await http.get("/deadlines", params={"view_id": view_id})).json() == []

    library = (await http.get("/library", params={"theme": "medication"})).json()
    assert [entry["view_id"] for entry in library] == [view_id]
    assert team_id not in str(library)
    consented = [
        step.event["perspective"]
        for step in narrative.steps(datetime.now(UTC))
        if step.event["type"] == "perspective.shared" and step.event["consent_to_share"]
    ]
    assert library[0]["perspectives"] == consented  # Bram did not consent to share his
    assert "p-anna" not in str(library)  # no participant ids in the library
    assert (await http.get("/library", params={"theme": "falls"})).json() == []

    trends = (await http.get("/trends", params={"theme": "medication"})).json()
    totals = [sum(r[k] for r in trends) for k in ("teams", "learning_points", "safety_nets")]
    assert totals == [1, 3, 2]


async def _check_audit(http: httpx.AsyncClient, team_id: str, events: int) -> None:
    history = await http.get(f"/teams/{team_id}/history")
    assert history.status_code == 200, history.text
    assert [f["version"] for f in history.json()] == list(range(1, events + 1))

    then = await http.get(f"/teams/{team_id}/state", params={"version": 2})
    assert then.status_code == 200, then.text
    assert (then.json()["version"], then.json()["detail"]["phase"]) == (2, 1)
    missing = await http.get(f"/teams/{team_id}/state", params={"version": events + 1})
    assert missing.status_code == 422
    assert missing.json()["code"] == "invalid_query"

    verified = await http.get(f"/teams/{team_id}/verify")
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True, verified.json()["findings"]
