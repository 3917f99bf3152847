"""The phase-event vocabulary (contract section 2): every event type, declared once.

Each class below is the one declaration of an event type: its fields (pydantic), the phases it
may arrive in, who may send it (its :class:`Origin`), and which of its fields are personal. Its
rule check is registered beside the rulebook (:func:`ltflow.aggregates.rules.rule`), its fold
beside the state (:func:`ltflow.aggregates.state.folds`). Everything else that lists event
types is derived from :data:`ALL_TYPES` here: the sender and system sets, the unions senders and
the workflow speak, the allowed phases, the personal fields, the aggregate's stored event
classes. ``tests/unit/test_vocabulary.py`` checks every derivation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeAlias, Union

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ltflow.aggregates import bounds
from ltflow.aggregates.errors import InvalidEventError
from ltflow.aggregates.phases import ALL_PHASES, Phase

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Ref = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\s/]+$"),
]
#: Marks a personal field's value as encrypted with its participant's key (``ltflow.privacy``).
ENCRYPTED_PREFIX = "ltflow-pii:v1:"
_ENCRYPTED = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def _personal(max_plain: int) -> Callable[[str], str]:
    """The check of a personal field: plain text of at most ``max_plain`` characters, or its
    encrypted form (the prefix and base64 of nonce, ciphertext and tag), which senders never
    write: the client encrypts before the event leaves it, and the store checks the result."""
    # UTF-8 takes at most 4 bytes a character; AES-GCM adds a 12-byte nonce and a 16-byte tag.
    max_encrypted = len(ENCRYPTED_PREFIX) + 4 * -(-(4 * max_plain + 28) // 3)

    def check(value: str) -> str:
        if not value.startswith(ENCRYPTED_PREFIX):
            if len(value) > max_plain:
                raise PydanticCustomError(
                    "string_too_long",
                    "String should have at most {max_length} characters",
                    {"max_length": max_plain},
                )
            return value
        if len(value) > max_encrypted or not _ENCRYPTED.match(value[len(ENCRYPTED_PREFIX) :]):
            raise PydanticCustomError(
                "encrypted_invalid",
                "A value starting with '{prefix}' must be one ltflow encrypted",
                {"prefix": ENCRYPTED_PREFIX},
            )
        return value

    return check


#: Personal text and names: as senders give them, or encrypted by the client (senders see the
#: plain limit in the schema; the encrypted form's bound is checked by ``_personal``).
PersonalText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(_personal(20_000)),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 20_000}),
]
PersonalName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(_personal(200)),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200}),
]
#: A business time a sender gives: aware, in the years 1900-2999 (:mod:`ltflow.aggregates.bounds`).
Moment = Annotated[AwareDatetime, AfterValidator(bounds.within_era)]
#: A due date a sender gives, in the years 1900-2999.
Day = Annotated[date, AfterValidator(bounds.day_within_era)]
EventId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=r"^\S+$")
]


_HASH_IN_ID = "event_id_hash"


def _no_hash(event_id: str) -> str:
    # '#' marks the consequences ltflow derives from an event ('<event_id>#phase-3').
    if "#" in event_id:
        raise PydanticCustomError(
            _HASH_IN_ID,
            "The event_id may not contain '#'; ltflow uses it for the events it derives",
            {"event_id": event_id},
        )
    return event_id


#: The event id a sender chooses.
SenderEventId = Annotated[EventId, AfterValidator(_no_hash)]
Trigger: TypeAlias = Literal["incident", "theme_trend", "daily_practice", "periodic"]
#: How a participant stands to the case: staff (the default), or a patient or their family.
Relation: TypeAlias = Literal["staff", "patient", "family"]


class Origin(StrEnum):
    """Who records an event type."""

    #: ``team.convened``: a sender opens a team through its own door.
    OPENING = "opening"
    #: Sent by a sender (a service, a facilitator) to an open team.
    SENDER = "sender"
    #: Recorded by the workflow's durable timers (actor ``system``).
    TIMER = "timer"
    #: Recorded by the rulebook as a consequence of another event (a phase entered).
    DERIVED = "derived"


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


#: Every event type by its name, in declaration order (filled as the classes are declared).
ALL_TYPES: dict[str, type[Command]] = {}


class Command(BaseModel):
    """Fields every phase event carries, and the declaration every event type makes.

    ``occurred_at`` is business time; None means 'when ltflow received it'.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The type's stable name (the ``type`` field's one value).
    TYPE: ClassVar[str] = ""
    #: Who records it.
    origin: ClassVar[Origin]
    #: The phases it may arrive in (senders' and timers' events; others are never judged).
    phases: ClassVar[frozenset[Phase]] = frozenset()
    #: Personal payload fields; their subject is the event's ``participant_id``.
    personal: ClassVar[tuple[str, ...]] = ()
    #: A person's right, allowed even after the team has ended (erasure, consent).
    after_end: ClassVar[bool] = False
    #: Optional fields added after an event type was first stored: left out of the content
    #: digest while unset, so an event sent before they existed keeps its digest (a repeat of
    #: an old body is still a repeat, not a conflict).
    late: ClassVar[tuple[str, ...]] = ()

    type: str
    event_id: EventId
    occurred_at: Moment | None = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.model_fields["type"].default
        if isinstance(name, str) and name:
            if name in ALL_TYPES:
                raise TypeError(f"Event type {name!r} is declared twice.")
            cls.TYPE = name
            ALL_TYPES[name] = cls

    def fingerprint(self) -> str:
        """A digest of the content; the same ``event_id`` with another digest is a conflict."""
        unset_late = {name for name in self.late if getattr(self, name) is None}
        body = self.model_dump(mode="json", exclude={"event_id", *unset_late})
        raw = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()


