"""The team detail read model: what a facilitator's screen shows about one Learning Team.

Plain pydantic data, folded from the stored events by :mod:`ltflow.projections.team_detail`.
Every other read model is derived from it.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cached_property
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ltflow.aggregates.phases import Phase, Status
from ltflow.aggregates.vocabulary import Policy
from ltflow.series.refs import series_of


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParticipantView(_View):
    participant_id: str
    display_name: str | None = None
    role: str
    active: bool = True
    invited_at: datetime
    withdrawn_at: datetime | None = None
    withdrawal_reason: str | None = None
    #: The identity the participant is bound to (their stable subject), if any.
    subject: str | None = None
    #: ``staff`` unless they are a patient or family.
    relation: str = "staff"
    #: Their latest ``consent.changed``, if they sent one (None: each item's own consent).
    consent_to_share: bool | None = None


class SessionView(_View):
    session: int
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    attendees: list[str] = Field(default_factory=list)
    #: When the day-before reminder of its current time was recorded.
    reminded_at: datetime | None = None


class PerspectiveView(_View):
    participant_id: str
    perspective: str
    consent_to_share: bool
    shared_at: datetime


class ReflectionNoteView(_View):
    participant_id: str
    note: str
    noted_at: datetime
    #: Shared outside the team only with its teller's consent (``consent.changed``).
    consent_to_share: bool = False


class ReflectionView(_View):
    """The reflection period after session 1: session 2 may start between earliest and latest."""

    opened_at: datetime
    earliest: datetime
    latest: datetime
    reminder_at: datetime
    reminded_at: datetime | None = None
    overdue_at: datetime | None = None
    #: When the participants were prompted to note a reflection.
    prompted_at: datetime | None = None


class RedThreadView(_View):
    summary: str
    recorded_at: datetime


class LearningPointView(_View):
    learning_point_id: str
    kind: Literal["keep", "change"]
    text: str
    recorded_at: datetime


class SafetyNetView(_View):
    safety_net_id: str
    kind: Literal["micro_action", "experiment"]
    description: str
    owner: str
    owner_id: str | None = None
    due: date | None = None
    addresses: list[str] = Field(default_factory=list)
    hypothesis: str | None = None
    status: Literal["open", "done"] = "open"
    defined_at: datetime
    completed_at: datetime | None = None
    outcome: str | None = None
    #: The timers' record of its due date: reminded the day before, overdue, escalated.
    reminded_at: datetime | None = None
    overdue_at: datetime | None = None
    escalated_at: datetime | None = None
    #: Left open when its team ended (closed or abandoned): no longer an open action.
    ended_open: bool = False


class ReviewView(_View):
    observed: str
    met: bool
    note: str | None = None
    recorded_at: datetime


class CriterionView(_View):
    criterion_id: str
    safety_net_id: str
    description: str
    target: str
    defined_at: datetime
    latest_review: ReviewView | None = None
    reviews: int = 0


class FollowUpView(_View):
    started_at: datetime
    ends_at: datetime
    #: How many ``review.due`` moments have fired so far.
    reviews_due: int = 0
    last_review_due_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None
    #: When the reminder before the follow-up's end was recorded.
    ending_reminded_at: datetime | None = None


class StoryView(_View):
    audience: str
    channel: str
    summary: str
    communicated_at: datetime


class TeamDetailView(_View):
    """One team as its facilitator sees it, after ``version`` stored events."""

    team_id: UUID
    case_ref: str
    title: str
    trigger: str
    theme: str | None = None
    goal: str
    scope: str
    facilitator: str
    #: The facilitators' identities (stable subjects): who facilitates in the access policy.
    facilitator_ids: list[str] = Field(default_factory=list)
    sponsor_id: str | None = None
    sponsor_name: str | None = None
    policy: Policy
    phase: Phase = Phase.GOAL_AND_SCOPE
    phase_name: str = Phase.GOAL_AND_SCOPE.label
    status: Status = Status.ACTIVE
    version: int
    convened_at: datetime
    updated_at: datetime
    scope_confirmed_at: datetime | None = None
    participants: list[ParticipantView] = Field(default_factory=list)
    sessions: list[SessionView] = Field(default_factory=list)
    perspectives: list[PerspectiveView] = Field(default_factory=list)
    reflection: ReflectionView | None = None
    reflection_notes: list[ReflectionNoteView] = Field(default_factory=list)
    red_threads: list[RedThreadView] = Field(default_factory=list)
    learning_points: list[LearningPointView] = Field(default_factory=list)
    analysis_concluded_at: datetime | None = None
    safety_nets: list[SafetyNetView] = Field(default_factory=list)
    safety_nets_concluded_at: datetime | None = None
    criteria: list[CriterionView] = Field(default_factory=list)
    follow_up: FollowUpView | None = None
    stories: list[StoryView] = Field(default_factory=list)
    closed_at: datetime | None = None
    abandoned_at: datetime | None = None
    abandon_reason: str | None = None
    #: The series that convened the team, read from its case (``series-<id>-<slot>``).
    series_id: str | None = None

    @model_validator(mode="after")
    def _series(self) -> TeamDetailView:
        if self.series_id is None:
            self.series_id = series_of(self.case_ref)
        return self

    @cached_property
    def key(self) -> str:
        """The team id as view tables store it."""
        return str(self.team_id)

    @property
    def active_participants(self) -> int:
        return sum(1 for p in self.participants if p.active)

    def participant(self, participant_id: str) -> ParticipantView | None:
        return next((p for p in self.participants if p.participant_id == participant_id), None)

    def session(self, number: int) -> SessionView:
        """The session with this number, added (in number order) when first mentioned."""
        for existing in self.sessions:
            if existing.session == number:
                return existing
        added = SessionView(session=number)
        self.sessions.append(added)
        self.sessions.sort(key=lambda s: s.session)
        return added

    def safety_net(self, safety_net_id: str) -> SafetyNetView | None:
        return next((s for s in self.safety_nets if s.safety_net_id == safety_net_id), None)

    def criterion(self, criterion_id: str) -> CriterionView | None:
        return next((c for c in self.criteria if c.criterion_id == criterion_id), None)
