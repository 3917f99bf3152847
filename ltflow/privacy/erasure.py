"""Erasing a participant: record the erasure, shred their key, clean the read models.

The erasure goes through the team's workflow like any phase event (it is the team's single
writer). A team whose workflow has finished has no writer left, so the erasure is then stored
through the application directly.

It is a process of idempotent steps, so a crash or an error at any step leaves a state that
running the same erasure again completes:

1. record ``participant.erased`` (event id ``erase:<participant>``: a second run is a repeat
   and stores nothing);
2. delete the participant's key for good (the store activity did it already; deleting again is
   harmless, and it covers a first run that stopped in between);
3. clean the read models: fold the erasure into the views, derive the learning library again
   without the key (a quarantined team's library entry too), then purge the files
   (:meth:`~ltflow.projections.store.ViewStore.purge`) and the key store's dead rows.

The team detail view keeps personal fields encrypted, so it reads ``[erased]`` from step 2 on,
without any rebuild.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import structlog

from ltflow.aggregates.errors import WrongPhaseError
from ltflow.aggregates.state import TeamSummary
from ltflow.aggregates.vocabulary import ParticipantErased
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy.keys import key_store_for

log = structlog.get_logger("ltflow.erasure")


def erasure_event(participant_id: str, reason: str | None) -> ParticipantErased:
    """One erasure per participant and team, so a retried request is a repeat, not a second."""
    return ParticipantErased(
        event_id=f"erase:{participant_id}", participant_id=participant_id, reason=reason
    )


async def erase_participant(
    settings: Settings, team_id: UUID, participant_id: str, *, actor: str, reason: str | None
) -> TeamSummary:
    """Run the erasure's steps (module docstring); running it again completes a stopped one."""
    summary = await record_erasure(settings, team_id, erasure_event(participant_id, reason), actor)
    shred_key(settings, team_id, participant_id)
    clean_views(settings)
    log.info("participant erased", team_id=str(team_id), version=summary.version)
    return summary


async def record_erasure(
    settings: Settings, team_id: UUID, cmd: ParticipantErased, actor: str
) -> TeamSummary:
    """Step 1: the erasure in the record (a repeat answers as the first time)."""
    from ltflow.workflows.client import LtflowClient
    from ltflow.workflows.naming import workflow_ids_for
    from ltflow.workflows.runtime import temporal_client

    try:
        async with temporal_client(settings) as client:
            ltflow = LtflowClient(
                client, settings.task_queue, workflow_ids=workflow_ids_for(settings)
            )
            return await ltflow.send(team_id, cmd, actor=actor)
    except WrongPhaseError as error:
        if not error.details.get("finished"):
            raise
    return _erase_directly(settings, team_id, cmd, actor, datetime.now(UTC))


def shred_key(settings: Settings, team_id: UUID, participant_id: str) -> None:
    """Step 2: the key is gone, and no new one is ever made for them."""
    keys = key_store_for(settings)
    try:
        keys.delete(team_id, participant_id)
    finally:
        keys.close()


def clean_views(settings: Settings) -> None:
    """Step 3: the views hold nothing of the erased participant in any file."""
    from ltflow.projections.runner import ProjectionRunner
    from ltflow.projections.store import ViewStore

    app = LearningTeams.from_settings(settings)
    store = ViewStore.from_settings(settings)
    try:
        runner = ProjectionRunner(app, store)
        runner.catch_up()  # the erasure folded: the team's views scrub the participant
        runner.rebuild(["learning_library"])  # plaintext derived again, without the key
        store.purge()
        if app.keys is not None:
            app.keys.purge()
    finally:
        store.close()
        app.close()


def _erase_directly(
    settings: Settings, team_id: UUID, cmd: ParticipantErased, actor: str, now: datetime
) -> TeamSummary:
    app = LearningTeams.from_settings(settings)
    try:
        return app.record(team_id, cmd, actor=actor, received_at=now).summary
    finally:
        app.close()
