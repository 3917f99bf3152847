"""The one rulebook of the method: pure functions, no clock, no I/O.

For a team's state and a proposed event it answers with the events to record (the event and its
consequences, such as a phase change) or raises the error a facilitator understands. The aggregate
calls it before it records anything; the workflow's update validators call the very same functions,
so a rule is written once and cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ltflow.aggregates import schedule
from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.errors import (
    IdempotencyConflictError,
    InvalidEventError,
    RuleViolatedError,
    WrongPhaseError,
)
from ltflow.aggregates.phases import Phase, Status
from ltflow.aggregates.state import ERASED_FINGERPRINT, Processed, TeamState

MIN_TEAM = 3
MAX_TEAM = 8
#: How far a sender's clock may run ahead of ours before ``occurred_at`` counts as in the future.
CLOCK_SKEW = timedelta(minutes=5)

#: Which phases each event type may arrive in, from the vocabulary's declarations.
ALLOWED_PHASES: dict[str, frozenset[Phase]] = {
    name: cls.phases for name, cls in v.RECORDED_TYPES.items()
}

Check = Callable[[TeamState, Any, datetime], list[v.Command]]
_CHECKS: dict[type[v.Command], Check] = {}
_C = TypeVar("_C", bound=Check)


def rule(*types: type[v.Command]) -> Callable[[_C], _C]:
    """Register the rule check of these event types (each type has exactly one)."""

    def register(check: _C) -> _C:
        for cls in types:
            if cls in _CHECKS:
                raise TypeError(f"{cls.TYPE} has a rule already.")
            _CHECKS[cls] = check
        return check

    return register


def check_idempotency(state: TeamState, cmd: v.Command) -> Processed | None:
    """A repeat of an ``event_id`` returns its first record; other content under it conflicts."""
    seen = state.processed.get(cmd.event_id)
    if seen is None:
        return None
    if seen.fingerprint == ERASED_FINGERPRINT:
        return seen  # its content was erased; a repeat of the id still stores nothing
    if seen.fingerprint != cmd.fingerprint():
        raise IdempotencyConflictError(
            f"Event id '{cmd.event_id}' was already used for different content; "
            "use a new event id for a new event.",
            event_id=cmd.event_id,
        )
    return seen


def check_convene_repeat(state: TeamState, cmd: v.TeamConvened) -> None:
    """Opening the same case twice must carry the same content, or it is a conflict."""
    if state.convened_fingerprint != cmd.fingerprint():
        raise IdempotencyConflictError(
            f"Case '{cmd.case_ref}' already has a Learning Team opened with different content.",
            case_ref=cmd.case_ref,
            team_id=str(state.team_id),
        )


def check_occurred_at(
    state: TeamState | None, occurred_at: datetime, received_at: datetime
) -> None:
    """Business time may not lie in the future, nor before what the team has already recorded."""
    if occurred_at > received_at + CLOCK_SKEW:
        raise InvalidEventError(
            f"occurred_at {occurred_at.isoformat()} lies in the future.",
            occurred_at=occurred_at.isoformat(),
            received_at=received_at.isoformat(),
        )
    if state is not None and occurred_at < state.last_occurred_at:
        raise RuleViolatedError(
            f"occurred_at {occurred_at.isoformat()} is before the team's last recorded event "
            f"({state.last_occurred_at.isoformat()}); "
            "events are recorded in the order they happened.",
            occurred_at=occurred_at.isoformat(),
            last_occurred_at=state.last_occurred_at.isoformat(),
        )


def check_phase(state: TeamState, cmd: v.Command) -> None:
    """The event type must belong to the team's current phase, and the team must be running."""
    if cmd.origin not in (v.Origin.SENDER, v.Origin.TIMER):
        raise InvalidEventError(f"'{cmd.type}' is recorded by ltflow itself and cannot be sent.")
    if state.status is not Status.ACTIVE and not cmd.after_end:
        raise WrongPhaseError(
            f"The team is {state.status.value}; nothing more can be recorded.",
            status=state.status.value,
            type=cmd.type,
        )
    allowed = cmd.phases
    if state.phase not in allowed:
        names = ", ".join(f"{int(p)} ({p.label})" for p in sorted(allowed))
        raise WrongPhaseError(
            f"'{cmd.type}' is not allowed in phase {int(state.phase)} ({state.phase.label}); "
            f"it belongs to phase {names}.",
            phase=int(state.phase),
            type=cmd.type,
            allowed_phases=sorted(int(p) for p in allowed),
        )


