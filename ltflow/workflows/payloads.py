"""Everything that crosses the Temporal boundary, as pydantic models (``<Verb><Noun>Input``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ltflow.access.policy import Viewer
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.state import Processed, TeamState, TeamSummary

AnyEvent = c.AnyEvent
"""A phase event the workflow records: a sender's, or one of its own timers'."""


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True)


class LearningTeamInput(_Payload):
    """Starts (or continues) a team's workflow. ``state`` is carried across continue-as-new,
    and with it every seen ``event_id``, so de-duplication survives a new run."""

    team_id: UUID
    state: TeamState | None = None
    #: Index phase, status, theme and trigger as search attributes (they must be registered).
    search_attributes: bool = True
    #: Continue-as-new after this many recorded events, even if Temporal has not suggested it.
    max_events_per_run: int = Field(default=2000, ge=1)


class ConveneTeamInput(_Payload):
    """Open a team: the ``team.convened`` body and who sends it."""

    convene: c.TeamConvened
    actor: str


class OpenTeamResult(_Payload):
    """The answer to opening a team: its summary, and whether this call created it."""

    summary: TeamSummary
    created: bool


class SubmitEventInput(_Payload):
    """One phase event for a team, from an authenticated sender."""

    event: AnyEvent
    actor: str
    #: Who sends it, for the access policy (the workflow's validator asks it with the team's
    #: state). None: a Temporal-native sender trusted with the payload key, as before.
    viewer: Viewer | None = None


class RecordEventInput(_Payload):
    """What the activity stores: the event, who sent it, the workflow's time, the version seen."""

    team_id: UUID
    event: AnyEvent
    actor: str
    received_at: datetime
    expected_version: int | None = None


class RecordConveneInput(_Payload):
    convene: c.TeamConvened
    actor: str
    received_at: datetime


class RecordEventResult(_Payload):
    """The answer of the first store activity (kept for runs begun before ``adopt-state``)."""

    summary: TeamSummary
    duplicate: bool


class StoreEventResult(_Payload):
    """What the store activity stored, as the state the workflow adopts: the team's state
    without its seen event ids (they would grow every answer with the case), and the one seen
    entry this event added or moved."""

    state: TeamState
    processed: dict[str, Processed]
    duplicate: bool


class RecordConveneResult(_Payload):
    state: TeamState
    duplicate: bool


class TeamSummaryInput(_Payload):
    team_id: UUID
    version: int | None = None


class Notification(_Payload):
    """A timer outcome worth telling a person about (reminder, overdue, review due)."""

    team_id: UUID
    type: str
    occurred_at: datetime
    recipient: str
    details: dict[str, Any] = Field(default_factory=dict)


class UndeliveredNotification(_Payload):
    """A notification every attempt failed to deliver, and the last attempt's error."""

    notification: Notification
    error: str
