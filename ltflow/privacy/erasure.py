"""Erasing a participant: record the erasure, shred their key, rebuild the read models.

The erasure goes through the team's workflow like any phase event (it is the team's single
writer). A team whose workflow has finished has no writer left, so the erasure is then stored
through the application directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from ltflow.aggregates.errors import WrongPhaseError
from ltflow.aggregates.state import TeamSummary
from ltflow.aggregates.vocabulary import ParticipantErased
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams


def erasure_event(participant_id: str, reason: str | None) -> ParticipantErased:
    """One erasure per participant and team, so a retried request is a repeat, not a second."""
    return ParticipantErased(
        event_id=f"erase:{participant_id}", participant_id=participant_id, reason=reason
    )


async def erase_participant(
    settings: Settings, team_id: UUID, participant_id: str, *, actor: str, reason: str | None
) -> TeamSummary:
    from ltflow.projections.runner import ProjectionRunner
    from ltflow.projections.store import ViewStore
    from ltflow.workflows.client import LtflowClient
    from ltflow.workflows.runtime import temporal_client

    cmd = erasure_event(participant_id, reason)
    try:
        async with temporal_client(settings) as client:
            summary = await LtflowClient(client, settings.task_queue).send(
                team_id, cmd, actor=actor
            )
    except WrongPhaseError as error:
        if not error.details.get("finished"):
            raise
        summary = _erase_directly(settings, team_id, cmd, actor, datetime.now(UTC))
    app = LearningTeams.from_settings(settings)
    store = ViewStore.from_settings(settings)
    try:
        ProjectionRunner(app, store).rebuild(["team_detail"])
        store.purge()
    finally:
        store.close()
        app.close()
    return summary


def _erase_directly(
    settings: Settings, team_id: UUID, cmd: ParticipantErased, actor: str, now: datetime
) -> TeamSummary:
    app = LearningTeams.from_settings(settings)
    try:
        return app.record(team_id, cmd, actor=actor, received_at=now).summary
    finally:
        app.close()