def decide(state: TeamState, cmd: v.Command, occurred_at: datetime) -> list[v.Command]:
    """Judge ``cmd`` against ``state``; return it followed by its consequences, or raise.

    The caller has already resolved ``occurred_at`` (the sender's, or the time received) and
    checked it with :func:`check_occurred_at`. Nothing here reads a clock.
    """
    check_phase(state, cmd)
    return [cmd, *_CHECKS[type(cmd)](state, cmd, occurred_at)]


def convene_consequences(cmd: v.TeamConvened, at: datetime) -> list[v.Command]:
    """What opening a team records besides ``team.convened``: entering phase 1."""
    return [_enter(cmd, Phase.GOAL_AND_SCOPE, at)]


def _enter(cause: v.Command, phase: Phase, at: datetime) -> v.PhaseEntered:
    return v.PhaseEntered(
        event_id=f"{cause.event_id}#phase-{int(phase)}",
        occurred_at=at,
        phase=int(phase),
        name=phase.label,
    )


def _violated(message: str, **details: Any) -> RuleViolatedError:
    return RuleViolatedError(message, **details)


def _require_participant(state: TeamState, participant_id: str) -> None:
    if not state.participants.get(participant_id):
        raise _violated(
            f"'{participant_id}' is not on the team; invite them first.",
            participant_id=participant_id,
        )


def _team_size_message(count: int, what: str) -> str:
    return f"A Learning Team needs {MIN_TEAM} to {MAX_TEAM} {what}; there are {count}."


@rule(v.ParticipantInvited)
def check_invite(state: TeamState, cmd: v.ParticipantInvited, _at: datetime) -> list[v.Command]:
    if cmd.participant_id in state.erased:
        raise _violated(
            f"'{cmd.participant_id}' was erased from this team; invite them under a new id.",
            participant_id=cmd.participant_id,
        )
    if state.participants.get(cmd.participant_id):
        raise _violated(
            f"'{cmd.participant_id}' is already on the team.", participant_id=cmd.participant_id
        )
    if cmd.subject is not None:
        bound = next(
            (pid for pid, sub in state.subjects.items() if sub == cmd.subject), cmd.participant_id
        )
        if bound != cmd.participant_id:
            raise _violated(
                f"That identity is already on the team as '{bound}'; one person is one "
                "participant.",
                participant_id=cmd.participant_id,
                bound_to=bound,
            )
    active = len(state.active_participants)
    if active >= MAX_TEAM:
        raise _violated(
            f"A Learning Team has at most {MAX_TEAM} participants; the team is full.",
            active_participants=active,
        )
    return []


@rule(v.ParticipantWithdrawn)
def check_withdraw(state: TeamState, cmd: v.ParticipantWithdrawn, _at: datetime) -> list[v.Command]:
    _require_participant(state, cmd.participant_id)
    return []


@rule(v.ScopeConfirmed)
def check_confirm_scope(state: TeamState, cmd: v.ScopeConfirmed, at: datetime) -> list[v.Command]:
    active = len(state.active_participants)
    if not MIN_TEAM <= active <= MAX_TEAM:
        raise _violated(_team_size_message(active, "participants"), active_participants=active)
    return [_enter(cmd, Phase.SESSION_ONE, at)]


@rule(v.SessionScheduled)
def check_schedule(state: TeamState, cmd: v.SessionScheduled, _at: datetime) -> list[v.Command]:
    session = state.sessions.get(cmd.session)
    if session is not None and session.started_at is not None:
        raise _violated(f"Session {cmd.session} has already taken place.", session=cmd.session)
    if cmd.session == 1:
        return []
    if state.reflection_earliest is None:
        raise _violated(
            f"Session {cmd.session} can only be scheduled once session 1 is completed.",
            session=cmd.session,
        )
    if cmd.session == 2 and cmd.at < state.reflection_earliest:
        raise _violated(
            "Session 2 may not be scheduled before the reflection period allows it, "
            f"at the earliest {state.reflection_earliest.isoformat()}.",
            earliest=state.reflection_earliest.isoformat(),
        )
    if cmd.session > 2 and state.phase is not Phase.SESSION_TWO:
        raise _violated(
            f"Session {cmd.session} can only be scheduled once session 2 has started.",
            session=cmd.session,
        )
    return []


