"""Series run on the Temporal dev server (the time-skipping server has no Schedules)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ltflow.aggregates.bounds import DEV_POLICY_FLOOR
from ltflow.series.client import SeriesClient, SeriesNotFoundError
from ltflow.series.model import SeriesDefinition, parse_series
from tests.workflows import conftest as workflow_fixtures
from tests.workflows.conftest import Stack

dev_env = workflow_fixtures.dev_env
stack_factory = workflow_fixtures.stack_factory
dev_stack = workflow_fixtures.dev_stack


def series_body(series_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid series body: a daily-practice team every two seconds (the dev floor is one)."""
    body: dict[str, Any] = {
        "series_id": series_id or f"ward-{uuid.uuid4().hex[:8]}",
        "template": {
            "title": "End-of-day learning, ward 5",
            "trigger": "daily_practice",
            "theme": "handover",
            "goal": "Learn from what went well and what did not today.",
            "scope": "The day shift of ward 5.",
            "facilitator": "F. Facilitator",
            "facilitator_id": "fac-1",
            "policy": {
                "min_reflection": "PT1S",
                "max_reflection": "PT30S",
                "reflection_reminder_before": "PT1S",
                "review_every": "PT5S",
                "follow_up_for": "PT20S",
            },
        },
        "participants": [
            {"participant_id": "p1", "role": "nurse", "subject": "sub-p1"},
            {"participant_id": "p2", "role": "doctor"},
            {"participant_id": "p3", "role": "nurse"},
        ],
        "sponsor": {"sponsor_id": "mgr-1", "name": "Ward manager"},
        "rhythm": {"kind": "every", "every": "PT2S"},
        "overlap": "allow",
    }
    body.update(changes)
    return body


def parse(body: dict[str, Any], now: datetime | None = None) -> SeriesDefinition:
    return parse_series(body, floor=DEV_POLICY_FLOOR, now=now or datetime.now(UTC))


class TidySeriesClient(SeriesClient):
    """The series client, remembering what it created so the test leaves no Schedule behind."""

    created: list[str]

    async def create(self, series: SeriesDefinition) -> Any:
        self.created.append(series.series_id)
        return await super().create(series)


@pytest.fixture
async def series(dev_stack: Stack) -> AsyncIterator[SeriesClient]:
    client = TidySeriesClient(dev_stack.client, dev_stack.settings.task_queue)
    client.created = []
    yield client
    for series_id in client.created:
        with contextlib.suppress(SeriesNotFoundError):
            await client.delete(series_id)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy, within a generous bound."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.2)


def at_seconds(offset: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=offset)