class Sent(Command):
    """An event a sender sends to an open team."""

    origin = Origin.SENDER
    event_id: SenderEventId


class Timed(Command):
    """An event the workflow's durable timers record."""

    origin = Origin.TIMER


class Derived(Command):
    """An event the rulebook records as a consequence of another."""

    origin = Origin.DERIVED
    phases = ALL_PHASES


#: Phases 1-4: until session 2 is under way (invites replace someone who withdrew, so a team
#: of three is never stuck below the size its sessions need).
UNTIL_SESSION_TWO = frozenset(
    {Phase.GOAL_AND_SCOPE, Phase.SESSION_ONE, Phase.PROCESSING_TIME, Phase.SESSION_TWO}
)
CONVENE_EVENT_ID = "team.convened"


class TeamConvened(Command):
    """Opens a team (phase 1); idempotent by ``case_ref``."""

    origin = Origin.OPENING
    type: Literal["team.convened"] = "team.convened"
    event_id: SenderEventId = CONVENE_EVENT_ID
    case_ref: Name
    title: Name
    trigger: Trigger
    theme: Name | None = None
    goal: Text
    scope: Text
    facilitator: Name
    #: The facilitator's identity (the stable subject of their sign-in); a person who convenes
    #: without naming one is the facilitator.
    facilitator_id: Ref | None = None
    late = ("facilitator_id",)
    #: No duration beyond two years (a plain rule); the deployment's floor is judged where the
    #: event enters (:func:`parse_convene`, the HTTP route, the convene activity).
    policy: Annotated[Policy, AfterValidator(bounds.within_ceiling)] = Field(default_factory=Policy)

    @model_validator(mode="before")
    @classmethod
    def _default_event_id(cls, data: Any) -> Any:
        # Opening is idempotent by case_ref (the team id derives from it), so the event id of
        # the one team.convened a team ever has may be left out.
        if isinstance(data, dict) and not data.get("event_id"):
            data = {**data, "event_id": CONVENE_EVENT_ID}
        return data


# --- sent by senders --------------------------------------------------------------------------


class ParticipantInvited(Sent):
    type: Literal["participant.invited"] = "participant.invited"
    phases = UNTIL_SESSION_TWO
    personal = ("display_name",)
    late = ("subject", "relation")
    participant_id: Ref
    display_name: PersonalName | None = None
    role: Name
    #: The participant's identity (stable subject), so they can send their own input. None for
    #: someone without an account (a patient, family, temporary staff): the facilitator then
    #: records on their behalf.
    subject: Ref | None = None
    #: ``patient`` and ``family`` see the staff of the team by role, never by name.
    relation: Relation | None = None