def _check_attendees(state: TeamState, attendees: list[str]) -> None:
    strangers = [a for a in attendees if not state.participants.get(a)]
    if strangers:
        raise _violated(
            f"Attendees must be on the team; not on it: {', '.join(strangers)}.", unknown=strangers
        )
    if not MIN_TEAM <= len(attendees) <= MAX_TEAM:
        raise _violated(_team_size_message(len(attendees), "attendees"), attendees=len(attendees))


@rule(v.SessionCompleted)
def check_complete_session(
    state: TeamState, cmd: v.SessionCompleted, at: datetime
) -> list[v.Command]:
    expected = 1 if state.phase is Phase.SESSION_ONE else _open_session(state)
    if cmd.session != expected:
        raise _violated(
            f"Session {cmd.session} cannot be completed now; the session in progress is {expected}."
            if expected
            else f"Session {cmd.session} cannot be completed: no session is in progress.",
            session=cmd.session,
            session_in_progress=expected,
        )
    _check_attendees(state, cmd.attendees)
    if cmd.session != 1:
        return []
    earliest, latest = schedule.reflection_window(at, state.policy)
    opened = v.ReflectionOpened(
        event_id=f"{cmd.event_id}#reflection", occurred_at=at, earliest=earliest, latest=latest
    )
    return [_enter(cmd, Phase.PROCESSING_TIME, at), opened]


def _open_session(state: TeamState) -> int | None:
    for number in sorted(state.sessions):
        session = state.sessions[number]
        if session.started_at is not None and session.completed_at is None:
            return number
    return None


@rule(v.SessionStarted)
def check_start_session(state: TeamState, cmd: v.SessionStarted, at: datetime) -> list[v.Command]:
    if state.phase is Phase.PROCESSING_TIME:
        if cmd.session != 2:
            raise _violated("After the processing time, session 2 comes next.", session=cmd.session)
        earliest = state.reflection_earliest
        if earliest is not None and at < earliest:
            raise _violated(
                f"Session 2 cannot start before the reflection period of "
                f"{_human(state.policy.min_reflection)} has passed; "
                f"the earliest start is {earliest.isoformat()}.",
                earliest=earliest.isoformat(),
            )
        return [_enter(cmd, Phase.SESSION_TWO, at)]
    last = max(n for n, session in state.sessions.items() if session.started_at is not None)
    if _open_session(state) is not None or cmd.session != last + 1:
        raise _violated(
            f"Session {cmd.session} cannot start now; complete session {last} first "
            f"and then start session {last + 1}.",
            session=cmd.session,
        )
    return []


@rule(v.PerspectiveShared, v.ReflectionNoted)
def check_told_by_a_participant(
    state: TeamState, cmd: v.PerspectiveShared | v.ReflectionNoted, _at: datetime
) -> list[v.Command]:
    _require_participant(state, cmd.participant_id)
    return []


@rule(v.RedThreadRecorded, v.StoryCommunicated, v.TeamAbandoned)
def check_nothing_more(_state: TeamState, _cmd: v.Command, _at: datetime) -> list[v.Command]:
    """Allowed whenever its phase allows it: no rule beyond the phase."""
    return []


@rule(v.LearningPointRecorded)
def check_learning_point(
    state: TeamState, cmd: v.LearningPointRecorded, _at: datetime
) -> list[v.Command]:
    if cmd.learning_point_id in state.learning_points:
        raise _violated(
            f"Learning point '{cmd.learning_point_id}' is already recorded.",
            learning_point_id=cmd.learning_point_id,
        )
    return []


@rule(v.AnalysisConcluded)
def check_conclude_analysis(
    state: TeamState, cmd: v.AnalysisConcluded, at: datetime
) -> list[v.Command]:
    if state.red_threads < 1 or not state.learning_points:
        raise _violated(
            "The analysis needs at least one red thread and one learning point "
            "before it concludes.",
            red_threads=state.red_threads,
            learning_points=len(state.learning_points),
        )
    if _open_session(state) is not None:
        raise _violated(
            f"Session {_open_session(state)} is still in progress; complete it first.",
        )
    return [_enter(cmd, Phase.SAFETY_NETS, at)]


