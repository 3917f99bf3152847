"""The state a Learning Team needs to enforce the method, and the pure fold that builds it.

``TeamState`` is deliberately lean: ids, counts, times and phase, never the stories themselves.
The stories live in the stored events (the record) and in the read models. Because the state is
plain data folded by a pure function, the aggregate (in activities) and the workflow (for its
update validators) hold identical copies without the workflow ever importing ``eventsourcing``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from ltflow.aggregates import schedule
from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.phases import Phase, Status


class SessionState(BaseModel):
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


#: The content digest of an event whose participant was erased can no longer be read.
ERASED_FINGERPRINT = "[erased]"


class Processed(BaseModel):
    """What an ``event_id`` was: its content digest, and the version its answer was given at."""

    fingerprint: str
    version: int


class TeamState(BaseModel):
    """Everything the rulebook needs to judge the next event, and nothing personal."""

    team_id: UUID
    case_ref: str
    trigger: str
    theme: str | None
    facilitator: str
    policy: v.Policy
    convened_fingerprint: str
    phase: Phase = Phase.GOAL_AND_SCOPE
    status: Status = Status.ACTIVE
    version: int = 0
    last_occurred_at: datetime
    participants: dict[str, bool] = Field(default_factory=dict)
    sessions: dict[int, SessionState] = Field(default_factory=dict)
    reflection_earliest: datetime | None = None
    reflection_latest: datetime | None = None
    reflection_reminded: bool = False
    reflection_overdue: bool = False
    red_threads: int = 0
    learning_points: dict[str, str] = Field(default_factory=dict)
    safety_nets: dict[str, bool] = Field(default_factory=dict)
    criteria: dict[str, bool | None] = Field(default_factory=dict)
    follow_up_started_at: datetime | None = None
    reviews_due: int = 0
    stories: int = 0
    erased: list[str] = Field(default_factory=list)
    processed: dict[str, Processed] = Field(default_factory=dict)
    #: Who holds which role in the team, by identity (stable subject): the access policy's
    #: facts (:mod:`ltflow.access.policy`). Ids only, nothing personal.
    facilitator_ids: list[str] = Field(default_factory=list)
    sponsor_id: str | None = None
    #: participant id -> subject, for participants bound to an identity.
    subjects: dict[str, str] = Field(default_factory=dict)
    #: participant id -> relation, for participants who are not staff (patients, family).
    relations: dict[str, str] = Field(default_factory=dict)
    #: safety net id -> its owner's subject, where the owner has one.
    owner_ids: dict[str, str] = Field(default_factory=dict)
    #: safety net id -> its due date, where it has one (the timers remind and escalate by it).
    safety_net_due: dict[str, date] = Field(default_factory=dict)

    @property
    def active_participants(self) -> list[str]:
        return [pid for pid, active in self.participants.items() if active]

    @property
    def follow_up_ends_at(self) -> datetime | None:
        if self.follow_up_started_at is None:
            return None
        return schedule.follow_up_ends_at(self.follow_up_started_at, self.policy)


class TeamSummary(BaseModel):
    """The short answer a sender gets after each accepted event."""

    team_id: UUID
    case_ref: str
    phase: Phase
    phase_name: str
    status: Status
    version: int
    active_participants: int
    reflection_earliest: datetime | None = None
    reflection_latest: datetime | None = None
    follow_up_ends_at: datetime | None = None


def summarize(state: TeamState) -> TeamSummary:
    return TeamSummary(
        team_id=state.team_id,
        case_ref=state.case_ref,
        phase=state.phase,
        phase_name=state.phase.label,
        status=state.status,
        version=state.version,
        active_participants=len(state.active_participants),
        reflection_earliest=state.reflection_earliest,
        reflection_latest=state.reflection_latest,
        follow_up_ends_at=state.follow_up_ends_at,
    )


def root_event_id(event_id: str) -> str:
    """Consequences of an event carry ``<cause>#<what>`` as their id; this returns the cause."""
    return event_id.split("#", 1)[0]