class ParticipantWithdrawn(Sent):
    type: Literal["participant.withdrawn"] = "participant.withdrawn"
    phases = ALL_PHASES
    personal = ("reason",)
    participant_id: Ref
    reason: PersonalText | None = None


class ScopeConfirmed(Sent):
    type: Literal["scope.confirmed"] = "scope.confirmed"
    phases = frozenset({Phase.GOAL_AND_SCOPE})


class SessionScheduled(Sent):
    type: Literal["session.scheduled"] = "session.scheduled"
    phases = UNTIL_SESSION_TWO
    session: int = Field(ge=1, le=50)
    at: Moment


class PerspectiveShared(Sent):
    type: Literal["perspective.shared"] = "perspective.shared"
    phases = frozenset({Phase.SESSION_ONE})
    personal = ("perspective",)
    participant_id: Ref
    perspective: PersonalText
    consent_to_share: bool


class SessionCompleted(Sent):
    type: Literal["session.completed"] = "session.completed"
    phases = frozenset({Phase.SESSION_ONE, Phase.SESSION_TWO})
    session: int = Field(ge=1, le=50)
    attendees: list[Ref] = Field(max_length=50)

    @field_validator("attendees")
    @classmethod
    def _unique_attendees(cls, attendees: list[str]) -> list[str]:
        if len(set(attendees)) != len(attendees):
            raise ValueError("attendees must not repeat a participant")
        return attendees


class ReflectionNoted(Sent):
    type: Literal["reflection.noted"] = "reflection.noted"
    phases = frozenset({Phase.PROCESSING_TIME})
    personal = ("note",)
    participant_id: Ref
    note: PersonalText


class SessionStarted(Sent):
    type: Literal["session.started"] = "session.started"
    phases = frozenset({Phase.PROCESSING_TIME, Phase.SESSION_TWO})
    session: int = Field(ge=2, le=50)


class RedThreadRecorded(Sent):
    type: Literal["red_thread.recorded"] = "red_thread.recorded"
    phases = frozenset({Phase.SESSION_TWO})
    summary: Text


class LearningPointRecorded(Sent):
    type: Literal["learning_point.recorded"] = "learning_point.recorded"
    phases = frozenset({Phase.SESSION_TWO})
    learning_point_id: Ref
    kind: Literal["keep", "change"]
    text: Text


class AnalysisConcluded(Sent):
    type: Literal["analysis.concluded"] = "analysis.concluded"
    phases = frozenset({Phase.SESSION_TWO})


class SafetyNetDefined(Sent):
    type: Literal["safety_net.defined"] = "safety_net.defined"
    phases = frozenset({Phase.SAFETY_NETS})
    safety_net_id: Ref
    kind: Literal["micro_action", "experiment"]
    description: Text
    owner: Name
    #: The owner's identity (stable subject), when they have one.
    owner_id: Ref | None = None
    due: Day | None = None
    addresses: list[Ref] = Field(default_factory=list, max_length=100)
    hypothesis: Text | None = None
    late = ("owner_id",)


class SafetyNetsConcluded(Sent):
    type: Literal["safety_nets.concluded"] = "safety_nets.concluded"
    phases = frozenset({Phase.SAFETY_NETS})


class SuccessCriterionDefined(Sent):
    type: Literal["success_criterion.defined"] = "success_criterion.defined"
    phases = frozenset({Phase.FOLLOW_UP})
    criterion_id: Ref
    safety_net_id: Ref
    description: Text
    target: Text


class FollowUpStarted(Sent):
    type: Literal["follow_up.started"] = "follow_up.started"
    phases = frozenset({Phase.FOLLOW_UP})


class ReviewRecorded(Sent):
    type: Literal["review.recorded"] = "review.recorded"
    phases = frozenset({Phase.FOLLOW_UP})
    criterion_id: Ref
    observed: Text
    met: bool
    note: Text | None = None


class SafetyNetCompleted(Sent):
    type: Literal["safety_net.completed"] = "safety_net.completed"
    phases = frozenset({Phase.FOLLOW_UP, Phase.COMMUNICATE})
    safety_net_id: Ref
    outcome: Text | None = None


class StoryCommunicated(Sent):
    type: Literal["story.communicated"] = "story.communicated"
    phases = frozenset({Phase.COMMUNICATE})
    audience: Text
    channel: Name
    summary: Text


