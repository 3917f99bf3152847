"""The state a Learning Team needs to enforce the method, and the pure fold that builds it.

``TeamState`` is deliberately lean: ids, counts, times and phase, never the stories themselves.
The stories live in the stored events (the record) and in the read models. Because the state is
plain data folded by a pure function, the aggregate (in activities) and the workflow (for its
update validators) hold identical copies without the workflow ever importing ``eventsourcing``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from ltflow.aggregates import commands as c
from ltflow.aggregates import schedule


class Phase(IntEnum):
    """The seven phases of a Learning Team (domain.md)."""

    GOAL_AND_SCOPE = 1
    SESSION_ONE = 2
    PROCESSING_TIME = 3
    SESSION_TWO = 4
    SAFETY_NETS = 5
    FOLLOW_UP = 6
    COMMUNICATE = 7

    @property
    def label(self) -> str:
        return PHASE_LABELS[self]


PHASE_LABELS: dict[Phase, str] = {
    Phase.GOAL_AND_SCOPE: "goal and scope",
    Phase.SESSION_ONE: "session 1: share perspectives",
    Phase.PROCESSING_TIME: "processing time",
    Phase.SESSION_TWO: "session 2: red thread and learning points",
    Phase.SAFETY_NETS: "safety nets",
    Phase.FOLLOW_UP: "success criteria and follow-up",
    Phase.COMMUNICATE: "communicate the story",
}


class Status(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"
    ABANDONED = "abandoned"


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
    policy: c.Policy
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
    cmd: c.TeamConvened, team_id: UUID, occurred_at: datetime, fingerprint: str | None = None
) -> TeamState:
    """The state right after ``team.convened`` (version 1)."""
    fingerprint = fingerprint or cmd.fingerprint()
    return TeamState(
        team_id=team_id,
        case_ref=cmd.case_ref,
        trigger=cmd.trigger,
        theme=cmd.theme,
        facilitator=cmd.facilitator,
        policy=cmd.policy,
        convened_fingerprint=fingerprint,
        version=1,
        last_occurred_at=occurred_at,
        processed={cmd.event_id: Processed(fingerprint=fingerprint, version=1)},
    )


def evolve(
    state: TeamState,
    cmd: c.Command,
    *,
    version: int,
    occurred_at: datetime,
    fingerprint: str | None = None,
) -> None:
    """Fold one accepted event into ``state`` (in place). Pure: no clock, no I/O, no checks.

    ``fingerprint`` is the digest of the event as its sender sent it (stored with the event);
    without it, it is computed from ``cmd``, which must then be the event as sent.
    """
    _APPLY[type(cmd)](state, cmd, occurred_at)
    state.version = version
    state.last_occurred_at = max(state.last_occurred_at, occurred_at)
    root = root_event_id(cmd.event_id)
    if root == cmd.event_id:
        digest = fingerprint or cmd.fingerprint()
        state.processed[root] = Processed(fingerprint=digest, version=version)
    elif root in state.processed:
        state.processed[root].version = version


def _session(state: TeamState, number: int) -> SessionState:
    return state.sessions.setdefault(number, SessionState())


def _invited(s: TeamState, e: c.ParticipantInvited, _: datetime) -> None:
    s.participants[e.participant_id] = True


def _withdrawn(s: TeamState, e: c.ParticipantWithdrawn, _: datetime) -> None:
    s.participants[e.participant_id] = False


def _scheduled(s: TeamState, e: c.SessionScheduled, _: datetime) -> None:
    _session(s, e.session).scheduled_at = e.at


def _started(s: TeamState, e: c.SessionStarted, at: datetime) -> None:
    _session(s, e.session).started_at = at


def _completed(s: TeamState, e: c.SessionCompleted, at: datetime) -> None:
    session = _session(s, e.session)
    session.started_at = session.started_at or at
    session.completed_at = at


def _red_thread(s: TeamState, _e: c.RedThreadRecorded, _: datetime) -> None:
    s.red_threads += 1


def _learning_point(s: TeamState, e: c.LearningPointRecorded, _: datetime) -> None:
    s.learning_points[e.learning_point_id] = e.kind


def _safety_net(s: TeamState, e: c.SafetyNetDefined, _: datetime) -> None:
    s.safety_nets[e.safety_net_id] = False


def _safety_net_completed(s: TeamState, e: c.SafetyNetCompleted, _: datetime) -> None:
    s.safety_nets[e.safety_net_id] = True


def _criterion(s: TeamState, e: c.SuccessCriterionDefined, _: datetime) -> None:
    s.criteria[e.criterion_id] = None


def _follow_up(s: TeamState, _e: c.FollowUpStarted, at: datetime) -> None:
    s.follow_up_started_at = at


def _review(s: TeamState, e: c.ReviewRecorded, _: datetime) -> None:
    s.criteria[e.criterion_id] = e.met


def _story(s: TeamState, _e: c.StoryCommunicated, _: datetime) -> None:
    s.stories += 1


def _closed(s: TeamState, _e: c.TeamClosed, _: datetime) -> None:
    s.status = Status.CLOSED


def _abandoned(s: TeamState, _e: c.TeamAbandoned, _: datetime) -> None:
    s.status = Status.ABANDONED


def _erased(s: TeamState, e: c.ParticipantErased, _: datetime) -> None:
    s.participants[e.participant_id] = False
    s.erased.append(e.participant_id)


def _phase_entered(s: TeamState, e: c.PhaseEntered, _: datetime) -> None:
    s.phase = Phase(e.phase)


def _reflection_opened(s: TeamState, e: c.ReflectionOpened, _: datetime) -> None:
    s.reflection_earliest, s.reflection_latest = e.earliest, e.latest


def _reminded(s: TeamState, _e: c.ReflectionReminderDue, _: datetime) -> None:
    s.reflection_reminded = True


def _overdue(s: TeamState, _e: c.ReflectionOverdue, _: datetime) -> None:
    s.reflection_overdue = True


def _review_due(s: TeamState, e: c.ReviewDue, _: datetime) -> None:
    s.reviews_due = max(s.reviews_due, e.review)


def _nothing(_s: TeamState, _e: c.Command, _: datetime) -> None:
    """Events that are part of the record but change nothing the rules look at."""


_APPLY: dict[type[c.Command], Callable[[TeamState, Any, datetime], None]] = {
    c.ParticipantInvited: _invited,
    c.ParticipantWithdrawn: _withdrawn,
    c.ScopeConfirmed: _nothing,
    c.SessionScheduled: _scheduled,
    c.PerspectiveShared: _nothing,
    c.SessionCompleted: _completed,
    c.ReflectionNoted: _nothing,
    c.SessionStarted: _started,
    c.RedThreadRecorded: _red_thread,
    c.LearningPointRecorded: _learning_point,
    c.AnalysisConcluded: _nothing,
    c.SafetyNetDefined: _safety_net,
    c.SafetyNetsConcluded: _nothing,
    c.SuccessCriterionDefined: _criterion,
    c.FollowUpStarted: _follow_up,
    c.ReviewRecorded: _review,
    c.SafetyNetCompleted: _safety_net_completed,
    c.StoryCommunicated: _story,
    c.TeamClosed: _closed,
    c.TeamAbandoned: _abandoned,
    c.ParticipantErased: _erased,
    c.PhaseEntered: _phase_entered,
    c.ReflectionOpened: _reflection_opened,
    c.ReflectionReminderDue: _reminded,
    c.ReflectionOverdue: _overdue,
    c.ReviewDue: _review_due,
    c.FollowUpEnded: _nothing,
}