def start(
    cmd: v.TeamConvened, team_id: UUID, occurred_at: datetime, fingerprint: str | None = None
) -> TeamState:
    """The state right after ``team.convened`` (version 1)."""
    fingerprint = fingerprint or cmd.fingerprint()
    return TeamState(
        team_id=team_id,
        case_ref=cmd.case_ref,
        trigger=cmd.trigger,
        theme=cmd.theme,
        facilitator=cmd.facilitator,
        facilitator_ids=[cmd.facilitator_id] if cmd.facilitator_id else [],
        policy=cmd.policy,
        convened_fingerprint=fingerprint,
        version=1,
        last_occurred_at=occurred_at,
        processed={cmd.event_id: Processed(fingerprint=fingerprint, version=1)},
    )


def evolve(
    state: TeamState,
    cmd: v.Command,
    *,
    version: int,
    occurred_at: datetime,
    fingerprint: str | None = None,
) -> None:
    """Fold one accepted event into ``state`` (in place). Pure: no clock, no I/O, no checks.

    ``fingerprint`` is the digest of the event as its sender sent it (stored with the event);
    without it, it is computed from ``cmd``, which must then be the event as sent.
    """
    _FOLDS[type(cmd)](state, cmd, occurred_at)
    state.version = version
    state.last_occurred_at = max(state.last_occurred_at, occurred_at)
    root = root_event_id(cmd.event_id)
    if root == cmd.event_id:
        digest = fingerprint or cmd.fingerprint()
        state.processed[root] = Processed(fingerprint=digest, version=version)
    elif root in state.processed:
        state.processed[root].version = version


Fold = Callable[[TeamState, Any, datetime], None]
_FOLDS: dict[type[v.Command], Fold] = {}
_F = TypeVar("_F", bound=Fold)


def folds(*types: type[v.Command]) -> Callable[[_F], _F]:
    """Register how these event types change the state (each type has exactly one fold)."""

    def register(fold: _F) -> _F:
        for cls in types:
            if cls in _FOLDS:
                raise TypeError(f"{cls.TYPE} has a fold already.")
            _FOLDS[cls] = fold
        return fold

    return register


def _session(state: TeamState, number: int) -> SessionState:
    return state.sessions.setdefault(number, SessionState())


@folds(v.ParticipantInvited)
def _invited(s: TeamState, e: v.ParticipantInvited, _: datetime) -> None:
    s.participants[e.participant_id] = True
    if e.subject is not None:
        s.subjects[e.participant_id] = e.subject
    if e.relation not in (None, "staff"):
        s.relations[e.participant_id] = str(e.relation)
    elif e.relation == "staff":
        s.relations.pop(e.participant_id, None)


@folds(v.SponsorAssigned)
def _sponsor(s: TeamState, e: v.SponsorAssigned, _: datetime) -> None:
    s.sponsor_id = e.sponsor_id


@folds(v.FacilitatorHandedOver)
def _handed_over(s: TeamState, e: v.FacilitatorHandedOver, _: datetime) -> None:
    s.facilitator = e.facilitator
    s.facilitator_ids = [e.facilitator_id] if e.facilitator_id else []


@folds(v.ParticipantWithdrawn)
def _withdrawn(s: TeamState, e: v.ParticipantWithdrawn, _: datetime) -> None:
    s.participants[e.participant_id] = False


@folds(v.SessionScheduled)
def _scheduled(s: TeamState, e: v.SessionScheduled, _: datetime) -> None:
    _session(s, e.session).scheduled_at = e.at


@folds(v.SessionStarted)
def _started(s: TeamState, e: v.SessionStarted, at: datetime) -> None:
    _session(s, e.session).started_at = at


@folds(v.SessionCompleted)
def _completed(s: TeamState, e: v.SessionCompleted, at: datetime) -> None:
    session = _session(s, e.session)
    session.started_at = session.started_at or at
    session.completed_at = at