class TeamClosed(Sent):
    type: Literal["team.closed"] = "team.closed"
    phases = frozenset({Phase.COMMUNICATE})


class TeamAbandoned(Sent):
    type: Literal["team.abandoned"] = "team.abandoned"
    phases = ALL_PHASES
    reason: Text


class ParticipantErased(Sent):
    """A participant asked to be forgotten (GDPR): their personal fields become unreadable.
    A person's right: allowed in every phase, even after the team has ended."""

    type: Literal["participant.erased"] = "participant.erased"
    phases = ALL_PHASES
    after_end = True
    participant_id: Ref
    reason: Name | None = None


class SponsorAssigned(Sent):
    """The sponsor: the manager who gives the team room, time and trust, and receives its
    escalations. Assigning another replaces the one before."""

    type: Literal["sponsor.assigned"] = "sponsor.assigned"
    phases = ALL_PHASES
    sponsor_id: Ref
    name: Name | None = None


class FacilitatorHandedOver(Sent):
    """The team's facilitation passes to someone else (the one before is no longer its
    facilitator)."""

    type: Literal["facilitator.handed_over"] = "facilitator.handed_over"
    phases = ALL_PHASES
    facilitator: Name
    facilitator_id: Ref | None = None


class ConsentChanged(Sent):
    """A participant gives or withdraws consent to share their perspectives and reflection
    notes outside the team (the library, trends, the sponsor). A person's right: allowed in
    every phase, also after the team has ended; the views follow."""

    type: Literal["consent.changed"] = "consent.changed"
    phases = ALL_PHASES
    after_end = True
    participant_id: Ref
    consent_to_share: bool


# --- recorded by ltflow itself (actor ``system``), never accepted from senders ---------------


class PhaseEntered(Derived):
    type: Literal["phase.entered"] = "phase.entered"
    phase: int = Field(ge=1, le=7)
    name: str


class ReflectionOpened(Derived):
    type: Literal["reflection.opened"] = "reflection.opened"
    earliest: AwareDatetime
    latest: AwareDatetime


class ReflectionReminderDue(Timed):
    type: Literal["reflection.reminder_due"] = "reflection.reminder_due"
    phases = frozenset({Phase.PROCESSING_TIME})
    latest: AwareDatetime


class ReflectionOverdue(Timed):
    type: Literal["reflection.overdue"] = "reflection.overdue"
    phases = frozenset({Phase.PROCESSING_TIME})
    latest: AwareDatetime
    facilitator: Name


class ReviewDue(Timed):
    type: Literal["review.due"] = "review.due"
    phases = frozenset({Phase.FOLLOW_UP})
    review: int = Field(ge=1)
    criteria: list[Ref]


class FollowUpEnded(Timed):
    """Recorded by the timer at the end of the follow-up period, or by the rulebook when every
    criterion's latest review is met."""

    type: Literal["follow_up.ended"] = "follow_up.ended"
    phases = frozenset({Phase.FOLLOW_UP})
    outcome: Literal["criteria_met", "period_ended"]


# --- reminders for every deadline (issue 16): recorded by the timers, after the ones above ------

#: Phases in which a safety net is open and its due date can come.
WHILE_SAFETY_NETS_OPEN = frozenset({Phase.SAFETY_NETS, Phase.FOLLOW_UP, Phase.COMMUNICATE})


class SessionReminderDue(Timed):
    """The day before a scheduled session (sessions 1 and 2, and later ones in session 2's
    phase); a rescheduled session is reminded again for its new time."""

    type: Literal["session.reminder_due"] = "session.reminder_due"
    phases = UNTIL_SESSION_TWO
    session: int = Field(ge=1, le=50)
    at: AwareDatetime


class ReflectionPromptDue(Timed):
    """Participants are prompted to note a reflection, halfway through the processing time
    (between session 1's end and the earliest start of session 2)."""

    type: Literal["reflection.prompt_due"] = "reflection.prompt_due"
    phases = frozenset({Phase.PROCESSING_TIME})
    earliest: AwareDatetime