@rule(v.SafetyNetDefined)
def check_safety_net(state: TeamState, cmd: v.SafetyNetDefined, _at: datetime) -> list[v.Command]:
    if cmd.safety_net_id in state.safety_nets:
        raise _violated(
            f"Safety net '{cmd.safety_net_id}' is already defined.", safety_net_id=cmd.safety_net_id
        )
    unknown = [lp for lp in cmd.addresses if lp not in state.learning_points]
    if unknown:
        raise _violated(
            "A safety net can only address recorded learning points; "
            f"unknown: {', '.join(unknown)}.",
            unknown=unknown,
        )
    if cmd.kind == "experiment" and not cmd.hypothesis:
        raise _violated("An experiment needs a hypothesis: what do you expect it to show?")
    return []


@rule(v.SafetyNetsConcluded)
def check_conclude_safety_nets(
    state: TeamState, cmd: v.SafetyNetsConcluded, at: datetime
) -> list[v.Command]:
    if not state.safety_nets:
        raise _violated("Define at least one safety net before concluding this phase.")
    return [_enter(cmd, Phase.FOLLOW_UP, at)]


def _require_safety_net(state: TeamState, safety_net_id: str) -> None:
    if safety_net_id not in state.safety_nets:
        raise _violated(
            f"Safety net '{safety_net_id}' is not defined.", safety_net_id=safety_net_id
        )


@rule(v.SuccessCriterionDefined)
def check_criterion(
    state: TeamState, cmd: v.SuccessCriterionDefined, _at: datetime
) -> list[v.Command]:
    if state.follow_up_started_at is not None:
        raise _violated("Success criteria are fixed once the follow-up has started.")
    if cmd.criterion_id in state.criteria:
        raise _violated(
            f"Success criterion '{cmd.criterion_id}' is already defined.",
            criterion_id=cmd.criterion_id,
        )
    _require_safety_net(state, cmd.safety_net_id)
    return []


@rule(v.FollowUpStarted)
def check_start_follow_up(
    state: TeamState, cmd: v.FollowUpStarted, _at: datetime
) -> list[v.Command]:
    if state.follow_up_started_at is not None:
        raise _violated("The follow-up has already started.")
    if not state.criteria:
        raise _violated("Define at least one success criterion before the follow-up starts.")
    return []


def _require_follow_up(state: TeamState) -> None:
    if state.follow_up_started_at is None:
        raise _violated("The follow-up has not started yet; send follow_up.started first.")


@rule(v.ReviewRecorded)
def check_review(state: TeamState, cmd: v.ReviewRecorded, at: datetime) -> list[v.Command]:
    _require_follow_up(state)
    if cmd.criterion_id not in state.criteria:
        raise _violated(
            f"Success criterion '{cmd.criterion_id}' is not defined.", criterion_id=cmd.criterion_id
        )
    latest = {**state.criteria, cmd.criterion_id: cmd.met}
    if not all(latest.values()):
        return []
    ended = v.FollowUpEnded(
        event_id=f"{cmd.event_id}#follow-up-ended", occurred_at=at, outcome="criteria_met"
    )
    return [ended, _enter(cmd, Phase.COMMUNICATE, at)]


@rule(v.SafetyNetCompleted)
def check_complete_safety_net(
    state: TeamState, cmd: v.SafetyNetCompleted, _at: datetime
) -> list[v.Command]:
    _require_safety_net(state, cmd.safety_net_id)
    if state.safety_nets[cmd.safety_net_id]:
        raise _violated(
            f"Safety net '{cmd.safety_net_id}' is already completed.",
            safety_net_id=cmd.safety_net_id,
        )
    return []


@rule(v.TeamClosed)
def check_close(state: TeamState, cmd: v.TeamClosed, _at: datetime) -> list[v.Command]:
    if state.stories < 1:
        raise _violated("Communicate the story at least once before closing the team.")
    return []


@rule(v.ReflectionReminderDue)
def check_reminder(
    state: TeamState, cmd: v.ReflectionReminderDue, _at: datetime
) -> list[v.Command]:
    if state.reflection_reminded:
        raise _violated("The reflection reminder was already sent.")
    return []


