"""What a team accepts now, and what each rule still needs: pure, over :class:`TeamState`.

Derived, not written again: which event types a phase allows comes from the vocabulary's
declarations (each type's ``phases``), and whether a rule would say yes now comes from the
rulebook itself (:func:`ltflow.aggregates.rules.decide`), asked with the event as the team would
send it next. So "what is still needed" is the rulebook's own sentence ("A Learning Team needs 3
to 8 participants; there are 2.") and cannot drift from what the rulebook enforces. The CLI
(``ltflow team next``), the HTTP API (``GET /teams/{id}/next``) and the web app use it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, Field

from ltflow.aggregates import rules
from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.errors import LtflowError
from ltflow.aggregates.phases import Status
from ltflow.aggregates.state import TeamState

PROBE = "next-steps-probe"


class NextStep(BaseModel):
    """One event type the team's phase allows now."""

    type: str = Field(description="The event type, as a sender names it.")
    ready: bool = Field(
        description="True when the rulebook would accept it now (given valid fields); false "
        "when a rule still needs something first."
    )
    needs: str | None = Field(
        default=None,
        description="What the rule still needs, in the rulebook's own words (when not ready), "
        "or what the event must carry.",
    )


class NextSteps(BaseModel):
    """The events a team accepts now (``GET /teams/{id}/next``, ``ltflow team next``)."""

    team_id: str
    phase: int
    phase_name: str
    status: str
    version: int
    steps: list[NextStep] = Field(
        description="Every event type the team's phase allows now, in the vocabulary's order."
    )


def next_steps(state: TeamState, now: datetime) -> NextSteps:
    """Every sender's event type the team's phase (or, for a finished team, a person's rights)
    allows now, each with the rulebook's verdict if it were sent at ``now``."""
    active = state.status is Status.ACTIVE
    steps = [
        _step(state, cls, now)
        for cls in v.SENDER_TYPES.values()
        if (cls.after_end or active) and state.phase in cls.phases
    ]
    return NextSteps(
        team_id=str(state.team_id),
        phase=int(state.phase),
        phase_name=state.phase.label,
        status=state.status.value,
        version=state.version,
        steps=steps,
    )


def _step(state: TeamState, cls: type[v.Command], now: datetime) -> NextStep:
    probe = _PROBES.get(cls)
    if probe is None:
        return NextStep(type=cls.TYPE, ready=True, needs=_carries(cls))
    try:
        rules.decide(state, probe(state), now)
    except LtflowError as error:
        return NextStep(type=cls.TYPE, ready=False, needs=error.message)
    return NextStep(type=cls.TYPE, ready=True, needs=_carries(cls))


def _carries(cls: type[v.Command]) -> str | None:
    """The fields the event must carry besides ``type`` and ``event_id`` (none: None)."""
    required = [
        name
        for name, field in cls.model_fields.items()
        if field.is_required() and name not in ("type", "event_id")
    ]
    return f"carries {', '.join(required)}" if required else None


# The event as the team would send it next, for the types whose rule depends on the team alone
# (the others' rules judge the ids they carry, which only the sender knows).


def _active(state: TeamState) -> list[str]:
    return sorted(state.active_participants)[: rules.MAX_TEAM]


def _next_session(state: TeamState) -> int:
    started = [n for n, s in state.sessions.items() if s.started_at is not None]
    return max(started, default=1) + 1


def _session_to_complete(state: TeamState) -> int:
    started = [n for n, s in state.sessions.items() if s.started_at is not None]
    in_progress = [n for n in started if state.sessions[n].completed_at is None]
    return min(in_progress, default=max(started, default=1))


def _invite(state: TeamState) -> v.Command:
    return v.ParticipantInvited(event_id=PROBE, participant_id=PROBE, role="probe")


_PROBES: dict[type[v.Command], Callable[[TeamState], v.Command]] = {
    v.ParticipantInvited: _invite,
    v.ScopeConfirmed: lambda s: v.ScopeConfirmed(event_id=PROBE),
    v.SessionCompleted: lambda s: v.SessionCompleted(
        event_id=PROBE, session=_session_to_complete(s), attendees=_active(s)
    ),
    v.SessionStarted: lambda s: v.SessionStarted(event_id=PROBE, session=_next_session(s)),
    v.AnalysisConcluded: lambda s: v.AnalysisConcluded(event_id=PROBE),
    v.SafetyNetsConcluded: lambda s: v.SafetyNetsConcluded(event_id=PROBE),
    v.FollowUpStarted: lambda s: v.FollowUpStarted(event_id=PROBE),
    v.TeamClosed: lambda s: v.TeamClosed(event_id=PROBE),
}
