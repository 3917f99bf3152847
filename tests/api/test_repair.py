"""A team whose workflow stopped is told apart from a missing team, and repaired from the store."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import pytest

from ltflow.aggregates.errors import RepairRefusedError, TeamNotFoundError, TeamUnavailableError
from ltflow.demo import narrative
from ltflow.workflows.learning_team import workflow_id_for
from tests.api.conftest import Api


def invite(event_id: str) -> dict[str, Any]:
    return {
        "type": "participant.invited",
        "event_id": event_id,
        "participant_id": f"p-{event_id}",
        "role": "nurse",
    }


async def test_a_terminated_team_is_unavailable_until_repaired_then_carries_on(api: Api) -> None:
    body = narrative.convene(case_ref=f"REP-{uuid.uuid4().hex[:10]}")
    team_id = (await api.http.post("/teams", json=body)).json()["team_id"]
    url = f"/teams/{team_id}/events"
    assert (await api.http.post(url, json=invite("i-1"))).json()["version"] == 3
    handle = api.stack.client.get_workflow_handle(workflow_id_for(team_id))
    await handle.terminate(reason="test: an operator's mistake")

    with pytest.raises(TeamUnavailableError) as caught:
        await api.stack.ltflow.send(UUID(team_id), invite("i-2"), actor="fac-ingrid")
    assert caught.value.details["workflow_status"] == "TERMINATED"
    assert f"ltflow team repair {team_id}" in caught.value.message
    answer = await api.http.post(url, json=invite("i-2"))
    assert answer.status_code == 503
    assert answer.json()["code"] == "team_unavailable"
    assert answer.json()["details"]["workflow_status"] == "TERMINATED"
    assert len(api.stored(team_id)) == 3  # nothing recorded while it was down

    repaired = await api.stack.ltflow.repair(UUID(team_id))
    assert repaired.previous_status == "TERMINATED"
    assert repaired.run_id != handle.run_id
    after = await api.http.post(url, json=invite("i-2"))
    assert after.status_code == 200, after.json()
    assert after.json()["version"] == 4  # continuing from the store
    repeat = await api.http.post(url, json=invite("i-1"))  # sent before the termination
    assert repeat.json()["version"] == 3  # the first answer: the seen ids came from the store
    assert [f.version for f in api.stored(team_id)] == [1, 2, 3, 4]

    with pytest.raises(RepairRefusedError, match="running"):
        await api.stack.ltflow.repair(UUID(team_id))


async def test_an_unknown_team_is_still_not_found(api: Api) -> None:
    team_id = uuid.uuid4()
    answer = await api.http.post(f"/teams/{team_id}/events", json=invite("i-1"))
    assert answer.status_code == 404
    assert answer.json()["code"] == "team_not_found"
    with pytest.raises(TeamNotFoundError):
        await api.stack.ltflow.send(team_id, invite("i-1"), actor="fac-ingrid")
    with pytest.raises(TeamNotFoundError):
        await api.stack.ltflow.repair(team_id)
