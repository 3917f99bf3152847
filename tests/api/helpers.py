"""What the API tests share: a fresh case, a team driven to a phase, the shape of an error."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from ltflow.demo import narrative

#: Every code an error answer may carry (contract section 3, and the API's own additions).
CONTRACT_CODES = frozenset(
    {
        "invalid_event",
        "wrong_phase",
        "rule_violated",
        "team_not_found",
        "idempotency_conflict",
        "version_conflict",
        "unauthenticated",
        "forbidden",
    }
)


def new_case(prefix: str = "HTTP", **changes: Any) -> dict[str, Any]:
    """A ``team.convened`` body under a reference no other test uses."""
    body = narrative.convene(case_ref=f"{prefix}-{uuid.uuid4().hex[:10]}")
    body.update(changes)
    return body


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The contract's error answer: this status and code, one sentence, details an object."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code, body
    message = body["message"]
    assert isinstance(message, str), body
    assert 10 < len(message) < 600, body
    assert message.endswith("."), body
    assert isinstance(body["details"], dict), body
    return body


def steps_until(event_id: str) -> list[dict[str, Any]]:
    """The narrative's events up to and including ``event_id`` (no waiting needed before
    session 1 completes)."""
    found: list[dict[str, Any]] = []
    for step in narrative.steps(narrative_start()):
        found.append(step.event)
        if step.event["event_id"] == event_id:
            return found
    raise KeyError(event_id)


def narrative_start() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def open_team(http: httpx.AsyncClient, **changes: Any) -> str:
    """Open a fresh team; its id."""
    response = await http.post("/teams", json=new_case(**changes))
    assert response.status_code == 201, response.text
    return str(response.json()["team_id"])


async def drive(http: httpx.AsyncClient, team_id: str, until: str) -> dict[str, Any]:
    """Send the narrative's events up to ``until``; the last summary."""
    summary: dict[str, Any] = {}
    for event in steps_until(until):
        response = await http.post(f"/teams/{team_id}/events", json=event)
        assert response.status_code == 200, response.text
        summary = response.json()
    return summary