@folds(v.RedThreadRecorded)
def _red_thread(s: TeamState, _e: v.RedThreadRecorded, _: datetime) -> None:
    s.red_threads += 1


@folds(v.LearningPointRecorded)
def _learning_point(s: TeamState, e: v.LearningPointRecorded, _: datetime) -> None:
    s.learning_points[e.learning_point_id] = e.kind


@folds(v.SafetyNetDefined)
def _safety_net(s: TeamState, e: v.SafetyNetDefined, _: datetime) -> None:
    s.safety_nets[e.safety_net_id] = False
    if e.owner_id is not None:
        s.owner_ids[e.safety_net_id] = e.owner_id
    if e.due is not None:
        s.safety_net_due[e.safety_net_id] = e.due


@folds(v.SafetyNetCompleted)
def _safety_net_completed(s: TeamState, e: v.SafetyNetCompleted, _: datetime) -> None:
    s.safety_nets[e.safety_net_id] = True


@folds(v.SuccessCriterionDefined)
def _criterion(s: TeamState, e: v.SuccessCriterionDefined, _: datetime) -> None:
    s.criteria[e.criterion_id] = None


@folds(v.FollowUpStarted)
def _follow_up(s: TeamState, _e: v.FollowUpStarted, at: datetime) -> None:
    s.follow_up_started_at = at


@folds(v.ReviewRecorded)
def _review(s: TeamState, e: v.ReviewRecorded, _: datetime) -> None:
    s.criteria[e.criterion_id] = e.met


@folds(v.StoryCommunicated)
def _story(s: TeamState, _e: v.StoryCommunicated, _: datetime) -> None:
    s.stories += 1


@folds(v.TeamClosed)
def _closed(s: TeamState, _e: v.TeamClosed, _: datetime) -> None:
    s.status = Status.CLOSED


@folds(v.TeamAbandoned)
def _abandoned(s: TeamState, _e: v.TeamAbandoned, _: datetime) -> None:
    s.status = Status.ABANDONED


@folds(v.ParticipantErased)
def _erased(s: TeamState, e: v.ParticipantErased, _: datetime) -> None:
    s.participants[e.participant_id] = False
    s.erased.append(e.participant_id)
    s.subjects.pop(e.participant_id, None)


@folds(v.PhaseEntered)
def _phase_entered(s: TeamState, e: v.PhaseEntered, _: datetime) -> None:
    s.phase = Phase(e.phase)


@folds(v.ReflectionOpened)
def _reflection_opened(s: TeamState, e: v.ReflectionOpened, _: datetime) -> None:
    s.reflection_earliest, s.reflection_latest = e.earliest, e.latest


@folds(v.ReflectionReminderDue)
def _reminded(s: TeamState, _e: v.ReflectionReminderDue, _: datetime) -> None:
    s.reflection_reminded = True


@folds(v.ReflectionOverdue)
def _overdue(s: TeamState, _e: v.ReflectionOverdue, _: datetime) -> None:
    s.reflection_overdue = True


@folds(v.ReviewDue)
def _review_due(s: TeamState, e: v.ReviewDue, _: datetime) -> None:
    s.reviews_due = max(s.reviews_due, e.review)


@folds(
    v.ScopeConfirmed,
    v.PerspectiveShared,
    v.ReflectionNoted,
    v.AnalysisConcluded,
    v.SafetyNetsConcluded,
    v.FollowUpEnded,
    v.ConsentChanged,
)
def _nothing(_s: TeamState, _e: v.Command, _: datetime) -> None:
    """Events that are part of the record but change nothing the rules look at."""


@folds(
    v.SessionReminderDue,
    v.ReflectionPromptDue,
    v.SafetyNetReminderDue,
    v.SafetyNetOverdue,
    v.SafetyNetEscalated,
    v.FollowUpEndingDue,
)
def _deadline_reminded(_s: TeamState, _e: v.Command, _: datetime) -> None:
    """A reminder is part of the record; the timers know it fired by its event id (a slot's id
    is stable), so the state has nothing more to hold."""
