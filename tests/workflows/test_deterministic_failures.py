"""A store activity that fails in a way no retry changes answers the caller at once.

Retried, such a failure (a fault in ltflow, a value its code cannot handle) held the sender's
update and the team's workflow for ever; now the caller gets ``internal_error`` (nothing is
stored) and the team takes its next event as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ltflow.aggregates.errors import StoreFailedError
from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.eventstore.application import LearningTeams, RecordResult


class _FaultyTeams(LearningTeams):
    """The application, with a fault in its code for one event id."""

    def record(self, team_id: Any, cmd: Any, **kwargs: Any) -> RecordResult:
        if cmd.event_id == "boom":
            raise OverflowError(f"cannot handle {cmd.display_name}")  # quotes its input
        return super().record(team_id, cmd, **kwargs)


SECRET = "Anna, who told the raw story"


def _invite(event_id: str, pid: str) -> dict[str, Any]:
    return {
        "type": "participant.invited",
        "event_id": event_id,
        "participant_id": pid,
        "display_name": SECRET,
        "role": "n",
    }


async def test_a_deterministic_store_failure_answers_at_once_and_the_team_goes_on(
    time_env: WorkflowEnvironment,
    stack_factory: Callable[..., Any],
    tmp_path: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def app() -> LearningTeams:
        # The stack's data dir: the sender's client encrypts with the same participant keys.
        return _FaultyTeams.from_settings(Settings(data_dir=tmp_path))

    async with stack_factory(time_env, search_attributes=False, app_factory=app) as stack:
        team_id = (await stack.ltflow.open_team(narrative.convene(), actor="f")).team_id
        capfd.readouterr()
        with pytest.raises(StoreFailedError) as raised:
            await asyncio.wait_for(
                stack.ltflow.send(team_id, _invite("boom", "p-1"), actor="f"), 30
            )
        # The failure is logged by kind and place, never with the participant's text.
        logged = "".join(capfd.readouterr())
        assert "OverflowError" in logged
        assert SECRET not in logged
        # The client sent the name encrypted, so the fault quoted that: not logged either.
        assert "ltflow-pii:v1:" not in logged
        assert SECRET not in raised.value.message
        assert raised.value.code == "internal_error"
        assert raised.value.details["error_class"] == "OverflowError"
        after = await asyncio.wait_for(
            stack.ltflow.send(team_id, _invite("ok", "p-1"), actor="f"), 30
        )
        assert after.version == 3  # opened (2 events), then this one: nothing of "boom" stored
