"""How each stored event type changes a team's detail view (the fold's steps).

Each step reads the event's contract fields from its ``payload`` (JSON values, as stored) and
its business time; none reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from ltflow.aggregates import schedule
from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.phases import PHASE_LABELS, Phase, Status
from ltflow.aggregates.state import ERASED_FINGERPRINT as ERASED
from ltflow.projections.team_models import (
    CriterionView,
    FollowUpView,
    LearningPointView,
    ParticipantView,
    PerspectiveView,
    RedThreadView,
    ReflectionNoteView,
    ReflectionView,
    ReviewView,
    SafetyNetView,
    StoryView,
    TeamDetailView,
)

Step = Callable[[TeamDetailView, dict[str, Any], datetime], None]
#: How each event type changes the detail view, by type name (filled by :func:`step`).
STEPS: dict[str, Step] = {}


def step(*types: type[v.Command]) -> Callable[[Step], Step]:
    """Register how these event types change a team's detail view."""

    def register(fold: Step) -> Step:
        for cls in types:
            if cls.TYPE in STEPS:
                raise TypeError(f"{cls.TYPE} has a step already.")
            STEPS[cls.TYPE] = fold
        return fold

    return register


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


@step(v.ParticipantInvited)
def _invited(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    known = v.participant(p["participant_id"])
    if known is None:
        v.participants.append(
            ParticipantView(
                participant_id=p["participant_id"],
                display_name=p.get("display_name"),
                role=p["role"],
                invited_at=at,
                subject=p.get("subject"),
                relation=p.get("relation") or "staff",
            )
        )
        return
    known.active, known.role, known.invited_at = True, p["role"], at
    known.subject = p.get("subject") or known.subject
    known.relation = p.get("relation") or known.relation
    known.display_name = p.get("display_name") or known.display_name
    known.withdrawn_at = known.withdrawal_reason = None


@step(v.ParticipantWithdrawn)
def _withdrawn(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    known = v.participant(p["participant_id"])
    if known is not None:
        known.active, known.withdrawn_at = False, at
        known.withdrawal_reason = p.get("reason")


@step(v.SponsorAssigned)
def _sponsor(v: TeamDetailView, p: dict[str, Any], _at: datetime) -> None:
    v.sponsor_id, v.sponsor_name = p["sponsor_id"], p.get("name")


@step(v.FacilitatorHandedOver)
def _handed_over(v: TeamDetailView, p: dict[str, Any], _at: datetime) -> None:
    v.facilitator = p["facilitator"]
    v.facilitator_ids = [p["facilitator_id"]] if p.get("facilitator_id") else []


@step(v.ConsentChanged)
def _consent(v: TeamDetailView, p: dict[str, Any], _at: datetime) -> None:
    """Consent covers everything the participant told: their perspectives and notes."""
    pid, consent = p["participant_id"], bool(p["consent_to_share"])
    known = v.participant(pid)
    if known is not None:
        known.consent_to_share = consent
    for item in v.perspectives:
        if item.participant_id == pid:
            item.consent_to_share = consent
    for note in v.reflection_notes:
        if note.participant_id == pid:
            note.consent_to_share = consent


@step(v.ScopeConfirmed)
def _scope_confirmed(v: TeamDetailView, _p: dict[str, Any], at: datetime) -> None:
    v.scope_confirmed_at = at


@step(v.SessionScheduled)
def _scheduled(v: TeamDetailView, p: dict[str, Any], _at: datetime) -> None:
    v.session(p["session"]).scheduled_at = _dt(p["at"])


@step(v.PerspectiveShared)
def _perspective(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    v.perspectives.append(
        PerspectiveView(
            participant_id=p["participant_id"],
            perspective=p["perspective"],
            consent_to_share=p["consent_to_share"],
            shared_at=at,
        )
    )


@step(v.SessionStarted)
def _session_started(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    v.session(p["session"]).started_at = at


@step(v.SessionCompleted)
def _session_completed(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    session = v.session(p["session"])
    session.started_at = session.started_at or at
    session.completed_at, session.attendees = at, list(p["attendees"])


@step(v.ReflectionNoted)
def _reflection_noted(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    known = v.participant(p["participant_id"])
    v.reflection_notes.append(
        ReflectionNoteView(
            participant_id=p["participant_id"],
            note=p["note"],
            noted_at=at,
            consent_to_share=bool(known is not None and known.consent_to_share),
        )
    )


@step(v.ReflectionOpened)
def _reflection_opened(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    latest = _dt(p["latest"])
    v.reflection = ReflectionView(
        opened_at=at,
        earliest=_dt(p["earliest"]),
        latest=latest,
        reminder_at=schedule.reminder_at(latest, v.policy),
    )


@step(v.ReflectionReminderDue)
def _reminded(v: TeamDetailView, _p: dict[str, Any], at: datetime) -> None:
    if v.reflection is not None:
        v.reflection.reminded_at = at


@step(v.ReflectionOverdue)
def _reflection_overdue(v: TeamDetailView, _p: dict[str, Any], at: datetime) -> None:
    if v.reflection is not None:
        v.reflection.overdue_at = at


@step(v.RedThreadRecorded)
def _red_thread(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    v.red_threads.append(RedThreadView(summary=p["summary"], recorded_at=at))


@step(v.LearningPointRecorded)
def _learning_point(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    v.learning_points.append(
        LearningPointView(
            learning_point_id=p["learning_point_id"], kind=p["kind"], text=p["text"], recorded_at=at
        )
    )


@step(v.AnalysisConcluded)
def _analysis_concluded(v: TeamDetailView, _p: dict[str, Any], at: datetime) -> None:
    v.analysis_concluded_at = at


@step(v.SafetyNetDefined)
def _safety_net(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    due = p.get("due")
    v.safety_nets.append(
        SafetyNetView(
            safety_net_id=p["safety_net_id"],
            kind=p["kind"],
            description=p["description"],
            owner=p["owner"],
            owner_id=p.get("owner_id"),
            due=date.fromisoformat(due) if due else None,
            addresses=list(p.get("addresses") or []),
            hypothesis=p.get("hypothesis"),
            defined_at=at,
        )
    )


@step(v.SafetyNetsConcluded)
def _safety_nets_concluded(v: TeamDetailView, _p: dict[str, Any], at: datetime) -> None:
    v.safety_nets_concluded_at = at


@step(v.SafetyNetCompleted)
def _safety_net_completed(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    net = v.safety_net(p["safety_net_id"])
    if net is not None:
        net.status, net.completed_at, net.outcome = "done", at, p.get("outcome")


@step(v.SuccessCriterionDefined)
def _criterion(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    v.criteria.append(
        CriterionView(
            criterion_id=p["criterion_id"],
            safety_net_id=p["safety_net_id"],
            description=p["description"],
            target=p["target"],
            defined_at=at,
        )
    )


@step(v.FollowUpStarted)
def _follow_up_started(v: TeamDetailView, _p: dict[str, Any], at: datetime) -> None:
    v.follow_up = FollowUpView(started_at=at, ends_at=schedule.follow_up_ends_at(at, v.policy))


@step(v.ReviewRecorded)
def _review(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    criterion = v.criterion(p["criterion_id"])
    if criterion is not None:
        criterion.latest_review = ReviewView(
            observed=p["observed"], met=p["met"], note=p.get("note"), recorded_at=at
        )
        criterion.reviews += 1


@step(v.ReviewDue)
def _review_due(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    if v.follow_up is not None:
        v.follow_up.reviews_due = max(v.follow_up.reviews_due, p["review"])
        v.follow_up.last_review_due_at = at


@step(v.FollowUpEnded)
def _follow_up_ended(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    if v.follow_up is not None:
        v.follow_up.ended_at, v.follow_up.outcome = at, p["outcome"]


@step(v.StoryCommunicated)
def _story(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    v.stories.append(
        StoryView(
            audience=p["audience"], channel=p["channel"], summary=p["summary"], communicated_at=at
        )
    )


@step(v.TeamClosed)
def _closed(v: TeamDetailView, _p: dict[str, Any], at: datetime) -> None:
    v.status, v.closed_at = Status.CLOSED, at
    _end_open_safety_nets(v)


@step(v.TeamAbandoned)
def _abandoned(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    v.status, v.abandoned_at, v.abandon_reason = Status.ABANDONED, at, p.get("reason")
    _end_open_safety_nets(v)


@step(v.ParticipantErased)
def _participant_erased(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    """Scrub what an incremental view still holds; a rebuild reads ``[erased]`` anyway."""
    pid = p["participant_id"]
    known = v.participant(pid)
    if known is not None:
        known.display_name = ERASED if known.display_name is not None else None
        known.withdrawal_reason = ERASED if known.withdrawal_reason is not None else None
        known.subject = None  # no longer bound to an identity: nothing of the team is theirs
        if known.active:
            known.active, known.withdrawn_at = False, at
    for perspective in v.perspectives:
        if perspective.participant_id == pid:
            perspective.perspective = ERASED
    for note in v.reflection_notes:
        if note.participant_id == pid:
            note.note = ERASED


@step(v.PhaseEntered)
def _phase_entered(v: TeamDetailView, p: dict[str, Any], _at: datetime) -> None:
    v.phase = Phase(p["phase"])
    v.phase_name = PHASE_LABELS[v.phase]


# --- reminders for every deadline (issue 16) ----------------------------------------------------


@step(v.SessionReminderDue)
def _session_reminded(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    v.session(p["session"]).reminded_at = at


@step(v.ReflectionPromptDue)
def _reflection_prompted(v: TeamDetailView, _p: dict[str, Any], at: datetime) -> None:
    if v.reflection is not None:
        v.reflection.prompted_at = at


@step(v.SafetyNetReminderDue)
def _safety_net_reminded(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    net = v.safety_net(p["safety_net_id"])
    if net is not None:
        net.reminded_at = at


@step(v.SafetyNetOverdue)
def _safety_net_overdue(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    net = v.safety_net(p["safety_net_id"])
    if net is not None:
        net.overdue_at = at


@step(v.SafetyNetEscalated)
def _safety_net_escalated(v: TeamDetailView, p: dict[str, Any], at: datetime) -> None:
    net = v.safety_net(p["safety_net_id"])
    if net is not None:
        net.escalated_at = at


def _end_open_safety_nets(v: TeamDetailView) -> None:
    """A team that ends leaves its open safety nets as they were: no longer open actions."""
    for net in v.safety_nets:
        net.ended_open = net.status == "open"


@step(v.FollowUpEndingDue)
def _follow_up_ending(v: TeamDetailView, _p: dict[str, Any], at: datetime) -> None:
    if v.follow_up is not None:
        v.follow_up.ending_reminded_at = at