class SafetyNetReminderDue(Timed):
    """The day before an open safety net's due date."""

    type: Literal["safety_net.reminder_due"] = "safety_net.reminder_due"
    phases = WHILE_SAFETY_NETS_OPEN
    safety_net_id: Ref
    due: date


class SafetyNetOverdue(Timed):
    """An open safety net's due date has passed (the day after it begins)."""

    type: Literal["safety_net.overdue"] = "safety_net.overdue"
    phases = WHILE_SAFETY_NETS_OPEN
    safety_net_id: Ref
    due: date


class SafetyNetEscalated(Timed):
    """A safety net still open a week after it fell overdue is escalated to the sponsor (the
    team's sponsor at that moment, None when it has none: the facilitator is told then)."""

    type: Literal["safety_net.escalated"] = "safety_net.escalated"
    phases = WHILE_SAFETY_NETS_OPEN
    safety_net_id: Ref
    due: date
    sponsor_id: Ref | None = None


class FollowUpEndingDue(Timed):
    """A reminder before the follow-up period ends."""

    type: Literal["follow_up.ending_due"] = "follow_up.ending_due"
    phases = frozenset({Phase.FOLLOW_UP})
    ends: AwareDatetime


# --- derived from the declarations above --------------------------------------------------------


def _of(*origins: Origin) -> dict[str, type[Command]]:
    return {name: cls for name, cls in ALL_TYPES.items() if cls.origin in origins}


#: What senders may send to an open team.
SENDER_TYPES = _of(Origin.SENDER)
#: What ltflow records itself (timers and consequences); nobody sends these.
SYSTEM_TYPES = _of(Origin.TIMER, Origin.DERIVED)
#: What the workflow records through its store activity: a sender's event or a timer's.
RECORDED_TYPES = _of(Origin.SENDER, Origin.TIMER)
#: Which personal fields each event type has.
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    name: cls.personal for name, cls in ALL_TYPES.items() if cls.personal
}


def _union(classes: list[type[Command]]) -> Any:
    return Annotated[Union[tuple(classes)], Field(discriminator="type")]  # noqa: UP007


if TYPE_CHECKING:
    SenderEvent: TypeAlias = Command
    AnyEvent: TypeAlias = Command
else:
    #: A phase event a sender may send to an existing team (the HTTP body, the CLI's JSON).
    SenderEvent = _union(list(SENDER_TYPES.values()))
    #: A phase event the workflow records: a sender's, or one of its own timers'.
    AnyEvent = _union(list(RECORDED_TYPES.values()))

_sender_adapter: TypeAdapter[Command] = TypeAdapter(SenderEvent)
_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def check_sendable(type_: str) -> None:
    """Only senders' types may come from outside; ltflow's own are refused with a sentence."""
    cls = ALL_TYPES.get(type_)
    if cls is not None and cls.origin in (Origin.TIMER, Origin.DERIVED):
        raise InvalidEventError(
            f"'{type_}' is recorded by ltflow itself and cannot be sent.", type=type_
        )


def _invalid(exc: ValidationError, what: str, tag: object = None) -> InvalidEventError:
    problems: list[dict[str, str]] = []
    errors = exc.errors(include_url=False, include_input=False)
    for err in errors:
        if err["type"] == _HASH_IN_ID:
            return InvalidEventError(f"{err['msg']}.", **err.get("ctx", {}))
    for err in errors:
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
    if isinstance(tag, str):
        check_sendable(tag)
    try:
        return _sender_adapter.validate_python(data)
    except ValidationError as exc:
        raise _invalid(exc, "phase event", tag) from None


def parse_convene(data: Any, *, min_policy_duration: timedelta | None = None) -> TeamConvened:
    """Validate a ``team.convened`` body; with ``min_policy_duration`` (the deployment's floor)
    every policy duration must reach it too."""
    try:
        convene = TeamConvened.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, "team.convened event") from None
    if min_policy_duration is not None:
        bounds.check_policy_floor(convene.policy, min_policy_duration)
    return convene


def load_command(type_: str, payload: dict[str, Any]) -> Command:
    """Rebuild a stored command (trusted input, any type including system events). The bounds
    of new input are not applied again: what was stored always loads."""
    cls = ALL_TYPES[type_]
    return cls.model_validate({**payload, "type": type_}, context=bounds.STORED)
