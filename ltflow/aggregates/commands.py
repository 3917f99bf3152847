"""The phase-event vocabulary (contract section 2) as pydantic models.

Senders speak these types; the aggregate stores one domain event per accepted command, and the
workflow's validators check the very same models. Type names are stable strings.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from ltflow.aggregates.errors import InvalidEventError

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Ref = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\s/]+$"),
]
EventId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=r"^\S+$")
]
Trigger: TypeAlias = Literal["incident", "theme_trend", "daily_practice", "periodic"]


class Policy(BaseModel):
    """Per-team timing policy; ISO 8601 durations, defaults from the method (contract section 2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_reflection: timedelta = timedelta(days=1)
    max_reflection: timedelta = timedelta(days=14)
    reflection_reminder_before: timedelta = timedelta(days=2)
    review_every: timedelta = timedelta(days=28)
    follow_up_for: timedelta = timedelta(days=90)

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        for name in type(self).model_fields:
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be a positive duration")
        if self.max_reflection < self.min_reflection:
            raise ValueError("max_reflection must not be shorter than min_reflection")
        if self.reflection_reminder_before >= self.max_reflection:
            raise ValueError("reflection_reminder_before must be shorter than max_reflection")
        return self


class Command(BaseModel):
    """Fields every phase event carries.

    ``occurred_at`` is business time; None means 'when ltflow received it'.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    event_id: EventId
    occurred_at: AwareDatetime | None = None

    def fingerprint(self) -> str:
        """A digest of the content; the same ``event_id`` with another digest is a conflict."""
        body = self.model_dump(mode="json", exclude={"event_id"})
        raw = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()


CONVENE_EVENT_ID = "team.convened"


class TeamConvened(Command):
    type: Literal["team.convened"] = "team.convened"
    event_id: EventId = CONVENE_EVENT_ID
    case_ref: Name
    title: Name
    trigger: Trigger
    theme: Name | None = None
    goal: Text
    scope: Text
    facilitator: Name
    policy: Policy = Field(default_factory=Policy)

    @model_validator(mode="before")
    @classmethod
    def _default_event_id(cls, data: Any) -> Any:
        # Opening is idempotent by case_ref (the team id derives from it), so the event id of
        # the one team.convened a team ever has may be left out.
        if isinstance(data, dict) and not data.get("event_id"):
            data = {**data, "event_id": CONVENE_EVENT_ID}
        return data


class ParticipantInvited(Command):
    type: Literal["participant.invited"] = "participant.invited"
    participant_id: Ref
    display_name: Name | None = None
    role: Name


class ParticipantWithdrawn(Command):
    type: Literal["participant.withdrawn"] = "participant.withdrawn"
    participant_id: Ref
    reason: Text | None = None


class ScopeConfirmed(Command):
    type: Literal["scope.confirmed"] = "scope.confirmed"


class SessionScheduled(Command):
    type: Literal["session.scheduled"] = "session.scheduled"
    session: int = Field(ge=1, le=50)
    at: AwareDatetime


class PerspectiveShared(Command):
    type: Literal["perspective.shared"] = "perspective.shared"
    participant_id: Ref
    perspective: Text
    consent_to_share: bool


class SessionCompleted(Command):
    type: Literal["session.completed"] = "session.completed"
    session: int = Field(ge=1, le=50)
    attendees: list[Ref] = Field(max_length=50)

    @field_validator("attendees")
    @classmethod
    def _unique_attendees(cls, attendees: list[str]) -> list[str]:
        if len(set(attendees)) != len(attendees):
            raise ValueError("attendees must not repeat a participant")
        return attendees


class ReflectionNoted(Command):
    type: Literal["reflection.noted"] = "reflection.noted"
    participant_id: Ref
    note: Text


class SessionStarted(Command):
    type: Literal["session.started"] = "session.started"
    session: int = Field(ge=2, le=50)


class RedThreadRecorded(Command):
    type: Literal["red_thread.recorded"] = "red_thread.recorded"
    summary: Text


class LearningPointRecorded(Command):
    type: Literal["learning_point.recorded"] = "learning_point.recorded"
    learning_point_id: Ref
    kind: Literal["keep", "change"]
    text: Text


class AnalysisConcluded(Command):
    type: Literal["analysis.concluded"] = "analysis.concluded"


class SafetyNetDefined(Command):
    type: Literal["safety_net.defined"] = "safety_net.defined"
    safety_net_id: Ref
    kind: Literal["micro_action", "experiment"]
    description: Text
    owner: Name
    due: date | None = None
    addresses: list[Ref] = Field(default_factory=list, max_length=100)
    hypothesis: Text | None = None


class SafetyNetsConcluded(Command):
    type: Literal["safety_nets.concluded"] = "safety_nets.concluded"


class SuccessCriterionDefined(Command):
    type: Literal["success_criterion.defined"] = "success_criterion.defined"
    criterion_id: Ref
    safety_net_id: Ref
    description: Text
    target: Text


class FollowUpStarted(Command):
    type: Literal["follow_up.started"] = "follow_up.started"


class ReviewRecorded(Command):
    type: Literal["review.recorded"] = "review.recorded"
    criterion_id: Ref
    observed: Text
    met: bool
    note: Text | None = None


class SafetyNetCompleted(Command):
    type: Literal["safety_net.completed"] = "safety_net.completed"
    safety_net_id: Ref
    outcome: Text | None = None


class StoryCommunicated(Command):
    type: Literal["story.communicated"] = "story.communicated"
    audience: Text
    channel: Name
    summary: Text


class TeamClosed(Command):
    type: Literal["team.closed"] = "team.closed"


class TeamAbandoned(Command):
    type: Literal["team.abandoned"] = "team.abandoned"
    reason: Text


class ParticipantErased(Command):
    """A participant asked to be forgotten (GDPR): their personal fields become unreadable."""

    type: Literal["participant.erased"] = "participant.erased"
    participant_id: Ref
    reason: Name | None = None


# --- system events: recorded by ltflow itself (actor ``system``), never accepted from senders ---


class PhaseEntered(Command):
    type: Literal["phase.entered"] = "phase.entered"
    phase: int = Field(ge=1, le=7)
    name: str


class ReflectionOpened(Command):
    type: Literal["reflection.opened"] = "reflection.opened"
    earliest: AwareDatetime
    latest: AwareDatetime


class ReflectionReminderDue(Command):
    type: Literal["reflection.reminder_due"] = "reflection.reminder_due"
    latest: AwareDatetime


class ReflectionOverdue(Command):
    type: Literal["reflection.overdue"] = "reflection.overdue"
    latest: AwareDatetime
    facilitator: Name


class ReviewDue(Command):
    type: Literal["review.due"] = "review.due"
    review: int = Field(ge=1)
    criteria: list[Ref]


class FollowUpEnded(Command):
    type: Literal["follow_up.ended"] = "follow_up.ended"
    outcome: Literal["criteria_met", "period_ended"]


SenderEvent = Annotated[
    ParticipantInvited
    | ParticipantWithdrawn
    | ScopeConfirmed
    | SessionScheduled
    | PerspectiveShared
    | SessionCompleted
    | ReflectionNoted
    | SessionStarted
    | RedThreadRecorded
    | LearningPointRecorded
    | AnalysisConcluded
    | SafetyNetDefined
    | SafetyNetsConcluded
    | SuccessCriterionDefined
    | FollowUpStarted
    | ReviewRecorded
    | SafetyNetCompleted
    | StoryCommunicated
    | TeamClosed
    | TeamAbandoned
    | ParticipantErased,
    Field(discriminator="type"),
]
"""A phase event a sender may send to an existing team."""

SystemEvent = Annotated[
    PhaseEntered
    | ReflectionOpened
    | ReflectionReminderDue
    | ReflectionOverdue
    | ReviewDue
    | FollowUpEnded,
    Field(discriminator="type"),
]

SENDER_TYPES: dict[str, type[Command]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        ParticipantInvited,
        ParticipantWithdrawn,
        ScopeConfirmed,
        SessionScheduled,
        PerspectiveShared,
        SessionCompleted,
        ReflectionNoted,
        SessionStarted,
        RedThreadRecorded,
        LearningPointRecorded,
        AnalysisConcluded,
        SafetyNetDefined,
        SafetyNetsConcluded,
        SuccessCriterionDefined,
        FollowUpStarted,
        ReviewRecorded,
        SafetyNetCompleted,
        StoryCommunicated,
        TeamClosed,
        TeamAbandoned,
        ParticipantErased,
    )
}
SYSTEM_TYPES: dict[str, type[Command]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        PhaseEntered,
        ReflectionOpened,
        ReflectionReminderDue,
        ReflectionOverdue,
        ReviewDue,
        FollowUpEnded,
    )
}
ALL_TYPES: dict[str, type[Command]] = {
    "team.convened": TeamConvened,
    **SENDER_TYPES,
    **SYSTEM_TYPES,
}

_sender_adapter: TypeAdapter[Command] = TypeAdapter(SenderEvent)


_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def _invalid(exc: ValidationError, what: str, tag: object = None) -> InvalidEventError:
    problems: list[dict[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        if err["type"] in _TAG_ERRORS:
            loc = ["type"]
        elif tag is not None and loc[:1] == [tag]:
            loc = loc[1:]  # the union puts the event type first; it is no field of the event
        problems.append({"field": ".".join(str(p) for p in loc), "problem": err["msg"]})
    first = problems[0] if problems else {"field": "", "problem": "invalid"}
    where = f" at '{first['field']}'" if first["field"] else ""
    return InvalidEventError(
        f"The {what} is invalid{where}: {first['problem']}.", problems=problems
    )


def parse_sender_event(data: Any) -> Command:
    """Validate one phase event from a sender; :class:`InvalidEventError` lists every problem."""
    tag = data.get("type") if isinstance(data, dict) else None
    if isinstance(tag, str) and tag in SYSTEM_TYPES:
        raise InvalidEventError(
            f"'{tag}' is recorded by ltflow itself and cannot be sent.",
            type=tag,
        )
    try:
        cmd = _sender_adapter.validate_python(data)
    except ValidationError as exc:
        raise _invalid(exc, "phase event", tag) from None
    _check_sender_event_id(cmd.event_id)
    return cmd


def _check_sender_event_id(event_id: str) -> None:
    # '#' marks the consequences ltflow derives from an event ('<event_id>#phase-3').
    if "#" in event_id:
        raise InvalidEventError(
            "The event_id may not contain '#'; ltflow uses it for the events it derives.",
            event_id=event_id,
        )


def parse_convene(data: Any) -> TeamConvened:
    """Validate a ``team.convened`` body."""
    try:
        cmd = TeamConvened.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, "team.convened event") from None
    _check_sender_event_id(cmd.event_id)
    return cmd


def load_command(type_: str, payload: dict[str, Any]) -> Command:
    """Rebuild a stored command (trusted input, any type including system events)."""
    cls = ALL_TYPES[type_]
    return cls.model_validate({**payload, "type": type_})