@rule(v.ReflectionOverdue)
def check_overdue(state: TeamState, cmd: v.ReflectionOverdue, _at: datetime) -> list[v.Command]:
    if state.reflection_overdue:
        raise _violated("The reflection period was already marked overdue.")
    return []


@rule(v.ReviewDue)
def check_review_due(state: TeamState, cmd: v.ReviewDue, _at: datetime) -> list[v.Command]:
    _require_follow_up(state)
    return []


@rule(v.FollowUpEnded)
def check_end_follow_up(state: TeamState, cmd: v.FollowUpEnded, at: datetime) -> list[v.Command]:
    _require_follow_up(state)
    if cmd.outcome == "criteria_met" and not all(state.criteria.values()):
        raise _violated("Not every success criterion's latest review is met yet.")
    return [_enter(cmd, Phase.COMMUNICATE, at)]


def _human(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}" + ("s" if count != 1 else "")
    return str(duration)


@rule(v.SponsorAssigned, v.FacilitatorHandedOver)
def check_team_role(state: TeamState, cmd: v.Command, _at: datetime) -> list[v.Command]:
    """Roles change hands in every phase of a running team; no rule beyond that."""
    return []


@rule(v.ConsentChanged)
def check_consent(state: TeamState, cmd: v.ConsentChanged, _at: datetime) -> list[v.Command]:
    """Consent is the participant's to give or withdraw, once they have been on the team."""
    if cmd.participant_id in state.erased:
        raise _violated(
            f"'{cmd.participant_id}' is erased; there is nothing left to consent to.",
            participant_id=cmd.participant_id,
        )
    if cmd.participant_id not in state.participants:
        raise _violated(
            f"'{cmd.participant_id}' was never on this team.", participant_id=cmd.participant_id
        )
    return []


@rule(v.ParticipantErased)
def check_erase(state: TeamState, cmd: v.ParticipantErased, _at: datetime) -> list[v.Command]:
    """A person's right: allowed in every phase, even after the team has ended."""
    if cmd.participant_id in state.erased:
        raise _violated(f"'{cmd.participant_id}' is already erased.")
    if cmd.participant_id not in state.participants:
        raise _violated(
            f"'{cmd.participant_id}' was never on this team.", participant_id=cmd.participant_id
        )
    return []


# --- reminders for every deadline (issue 16) ----------------------------------------------------


@rule(v.SessionReminderDue)
def check_session_reminder(
    state: TeamState, cmd: v.SessionReminderDue, _at: datetime
) -> list[v.Command]:
    """Only a session still scheduled at that time, and not yet held, is reminded of."""
    session = state.sessions.get(cmd.session)
    if session is None or session.scheduled_at != cmd.at:
        raise _violated(
            f"Session {cmd.session} is not scheduled at {cmd.at.isoformat()}.",
            session=cmd.session,
        )
    if session.started_at is not None or session.completed_at is not None:
        raise _violated(f"Session {cmd.session} has already taken place.", session=cmd.session)
    return []


@rule(v.ReflectionPromptDue, v.FollowUpEndingDue)
def check_window_reminder(state: TeamState, cmd: v.Command, _at: datetime) -> list[v.Command]:
    """A prompt during the processing time, or a reminder before the follow-up ends: the
    phase is the rule (the follow-up must have started for the latter)."""
    if isinstance(cmd, v.FollowUpEndingDue):
        _require_follow_up(state)
    return []


@rule(v.SafetyNetReminderDue, v.SafetyNetOverdue, v.SafetyNetEscalated)
def check_safety_net_deadline(
    state: TeamState,
    cmd: v.SafetyNetReminderDue | v.SafetyNetOverdue | v.SafetyNetEscalated,
    _at: datetime,
) -> list[v.Command]:
    """Only an open safety net with that due date is reminded of, overdue or escalated."""
    _require_safety_net(state, cmd.safety_net_id)
    if state.safety_nets[cmd.safety_net_id]:
        raise _violated(
            f"Safety net '{cmd.safety_net_id}' is completed.", safety_net_id=cmd.safety_net_id
        )
    if state.safety_net_due.get(cmd.safety_net_id) != cmd.due:
        raise _violated(
            f"Safety net '{cmd.safety_net_id}' is not due on {cmd.due.isoformat()}.",
            safety_net_id=cmd.safety_net_id,
        )
    return []
