"""Everything that crosses the Temporal boundary, as pydantic models (``<Verb><Noun>Input``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
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


class Recipient(_Payload):
    """Who a notification is for, by role and by id: a subject (a sign-in identity) and, for a
    participant, their participant id. Never a name or any other personal text."""

    role: Literal["facilitator", "participant", "owner", "sponsor"]
    subject: str | None = None
    participant_id: str | None = None


class Notification(_Payload):
    """Something worth telling a person about: a reminder, an escalation, a phase entered, a
    session scheduled, the team ended. Ids, types, times and numbers only."""

    team_id: UUID
    type: str
    occurred_at: datetime
    #: The facilitator's subject, or ``facilitator`` when they have none (kept for the single-URL
    #: webhook and the undelivered log; :attr:`recipients` names everyone).
    recipient: str
    details: dict[str, Any] = Field(default_factory=dict)
    #: The event this notification is about (its id is the webhook's stable message id).
    event_id: str = ""
    recipients: list[Recipient] = Field(default_factory=list)
    #: For subscriptions by series only (``series-<id>-`` prefix); never sent.
    case_ref: str | None = None
    #: The team's version after the event (an invitation's iCalendar SEQUENCE).
    version: int | None = None


class UndeliveredNotification(_Payload):
    """A notification every attempt failed to deliver, and the last attempt's error."""

    notification: Notification
    error: str
